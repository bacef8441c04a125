"""`webtext extract`: pages/ -> docs/ (trafilatura + quality filters; a Beam job)."""

from __future__ import annotations

import argparse

from beam_jobs.configs import ExtractJobConfig  # no Beam, no trafilatura: cheap at parse time
from pipeline.commands import BEAM_EPILOG
from pipeline.extract_config import ExtractConfig
from pipeline.io.options import add_options, config_from_args

_MODES = ("favor_precision", "favor_recall")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="pages/ -> docs/: main text with trafilatura, quality filters (Beam job)",
        description=(
            "Extract the main text of every page in PAGES_DIR (trafilatura balanced mode without "
            "comments, with a comment-free baseline fallback for pages it under-extracts), drop pages whose final URL breaks the link rules (Wikipedia after a "
            "redirect), bot and cookie walls, short texts and optionally other languages, each "
            "counted in _stats.json, and write docs/ Parquet shards."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("pages_dir", metavar="PAGES_DIR", help="output of `webtext fetch`")
    p.add_argument("--out", required=True, help="output directory DOCS_DIR")
    # Every other option is declared once, in ExtractConfig and ExtractJobConfig. The mode
    # switches are one choice of three, and --balanced (the default) is no config field: they
    # share a mutually exclusive group.
    mode = p.add_mutually_exclusive_group()
    add_options(mode, ExtractConfig, only=_MODES)
    mode.add_argument(
        "--balanced",
        action="store_true",
        help="trafilatura default mode, neither precision nor recall (the default)",
    )
    add_options(p, ExtractConfig, skip=_MODES)
    add_options(p, ExtractJobConfig)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_extract)


def _run_extract(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.extract_job import ExtractJob, run_extract

    extract = config_from_args(ExtractConfig, args)
    config = config_from_args(
        ExtractJobConfig, args, pages_dir=args.pages_dir, out_dir=args.out, extract=extract
    )
    run_extract(config, beam_args, overwrite=args.overwrite)
    print(ExtractJob(config).summary())
    return 0
