"""Stage 5 as a Beam job: corpus/ -> tokens/ (GPT-2 byte-level BPE, uint16 token shards).

driver: original GPT-2 files, or a BPE trained on the corpus's train split -> tokens/tokenizer/
Beam:   corpus shard paths -> TokenizeShard (batched, Rust, all cores) -> WriteStageOutput
        (+ tokens and documents per split summed into stats.json)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_jobs.shard_read import (
    check_stage_input,
    empty_input_message,
    shard_errors_in_one_line,
)
from beam_jobs.stage_io import (
    BundleStats,
    WriteStageOutput,
    claim_output,
    finish_empty,
    input_fingerprint,
)
from model.tokenizer import (
    ENCODER_FILE,
    GPT2_VOCAB_SIZE,
    MERGES_FILE,
    BPETokenizer,
    TokenizerFileError,
    load_tokenizer,
    train_bpe,
)
from pipeline.io import schemas, shards
from pipeline.io.locks import output_lock
from pipeline.io.stats import StageStats, format_stats
from pipeline.tokenize import (
    UINT16_LIMIT,
    check_fits_uint16,
    iter_corpus_batches,
    iter_split_texts,
    tokenize_batch,
)

log = logging.getLogger(__name__)
TOKENIZER_SUBDIR = "tokenizer"
TOTALS_TAG = "totals"


@dataclass(frozen=True)
class TokenizeConfig:
    corpus_dir: str
    out_dir: str
    gpt2_files: str | None = None  # directory with encoder.json + vocab.bpe; else train
    vocab_size: int = GPT2_VOCAB_SIZE  # when training
    min_frequency: int = 2  # when training: a pair must occur this often to be merged
    train_split: str = "train"
    max_train_docs: int | None = None  # train on the first N documents of the split
    num_shards: int = 8
    batch_size: int = 1024  # documents per encode_batch call

    def tokenizer_params(self) -> dict[str, Any]:
        if self.gpt2_files:
            d = Path(self.gpt2_files)
            return {
                "source": "files",
                "encoder_sha256": _sha256(d / ENCODER_FILE),
                "merges_sha256": _sha256(d / MERGES_FILE),
            }
        return {
            "source": "trained",
            "vocab_size": self.vocab_size,
            "min_frequency": self.min_frequency,
            "train_split": self.train_split,
            "max_train_docs": self.max_train_docs,
        }

    def params(self) -> dict[str, Any]:
        return {
            "tokenizer": self.tokenizer_params(),
            "num_shards": self.num_shards,
            "schema_version": schemas.SCHEMA_VERSION,
        }


def _sha256(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: not found; --gpt2-files needs a directory with {ENCODER_FILE} and "
            f"{MERGES_FILE}"
        )
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TokenizeShard(BundleStats):
    """One corpus/ shard path -> (key, token row) per document; totals per split."""

    def __init__(self, tokenizer_dir: str, batch_size: int) -> None:
        self.tokenizer_dir = tokenizer_dir
        self.batch_size = batch_size

    def setup(self) -> None:
        self.tokenizer = load_tokenizer(self.tokenizer_dir)

    def process(self, path: str) -> Iterable[Any]:
        docs = tokens = 0
        for doc_ids, splits, raw in iter_corpus_batches(path, batch_size=self.batch_size):
            batch = tokenize_batch(self.tokenizer, doc_ids, splits, raw, self.stats, path)
            yield from batch.rows
            for key, count in batch.totals.items():
                yield beam.pvalue.TaggedOutput(TOTALS_TAG, (key, count))
            docs += len(batch.rows)
            tokens += sum(row["n_tokens"] for _, row in batch.rows)
        log.info("%s: %s documents, %s tokens", path, f"{docs:,}", f"{tokens:,}")


class TokenizeCorpus(beam.PTransform):
    """PCollection of corpus/ shard paths -> rows, stats and totals for WriteStageOutput."""

    def __init__(self, tokenizer_dir: str, batch_size: int) -> None:
        super().__init__()
        self.tokenizer_dir = tokenizer_dir
        self.batch_size = batch_size

    def expand(self, paths: beam.PCollection) -> dict[str, beam.PCollection]:
        out = paths | "Tokenize" >> beam.ParDo(
            TokenizeShard(self.tokenizer_dir, self.batch_size)
        ).with_outputs(BundleStats.STATS_TAG, TOTALS_TAG, main="rows")
        return {"rows": out.rows, "stats": out[BundleStats.STATS_TAG], "totals": out[TOTALS_TAG]}


def _copy_atomic(src: Path, dst: Path) -> None:
    shards.write_bytes_atomic(str(dst), src.read_bytes())


def prepare_tokenizer(config: TokenizeConfig) -> BPETokenizer:
    """Put the tokenizer of this run into OUT/tokenizer/ and return it.

    GPT-2's files are copied byte for byte. A trained one is trained on the corpus's train
    split; a resumed run reuses the one it saved (training is not repeated).
    """
    target = Path(config.out_dir) / TOKENIZER_SUBDIR
    if config.gpt2_files:
        for name in (ENCODER_FILE, MERGES_FILE):
            _copy_atomic(Path(config.gpt2_files) / name, target / name)
        return load_tokenizer(target)
    if (target / ENCODER_FILE).exists() and (target / MERGES_FILE).exists():
        try:
            tokenizer = load_tokenizer(target)
            log.info("reusing the tokenizer trained by the earlier run: %s", tokenizer)
            return tokenizer
        except TokenizerFileError as exc:  # killed between the two files: train again
            log.warning("%s; training again", exc)
    skipped = StageStats()
    seen = [0]

    def texts() -> Iterable[str]:
        for text in iter_split_texts(
            config.corpus_dir, config.train_split, skipped, max_docs=config.max_train_docs
        ):
            seen[0] += 1
            yield text

    log.info(
        "training a byte-level BPE (vocab %s) on %s split %r",
        f"{config.vocab_size:,}",
        config.corpus_dir,
        config.train_split,
    )
    tokenizer = train_bpe(texts(), config.vocab_size, min_frequency=config.min_frequency)
    if seen[0] == 0:
        raise ValueError(
            f"{config.corpus_dir}: no usable documents in split {config.train_split!r} to train "
            "a tokenizer on; pass --gpt2-files DIR to use GPT-2's vocabulary instead"
        )
    if skipped.total_dropped:
        log.warning("tokenizer training skipped documents: %s", dict(skipped.dropped))
    if tokenizer.vocab_size < config.vocab_size:
        # Not a fault: BPE stops merging when no pair is frequent enough; the vocabulary is
        # complete (every byte is an id) and training uses its actual size.
        log.info(
            "BPE vocabulary: %s ids of the %s asked for, as no further pair of tokens occurs "
            "at least %d times in the train split (expected on a small corpus: every text "
            "still encodes, and training uses %s ids)",
            f"{tokenizer.vocab_size:,}",
            f"{config.vocab_size:,}",
            config.min_frequency,
            f"{tokenizer.vocab_size:,}",
        )
    tokenizer.save(target)
    return load_tokenizer(target)


def validate_config(config: TokenizeConfig) -> None:
    if config.num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {config.num_shards}")
    if config.batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {config.batch_size}")
    if not config.gpt2_files and not 257 <= config.vocab_size <= UINT16_LIMIT:
        raise ValueError(
            f"--vocab-size {config.vocab_size:,}: must be between 257 (256 bytes + "
            f"<|endoftext|>) and {UINT16_LIMIT:,} (ids are stored as uint16)"
        )


def run_tokenize(
    config: TokenizeConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the tokenize stage. Returns "complete" when it had already finished, else "ran"."""
    validate_config(config)
    # Schema errors name the file and column before any output directory is touched.
    inputs = check_stage_input(config.corpus_dir, schemas.CORPUS, "corpus")
    if config.gpt2_files:  # bad files are reported before the output directory is touched
        check_fits_uint16(load_tokenizer(config.gpt2_files), config.gpt2_files)
    spec = shards.JobSpec("tokenize", config.params(), input_fingerprint(inputs))
    tokenizer_subdir = str(Path(config.out_dir) / TOKENIZER_SUBDIR)
    with output_lock(config.out_dir, "webtext tokenize"):
        state = claim_output(
            config.out_dir, spec, overwrite=overwrite, extra_dirs=(tokenizer_subdir,)
        )
        if state == "complete":
            return "complete"
        if not inputs:  # nothing to train a tokenizer on, nor to tokenize
            log.info("%s", empty_input_message(config.corpus_dir, "corpus", "tokens"))
            finish_empty(config.out_dir, "tokenize")
            return "ran"
        tokenizer = prepare_tokenizer(config)
        tokenizer_dir = str(Path(config.out_dir) / TOKENIZER_SUBDIR)
        check_fits_uint16(tokenizer, tokenizer_dir)
        log.info("tokenizer: %s", tokenizer)
        options = PipelineOptions(beam_args or [])
        with shard_errors_in_one_line(), beam.Pipeline(options=options) as p:
            _ = (
                p
                | "Inputs" >> beam.Create(inputs)
                | "TokenizeCorpus" >> TokenizeCorpus(tokenizer_dir, config.batch_size)
                | "Write"
                >> WriteStageOutput(config.out_dir, schemas.TOKENS, config.num_shards, "tokenize")
            )
        return "ran"


def summary(out_dir: str, title: str) -> str:
    """Records in/out/dropped plus tokens and documents per split, for the terminal."""
    data = shards.read_stats(out_dir)
    lines = [format_stats(StageStats.from_dict(data), title)]
    docs = data.get("docs_per_split", {})
    for split, count in sorted(data.get("tokens_per_split", {}).items()):
        lines.append(f"  {split:<6} {docs.get(split, 0):>10,} docs {count:>14,} tokens")
    return "\n".join(lines)
