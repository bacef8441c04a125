"""Stage 3 as a Beam job: pages/ -> docs/.

(docs shard j, pages shards j, j+M, ...) -> WriteShardsFromInputs: each batch of pages extracted
(ExtractBatches) and streamed into docs shard j in input order; no row is shuffled, so memory is
flat in the input size. Pages are sharded and sorted by link_id, which is the doc_id, so with as
many docs shards as pages shards each docs shard holds what hashing its rows would put there, in
key order. (The claim, empty input, finishing and summary: beam_jobs.stage_job.)
"""

from __future__ import annotations

import logging
from typing import Any

import apache_beam as beam
import pyarrow as pa

from beam_jobs.configs import ExtractJobConfig
from beam_jobs.stage_io import WriteShardsFromInputs, input_plan
from beam_jobs.stage_job import StageJob, StageOutput
from pipeline.extract import ExtractConfig, extract_document
from pipeline.io import schemas
from pipeline.io.stats import StageStats

log = logging.getLogger(__name__)
PAGE_BATCH = 64  # pages per record batch: HTML bodies are large


class ExtractBatches:
    """A record batch of pages -> its documents as a docs/ table, in input order (the per-batch
    function of WriteShardsFromInputs); every page counted in, out or dropped by reason, a
    parser crash on one page counted as extraction_error."""

    def __init__(self, config: ExtractConfig) -> None:
        self.config = config

    def setup(self) -> None:
        pass

    def __call__(
        self, batch: pa.RecordBatch, stats: StageStats, where: str
    ) -> tuple[pa.Table, dict[tuple[str, str], int]]:
        docs = []
        for page in batch.to_pylist():
            stats.records_in += 1
            try:
                doc, reason = extract_document(page, self.config)
            except Exception as exc:  # a parser crash on one page must not stop the job
                doc, reason = None, "extraction_error"
                stats.error(f"{page['url']}: {type(exc).__name__}: {exc}"[:300])
            if doc is None:
                stats.drop(reason or "unknown")
                continue
            stats.records_out += 1
            docs.append(doc)
        return pa.Table.from_pylist(docs, schema=schemas.DOCS), {}


class ExtractJob(StageJob):
    """pages/ -> docs/."""

    command = "extract"
    input_name = "pages"
    input_schema = schemas.PAGES

    def input_dir(self) -> str:
        return self.config.pages_dir

    def outputs(self) -> list[StageOutput]:
        cfg = self.config
        return [StageOutput(cfg.out_dir, "docs", schemas.DOCS, cfg.num_shards)]

    def expand(self, p: beam.Pipeline, inputs: list[str]) -> dict[str, dict[str, Any]]:
        (out,) = self.outputs()
        assert out.schema is not None
        docs = (
            p
            | "PageShards" >> beam.Create(input_plan(inputs, out.num_shards))
            | "Spread" >> beam.Reshuffle()
            | "Extract"
            >> WriteShardsFromInputs(
                out.out_dir,
                out.schema,
                out.num_shards,
                schemas.PAGES,
                ExtractBatches(self.config.extract),
                batch_size=PAGE_BATCH,
            )
        )
        return {"docs": docs}


def run_extract(
    config: ExtractJobConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the extract job. Returns "complete" when it had already finished, else "ran"."""
    return ExtractJob(config).run(beam_args, overwrite=overwrite)
