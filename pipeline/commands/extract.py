"""`webtext extract`: pages/ -> docs/ (trafilatura + quality filters; a Beam job)."""

from __future__ import annotations

import argparse

from pipeline.commands import BEAM_EPILOG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="pages/ -> docs/: main text with trafilatura, quality filters (Beam job)",
        description=(
            "Extract the main text of every page in PAGES_DIR (trafilatura balanced mode without "
            "comments, with a comment-free baseline fallback for pages it under-extracts), drop pages whose final URL breaks the link rules (Wikipedia after a "
            "redirect), bot and cookie walls, short texts and optionally other languages, each "
            "counted in stats.json, and write docs/ Parquet shards."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("pages_dir", metavar="PAGES_DIR", help="output of `webtext fetch`")
    p.add_argument("--out", required=True, help="output directory DOCS_DIR")
    p.add_argument("--min-tokens", type=int, default=128, help="minimum words+punctuation")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--favor-recall", action="store_true", help="trafilatura recall mode")
    mode.add_argument("--favor-precision", action="store_true", help="trafilatura precision mode")
    mode.add_argument(
        "--balanced",
        action="store_true",
        help="trafilatura default mode, neither precision nor recall (the default)",
    )
    p.add_argument(
        "--fallback-ratio",
        type=float,
        default=3.0,
        help="take the comment-free baseline text when it is this many times longer than the "
        "main extraction (0 = off; default: %(default)s)",
    )
    p.add_argument(
        "--fallback-min-chars",
        type=int,
        default=1000,
        help="only apply the fallback to main extractions of at least this many characters",
    )
    p.add_argument("--include-comments", action="store_true", help="keep user comments")
    p.add_argument("--no-tables", action="store_true", help="leave out table text")
    p.add_argument(
        "--lang",
        action="append",
        default=[],
        metavar="CODE",
        help="keep only these languages (ISO 639-1, py3langid; repeatable). Default: all",
    )
    p.add_argument("--num-shards", type=int, default=8, help="output shards")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_extract)


def _run_extract(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.extract_job import ExtractJob, ExtractJobConfig, run_extract
    from pipeline.extract import ExtractConfig

    extract = ExtractConfig(
        min_tokens=args.min_tokens,
        favor_precision=args.favor_precision,
        favor_recall=args.favor_recall,
        include_comments=args.include_comments,
        include_tables=not args.no_tables,
        fallback_ratio=args.fallback_ratio,
        fallback_min_chars=args.fallback_min_chars,
        languages=tuple(args.lang),
    )
    config = ExtractJobConfig(args.pages_dir, args.out, extract=extract, num_shards=args.num_shards)
    run_extract(config, beam_args, overwrite=args.overwrite)
    print(ExtractJob(config).summary())
    return 0
