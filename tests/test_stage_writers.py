"""The two stage writers of beam_jobs.stage_io: the grouped writer sorts keys, not rows (spilled
sorted runs, merged), and the input-mapped writer streams input shards into output shards."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pytest

from beam_jobs import stage_io
from beam_jobs.stage_io import (
    WriteShardsFromInputs,
    WriteStageOutput,
    input_plan,
    write_sorted_shard,
)
from pipeline.io import schemas, shards
from pipeline.io.stats import StageStats
from tests.helpers import doc_record

WORDS = [
    "the",
    "of",
    "river",
    "stone",
    "lantern",
    "quiet",
    "morning",
    "harbour",
    "letter",
    "window",
]


def _docs(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        doc_record(f"d{rng.randrange(10**6):06d}-{i}", " ".join(rng.choices(WORDS, k=20)))
        for i in range(n)
    ]


def _write_docs(directory: Path, rows: list[dict], num_shards: int) -> list[str]:
    shards.prepare_output(str(directory), shards.JobSpec("docs", {}, []))
    with beam.Pipeline() as p:
        keyed = p | "Rows" >> beam.Create([(r["doc_id"], r) for r in rows])
        stats = p | "Stats" >> beam.Create(
            [StageStats(records_in=len(rows), records_out=len(rows))]
        )
        _ = {"rows": keyed, "stats": stats} | WriteStageOutput(
            str(directory), schemas.DOCS, num_shards, "docs"
        )
    return shards.verified_shards(str(directory), schemas.DOCS)


@pytest.mark.parametrize("run_rows,group_rows", [(7, 8192), (5, 16), (1000, 16)])
def test_sorted_shard_is_the_in_memory_sort_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_rows: int, group_rows: int
) -> None:
    """Runs spilled and merged (or one run in memory) give the shard write_shard writes of
    the rows sorted in memory: same bytes, equal keys in arrival order."""
    rows = _docs(120)
    keyed = [(r["doc_id"][:3], r) for r in rows]  # few distinct keys: ties must stay stable
    monkeypatch.setattr(stage_io, "RUN_ROWS", run_rows)
    monkeypatch.setattr(stage_io, "SPILL_BATCH_ROWS", 3)
    monkeypatch.setattr(stage_io, "ROW_GROUP_ROWS", group_rows)
    assert write_sorted_shard(str(tmp_path / "new"), "s.parquet", iter(keyed), schemas.DOCS) == 120
    expected = [row for _, row in sorted(keyed, key=lambda kv: kv[0])]
    shards.write_shard(
        str(tmp_path / "old"), "s.parquet", expected, schemas.DOCS, row_group_size=group_rows
    )
    assert (tmp_path / "new/s.parquet").read_bytes() == (tmp_path / "old/s.parquet").read_bytes()
    assert not list((tmp_path / "new").glob("_tmp-*"))


class Shout:
    """A per-batch function: upper-cases each text, drops texts starting with 'the'."""

    def setup(self) -> None:
        self.ready = True

    def __call__(self, batch: pa.RecordBatch, stats: StageStats, where: str):
        rows = batch.to_pylist()
        stats.records_in += len(rows)
        kept = []
        for row in rows:
            if row["text"].startswith("the"):
                stats.drop("starts_with_the")
                continue
            kept.append({**row, "text": row["text"].upper()})
        stats.records_out += len(kept)
        return pa.Table.from_pylist(kept, schema=schemas.DOCS), Counter({("g", "kept"): len(kept)})


def _run_mapped(inputs: list[str], out: Path, num_shards: int, fn=None) -> None:
    shards.prepare_output(str(out), shards.JobSpec("docs", {}, []))
    with beam.Pipeline() as p:
        written = (
            p
            | beam.Create(input_plan(inputs, num_shards))
            | WriteShardsFromInputs(
                str(out), schemas.DOCS, num_shards, schemas.DOCS, fn or Shout(), batch_size=7
            )
        )
        _ = written | WriteStageOutput(str(out), schemas.DOCS, num_shards, "docs")


def test_input_plan_maps_shard_j_to_inputs_j_plus_multiples() -> None:
    assert input_plan(["a", "b", "c"], 3) == [(0, ["a"]), (1, ["b"]), (2, ["c"])]
    assert input_plan(["a", "b", "c"], 2) == [(0, ["a", "c"]), (1, ["b"])]
    assert input_plan(["a"], 4) == [(0, ["a"])]


def test_mapped_writer_rows_identical_to_the_grouped_writer(tmp_path: Path) -> None:
    rows = _docs(90, seed=1)
    inputs = _write_docs(tmp_path / "docs", rows, 3)
    _run_mapped(inputs, tmp_path / "out", 3)

    out_rows = shards.read_rows(str(tmp_path / "out"), schemas.DOCS)
    expected = [{**r, "text": r["text"].upper()} for r in rows if not r["text"].startswith("the")]
    key = lambda r: r["doc_id"]  # noqa: E731
    assert sorted(out_rows, key=key) == sorted(expected, key=key)
    # Shard i holds input shard i's rows, in input order (sorted by key already).
    for i, path in enumerate(shards.list_shards(str(tmp_path / "out"))):
        got = [
            r["doc_id"]
            for b in shards.iter_shard_batches(path, schemas.DOCS)
            for r in b.to_pylist()
        ]
        src = [
            r["doc_id"]
            for b in shards.iter_shard_batches(inputs[i], schemas.DOCS)
            for r in b.to_pylist()
        ]
        assert got == [d for d in src if d in {r["doc_id"] for r in expected}]
    stats = shards.read_stats(str(tmp_path / "out"))
    assert stats["records_in"] == 90
    assert stats["records_out"] == len(expected)
    assert stats["dropped"] == {"starts_with_the": 90 - len(expected)}
    assert stats["g"] == {"kept": len(expected)}
    assert stats[stage_io.SHUFFLE_BYTES] == 0  # nothing went through a GroupByKey
    assert shards.read_stats(str(tmp_path / "docs"))[stage_io.SHUFFLE_BYTES] > 0


def test_mapped_writer_resume_keeps_finished_shards(tmp_path: Path) -> None:
    inputs = _write_docs(tmp_path / "docs", _docs(60, seed=2), 3)
    out = tmp_path / "out"
    _run_mapped(inputs, out, 3)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("part-*")}
    stats_before = shards.read_stats(str(out))
    # A killed run: one shard, _SUCCESS and _stats.json missing.
    victim = sorted(out.glob("part-*"))[1]
    victim.unlink()
    (out / "_SUCCESS").unlink()
    (out / shards.STATS_FILE).unlink()
    _run_mapped(inputs, out, 3)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("part-*")}
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    for name in before:  # the finished shards were kept, not rewritten
        if name != victim.name:
            assert after[name][1] == before[name][1]
    assert shards.read_stats(str(out)) == stats_before
    assert shards.verified_shards(str(out), schemas.DOCS)


class Crash(Shout):
    def __call__(self, batch: pa.RecordBatch, stats: StageStats, where: str):
        if "part-00001" in where:
            raise RuntimeError("worker died")
        return super().__call__(batch, stats, where)


def test_a_failed_writer_leaves_no_temporary_file(tmp_path: Path) -> None:
    inputs = _write_docs(tmp_path / "docs", _docs(60, seed=3), 3)
    out = tmp_path / "out"
    with pytest.raises(Exception, match="worker died"):
        _run_mapped(inputs, out, 3, Crash())
    assert not list(out.glob("_tmp-*"))
    assert not (out / "_SUCCESS").exists()
    assert "part-00001-of-00003.parquet" not in {p.name for p in out.glob("part-*")}
