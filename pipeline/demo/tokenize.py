"""The demo's tokenize step: train a 2,000-id BPE on root/corpus's train split, tokenize the
corpus into root/tokens, and print the counts and a decoded sample."""

from __future__ import annotations

from pathlib import Path

from beam_jobs.tokenize_job import TokenizeConfig, TokenizeJob, run_tokenize
from model.data import read_split
from model.tokenizer import load_tokenizer
from pipeline.io.shards import tokenizer_path


def tokenize_step(root: Path, beam_args: list[str]) -> None:
    """root/corpus -> root/tokens (a BPE trained on the train split, 2,000 ids at most)."""
    corpus_dir, out_dir = str(root / "corpus"), str(root / "tokens")
    config = TokenizeConfig(corpus_dir=corpus_dir, out_dir=out_dir, vocab_size=2000, num_shards=2)
    run_tokenize(config, beam_args)
    print(TokenizeJob(config).summary(prefix="[demo] "))
    tokenizer = load_tokenizer(tokenizer_path(out_dir))
    train = read_split(out_dir, "train")
    print(f"[demo] tokenizer: {tokenizer.vocab_size:,} ids (trained on the train split)")
    sample = train[:40].tolist()
    print(f"[demo] first train tokens: {sample[:12]} ... -> {tokenizer.decode(sample)!r}")
