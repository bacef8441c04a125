"""`webtext dedup`: docs/ -> de-duplicated corpus/ with train/val/test splits + dups/ (Beam)."""

from __future__ import annotations

import argparse

from pipeline.commands import BEAM_EPILOG


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
    p.add_argument("--dups-out", help="dups/ output directory (default: dups beside --out)")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.8,
        help="estimated Jaccard for a near duplicate",
    )
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations")
    p.add_argument("--bands", type=int, default=20, help="LSH bands")
    p.add_argument("--rows", type=int, default=6, help="rows per band")
    p.add_argument("--shingle", type=int, default=5, help="words per shingle")
    p.add_argument(
        "--val-fraction", type=float, default=0.005, help="share of documents in the val split"
    )
    p.add_argument(
        "--test-fraction", type=float, default=0.005, help="share of documents in the test split"
    )
    p.add_argument("--num-shards", type=int, default=8, help="output shards")
    p.add_argument("--overwrite", action="store_true", help="replace existing output directories")
    p.set_defaults(handler=_run_dedup)


def _run_dedup(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.dedup_job import DedupConfig, DedupJob, default_dups_dir, run_dedup
    from dedup.minhash import MinHashParams

    config = DedupConfig(
        docs_dir=args.docs_dir,
        out_dir=args.out,
        dups_dir=args.dups_out or default_dups_dir(args.out),
        minhash=MinHashParams(
            num_perm=args.num_perm,
            bands=args.bands,
            rows=args.rows,
            threshold=args.threshold,
            shingle=args.shingle,
        ),
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        num_shards=args.num_shards,
    )
    run_dedup(config, beam_args, overwrite=args.overwrite)
    print(DedupJob(config).summary())
    return 0
