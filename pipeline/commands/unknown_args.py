"""Refuse arguments a command does not know, before it does any work.

``webtext`` parses each command's own options with argparse's ``parse_known_args``; what is
left over goes to Apache Beam for the commands that run a Beam job. Beam drops options it does
not know without a word, so a typo (``--concurency 64``) or an option of another tool
(``--source wayback``) would run the job with defaults. Here the left-overs are checked against
Beam's own options, gathered as :class:`~apache_beam.options.pipeline_options.PipelineOptions`
gathers them (every direct subclass adds its options to one parser), and anything else is an
error naming it and the closest known option.
"""

from __future__ import annotations

import argparse
import difflib
import functools

# Accepted after the command name by no command; suggested with a hint to move them.
TOP_LEVEL_OPTIONS = ("--log-level", "--version")


class _Refused(Exception):
    """Beam's parser found an error in an option it knows (e.g. a missing value)."""


def _beam_parser() -> argparse.ArgumentParser:
    """A parser holding every option of every PipelineOptions subclass (imports Beam)."""
    from apache_beam.options import pipeline_options as po

    class Parser(po._BeamArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise _Refused(message)

    parser = Parser(allow_abbrev=False, add_help=False)
    # As PipelineOptions.get_all_options: one class per name (a class defined twice in a
    # __main__ session would otherwise add its options twice).
    classes: dict[str, type] = {}
    for cls in po.PipelineOptions.__subclasses__():
        classes.setdefault(str(cls), cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)  # how Beam itself collects them
    return parser


@functools.cache
def beam_parser() -> argparse.ArgumentParser:
    return _beam_parser()


def beam_option_names() -> list[str]:
    """Every option string Beam's PipelineOptions understands (``--runner``, ...)."""
    return [s for a in beam_parser()._actions for s in a.option_strings]


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    """The option strings of ``parser`` (``--out``, ``-h``, ...)."""
    return [s for a in parser._actions for s in a.option_strings]


def _key(option: str) -> str:
    return option.lower().replace("_", "-")


def closest_option(option: str, candidates: list[str]) -> str | None:
    """The known option a typo most likely meant: ``--concurency`` -> ``--concurrency``;
    dashes and underscores count as the same (``--max_body_mb`` -> ``--max-body-mb``)."""
    by_key: dict[str, str] = {}
    for candidate in candidates:
        by_key.setdefault(_key(candidate), candidate)
    match = difflib.get_close_matches(_key(option), list(by_key), n=1, cutoff=0.75)
    return by_key[match[0]] if match else None


def _leftovers(extra: list[str], beam: bool) -> list[str]:
    """What neither the command nor (for a Beam command) Beam's options consume."""
    if not beam or not extra:
        return list(extra)
    try:
        _, rest = beam_parser().parse_known_args(extra)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    return rest


def refusal(
    command: str, parser: argparse.ArgumentParser, extra: list[str], *, beam: bool
) -> str | None:
    """One line naming the first argument ``command`` does not take, or None when every
    word of ``extra`` (what the command's own parser left) is one of Beam's options and
    ``beam`` says the command passes those on. ``--opt value`` and ``--opt=value`` alike."""
    prefix = f"webtext {command}:"
    try:
        rest = _leftovers(extra, beam)
    except ValueError as exc:  # a Beam option used wrongly, e.g. --runner without a value
        return f"{prefix} {exc}"
    options = [word for word in rest if word.startswith("-") and word != "--"]
    if not options:
        words = [w for w in rest if w != "--"]
        if not words:
            return None
        return f"{prefix} unexpected argument {words[0]!r} (see webtext {command} --help)"
    name = options[0].split("=", 1)[0]
    if name in TOP_LEVEL_OPTIONS:
        return (
            f"{prefix} {name} is an option of webtext itself: put it before the command "
            f"(webtext {name} ... {command} ...)"
        )
    known = option_names(parser) + (beam_option_names() if beam else [])
    close = closest_option(name, [o for o in known if o.startswith("--")] + list(TOP_LEVEL_OPTIONS))
    hint = f"did you mean {close}?" if close else f"see webtext {command} --help"
    what = "neither its own nor an Apache Beam option" if beam else "not one of its options"
    return f"{prefix} unknown option {name} ({what}); {hint}"
