"""Stage 3 as a Beam job: pages/ -> docs/.

page shards -> rows -> Reshuffle (spread the CPU-bound work) -> ExtractDocs -> WriteStageOutput
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from beam_jobs.shard_read import (
    ReadShardRows,
    check_stage_input,
    empty_input_message,
    fingerprint_stage,
    shard_errors_in_one_line,
)
from beam_jobs.stage_io import BundleStats, WriteStageOutput, claim_output, finish_empty
from pipeline.extract import ExtractConfig, extract_document
from pipeline.io import schemas, shards
from pipeline.io.locks import output_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractJobConfig:
    pages_dir: str
    out_dir: str
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    num_shards: int = 8

    def params(self) -> dict[str, Any]:
        return {
            "extract": self.extract.to_dict(),
            "num_shards": self.num_shards,
            "schema_version": schemas.SCHEMA_VERSION,
        }


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


def run_extract(
    config: ExtractJobConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the extract job. Returns "complete" when it had already finished, else "ran"."""
    page_files = check_stage_input(config.pages_dir, schemas.PAGES, "pages")
    spec = shards.JobSpec("docs", config.params(), fingerprint_stage(config.pages_dir))
    with output_lock(config.out_dir, "webtext extract"):
        if claim_output(config.out_dir, spec, overwrite=overwrite) == "complete":
            return "complete"
        if not page_files:
            log.info("%s", empty_input_message(config.pages_dir, "pages", "docs"))
            finish_empty(config.out_dir, "docs")
            return "ran"
        options = PipelineOptions(beam_args or [])
        with shard_errors_in_one_line(), beam.Pipeline(options=options) as p:
            docs = (
                p
                | "PageShards" >> beam.Create(page_files)
                | "ReadPages" >> beam.ParDo(ReadShardRows(schemas.PAGES))
                | "Spread" >> beam.Reshuffle()
                | "Extract"
                >> beam.ParDo(ExtractDocs(config.extract)).with_outputs(
                    BundleStats.STATS_TAG, main="rows"
                )
            )
            _ = {"rows": docs.rows, "stats": docs.stats} | "Write" >> WriteStageOutput(
                config.out_dir, schemas.DOCS, config.num_shards, "docs"
            )
        return "ran"
