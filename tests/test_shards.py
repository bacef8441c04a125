"""Shard IO: atomic writes, schema checks that name file and column, resumable directories."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io import schemas, shards
from pipeline.io.stats import StageStats

SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("n", pa.int64())])


def test_write_and_read_back(tmp_path: Path) -> None:
    rows = [{"key": f"k{i}", "n": i} for i in range(20000)]
    assert (
        shards.write_shard(str(tmp_path), "part-00000-of-00001.parquet", iter(rows), SCHEMA)
        == 20000
    )
    shards.finish_output(str(tmp_path), StageStats(records_in=20000, records_out=20000).to_dict())
    assert shards.read_rows(str(tmp_path), SCHEMA) == rows
    meta = pq.ParquetFile(tmp_path / "part-00000-of-00001.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert not list(tmp_path.glob(f"{shards.TMP_PREFIX}*"))


def test_failed_write_leaves_no_shard(tmp_path: Path) -> None:
    def broken():
        yield {"key": "a", "n": 1}
        raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        shards.write_shard(str(tmp_path), "part-00000-of-00001.parquet", broken(), SCHEMA)
    assert shards.list_shards(str(tmp_path)) == []
    assert shards.clean_temporaries(str(tmp_path)) == 1


def test_wrong_schema_names_file_and_column(tmp_path: Path) -> None:
    bad = pa.table({"url": ["http://x.com/"], "max_score": ["high"]})
    pq.write_table(bad, tmp_path / "part-00000-of-00001.parquet")
    shards.finish_output(str(tmp_path), {})
    with pytest.raises(
        shards.ShardError, match=r"part-00000-of-00001\.parquet: missing column 'link_id'"
    ):
        shards.read_rows(str(tmp_path), schemas.LINKS)
    table = pa.table(
        {
            name: pa.array([], type=f.type)
            for name, f in zip(schemas.LINKS.names, schemas.LINKS, strict=True)
        }
    )
    table = table.set_column(4, "max_score", pa.array([], type=pa.string()))
    pq.write_table(table, tmp_path / "part-00000-of-00001.parquet")
    with pytest.raises(
        shards.ShardError, match="column 'max_score' has type string, expected int64"
    ):
        shards.read_rows(str(tmp_path), schemas.LINKS)


def test_unfinished_directory_is_refused_by_readers(tmp_path: Path) -> None:
    shards.write_shard(str(tmp_path), "part-00000-of-00001.parquet", [{"key": "a", "n": 1}], SCHEMA)
    with pytest.raises(shards.ShardError, match="no _SUCCESS"):
        shards.read_rows(str(tmp_path), SCHEMA)


def test_prepare_output_states(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    spec = shards.JobSpec("links", {"min_score": 3}, ["a.zst#10"])
    assert shards.prepare_output(out, spec) == "fresh"
    assert shards.prepare_output(out, spec) == "resume"
    shards.finish_output(out, {})
    assert shards.prepare_output(out, spec) == "complete"
    other = shards.JobSpec("links", {"min_score": 5}, ["a.zst#10"])
    with pytest.raises(shards.ShardError, match="different run"):
        shards.prepare_output(out, other)
    assert shards.prepare_output(out, other, overwrite=True) == "fresh"


def test_foreign_directory_is_not_clobbered(tmp_path: Path) -> None:
    (tmp_path / "important.txt").write_text("user data")
    with pytest.raises(shards.ShardError, match="not written by webtext"):
        shards.prepare_output(str(tmp_path), shards.JobSpec("links", {}, []))
    assert (tmp_path / "important.txt").exists()


def test_shard_index_is_stable() -> None:
    # Pinned values: a change here would silently re-shard users' existing outputs.
    assert [shards.shard_index(k, 1000) for k in ("a", "example.com/x", "ü")] == [955, 512, 845]


def test_atomic_bytes_are_written_verbatim_whatever_the_name(tmp_path: Path) -> None:
    """pyarrow would otherwise guess a codec from a .gz/.bz2 suffix and compress again."""
    target = tmp_path / "pages.warc.gz"
    shards.write_bytes_atomic(str(target), b"\x1f\x8b already gzip bytes")
    assert target.read_bytes() == b"\x1f\x8b already gzip bytes"


def test_a_directory_recorded_under_an_old_stage_name_resumes(tmp_path) -> None:
    """Older versions recorded tokens/ as "tokenize": the same job, resumed (and the record
    rewritten with today's name); stage_names maps old names for reading only."""
    out = str(tmp_path / "tokens")
    shards.prepare_output(out, shards.JobSpec("tokenize", {"a": 1}, []))
    assert shards.prepare_output(out, shards.JobSpec("tokens", {"a": 1}, [])) == "resume"
    assert json.loads((tmp_path / "tokens" / shards.JOB_FILE).read_text())["stage"] == "tokens"
    with pytest.raises(shards.ShardError, match="different run"):
        shards.prepare_output(out, shards.JobSpec("docs", {"a": 1}, []))
