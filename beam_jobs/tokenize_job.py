"""Stage 5 as a Beam job: corpus/ -> tokens/ (GPT-2 byte-level BPE, uint16 token shards).

driver: original GPT-2 files, or a BPE trained on the corpus's train split -> tokens/_tokenizer/
        (pipeline.tokenize.prepare_tokenizer)
Beam:   (tokens shard j, corpus shards j, j+M, ...) -> WriteShardsFromInputs: each corpus
        record batch tokenized (batched, Rust, all cores) and streamed into token shard j, in
        input order; no row is shuffled, so memory is flat in the corpus size
        -> WriteStageOutput finishes the directory (+ tokens and documents per split summed
        into _stats.json)
"""

from __future__ import annotations

import logging
from typing import Any

import apache_beam as beam

from beam_jobs.configs import TokenizeConfig
from beam_jobs.stage_io import WriteShardsFromInputs, input_plan
from beam_jobs.stage_job import StageJob, StageOutput
from model.tokenizer import load_tokenizer
from pipeline.io import schemas
from pipeline.io.shard_verify import TOKENIZER_DIR, tokenizer_path
from pipeline.tokenize import (
    CORPUS_COLUMNS,
    DOCS_PER_SPLIT,
    TOKENS_PER_SPLIT,
    TokenizeBatches,
    check_fits_uint16,
    prepare_tokenizer,
)

log = logging.getLogger(__name__)
TOKENIZER_SUBDIR = TOKENIZER_DIR  # "_tokenizer": readers skip it (tokenizer/ before)


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
        (out,) = self.outputs()
        assert out.schema is not None
        tokens = (
            p
            | "Inputs" >> beam.Create(input_plan(inputs, out.num_shards))
            | "Tokenize"
            >> WriteShardsFromInputs(
                out.out_dir,
                out.schema,
                out.num_shards,
                schemas.CORPUS,
                TokenizeBatches(self.tokenizer_dir),
                columns=CORPUS_COLUMNS,
                batch_size=self.config.batch_size,
            )
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
