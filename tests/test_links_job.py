"""The links stage as a real Beam pipeline (DirectRunner), on the real 2005 Reddit dumps."""

from __future__ import annotations

import json
import lzma
import os
from pathlib import Path

import pytest

from beam_jobs.links_job import LinksConfig, run_links
from pipeline.blocklists import BLOCKED_EXTENSIONS
from pipeline.cli import main as cli_main
from pipeline.io import schemas, shards
from pipeline.link_rules import check_url, is_reddit_host, is_wikipedia_host, path_extension
from tests.helpers import submission, write_dump


def _real_dumps(shared_file) -> list[Path]:
    return [shared_file("reddit", "RS_v2_2005-06.xz"), shared_file("reddit", "RS_v2_2005-07.xz")]


def _rows(out: Path) -> list[dict]:
    return sorted(shards.read_rows(str(out), schemas.LINKS), key=lambda r: r["url_key"])


@pytest.fixture(scope="module")
def real_links(tmp_path_factory, shared_file) -> Path:
    out = tmp_path_factory.mktemp("links") / "links"
    run_links(
        LinksConfig(
            inputs=[str(p) for p in _real_dumps(shared_file)], out_dir=str(out), num_shards=4
        )
    )
    return out


def test_real_dumps_every_output_link_obeys_the_rules(real_links: Path) -> None:
    rows = _rows(real_links)
    assert len(rows) > 300
    for row in rows:
        assert row["max_score"] >= 3
        host = row["url"].split("/")[2].split(":")[0]
        assert not is_reddit_host(host) and not is_wikipedia_host(host)
        assert path_extension(row["url"].split("?")[0].split("/", 3)[-1]) not in BLOCKED_EXTENSIONS
        assert row["num_posts"] == len(row["post_ids"]) >= 1
    assert len({r["url_key"] for r in rows}) == len(rows)


def test_real_dumps_every_qualifying_post_is_in_the_output(real_links: Path, shared_file) -> None:
    """Independent pass over the raw dumps: each outbound post with score >= 3 that no URL
    rule drops must be found in the output, and every post of the output exists in the dump."""
    keys = {r["url_key"]: r for r in _rows(real_links)}
    raw_ids: set[str] = set()
    expected = 0
    for path in _real_dumps(shared_file):
        with lzma.open(path, "rt") as f:
            for line in f:
                record = json.loads(line)
                raw_ids.add(record["id"])
                if record.get("is_self") or record.get("over_18") or not record.get("url"):
                    continue
                if (record.get("score") or 0) < 3:
                    continue
                checked = check_url(record["url"])
                if isinstance(checked, str):
                    continue
                expected += 1
                assert checked.key in keys, record["url"]
                assert record["id"] in keys[checked.key]["post_ids"]
    assert expected > 300
    assert {pid for r in keys.values() for pid in r["post_ids"]} <= raw_ids


def test_real_dumps_stats_add_up(real_links: Path) -> None:
    stats = shards.read_stats(str(real_links))
    assert stats["records_in"] == 1182  # every submission of both months
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
    assert stats["records_out"] == len(_rows(real_links))
    assert sum(stats["shards"].values()) == stats["records_out"]
    assert stats["dropped"]["score_below_min"] > 0
    assert (real_links / shards.SUCCESS_MARKER).exists()


def test_score_rule_sum_keeps_a_superset(real_links: Path, shared_file, tmp_path: Path) -> None:
    out = tmp_path / "sum"
    run_links(
        LinksConfig(
            inputs=[str(p) for p in _real_dumps(shared_file)],
            out_dir=str(out),
            score_rule="sum",
            num_shards=2,
        )
    )
    by_max = {r["url_key"] for r in _rows(real_links)}
    by_sum = {r["url_key"] for r in _rows(out)}
    assert by_max <= by_sum
    assert all(r["total_score"] >= 3 for r in _rows(out))


