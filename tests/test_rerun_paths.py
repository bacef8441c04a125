"""A rerun after a kill that spells its input differently (relative vs absolute, from another
working directory) is the same run: _job.json records resolved paths and compares them
resolved, including _job.json files written before (relative paths, cwd unknown). Real `webtext`
processes; the kill is what a killed run leaves: no _SUCCESS, no _stats.json, a shard missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.io import schemas, shards
from tests.helpers import doc_record, submission, write_dump

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def webtext(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True, text=True, cwd=cwd, env=ENV, timeout=300,
    )  # fmt: skip


def as_if_killed(out: Path) -> dict[str, bytes]:
    """Leave ``out`` as a run killed before its end would; returns the shards it had."""
    kept = {p.name: p.read_bytes() for p in out.glob("part-*.parquet")}
    (out / "_SUCCESS").unlink()
    (out / shards.STATS_FILE).unlink()
    sorted(out.glob("part-*.parquet"))[0].unlink()
    return kept


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.glob("part-*.parquet")}


def setup_dump(tmp_path: Path) -> tuple[Path, Path, Path]:
    work = tmp_path / "work"
    (work / "dumps").mkdir(parents=True)
    posts = [submission(f"p{i}", f"https://site{i % 4}.org/page{i}", 10 + i) for i in range(20)]
    dump = write_dump(work / "dumps" / "RS_2019-01.zst", posts)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return work, dump, elsewhere


def test_links_resume_with_the_input_spelled_another_way(tmp_path):
    work, dump, elsewhere = setup_dump(tmp_path)
    first = webtext("links", "dumps/RS_2019-01.zst", "--out", "out", "--num-shards", "3", cwd=work)
    assert first.returncode == 0, first.stderr
    out = work / "out"
    job = json.loads((out / "_job.json").read_text())
    assert job["inputs"] == [f"{os.path.realpath(dump)}#{dump.stat().st_size}"]

    shards_before = as_if_killed(out)
    # Absolute input, output relative to another working directory.
    second = webtext("links", str(dump), "--out", "../work/out", "--num-shards", "3", cwd=elsewhere)
    assert second.returncode == 0, second.stderr
    assert "resuming the unfinished run" in second.stderr
    assert shard_bytes(out) == shards_before and (out / "_SUCCESS").exists()

    as_if_killed(out)  # a glob, relative to yet another directory
    third = webtext("links", "../work/dumps/RS_*.zst", "--out", str(out), "--num-shards", "3",
                    cwd=elsewhere)  # fmt: skip
    assert third.returncode == 0, third.stderr
    assert shard_bytes(out) == shards_before

    # A finished output rerun with another spelling: nothing to do, not "a different run".
    fourth = webtext("links", str(dump), "--out", str(out), "--num-shards", "3", cwd=elsewhere)
    assert fourth.returncode == 0 and "already complete" in fourth.stderr


def test_a_job_file_written_by_an_older_version_still_matches(tmp_path):
    work, dump, elsewhere = setup_dump(tmp_path)
    out = work / "out"
    assert webtext("links", str(dump), "--out", str(out), cwd=work).returncode == 0
    shards_before = as_if_killed(out)
    # What versions before resolved paths wrote when run as `webtext links dumps/RS_...` in work/.
    job = json.loads((out / "_job.json").read_text())
    job["inputs"] = [f"dumps/RS_2019-01.zst#{dump.stat().st_size}"]
    (out / "_job.json").write_text(json.dumps(job))

    result = webtext("links", str(dump), "--out", str(out), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert shard_bytes(out) == shards_before
    upgraded = json.loads((out / "_job.json").read_text())["inputs"]
    assert upgraded == [f"{os.path.realpath(dump)}#{dump.stat().st_size}"]

    # A different file is still a different run, however it is spelled.
    other = tmp_path / "other" / "dumps"
    other.mkdir(parents=True)
    write_dump(other / "RS_2019-01.zst", [submission("q1", "https://x.org/a", 10)])
    refused = webtext("links", "dumps/RS_2019-01.zst", "--out", str(out), cwd=other.parent)
    assert refused.returncode == 2 and "holds output of a different run" in refused.stderr


def test_a_stage_directory_input_spelled_another_way(tmp_path):
    """dedup reads docs/ shards (fingerprinted by path and size): relative, then absolute."""
    work = tmp_path / "work"
    docs = work / "docs"
    rows = [doc_record(f"d{i}", f"document number {i} " * 30) for i in range(12)]
    shards.write_shard(str(docs), shards.shard_name(0, 1), rows, schemas.DOCS)
    shards.finish_output(str(docs), {"records_in": 12, "records_out": 12})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = ["--val-fraction", "0.1"]
    first = webtext("dedup", "docs", "--out", "corpus", "--dups-out", "dups", *args, cwd=work)
    assert first.returncode == 0, first.stderr
    before = as_if_killed(work / "corpus")
    second = webtext("dedup", str(docs), "--out", "../work/corpus", "--dups-out", "../work/dups",
                     *args, cwd=elsewhere)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert shard_bytes(work / "corpus") == before


def test_same_inputs_rules():
    new = ["/data/run/links/part-00000-of-00002.parquet#10", "/data/run/links/part-00001-of-00002.parquet#12"]  # fmt: skip
    assert shards.same_inputs(["links/part-00001-of-00002.parquet#12",
                               "links/part-00000-of-00002.parquet#10"], new)  # fmt: skip
    assert not shards.same_inputs(["links/part-00000-of-00002.parquet#11",
                                   "links/part-00001-of-00002.parquet#12"], new)  # fmt: skip
    assert not shards.same_inputs(["../links/part-00000-of-00002.parquet#10",
                                   "links/part-00001-of-00002.parquet#12"], new)  # fmt: skip
    assert shards.resolve_input("gs://b/x.zst#5") == "gs://b/x.zst#5"
    assert shards.resolve_input("reddit:news?listing=new") == "reddit:news?listing=new"
