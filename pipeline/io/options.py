"""A config dataclass is the single source of its options, as Beam's ``PipelineOptions`` is.

Each field declared with :func:`option` carries its help text, choices and lower bound; the
field's default is the option's default. :func:`add_options` builds the argparse arguments from
the fields, :func:`config_from_args` builds the config back from the parsed namespace, and
:func:`check_options` (called from the config's ``__post_init__``) validates a config however it
was made: from the command line, in a test, or by a user's script.

    @dataclass
    class TrainConfig:
        lr: float = option(6e-4, "peak learning rate", min_value=0.0)

Standard library only: ``model`` uses it on a machine without Beam.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any


def option(
    default: Any,
    help: str,  # noqa: A002 (argparse's name)
    *,
    choices: typing.Sequence[Any] | None = None,
    min_value: float | None = None,
    metavar: str | None = None,
    flag: str | None = None,
) -> Any:
    """A dataclass field that is also a command-line option (``--field-name`` unless ``flag``)."""
    meta = {"help": help, "choices": choices, "min": min_value, "metavar": metavar, "flag": flag}
    return dataclasses.field(default=default, metadata=meta)


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _option_fields(config_cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_cls) if "help" in f.metadata]


def _scalar_type(annotation: Any) -> type:
    """``int`` for ``int`` and ``int | None`` alike."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


def add_options(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """One argument per :func:`option` field of ``config_cls``."""
    hints = typing.get_type_hints(config_cls)
    for field in _option_fields(config_cls):
        kind = _scalar_type(hints[field.name])
        meta = field.metadata
        if kind is bool:
            parser.add_argument(
                flag_of(field), dest=field.name, action="store_true", help=meta["help"]
            )
            continue
        kwargs: dict[str, Any] = {"type": kind, "default": field.default, "help": meta["help"]}
        if meta["choices"] is not None:
            kwargs["choices"] = list(meta["choices"])
        if meta["metavar"] is not None:
            kwargs["metavar"] = meta["metavar"]
        parser.add_argument(flag_of(field), dest=field.name, **kwargs)


def config_from_args(config_cls: type, args: argparse.Namespace, **given: Any) -> Any:
    """``config_cls`` from the parsed options (plus ``given`` fields, e.g. positionals)."""
    values = {f.name: getattr(args, f.name) for f in _option_fields(config_cls)}
    return config_cls(**(values | given))


def check_options(config: Any) -> None:
    """Lower bounds and choices of every :func:`option` field; a ValueError names the flag."""
    for field in _option_fields(type(config)):
        value = getattr(config, field.name)
        if value is None or isinstance(value, bool):
            continue
        low, choices = field.metadata["min"], field.metadata["choices"]
        if low is not None and value < low:
            raise ValueError(f"{flag_of(field)} must be at least {low}, got {value}")
        if choices is not None and value not in choices:
            raise ValueError(
                f"{flag_of(field)} {value!r} is not one of {', '.join(map(str, choices))}"
            )
