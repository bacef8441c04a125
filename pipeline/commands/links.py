"""`webtext links`: Reddit submissions -> outbound links with karma (a Beam job)."""

from __future__ import annotations

import argparse

from beam_jobs.configs import LinksConfig  # no Beam: cheap at parse time
from pipeline.commands import BEAM_EPILOG
from pipeline.io.options import add_options, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "links",
        help="Reddit submissions -> outbound links with karma >= N (Beam job)",
        description=(
            "Read Reddit submission dumps (Pushshift / Arctic Shift RS_*.zst, .xz, .bz2, .gz, "
            ".jsonl; globs allowed) or live listings (reddit:SUB+SUB?listing=top&time=week"
            "&limit=500, through praw), keep outbound links whose karma passes the rule, and "
            "write links/ Parquet shards with _stats.json."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="dump files/globs or reddit: specs")
    p.add_argument("--out", required=True, help="output directory (local path or gs://, s3://)")
    add_options(p, LinksConfig)  # every other option: declared once, in LinksConfig
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_links)


def _run_links(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.links_job import LinksJob, run_links

    config = config_from_args(LinksConfig, args, inputs=args.inputs, out_dir=args.out)
    run_links(config, beam_args, overwrite=args.overwrite)
    print(LinksJob(config).summary())
    return 0
