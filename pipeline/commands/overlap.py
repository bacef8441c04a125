"""`webtext overlap` (8-gram overlap of test sets with the corpus) and `webtext overlap-verify`
(false-positive check of a saved filter)."""

from __future__ import annotations

import argparse

from beam_jobs.configs import OverlapConfig
from pipeline.commands import BEAM_EPILOG
from pipeline.io.options import add_options, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "overlap",
        help="%% of test-set 8-grams found in the corpus train split (Bloom filter; Beam job)",
        description=(
            "Build an 8-gram Bloom filter (paper normalisation: lower-case, non-alphanumeric runs "
            "-> one space) of the corpus split, query each test set, write per-document and "
            "per-set results and print a table shaped like Table 6 of the GPT-2 paper."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("corpus_dir", metavar="CORPUS_DIR", help="corpus/ directory (webtext dedup)")
    p.add_argument("--out", required=True, help="output directory")
    add_options(p, OverlapConfig)  # every other option: declared once, in OverlapConfig
    p.add_argument("--overwrite", action="store_true", help="replace an existing output dir")
    p.set_defaults(handler=_run_overlap)

    v = sub.add_parser(
        "overlap-verify",
        help="query random 8-grams against a saved filter; print observed vs theoretical FP rate",
        description=(
            "Check a Bloom filter written by `webtext overlap` (OVERLAP_DIR/filters): query "
            "random 8-grams (absent by construction) and compare the false positives found "
            "with the rate its bits set predict. Exit status 1 when the count is more than 4 "
            "standard deviations from that expectation."
        ),
    )
    v.add_argument(
        "filter",
        metavar="FILTER",
        help="a .bloom file, a partitioned filter's manifest.json, or OVERLAP_DIR/filters",
    )
    v.add_argument("--queries", type=int, default=1_000_000, help="random 8-grams to query")
    v.add_argument("--seed", type=int, default=12345, help="seed of the random 8-grams")
    v.set_defaults(handler=_run_verify)


def _run_overlap(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.overlap_job import OverlapJob, run_overlap

    config = config_from_args(OverlapConfig, args, corpus_dir=args.corpus_dir, out_dir=args.out)
    run_overlap(config, beam_args, overwrite=args.overwrite)
    print(OverlapJob(config).summary())
    return 0


def _run_verify(args: argparse.Namespace, beam_args: list[str]) -> int:
    from dedup.ngram.overlap import format_verification, verify
    from dedup.ngram.partitioned import PartitionedBloom, load_filter

    bloom = load_filter(args.filter, mmap=True)
    p = bloom.params
    layout = (
        f" in {bloom.partitions} partitions of {p.num_bits // bloom.partitions:,}"
        if isinstance(bloom, PartitionedBloom)
        else ""
    )
    print(
        f"{args.filter}: {p.num_bits:,} bits{layout}, {p.num_hashes} probes, sized for "
        f"{p.expected_items:,} 8-grams at p={p.target_fp_rate:g}; "
        f"{bloom.items_inserted:,} inserted, fill {bloom.fill_ratio():.4f}"
    )
    result = verify(bloom, args.queries, args.seed)
    print(format_verification(result))
    return 0 if result.consistent() else 1