def test_rerun_resumes_a_killed_job_without_loss_or_duplicates(
    real_links: Path, shared_file, tmp_path: Path
) -> None:
    out = tmp_path / "links"
    inputs = [str(p) for p in _real_dumps(shared_file)]
    config = LinksConfig(inputs=inputs, out_dir=str(out), num_shards=4)
    assert run_links(config) == "ran"
    expected = _rows(out)
    # Simulate a job killed before it finished: one shard, stats and the marker missing,
    # and a temporary file of the interrupted writer lying around.
    parts = shards.list_shards(str(out))
    os.remove(parts[1])
    os.remove(out / shards.STATS_FILE)
    os.remove(out / shards.SUCCESS_MARKER)
    (out / f"{shards.TMP_PREFIX}abc-part-00001-of-00004.parquet").write_bytes(b"partial")
    kept_mtime = os.stat(parts[0]).st_mtime_ns
    assert run_links(config) == "ran"
    assert _rows(out) == expected
    assert os.stat(parts[0]).st_mtime_ns == kept_mtime  # finished shards are not rewritten
    assert not list(out.glob(f"{shards.TMP_PREFIX}*"))
    assert run_links(config) == "complete"  # finished: nothing to do


def test_bad_inputs_are_counted_and_nothing_else_is_lost(tmp_path: Path) -> None:
    good = [submission(f"g{i}", f"http://news{i}.example.com/story", score=5) for i in range(3000)]
    # A truncated .zst: the complete lines before the cut still count.
    full = write_dump(tmp_path / "full.zst", good)
    blob = full.read_bytes()
    (tmp_path / "cut.zst").write_bytes(blob[: len(blob) - 20])
    full.unlink()
    (tmp_path / "random.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 16)
    (tmp_path / "random.jsonl").write_bytes(bytes((i * 131) % 256 for i in range(3000)))
    write_dump(
        tmp_path / "quirks.jsonl",
        [
            submission("q1", None, score=50),
            submission("q2", "http://quirk.example.org/a", score=None),
            submission("q3", "http://quirk.example.org/b", score=7, created_utc="1500000000"),
            '{"id": "q4", "url": "http://quirk.example.org/c", ',
            "not json at all",
        ],
    )
    out = tmp_path / "out"
    run_links(
        LinksConfig(
            inputs=[str(tmp_path / "*.zst"), str(tmp_path / "*.jsonl")],
            out_dir=str(out),
            num_shards=2,
        )
    )
    stats = shards.read_stats(str(out))
    rows = _rows(out)
    urls = {r["url"] for r in rows}
    assert "http://quirk.example.org/b" in urls and "http://quirk.example.org/a" not in urls
    good_kept = sum(u.startswith("http://news") for u in urls)
    assert 1000 < good_kept < 3000  # the truncated file loses only its unfinished tail
    assert stats["dropped"]["truncated_file"] == 1
    assert stats["dropped"]["corrupt_file"] == 1
    assert stats["dropped"]["missing_url"] == 1
    assert stats["dropped"]["malformed_json"] >= 2
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
    messages = "\n".join(stats["error_samples"])
    assert "cut.zst" in messages and "random.zst" in messages and "quirks.jsonl: line 4" in messages


def test_cli_reports_missing_input_clearly(tmp_path: Path, capsys) -> None:
    code = cli_main(["links", str(tmp_path / "nope-*.zst"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "matches no file" in capsys.readouterr().err


def test_cli_refuses_to_mix_runs_in_one_directory(tmp_path: Path, capsys) -> None:
    dump = write_dump(tmp_path / "d.jsonl", [submission("a", "http://x.example.com/1")])
    out = str(tmp_path / "o")
    assert cli_main(["links", str(dump), "--out", out]) == 0
    assert cli_main(["links", str(dump), "--out", out, "--min-score", "11"]) == 2
    assert "different run" in capsys.readouterr().err
    assert cli_main(["links", str(dump), "--out", out, "--min-score", "11", "--overwrite"]) == 0
    assert shards.read_stats(out)["records_out"] == 0
