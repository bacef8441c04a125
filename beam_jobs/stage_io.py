"""Beam transforms shared by every stage: write shards resumably, account, finish."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
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
        ordered = sorted(keyed_rows, key=lambda kv: kv[0])
        count = shards.write_shard(self.out_dir, name, (row for _, row in ordered), self.schema)
        yield name, count


def _finish(
    total: StageStats | None,
    written: list[tuple[str, int]],
    out_dir: str,
    stage: str,
    totals: list[tuple[tuple[str, str], int]] | None = None,
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


class WriteStageOutput(beam.PTransform):
    """``{"rows": PCollection[(key, row)], "stats": PCollection[StageStats]}`` -> a stage dir.

    Rows go to ``num_shards`` Parquet files by a stable hash of their key, sorted by key, each
    written atomically; a shard that exists already (an interrupted earlier run of the same
    job) is kept. _stats.json and then _SUCCESS are written once every shard is in place.

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
        written = (
            pcolls["rows"]
            | "AssignShard" >> beam.Map(lambda kv, n=n: (shards.shard_index(kv[0], n), kv))
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShardFn(self.out_dir, self.schema, n))
        )
        extra: dict[str, Any] = {}
        if "totals" in pcolls:
            summed = pcolls["totals"] | "SumTotals" >> beam.CombinePerKey(sum)
            extra["totals"] = beam.pvalue.AsList(summed)
        if "stats" in pcolls:
            total = pcolls["stats"] | "MergeStats" >> beam.CombineGlobally(MergeStats())
        else:
            total = pcolls["rows"].pipeline | "NoStats" >> beam.Create([None])
        return total | "Finish" >> beam.Map(
            _finish,
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
