"""`webtext tokenize`: corpus/ -> uint16 token shards with GPT-2's byte-level BPE (a Beam job)."""

from __future__ import annotations

import argparse

from pipeline.commands import BEAM_EPILOG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tokenize",
        help="corpus/ -> tokens/: GPT-2 byte-level BPE, uint16 Parquet shards (Beam job)",
        description=(
            "Encode every corpus document with GPT-2's byte-level BPE, each followed by "
            "<|endoftext|>, into tokens/ Parquet shards (doc_id, split, n_tokens, "
            "tokens list<uint16>) with tokens per split in stats.json. The vocabulary is either "
            "the original GPT-2 files (--gpt2-files) or a new BPE trained on the corpus's train "
            "split (--vocab-size, default 50,257); it is saved in TOKENS_DIR/tokenizer/."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("corpus_dir", metavar="CORPUS_DIR", help="corpus/ directory (webtext dedup)")
    p.add_argument("--out", required=True, help="output directory (tokens/)")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--gpt2-files", metavar="DIR", help="directory with GPT-2's encoder.json and vocab.bpe"
    )
    source.add_argument(
        "--vocab-size",
        type=int,
        default=50257,
        help="train a BPE with at most this many ids, <|endoftext|> included; at most 65536 "
        "(default: %(default)s)",
    )
    p.add_argument("--min-frequency", type=int, default=2, help="training: minimum pair count")
    p.add_argument(
        "--max-train-docs",
        type=int,
        help="training: use only the first N train documents (default: all)",
    )
    p.add_argument("--num-shards", type=int, default=8, help="output shards")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_tokenize)


def _run_tokenize(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.tokenize_job import TokenizeConfig, TokenizeJob, run_tokenize

    config = TokenizeConfig(
        corpus_dir=args.corpus_dir,
        out_dir=args.out,
        gpt2_files=args.gpt2_files,
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        max_train_docs=args.max_train_docs,
        num_shards=args.num_shards,
    )
    run_tokenize(config, beam_args, overwrite=args.overwrite)
    print(TokenizeJob(config).summary())
    return 0
