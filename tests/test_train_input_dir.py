"""`webtext train` given another stage's directory names what it is and what to run first,
instead of the advice (--vocab-size) that only leads to the next error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import write_token_shards

from model.data import TokenDataError, directory_stage, other_stage_message
from model.train import TrainConfig, train
from pipeline.io import schemas, shards
from tests.helpers import doc_record, write_links, write_prose_corpus

REPO = Path(__file__).resolve().parent.parent
TEXTS = [f"document {i} says something about topic {i % 3} and more words" for i in range(6)]


@pytest.fixture()
def corpus_dir(tmp_path: Path) -> Path:
    write_prose_corpus(tmp_path / "corpus", TEXTS, n_train=4)
    return tmp_path / "corpus"


def _docs_dir(path: Path) -> Path:
    rows = [doc_record(f"d{i}", text) for i, text in enumerate(TEXTS)]
    shards.write_shard(str(path), shards.shard_name(0, 1), rows, schemas.DOCS)
    shards.finish_output(str(path), {"records_in": len(rows), "records_out": len(rows)})
    return path


def test_train_on_a_corpus_says_tokenize_it_first(corpus_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "train", str(corpus_dir), "--out", str(run),
         "--model", "tiny", "--steps", "1", "--device", "cpu"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(
        f"{corpus_dir} is a corpus directory (output of webtext dedup); "
        f"run `webtext tokenize {corpus_dir} --out TOKENS` first"
    )
    assert "--vocab-size" not in result.stderr
    assert not run.exists()


@pytest.mark.parametrize("vocab_size", [None, 300])
def test_the_trainer_names_a_corpus_with_or_without_vocab_size(
    vocab_size: int | None, corpus_dir: Path, tmp_path: Path
) -> None:
    """Without the CLI's early check too: the tokenizer check and the column check."""
    cfg = TrainConfig(str(corpus_dir), str(tmp_path / "run"), model="tiny", steps=1,
                      batch_tokens=32, micro_batch=2, seq_len=16, device="cpu",
                      vocab_size=vocab_size)  # fmt: skip
    with pytest.raises(TokenDataError, match="is a corpus directory .* run `webtext tokenize"):
        train(cfg)


def test_each_stage_directory_is_told_apart(corpus_dir: Path, tmp_path: Path) -> None:
    docs = _docs_dir(tmp_path / "docs")
    links = tmp_path / "links"
    write_links(links, ["http://example.com/a"])
    tokens = tmp_path / "tokens"
    write_token_shards(tokens, [("d0", "train", [1, 2, 3])], num_shards=1)
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("")
    assert [directory_stage(d) for d in (links, docs, corpus_dir, tokens, run)] == [
        "links", "docs", "corpus", "tokens", "train",
    ]  # fmt: skip
    assert directory_stage(tmp_path / "missing") is None
    assert other_stage_message(tokens) is None
    assert other_stage_message(docs) == (
        f"{docs} is a docs directory (output of webtext extract); run "
        f"`webtext dedup {docs} --out CORPUS` then `webtext tokenize CORPUS --out TOKENS` first"
    )
    assert "is a training run directory" in str(other_stage_message(run))


def test_the_stage_named_in_job_json_wins(tmp_path: Path) -> None:
    out = tmp_path / "pages"
    out.mkdir()
    (out / "_job.json").write_text('{"stage": "pages", "params": {}, "inputs": []}')
    assert other_stage_message(out) == (
        f"{out} is a pages directory (output of webtext fetch); run "
        f"`webtext extract {out} --out DOCS`, `webtext dedup DOCS --out CORPUS` then "
        "`webtext tokenize CORPUS --out TOKENS` first"
    )
