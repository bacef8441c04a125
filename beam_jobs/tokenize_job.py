"""Stage 5 as a Beam job: corpus/ -> tokens/ (GPT-2 byte-level BPE, uint16 token shards).

driver: original GPT-2 files, or a BPE trained on the corpus's train split -> tokens/_tokenizer/
        (pipeline.tokenize.prepare_tokenizer)
Beam:   corpus shard paths -> TokenizeShard (batched, Rust, all cores) -> WriteStageOutput
        (+ tokens and documents per split summed into _stats.json)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam

from beam_jobs.stage_io import BundleStats
from beam_jobs.stage_job import StageJob, StageOutput, check_positive
from model.tokenizer import ENCODER_FILE, GPT2_VOCAB_SIZE, MERGES_FILE, load_tokenizer
from pipeline.io import schemas
from pipeline.io.shard_verify import TOKENIZER_DIR, tokenizer_path
from pipeline.tokenize import (
    DOCS_PER_SPLIT,
    TOKENS_PER_SPLIT,
    UINT16_LIMIT,
    check_fits_uint16,
    iter_corpus_batches,
    prepare_tokenizer,
    tokenize_batch,
)

log = logging.getLogger(__name__)
TOKENIZER_SUBDIR = TOKENIZER_DIR  # "_tokenizer": readers skip it (tokenizer/ before)
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

    def __post_init__(self) -> None:
        check_positive(num_shards=self.num_shards, batch_size=self.batch_size)
        if not self.gpt2_files and not 257 <= self.vocab_size <= UINT16_LIMIT:
            raise ValueError(
                f"--vocab-size {self.vocab_size:,}: must be between 257 (256 bytes + "
                f"<|endoftext|>) and {UINT16_LIMIT:,} (ids are stored as uint16)"
            )

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


class TokenizeJob(StageJob):
    """corpus/ -> tokens/ (+ tokens/_tokenizer/, prepared on the driver before the pipeline)."""

    command = "tokenize"
    input_name = "corpus"
    input_schema = schemas.CORPUS

    @property
    def tokenizer_dir(self) -> str:
        # _tokenizer/; the tokenizer/ of an older output a resumed run finishes with its own
        return tokenizer_path(self.config.out_dir)

    def input_dir(self) -> str:
        return self.config.corpus_dir

    def outputs(self) -> list[StageOutput]:
        cfg = self.config
        return [
            StageOutput(
                cfg.out_dir,
                "tokens",
                schemas.TOKENS,
                cfg.num_shards,
                extra_dirs=(self.tokenizer_dir,),
            )
        ]

    def check(self) -> None:
        if self.config.gpt2_files:  # bad files are reported before the output is touched
            check_fits_uint16(load_tokenizer(self.config.gpt2_files), self.config.gpt2_files)

    def before_pipeline(self, state: str) -> None:
        cfg = self.config
        tokenizer = prepare_tokenizer(
            self.tokenizer_dir,
            gpt2_files=cfg.gpt2_files,
            corpus_dir=cfg.corpus_dir,
            train_split=cfg.train_split,
            vocab_size=cfg.vocab_size,
            min_frequency=cfg.min_frequency,
            max_train_docs=cfg.max_train_docs,
        )
        check_fits_uint16(tokenizer, self.tokenizer_dir)
        log.info("tokenizer: %s", tokenizer)

    def expand(self, p: beam.Pipeline, inputs: list[str]) -> dict[str, dict[str, Any]]:
        tokens = (
            p
            | "Inputs" >> beam.Create(inputs)
            | "TokenizeCorpus" >> TokenizeCorpus(self.tokenizer_dir, self.config.batch_size)
        )
        return {"tokens": tokens}

    def summary_lines(self, data: dict[str, Any]) -> list[str]:
        """Tokens and documents per split."""
        docs = data.get(DOCS_PER_SPLIT, {})
        return [
            f"  {split:<6} {docs.get(split, 0):>10,} docs {count:>14,} tokens"
            for split, count in sorted(data.get(TOKENS_PER_SPLIT, {}).items())
        ]


def run_tokenize(
    config: TokenizeConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the tokenize stage. Returns "complete" when it had already finished, else "ran"."""
    return TokenizeJob(config).run(beam_args, overwrite=overwrite)
