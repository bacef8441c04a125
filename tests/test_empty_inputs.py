"""An empty input is a valid input: when every link fails to fetch, each later stage finishes
with an empty output (_stats.json: 0 in, 0 out; _SUCCESS) and says why in one log line; train,
which cannot train on nothing, refuses in one line. Real stage runs, through the command line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from beam_jobs.links_job import LinksConfig, run_links
from pipeline.cli import main as cli_main
from pipeline.funnel import load_funnel
from pipeline.io import schemas, shards
from tests.helpers import doc_record, submission, write_dump

N_LINKS = 3


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_empty_stage(directory: Path, stage: str) -> None:
    assert (directory / shards.SUCCESS_MARKER).exists()
    assert shards.list_shards(str(directory)) == []
    stats = shards.read_stats(str(directory))
    assert (stats["records_in"], stats["records_out"], stats["stage"]) == (0, 0, stage)
    assert stats["dropped"] == {} and stats["shards"] == {}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = cli_main(argv)
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def dead_pages(tmp_path_factory) -> Path:
    """links/ (a real links run) whose every URL points at a dead loopback port, then pages/."""
    root = tmp_path_factory.mktemp("empty")
    port = _dead_port()
    dump = write_dump(
        root / "RS.jsonl",
        [submission(f"p{i}", f"http://127.0.0.1:{port}/story-{i}") for i in range(N_LINKS)],
    )
    run_links(LinksConfig(inputs=[str(dump)], out_dir=str(root / "links"), num_shards=1))
    assert shards.read_stats(str(root / "links"))["records_out"] == N_LINKS
    code = cli_main(
        ["fetch", str(root / "links"), "--out", str(root / "pages"), "--allow-private",
         "--retries", "0", "--num-shards", "2"]
    )  # fmt: skip
    assert code == 0
    return root


def test_every_stage_after_a_failed_fetch_writes_an_empty_output(dead_pages: Path, capsys):
    root = dead_pages
    pages = shards.read_stats(str(root / "pages"))
    assert (pages["records_in"], pages["records_out"]) == (N_LINKS, 0)
    [(reason, count)] = pages["dropped"].items()  # every link failed the same way
    assert count == N_LINKS

    code, err = _run(["extract", str(root / "pages"), "--out", str(root / "docs")], capsys)
    assert code == 0, err
    assert (
        f"pages/ holds 0 records (all {N_LINKS} links failed: {reason} {N_LINKS}); "
        "writing an empty docs/"
    ) in err
    _assert_empty_stage(root / "docs", "docs")

    code, err = _run(["dedup", str(root / "docs"), "--out", str(root / "corpus")], capsys)
    assert code == 0, err
    assert "docs/ holds 0 records (its input held 0 records); writing an empty corpus/" in err
    _assert_empty_stage(root / "corpus", "corpus")
    _assert_empty_stage(root / "dups", "dups")
    assert shards.read_stats(str(root / "dups"))["removed"] == {"exact": 0, "near": 0}

    code, err = _run(["tokenize", str(root / "corpus"), "--out", str(root / "tokens")], capsys)
    assert code == 0, err
    assert "corpus/ holds 0 records (its input held 0 records); writing an empty tokens/" in err
    _assert_empty_stage(root / "tokens", "tokens")

    # A rerun finds each empty output complete: nothing to do, no error.
    code, err = _run(["extract", str(root / "pages"), "--out", str(root / "docs")], capsys)
    assert code == 0 and "already complete" in err

    # Every hand-off balances (pages wrote 0, docs read 0, ...) and nothing is an error.
    [funnel] = load_funnel([str(root)])
    assert not funnel.has_error and funnel.notes == []
    assert funnel.end_to_end.records_in == N_LINKS and funnel.end_to_end.records_out == 0


def test_overlap_of_an_empty_corpus_is_zero(dead_pages: Path, tmp_path: Path, capsys):
    corpus = dead_pages / "corpus"
    if not (corpus / shards.SUCCESS_MARKER).exists():
        pytest.skip("needs the empty corpus of the test above")
    test_file = tmp_path / "t.jsonl"
    test_file.write_text(json.dumps({"text": " ".join(f"w{i}" for i in range(40))}) + "\n")
    out = tmp_path / "overlap"
    code, err = _run(["overlap", str(corpus), "--test", f"t:jsonl={test_file}", "--out",
                      str(out)], capsys)  # fmt: skip
    assert code == 0, err
    assert "corpus/ holds 0 records (its input held 0 records); measuring the test sets" in err
    [s] = json.loads((out / "sets.json").read_text())["sets"]
    assert s["ngrams"] > 0 and s["ngrams_found"] == 0
    assert (out / shards.SUCCESS_MARKER).exists()


def test_train_on_an_empty_tokens_dir_refuses_in_one_line(dead_pages: Path, tmp_path, capsys):
    tokens = dead_pages / "tokens"
    if not (tokens / shards.SUCCESS_MARKER).exists():
        pytest.skip("needs the empty tokens/ of the first test")
    code, err = _run(["train", str(tokens), "--out", str(tmp_path / "run"), "--model", "tiny",
                      "--device", "cpu"], capsys)  # fmt: skip
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"tokens directory {tokens} holds 0 documents" in lines[0]
    assert "nothing to train on" in lines[0]
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_no_shards_while_stats_counts_records_is_an_error(tmp_path: Path, capsys):
    """A directory that lost its shards is not an empty input."""
    docs = tmp_path / "docs"
    shards.write_shard(str(docs), shards.shard_name(0, 1), [doc_record("a", "x y z")], schemas.DOCS)
    shards.finish_output(str(docs), {"records_in": 1, "records_out": 1, "stage": "docs"})
    for path in shards.list_shards(str(docs)):
        Path(path).unlink()
    code, err = _run(["dedup", str(docs), "--out", str(tmp_path / "corpus")], capsys)
    assert code == 2
    assert "docs directory holds no shards but _stats.json counts 1 records" in err
    assert not (tmp_path / "corpus").exists()


def test_fetch_of_an_empty_links_dir_writes_empty_pages(tmp_path: Path, capsys):
    dump = write_dump(
        tmp_path / "RS.jsonl",
        [submission(f"s{i}", f"http://news{i}.example.com/a", is_self=True) for i in range(2)],
    )
    run_links(LinksConfig(inputs=[str(dump)], out_dir=str(tmp_path / "links"), num_shards=1))
    code, err = _run(["fetch", str(tmp_path / "links"), "--out", str(tmp_path / "pages")], capsys)
    assert code == 0, err
    assert (
        "links/ holds 0 records (all 2 submissions dropped: self_post 2); writing an empty pages/"
    ) in err
    _assert_empty_stage(tmp_path / "pages", "pages")
