"""`webtext dedup`: docs/ -> de-duplicated corpus/ with train/val/test splits + dups/ (Beam)."""

from __future__ import annotations

import argparse

from beam_jobs.configs import DedupConfig  # no Beam, no numpy: cheap at parse time
from dedup.params import MinHashParams
from pipeline.commands import BEAM_EPILOG
from pipeline.io.options import add_options, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dedup",
        help="docs -> corpus: exact + MinHash LSH near-duplicate removal, splits (Beam job)",
        description=(
            "Remove exact duplicates (same normalised text) and near duplicates (MinHash over "
            "word 5-gram shingles, LSH banding, estimated Jaccard >= threshold, connected "
            "components; the keeper of a cluster has the highest karma, then the earliest post). "
            "Writes corpus/ (docs + split = train/val/test by a hash of the doc id) and dups/ "
            "(each removed document with its keeper and similarity)."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("docs_dir", metavar="DOCS_DIR", help="docs/ directory (webtext extract)")
    p.add_argument("--out", required=True, help="corpus output directory")
    # dups_dir's default derives from --out: written here, not in DedupConfig
    p.add_argument("--dups-out", help="dups/ output directory (default: dups beside --out)")
    # every other option: declared once, in MinHashParams and DedupConfig
    add_options(p, MinHashParams)
    add_options(p, DedupConfig)
    p.add_argument("--overwrite", action="store_true", help="replace existing output directories")
    p.set_defaults(handler=_run_dedup)


def _run_dedup(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.dedup_job import DedupJob, default_dups_dir, run_dedup

    config = config_from_args(
        DedupConfig,
        args,
        docs_dir=args.docs_dir,
        out_dir=args.out,
        dups_dir=args.dups_out or default_dups_dir(args.out),
        minhash=config_from_args(MinHashParams, args),
    )
    run_dedup(config, beam_args, overwrite=args.overwrite)
    print(DedupJob(config).summary())
    return 0
