"""Beam transforms shared by every stage: write shards resumably, account, finish.

Two writers, both ending in the same ``finish_stage`` (row counts checked, _stats.json, _SUCCESS):

* ``WriteStageOutput``: rows keyed by a string go through one GroupByKey on their shard and
  each shard is written sorted by key. For stages whose rows must be brought together (links
  aggregation, dedup's keepers). Its own memory is the keys plus one batch of rows: a shard's
  rows are spilled to local scratch in sorted runs and merged by key (``write_sorted_shard``).
* ``WriteShardsFromInputs``: output shard j is written from input shards j, j+M, ... (M
  output shards) by streaming their record batches through a per-batch function; no row
  is shuffled. For stages whose output rows follow their input rows one by one (tokenize,
  extract), so that memory stays flat in the input size on every runner (the DirectRunner's
  GroupByKey holds its whole input in memory).

Each records the bytes it shuffled (``shuffle_bytes`` in _stats.json, and a Beam counter
``webtext/<stage>_shuffle_bytes``): an estimate of the rows' in-memory size, 0 for the
second writer.
"""

from __future__ import annotations

import heapq
import logging
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from pipeline.io import shards
from pipeline.io.shard_verify import record_files
from pipeline.io.stats import StageStats, one_line

log = logging.getLogger(__name__)


class MergeStats(beam.CombineFn):
    """Combine StageStats from every worker and bundle into one."""

    def create_accumulator(self) -> StageStats:
        return StageStats()

    def add_input(self, acc: StageStats, item: StageStats) -> StageStats:
        return acc.merge(item)

    def merge_accumulators(self, accs: Iterable[StageStats]) -> StageStats:
        total = StageStats()
        for acc in accs:
            total.merge(acc)
        return total

    def extract_output(self, acc: StageStats) -> StageStats:
        return acc


class BundleStats(beam.DoFn):
    """Base for DoFns that count per bundle and emit one StageStats on the 'stats' output."""

    STATS_TAG = "stats"

    def start_bundle(self) -> None:
        self.stats = StageStats()

    def finish_bundle(self) -> Iterable[Any]:
        yield beam.pvalue.TaggedOutput(self.STATS_TAG, GlobalWindows.windowed_value(self.stats))


ROW_GROUP_ROWS = 8192  # rows per Parquet row group, as shards.write_shard writes them
RUN_ROWS = 8192  # rows sorted in memory at once before a run is spilled
SPILL_BATCH_ROWS = 512  # rows per record batch of a spilled run (what the merge holds per run)
SHUFFLE_BYTES = "shuffle_bytes"  # key in _stats.json


