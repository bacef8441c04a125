"""Stage 3 as a Beam job: pages/ -> docs/.

page shards -> rows -> Reshuffle (spread the CPU-bound work) -> ExtractDocs -> WriteStageOutput
(the claim, empty input, writing and summary: beam_jobs.stage_job)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import apache_beam as beam

from beam_jobs.configs import ExtractJobConfig
from beam_jobs.shard_read import ReadShardRows
from beam_jobs.stage_io import BundleStats
from beam_jobs.stage_job import StageJob, StageOutput
from pipeline.extract import ExtractConfig, extract_document
from pipeline.io import schemas

log = logging.getLogger(__name__)


class ExtractDocs(BundleStats):
    def __init__(self, config: ExtractConfig) -> None:
        self.config = config

    def process(self, page: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
        self.stats.records_in += 1
        try:
            doc, reason = extract_document(page, self.config)
        except Exception as exc:  # a parser crash on one page must not stop the job: counted
            doc, reason = None, "extraction_error"
            self.stats.error(f"{page['url']}: {type(exc).__name__}: {exc}"[:300])
        if doc is None:
            self.stats.drop(reason or "unknown")
            return
        self.stats.records_out += 1
        yield doc["doc_id"], doc


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
        docs = (
            p
            | "PageShards" >> beam.Create(inputs)
            | "ReadPages" >> beam.ParDo(ReadShardRows(schemas.PAGES))
            | "Spread" >> beam.Reshuffle()
            | "ExtractDocs"
            >> beam.ParDo(ExtractDocs(self.config.extract)).with_outputs(
                BundleStats.STATS_TAG, main="rows"
            )
        )
        return {"docs": {"rows": docs.rows, "stats": docs.stats}}


def run_extract(
    config: ExtractJobConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the extract job. Returns "complete" when it had already finished, else "ran"."""
    return ExtractJob(config).run(beam_args, overwrite=overwrite)
