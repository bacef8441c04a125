"""`webtext tokenize`: corpus/ -> uint16 token shards with GPT-2's byte-level BPE (a Beam job)."""

from __future__ import annotations

import argparse

from beam_jobs.configs import TokenizeConfig  # no Beam: cheap at parse time
from pipeline.commands import BEAM_EPILOG
from pipeline.io.options import add_options, config_from_args

_SOURCES = ("gpt2_files", "vocab_size")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tokenize",
        help="corpus/ -> tokens/: GPT-2 byte-level BPE, uint16 Parquet shards (Beam job)",
        description=(
            "Encode every corpus document with GPT-2's byte-level BPE, each followed by "
            "<|endoftext|>, into tokens/ Parquet shards (doc_id, split, n_tokens, "
            "tokens list<uint16>) with tokens per split in _stats.json. The vocabulary is either "
            "the original GPT-2 files (--gpt2-files) or a new BPE trained on the corpus's train "
            "split (--vocab-size, default 50,257); it is saved in TOKENS_DIR/_tokenizer/."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("corpus_dir", metavar="CORPUS_DIR", help="corpus/ directory (webtext dedup)")
    p.add_argument("--out", required=True, help="output directory (tokens/)")
    # every other option: declared once, in TokenizeConfig; the vocabulary comes from GPT-2's
    # files or from training, one or the other
    source = p.add_mutually_exclusive_group()
    add_options(source, TokenizeConfig, only=_SOURCES)
    add_options(p, TokenizeConfig, skip=_SOURCES)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_tokenize)


def _run_tokenize(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.tokenize_job import TokenizeJob, run_tokenize

    config = config_from_args(TokenizeConfig, args, corpus_dir=args.corpus_dir, out_dir=args.out)
    run_tokenize(config, beam_args, overwrite=args.overwrite)
    print(TokenizeJob(config).summary())
    return 0
