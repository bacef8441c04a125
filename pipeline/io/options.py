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
    required: bool = False,
) -> Any:
    """A dataclass field that is also a command-line option (``--field-name`` unless ``flag``).

    A ``bool`` option is a switch: one that defaults to False is set by its flag, one that
    defaults to True is cleared by it (give it a ``--no-...`` flag). A ``list[...]`` or
    ``tuple[..., ...]`` option is repeated (``--test A --test B``); ``required`` options have no
    default.
    """
    meta = {
        "help": help,
        "choices": choices,
        "min": min_value,
        "metavar": metavar,
        "flag": flag,
        "required": required,
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def dest_of(field: dataclasses.Field) -> str:
    """The argparse name: the flag's (``--no-progress`` -> ``no_progress``)."""
    return flag_of(field).lstrip("-").replace("-", "_")


def _inverted(field: dataclasses.Field) -> bool:
    """A switch that clears a setting that is on by default (``--no-progress``)."""
    return field.default is True


def _option_fields(config_cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_cls) if "help" in f.metadata]


def _repeated_item(kind: Any) -> type | None:
    """``str`` for ``list[str]`` and ``tuple[str, ...]`` (a repeated option), else None."""
    origin = typing.get_origin(kind)
    if origin is list or origin is tuple:
        return typing.get_args(kind)[0]
    return None


def _scalar_type(annotation: Any) -> type:
    """``int`` for ``int`` and ``int | None`` alike."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


def add_options(
    parser: argparse.ArgumentParser | argparse._ActionsContainer,
    config_cls: type,
    *,
    only: typing.Collection[str] | None = None,
    skip: typing.Collection[str] = (),
) -> None:
    """One argument per :func:`option` field of ``config_cls`` (those named in ``only``, none
    named in ``skip``). ``parser`` may be a group: ``only`` puts some options in a mutually
    exclusive group, ``skip`` the rest in the parser."""
    hints = typing.get_type_hints(config_cls)
    for field in _option_fields(config_cls):
        if field.name in skip or (only is not None and field.name not in only):
            continue
        kind = _scalar_type(hints[field.name])
        meta = field.metadata
        if kind is bool:
            parser.add_argument(
                flag_of(field), dest=dest_of(field), action="store_true", help=meta["help"]
            )
            continue
        kwargs: dict[str, Any] = {"default": _default(field), "help": meta["help"]}
        item = _repeated_item(kind)
        if item is not None:
            kwargs |= {"action": "append", "type": item}
            kwargs["default"] = None  # argparse appends to a given default list
        else:
            kwargs["type"] = kind
        if meta.get("required"):
            kwargs |= {"required": True, "help": meta["help"] + " (required)"}
        if meta["choices"] is not None:
            kwargs["choices"] = list(meta["choices"])
        if meta["metavar"] is not None:
            kwargs["metavar"] = meta["metavar"]
        parser.add_argument(flag_of(field), dest=dest_of(field), **kwargs)


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def config_from_args(config_cls: type, args: argparse.Namespace, **given: Any) -> Any:
    """``config_cls`` from the parsed options (plus ``given`` fields, e.g. positionals)."""
    values = {}
    hints = typing.get_type_hints(config_cls)
    for field in _option_fields(config_cls):
        parsed = getattr(args, dest_of(field))
        if _inverted(field):
            values[field.name] = not parsed
        elif parsed is not None and typing.get_origin(_scalar_type(hints[field.name])) is tuple:
            values[field.name] = tuple(parsed)
        else:
            values[field.name] = parsed if parsed is not None else _default(field)
    return config_cls(**(values | given))


def check_options(config: Any) -> None:
    """Lower bounds and choices of every :func:`option` field; a ValueError names the flag."""
    for field in _option_fields(type(config)):
        value = getattr(config, field.name)
        if field.metadata.get("required") and not value:
            raise ValueError(f"{flag_of(field)} is required")
        if value is None or isinstance(value, bool | list | tuple):
            continue
        low, choices = field.metadata["min"], field.metadata["choices"]
        if low is not None and value < low:
            raise ValueError(f"{flag_of(field)} must be at least {low}, got {value}")
        if choices is not None and value not in choices:
            raise ValueError(
                f"{flag_of(field)} {value!r} is not one of {', '.join(map(str, choices))}"
            )