def approx_bytes(value: Any) -> int:
    """A cheap estimate of what a row costs to move through a shuffle: the payload of its
    strings, bytes and arrays, 8 bytes per other scalar."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(len(k) + approx_bytes(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(approx_bytes(v) for v in value)
    return 8


class _SortedRuns:
    """Keyed rows -> sorted runs of at most RUN_ROWS rows: the first stays in memory, later
    ones are spilled to a local scratch file as Arrow IPC (record batches of SPILL_BATCH_ROWS
    rows). Only the keys stay in memory."""

    def __init__(self, schema: pa.Schema, scratch: str) -> None:
        self.schema = schema
        self.scratch = scratch
        self.keys: list[list[str]] = []  # per run, sorted
        self.files: list[str] = []
        self.pending: list[tuple[str, dict[str, Any]]] = []

    def add(self, key: str, row: dict[str, Any]) -> None:
        self.pending.append((key, row))
        if len(self.pending) >= RUN_ROWS:
            self._spill()

    def _spill(self) -> None:
        self.pending.sort(key=lambda kv: kv[0])
        path = os.path.join(self.scratch, f"run-{len(self.files):05d}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, self.schema) as writer:
            for begin in range(0, len(self.pending), SPILL_BATCH_ROWS):
                chunk = [row for _, row in self.pending[begin : begin + SPILL_BATCH_ROWS]]
                writer.write_table(pa.Table.from_pylist(chunk, schema=self.schema))
        self.keys.append([key for key, _ in self.pending])
        self.files.append(path)
        self.pending = []

    def tables(self, rows_per_table: int) -> Iterator[pa.Table]:
        """The rows in key order, ``rows_per_table`` at a time (stable: equal keys in the
        order they came)."""
        if not self.files:  # everything fits one run: sorted in memory, nothing spilled
            self.pending.sort(key=lambda kv: kv[0])
            for begin in range(0, len(self.pending), rows_per_table):
                chunk = [row for _, row in self.pending[begin : begin + rows_per_table]]
                yield pa.Table.from_pylist(chunk, schema=self.schema)
            return
        if self.pending:
            self._spill()
        readers = [_RunReader(path) for path in self.files]
        order = heapq.merge(*([(key, run) for key in keys] for run, keys in enumerate(self.keys)))
        runs: list[int] = []
        for _, run in order:
            runs.append(run)
            if len(runs) == rows_per_table:
                yield _take_in_order(readers, runs)
                runs = []
        if runs:
            yield _take_in_order(readers, runs)
        for reader in readers:
            reader.close()


class _RunReader:
    """Sequential reader of one spilled run: the next n rows, one record batch held."""

    def __init__(self, path: str) -> None:
        self.file = pa.OSFile(path, "rb")
        self.reader = pa.ipc.open_file(self.file)
        self.next_batch = 0
        self.current: pa.Table | None = None
        self.offset = 0

    def take(self, n: int) -> pa.Table:
        parts: list[pa.Table] = []
        while n > 0:
            if self.current is None or self.offset >= self.current.num_rows:
                batch = self.reader.get_batch(self.next_batch)
                self.next_batch += 1
                self.current, self.offset = pa.Table.from_batches([batch]), 0
            k = min(n, self.current.num_rows - self.offset)
            parts.append(self.current.slice(self.offset, k))
            self.offset += k
            n -= k
        return pa.concat_tables(parts)

    def close(self) -> None:
        self.file.close()


def _take_in_order(readers: list[_RunReader], runs: list[int]) -> pa.Table:
    """Rows in the merged order ``runs`` (the run each next row comes from)."""
    run_ids = np.asarray(runs)
    counts = np.bincount(run_ids, minlength=len(readers))
    present = [r for r in range(len(readers)) if counts[r]]
    parts = [readers[r].take(int(counts[r])) for r in present]
    # Position of each row in concat(parts): its run's start plus its rank within the run.
    starts = np.zeros(len(readers), dtype=np.int64)
    starts[present] = np.cumsum([0] + [int(counts[r]) for r in present[:-1]])
    rank = np.zeros(len(run_ids), dtype=np.int64)
    for r in present:
        where = np.flatnonzero(run_ids == r)
        rank[where] = starts[r] + np.arange(len(where))
    return pa.concat_tables(parts).take(pa.array(rank))


def write_sorted_shard(
    directory: str,
    name: str,
    keyed_rows: Iterable[tuple[str, dict[str, Any]]],
    schema: pa.Schema,
    *,
    scratch: str | None = None,
) -> int:
    """Write keyed rows as one shard sorted by key (stable), atomically; rows written.
    Holds the keys and about RUN_ROWS rows: more rows are spilled to local scratch in
    sorted runs and merged. The shard is the one ``shards.write_shard`` writes of the rows
    sorted in memory, byte for byte."""
    with tempfile.TemporaryDirectory(prefix="webtext-sort-", dir=scratch) as tmp:
        runs = _SortedRuns(schema, tmp)
        for key, row in keyed_rows:
            runs.add(key, row)
        return write_tables(directory, name, runs.tables(ROW_GROUP_ROWS), schema)


def write_tables(directory: str, name: str, tables: Iterable[pa.Table], schema: pa.Schema) -> int:
    """Stream tables into one zstd Parquet shard (page CRCs on, the options of
    shards.write_shard) under a temporary name, renamed when complete; a failure removes the
    temporary file. Row groups of ROW_GROUP_ROWS rows. Returns rows written."""
    fs, d = shards.resolve(directory)
    final = f"{d}/{name}"
    tmp = f"{d}/{shards.TMP_PREFIX}{uuid.uuid4().hex}-{name}"
    count = 0
    with shards.naming(shards.join(directory, name)):
        fs.create_dir(d, recursive=True)
        try:
            with (
                fs.open_output_stream(tmp, compression=None) as sink,
                pq.ParquetWriter(sink, schema, compression="zstd", write_page_checksum=True) as w,
            ):
                pending: list[pa.Table] = []
                held = 0
                for table in tables:
                    if table.num_rows == 0:
                        continue
                    pending.append(table)
                    held += table.num_rows
                    while held >= ROW_GROUP_ROWS:
                        whole = pa.concat_tables(pending)
                        w.write_table(whole.slice(0, ROW_GROUP_ROWS).combine_chunks())
                        rest = whole.slice(ROW_GROUP_ROWS)
                        pending, held = ([rest] if rest.num_rows else []), rest.num_rows
                        count += ROW_GROUP_ROWS
                if held or count == 0:
                    last = pa.concat_tables(pending) if pending else schema.empty_table()
                    w.write_table(last.combine_chunks())
                    count += held
            fs.move(tmp, final)
        except BaseException:
            if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                fs.delete_file(tmp)
            raise
    return count


class _WriteShardFn(beam.DoFn):
    def __init__(self, out_dir: str, schema: pa.Schema, num_shards: int) -> None:
        self.out_dir = out_dir
        self.schema = schema
        self.num_shards = num_shards

    def process(self, element: tuple[int, Iterable[tuple[str, dict]]]) -> Iterable[tuple[str, int]]:
        index, keyed_rows = element
        name = shards.shard_name(index, self.num_shards)
        path = shards.join(self.out_dir, name)
        if shards.exists(path):
            # Left by an earlier run of the same job (checked by prepare_output): identical.
            count = shards.shard_row_count(path)
            log.info("kept %s from an earlier run (%d rows)", name, count)
            yield name, count
            return
        yield name, write_sorted_shard(self.out_dir, name, keyed_rows, self.schema)


class BatchFn(Protocol):
    """What WriteShardsFromInputs streams every input record batch through: a picklable
    object whose ``setup`` runs once per worker (load a tokenizer) and whose call maps one
    batch to its output rows as a table of the output schema, counting into ``stats``
    (records in, out, dropped) and returning totals for _stats.json (``(group, name) ->
    int``, summed over the stage)."""

    def setup(self) -> None: ...

    def __call__(
        self, batch: pa.RecordBatch, stats: StageStats, where: str
    ) -> tuple[pa.Table, Mapping[tuple[str, str], int]]: ...


def input_plan(inputs: list[str], num_shards: int) -> list[tuple[int, list[str]]]:
    """Output shard j of ``num_shards`` <- input shards j, j + num_shards, ... (in order).
    With as many outputs as inputs, shard i is written from shard i; outputs no input falls
    to are not written."""
    return [(j, inputs[j::num_shards]) for j in range(min(len(inputs), num_shards))]


class _WriteFromInputsFn(BundleStats):
    TOTALS_TAG = "totals"

    def __init__(
        self,
        out_dir: str,
        schema: pa.Schema,
        num_shards: int,
        input_schema: pa.Schema,
        columns: list[str] | None,
        fn: BatchFn,
        batch_size: int,
    ) -> None:
        self.out_dir = out_dir
        self.schema = schema
        self.num_shards = num_shards
        self.input_schema = input_schema
        self.columns = columns
        self.fn = fn
        self.batch_size = batch_size

    def setup(self) -> None:
        self.fn.setup()

    def _tables(self, paths: list[str], totals: Counter) -> Iterator[pa.Table]:
        for path in paths:
            for batch in shards.iter_shard_batches(
                path, self.input_schema, columns=self.columns, batch_size=self.batch_size
            ):
                table, counts = self.fn(batch, self.stats, path)
                totals.update(counts)
                yield table

    def process(self, element: tuple[int, list[str]]) -> Iterable[Any]:
        index, paths = element
        name = shards.shard_name(index, self.num_shards)
        path = shards.join(self.out_dir, name)
        totals: Counter = Counter()
        if shards.exists(path):
            # Written by an earlier run of the same job (prepare_output checked): kept. Its
            # rows are computed again, unwritten, for the stage's counts and totals.
            count = shards.shard_row_count(path)
            again = sum(t.num_rows for t in self._tables(paths, totals))
            if again != count:
                raise shards.ShardError(
                    f"{path}: holds {count:,} rows but its inputs give {again:,}; "
                    "rerun with --overwrite"
                )
            log.info("kept %s from an earlier run (%d rows)", name, count)
        else:
            count = write_tables(self.out_dir, name, self._tables(paths, totals), self.schema)
        for key, value in sorted(totals.items()):
            yield beam.pvalue.TaggedOutput(self.TOTALS_TAG, (key, value))
        yield name, count


class WriteShardsFromInputs(beam.PTransform):
    """PCollection of ``(output index, [input shard paths])`` (``input_plan``) -> for
    WriteStageOutput ``{"written", "stats", "totals"}``: each output shard written by one
    worker streaming its inputs' record batches through ``fn``, to a temporary name renamed
    when complete; a shard already there (a killed earlier run of the same job) is kept."""

    def __init__(
        self,
        out_dir: str,
        schema: pa.Schema,
        num_shards: int,
        input_schema: pa.Schema,
        fn: BatchFn,
        *,
        columns: list[str] | None = None,
        batch_size: int = 1024,
    ) -> None:
        super().__init__()
        self.dofn = _WriteFromInputsFn(
            out_dir, schema, num_shards, input_schema, columns, fn, batch_size
        )

    def expand(self, plan: beam.PCollection) -> dict[str, beam.PCollection]:
        tags = (BundleStats.STATS_TAG, _WriteFromInputsFn.TOTALS_TAG)
        out = plan | "WriteShards" >> beam.ParDo(self.dofn).with_outputs(*tags, main="written")
        return {
            "written": out.written,
            "stats": out[BundleStats.STATS_TAG],
            "totals": out[_WriteFromInputsFn.TOTALS_TAG],
        }


def finish_stage(
    total: StageStats | None,
    written: list[tuple[str, int]],
    out_dir: str,
    stage: str,
    totals: list[tuple[tuple[str, str], int]] | None = None,
    shuffled: int = 0,
) -> None:
    rows_written = sum(count for _, count in written)
    side_output = total is None
    if total is None:  # a side output (e.g. dups/): every row in is a row out
        total = StageStats(records_in=rows_written, records_out=rows_written)
    if rows_written != total.records_out:
        raise AssertionError(
            f"{out_dir}: shards hold {rows_written} rows but the stage produced "
            f"{total.records_out}; refusing to mark it complete"
        )
    total.check_balance()
    data = total.to_dict()
    data["stage"] = stage
    data["shards"] = {name: count for name, count in sorted(written)}
    # Each shard's size and footer CRC-32, which readers check (pipeline.io.shard_verify).
    data.update(record_files(out_dir, [name for name, _ in written]))
    for (group, name), value in sorted(totals or []):
        data.setdefault(group, {})[name] = value
    data[SHUFFLE_BYTES] = shuffled
    shards.finish_output(out_dir, data)
    # One line: the drop table is printed once, by the command (or the demo) that ran the stage.
    if side_output:
        log.info("%s -> %s: %s rows (a side output)", stage, out_dir, f"{rows_written:,}")
    else:
        log.info("%s", one_line(total, f"{stage} -> {out_dir}"))


def finish_empty(out_dir: str, stage: str, extra: dict[str, Any] | None = None) -> None:
    """Finish a claimed output directory as an empty stage (0 in, 0 out, no shard): what a
    stage writes when its input holds no record. ``extra`` goes into _stats.json as is."""
    data = StageStats().to_dict() | {"stage": stage, "shards": {}} | (extra or {})
    shards.finish_output(out_dir, data)


class _CountShuffled(beam.DoFn):
    """(key, row) -> (shard, (key, row)), counting the bytes that go into the shuffle."""

    def __init__(self, num_shards: int, stage: str) -> None:
        self.num_shards = num_shards
        self.counter = Metrics.counter("webtext", f"{stage}_{SHUFFLE_BYTES}")

    def process(self, kv: tuple[str, Any]) -> Iterable[Any]:
        size = approx_bytes(kv)
        self.counter.inc(size)
        yield beam.pvalue.TaggedOutput("bytes", size)
        yield shards.shard_index(kv[0], self.num_shards), kv


class WriteStageOutput(beam.PTransform):
    """``{"rows": PCollection[(key, row)], "stats": PCollection[StageStats]}`` -> a stage dir.

    Rows go to ``num_shards`` Parquet files by a stable hash of their key, sorted by key, each
    written atomically; a shard that exists already (an interrupted earlier run of the same
    job) is kept. _stats.json and then _SUCCESS are written once every shard is in place.

    Instead of ``"rows"``, ``"written"``: ``(shard name, rows)`` of shards already written
    (``WriteShardsFromInputs``); then nothing is shuffled and this only finishes the directory.

    An optional ``"totals"`` PCollection of ``((group, name), int)`` is summed per key and
    written into _stats.json as ``{group: {name: sum}}`` (e.g. tokens per split). Without a
    ``"stats"`` input the directory is a side output whose rows all count as in and out.
    """

    def __init__(self, out_dir: str, schema: pa.Schema, num_shards: int, stage: str) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.schema = schema
        self.num_shards = num_shards
        self.stage = stage

    def expand(self, pcolls: dict[str, beam.PCollection]) -> beam.PCollection:
        n = self.num_shards
        extra: dict[str, Any] = {}
        if "written" in pcolls:
            written = pcolls["written"]
            pipeline = written.pipeline
        else:
            assigned = pcolls["rows"] | "AssignShard" >> beam.ParDo(
                _CountShuffled(n, self.stage)
            ).with_outputs("bytes", main="keyed")
            written = (
                assigned.keyed
                | "GroupByShard" >> beam.GroupByKey()
                | "WriteShard" >> beam.ParDo(_WriteShardFn(self.out_dir, self.schema, n))
            )
            shuffled = assigned.bytes | "SumShuffled" >> beam.CombineGlobally(sum)
            extra["shuffled"] = beam.pvalue.AsSingleton(shuffled)
            pipeline = pcolls["rows"].pipeline
        if "totals" in pcolls:
            summed = pcolls["totals"] | "SumTotals" >> beam.CombinePerKey(sum)
            extra["totals"] = beam.pvalue.AsList(summed)
        if "stats" in pcolls:
            total = pcolls["stats"] | "MergeStats" >> beam.CombineGlobally(MergeStats())
        else:
            total = pipeline | "NoStats" >> beam.Create([None])
        return total | "Finish" >> beam.Map(
            finish_stage,
            written=beam.pvalue.AsList(written),
            out_dir=self.out_dir,
            stage=self.stage,
            **extra,
        )


# Suffixes of input files (dumps, WARC archives, JSON lines), preferred in directory_hint.
DATA_SUFFIXES = frozenset({".zst", ".xz", ".bz2", ".gz", ".jsonl", ".ndjson", ".json", ".warc"})


def directory_hint(path: str) -> str:
    """A glob naming the files in a local directory by their most common data suffix:
    'dumps/*.zst' for a directory of Pushshift dumps (and their .sha256 files)."""
    suffixes = Counter(
        os.path.splitext(name)[1]
        for name in os.listdir(path)
        if os.path.isfile(os.path.join(path, name)) and not name.startswith((".", "_"))
    )
    ranked = sorted(suffixes.items(), key=lambda kv: (kv[0] not in DATA_SUFFIXES, -kv[1], kv[0]))
    suffix = ranked[0][0] if ranked else ""
    return os.path.join(path.rstrip("/"), f"*{suffix}")


def expand_inputs(patterns: list[str]) -> list[str]:
    """Expand globs (local or remote) to a sorted list of files; a pattern matching nothing
    is an error naming it. A directory given as an input is refused (nothing runs, not even
    the good inputs beside it) with a glob to use instead: its files are not read silently,
    since a directory of dumps often holds other files too (checksums, partial downloads)."""
    files: list[str] = []
    for pattern in patterns:
        result = FileSystems.match([pattern])[0]
        matched = sorted(m.path for m in result.metadata_list)
        if not matched:
            raise FileNotFoundError(f"input {pattern!r} matches no file")
        for path in matched:
            if "://" not in path and os.path.isdir(path):
                raise ValueError(
                    f"input {path!r} is a directory; name the files in it instead, "
                    f"e.g. '{directory_hint(path)}' (nothing was processed)"
                )
        files.extend(matched)
    return sorted(dict.fromkeys(files))


def _is_stage_dir(path: str) -> bool:
    if "://" not in path:
        return os.path.isdir(path)
    # Object stores have no directories: a path no object is named is a prefix (a directory).
    return not any(m.path == path for m in FileSystems.match([path])[0].metadata_list)


def fingerprint_inputs(paths: Iterable[str]) -> list[str]:
    """What a run read, for the output directory's _job.json: every input file as its
    resolved path and size (``PATH#SIZE``, see shards.resolve_input), a stage directory as
    each of its shard files so. An input changed in size (or a shard added, removed or
    rewritten) makes another job; the same files spelt differently make the same one."""
    out = []
    for path in paths:
        for file in shards.list_shards(path) if _is_stage_dir(path) else [path]:
            meta = FileSystems.match([file])[0].metadata_list
            size = meta[0].size_in_bytes if meta else -1
            out.append(shards.resolve_input(f"{file}#{size}"))
    return out
