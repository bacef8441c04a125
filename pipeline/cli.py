"""The ``webtext`` command: one subcommand per stage, plus ``demo``.

Stages that run a Beam job accept Beam's own options after the stage's options, e.g.
``webtext links RS_2019-*.zst --out links/ --runner=DataflowRunner --project=...``; any other
unknown option is refused before the command starts (see pipeline/commands/unknown_args.py).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pipeline import __version__
from pipeline.commands import BEAM_EPILOG
from pipeline.commands.unknown_args import refusal
from pipeline.io import fs_errors
from pipeline.logconf import LEVELS, setup_logging

log = logging.getLogger("webtext")
EXIT_FILESYSTEM = 3  # the file system refused (full, read-only, permission): see fs_errors

# One module per subcommand in pipeline/commands/, each with register(subparsers).
# Modules import nothing heavy at import time (Beam, torch): handlers import lazily.
COMMANDS = [
    "links",
    "fetch",
    "extract",
    "dedup",
    "tokenize",
    "overlap",
    "train",
    "sample",
    "convert",
    "eval",
    "report",
    "stats",
    "demo",
    "study",
]


def shows_default(default: object) -> bool:
    """Whether --help should state this default: not for None/False (an unset option or an
    off switch) nor an empty value (an empty repeatable list, an empty prompt)."""
    if default is None or default is False or default is argparse.SUPPRESS:
        return False
    return not (isinstance(default, (str, list, tuple)) and not default)


class ShowDefaults(argparse.HelpFormatter):
    """ArgumentDefaultsHelpFormatter for help texts that do not mention their default
    themselves ("%(default)s" or the word "default"): appends " (default: VALUE)"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "default" not in text.lower()
            and shows_default(action.default)
            and (
                action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)
            )
        ):
            text += " (default: %(default)s)"
        return text


def _with_defaults(formatter: type[argparse.HelpFormatter]) -> type[argparse.HelpFormatter]:
    if issubclass(formatter, ShowDefaults):
        return formatter
    return type(f"ShowDefaults{formatter.__name__}", (ShowDefaults, formatter), {})


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser by name (``webtext COMMAND``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webtext",
        description=(
            "Rebuild GPT-2's WebText: Reddit links -> pages -> text -> de-duplicated corpus, "
            "then train GPT-2 and measure train/test overlap."
        ),
    )
    parser.add_argument("--version", action="version", version=f"webtext {__version__}")
    parser.add_argument("--log-level", choices=LEVELS, default="info", help="default: info")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"pipeline.commands.{name}").register(sub)
    for command in command_parsers(parser).values():
        command.formatter_class = _with_defaults(command.formatter_class)
    return parser


def runs_beam(command_parser: argparse.ArgumentParser) -> bool:
    """Whether the command passes Beam's options on: exactly those whose --help says so."""
    return command_parser.epilog == BEAM_EPILOG


class _BeamFsErrorTraceback(logging.Filter):
    """Beam logs a worker's error with its traceback before the pipeline raises it; for a
    file-system error main() prints one line instead (--log-level debug keeps both)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("apache_beam") or record.levelno < logging.ERROR:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        return fs_errors.describe(exc or RuntimeError(record.getMessage())) is None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    setup_logging(args.log_level)  # first: it also hides Beam's import-time noise
    if args.log_level != "debug":
        for handler in logging.getLogger().handlers:
            handler.addFilter(_BeamFsErrorTraceback())
    if extra:
        command_parser = command_parsers(parser)[args.command]
        problem = refusal(args.command, command_parser, extra, beam=runs_beam(command_parser))
        if problem:
            print(problem, file=sys.stderr)
            return 2
    try:
        return args.handler(args, extra)
    except KeyboardInterrupt:
        log.error("interrupted; rerun the same command to resume")
        return 130
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    except Exception as exc:  # a clear one-line message; the traceback at debug level
        return _one_line(exc)


def _one_line(exc: Exception) -> int:
    """Exit status and one logged line for the errors a user can act on; re-raise the rest."""
    # Only a command that imported shard IO can raise ShardError; `train` on a GPU machine
    # with torch, numpy and pyarrow alone never imports it (nor xxhash, which it needs).
    shards = sys.modules.get("pipeline.io.shards")
    locks = sys.modules.get("pipeline.io.locks")
    object_store = sys.modules.get("pipeline.io.object_store")
    if object_store is not None and isinstance(exc, object_store.BucketError):
        log.debug("the error behind that line", exc_info=exc)
        log.error("%s", exc)
        return EXIT_FILESYSTEM if isinstance(exc, object_store.ReadOnlyBucket) else 2
    if (shards is not None and isinstance(exc, shards.ShardError)) or (
        locks is not None and isinstance(exc, locks.OutputLocked)
    ):
        log.error("%s", exc)
        return 2
    message = fs_errors.describe(exc)  # disk full, read-only, permission denied: anywhere
    if message is None:
        raise exc
    log.debug("the error behind that line", exc_info=exc)
    log.error("%s", message)
    return EXIT_FILESYSTEM


if __name__ == "__main__":
    sys.exit(main())
