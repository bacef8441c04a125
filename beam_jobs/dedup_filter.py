"""The filter pass of `webtext dedup`: each docs/ shard re-read against the (small) removal
decisions, its kept rows streamed to the corpus/ shard of the same index (with the split
column) and its removed rows to the dups/ shard of that index.

Text is read here and nowhere else after fingerprinting: it never goes through a shuffle.
A shard is written to a temporary name and renamed when complete; a shard left by an earlier
run of the same job is kept (resume), and every written shard is recorded for ``finish_stage``
(_stats.json with names, row counts, sizes and CRCs, then _SUCCESS), as WriteStageOutput does
for the other stages.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from beam_jobs.stage_io import BundleStats, MergeStats, finish_stage
from dedup.near import Removal
from dedup.records import rows_of
from dedup.split import assign_split
from pipeline.io import schemas, shards

log = logging.getLogger(__name__)

READ_BATCH = 2048  # rows of text held at once by the filter pass


class StreamingShard:
    """One Parquet shard written batch by batch (zstd, page checksums, like shards.write_shard)
    to a temporary name, renamed to its final name by ``close``. Nothing is created until the
    first batch: a shard with no row is not written (as WriteStageOutput writes none)."""

    def __init__(self, directory: str, name: str, schema: pa.Schema) -> None:
        self.directory = directory
        self.name = name
        self.schema = schema
        self.count = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        path = shards.join(self.directory, self.name)
        with shards.naming(path):
            if self._writer is None:
                fs, d = shards.resolve(self.directory)
                fs.create_dir(d, recursive=True)
                self._fs, self._final = fs, f"{d}/{self.name}"
                self._tmp = f"{d}/{shards.TMP_PREFIX}{uuid.uuid4().hex}-{self.name}"
                self._sink = fs.open_output_stream(self._tmp, compression=None)
                self._writer = pq.ParquetWriter(
                    self._sink, self.schema, compression="zstd", write_page_checksum=True
                )
            self._writer.write_table(table)
        self.count += table.num_rows

    def close(self) -> int:
        """Rename the finished shard into place; the rows written (0: no file)."""
        if self._writer is not None:
            with shards.naming(shards.join(self.directory, self.name)):
                self._writer.close()
                self._sink.close()
                self._fs.move(self._tmp, self._final)
            self._writer = None
        return self.count


def corpus_table(batch: pa.RecordBatch, keep: np.ndarray, val: float, test: float) -> pa.Table:
    """The kept rows of a docs/ batch as corpus/ rows: the docs columns plus the split."""
    table = pa.Table.from_batches([batch]).filter(pa.array(keep))
    split = pa.array([assign_split(d, val, test) for d in table["doc_id"].to_pylist()], pa.string())
    columns = [table[name] for name in schemas.DOCS.names] + [split]
    return pa.Table.from_arrays(columns, schema=schemas.CORPUS)


def dups_row(removal: Removal, url: str) -> dict[str, Any]:
    return {
        "doc_id": removal.doc_id,
        "keeper_id": removal.keeper_id,
        "similarity": removal.similarity,
        "reason": removal.reason,
        "url": url,
        "keeper_url": removal.keeper_url,
    }


class FilterShard(BundleStats):
    """(shard index, {"path": [docs shard], "skip": [row blobs], "removals": [Removal]}) ->
    the corpus/ and dups/ shards of that index written; ``(name, rows)`` of each on the
    main output (corpus/) and on "dups". Skipped rows (a repeated id's other rows, empty texts) were
    counted where they were found; the removals are counted here."""

    def __init__(
        self, corpus_dir: str, dups_dir: str, num_shards: int, val: float, test: float
    ) -> None:
        self.corpus_dir = corpus_dir
        self.dups_dir = dups_dir
        self.num_shards = num_shards
        self.val = val
        self.test = test

    def process(self, element: tuple[int, dict[str, list]]) -> Iterable[Any]:
        index, groups = element
        (path,) = groups["path"]
        removals = {r.doc_id: r for r in groups["removals"]}
        for r in removals.values():
            self.stats.drop(f"{r.reason}_duplicate")
        name = shards.shard_name(index, self.num_shards)
        corpus_path = shards.join(self.corpus_dir, name)
        dups_path = shards.join(self.dups_dir, name)
        corpus_done = shards.exists(corpus_path)
        dups_done = not removals or shards.exists(dups_path)
        if corpus_done and dups_done:
            kept = shards.shard_row_count(corpus_path)
            log.info("kept %s from an earlier run (%d rows)", name, kept)
        else:
            kept = self._filter(path, name, rows_of(groups["skip"]), removals, corpus_done)
        self.stats.records_out += kept
        if kept:
            yield name, kept
        if removals:
            yield beam.pvalue.TaggedOutput("dups", (name, len(removals)))

    def _filter(
        self,
        path: str,
        name: str,
        skip: np.ndarray,
        removals: dict[str, Removal],
        corpus_done: bool,
    ) -> int:
        corpus = StreamingShard(self.corpus_dir, name, schemas.CORPUS)
        dups: list[dict[str, Any]] = []
        start = 0
        for batch in shards.iter_shard_batches(path, schemas.DOCS, batch_size=READ_BATCH):
            rows = np.arange(start, start + batch.num_rows, dtype=np.uint32)
            start += batch.num_rows
            keep = ~np.isin(rows, skip)
            if removals:
                ids = batch.column("doc_id").to_pylist()
                urls = batch.column("url").to_pylist()
                for i in np.flatnonzero(keep):
                    removal = removals.get(ids[i])
                    if removal is not None:
                        keep[i] = False
                        dups.append(dups_row(removal, urls[i]))
            if not corpus_done:
                corpus.write(corpus_table(batch, keep, self.val, self.test))
        if len(dups) != len(removals):
            missing = sorted(set(removals) - {d["doc_id"] for d in dups})
            raise AssertionError(f"{path}: removed documents not found there: {missing[:5]}")
        corpus_path = shards.join(self.corpus_dir, name)
        kept = shards.shard_row_count(corpus_path) if corpus_done else corpus.close()
        if dups and not shards.exists(shards.join(self.dups_dir, name)):
            shards.write_shard(self.dups_dir, name, dups, schemas.DUPS)
        return kept


class FinishOutput(beam.PTransform):
    """``{"written": (name, rows) per shard, "stats": StageStats (absent: a side output),
    "totals": ((group, name), n)}`` -> _stats.json then _SUCCESS (stage_io.finish_stage)."""

    def __init__(self, out_dir: str, stage: str) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.stage = stage

    def expand(self, pcolls: dict[str, beam.PCollection]) -> beam.PCollection:
        written = pcolls["written"]
        extra: dict[str, Any] = {}
        if "totals" in pcolls:
            summed = pcolls["totals"] | "SumTotals" >> beam.CombinePerKey(sum)
            extra["totals"] = beam.pvalue.AsList(summed)
        if "stats" in pcolls:
            total = pcolls["stats"] | "MergeStats" >> beam.CombineGlobally(MergeStats())
        else:
            total = written.pipeline | "NoStats" >> beam.Create([None])
        return total | "Finish" >> beam.Map(
            finish_stage,
            written=beam.pvalue.AsList(written),
            out_dir=self.out_dir,
            stage=self.stage,
            **extra,
        )
