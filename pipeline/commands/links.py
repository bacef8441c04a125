"""`webtext links`: Reddit submissions -> outbound links with karma (a Beam job)."""

from __future__ import annotations

import argparse

from pipeline.commands import BEAM_EPILOG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "links",
        help="Reddit submissions -> outbound links with karma >= N (Beam job)",
        description=(
            "Read Reddit submission dumps (Pushshift / Arctic Shift RS_*.zst, .xz, .bz2, .gz, "
            ".jsonl; globs allowed) or live listings (reddit:SUB+SUB?listing=top&time=week"
            "&limit=500, through praw), keep outbound links whose karma passes the rule, and "
            "write links/ Parquet shards with stats.json."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="dump files/globs or reddit: specs")
    p.add_argument("--out", required=True, help="output directory (local path or gs://, s3://)")
    p.add_argument("--min-score", type=int, default=3, help="karma threshold")
    p.add_argument(
        "--score-rule",
        choices=("max", "sum"),
        default="max",
        help="max: some post of the URL has >= min-score (GPT-2 paper, default); "
        "sum: the scores of all its posts add up to >= min-score (OpenWebText2)",
    )
    p.add_argument("--keep-nsfw", action="store_true", help="keep posts flagged over_18")
    p.add_argument("--num-shards", type=int, default=8, help="output shards")
    p.add_argument("--reddit-site", help="praw.ini site with the API credentials")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_links)


def _run_links(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.links_job import LinksConfig, LinksJob, run_links

    config = LinksConfig(
        inputs=args.inputs,
        out_dir=args.out,
        min_score=args.min_score,
        score_rule=args.score_rule,
        keep_nsfw=args.keep_nsfw,
        num_shards=args.num_shards,
        reddit_site=args.reddit_site,
    )
    run_links(config, beam_args, overwrite=args.overwrite)
    print(LinksJob(config).summary())
    return 0
