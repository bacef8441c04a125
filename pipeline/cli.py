"""The ``webtext`` command: one subcommand per stage, plus ``demo``.

Stages that run a Beam job accept Beam's own options after the stage's options, e.g.
``webtext links RS_2019-*.zst --out links/ --runner=DataflowRunner --project=...``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pipeline import __version__
from pipeline.logconf import LEVELS, setup_logging

log = logging.getLogger("webtext")

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
]


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if a.startswith("-") and not a.startswith("--")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    setup_logging(args.log_level)
    try:
        return args.handler(args, extra)
    except KeyboardInterrupt:
        log.error("interrupted; rerun the same command to resume")
        return 130
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    except Exception as exc:  # a clear one-line message; the traceback at debug level
        # Only a command that imported shard IO can raise ShardError; `train` on a GPU machine
        # with torch, numpy and pyarrow alone never imports it (nor xxhash, which it needs).
        shards = sys.modules.get("pipeline.shards")
        if shards is not None and isinstance(exc, shards.ShardError):
            log.error("%s", exc)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
