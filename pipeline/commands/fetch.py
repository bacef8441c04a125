"""`webtext fetch`: links/ -> pages/ (live HTTP or WARC archives; a Beam job)."""

from __future__ import annotations

import argparse

from beam_jobs.configs import FetchJobConfig  # no Beam, no aiohttp: cheap at parse time
from pipeline.archive.config import ArchiveConfig
from pipeline.commands import BEAM_EPILOG
from pipeline.fetch.config import FetchConfig
from pipeline.io.options import add_options, config_from_args

_MIB = 1024 * 1024


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch",
        help="links/ -> pages/: fetch every link (asyncio client inside Beam, or WARC files)",
        description=(
            "Fetch the page of every link in LINKS_DIR and write pages/ Parquet shards with "
            "_stats.json. Every link ends as a page or a counted error; the full per-link ledger, "
            "errors included, stays in PAGES_DIR/_fetched/. Rerunning the same command resumes: "
            "links already in the ledger are not fetched again, and a finished output is left "
            "as is unless --retry-errors asks to fetch recorded errors again. Hosts that "
            "resolve to private, loopback, link-local or cloud-metadata addresses are refused "
            "unless --allow-private. --source cc,wayback,live reads 2017-era captures from "
            "Common Crawl and the Wayback Machine first (the first source that yields a page "
            "wins; every attempt is in the ledger)."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("links_dir", metavar="LINKS_DIR", help="output of `webtext links`")
    p.add_argument("--out", required=True, help="output directory PAGES_DIR")
    # Every other option is declared once, in FetchConfig and FetchJobConfig, except three
    # whose command-line form is not a field's: --warc takes several files at once, --max-body-mb
    # is FetchConfig.max_body_bytes in MiB, --retry-errors takes an optional value.
    add_options(p, FetchConfig)
    add_options(p, FetchJobConfig)
    archive = p.add_argument_group("archive sources (--source cc, wayback)")
    add_options(archive, ArchiveConfig)
    p.add_argument(
        "--warc",
        nargs="+",
        metavar="FILE",
        help="read responses from WARC files (globs) instead of the web",
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=FetchConfig.max_body_bytes / _MIB,
        help="body size cap in MiB",
    )
    p.add_argument(
        "--retry-errors",
        nargs="?",
        const="transient",
        default=None,
        metavar="CLASSES",
        help=(
            "on a rerun (finished output or not), fetch again the links whose recorded outcome "
            "is an error of these classes: a comma list; 'transient' (the default when no value "
            "is given) means timeout, connection and DNS errors, truncated bodies, HTTP 408, "
            "429, 5xx gateway/overload statuses (see pipeline/fetch/retry.py); e.g. "
            "'transient,http_404'. pages/ and _stats.json are then rebuilt from the whole ledger"
        ),
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_fetch)


def _run_fetch(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.fetch_job import FetchJob, run_fetch
    from pipeline.fetch.retry import parse_retry_classes

    retry = parse_retry_classes(args.retry_errors) if args.retry_errors is not None else frozenset()
    fetch = config_from_args(FetchConfig, args, max_body_bytes=int(args.max_body_mb * _MIB))
    archive = config_from_args(ArchiveConfig, args)
    config = config_from_args(
        FetchJobConfig,
        args,
        links_dir=args.links_dir,
        out_dir=args.out,
        fetch=fetch,
        archive=archive,
        warc_inputs=tuple(args.warc or ()),
        retry_errors=retry,
    )
    run_fetch(config, beam_args, overwrite=args.overwrite)
    print(FetchJob(config).summary())
    return 0
