"""The tokenize stage end to end: real corpus shards (real WebText text) -> Beam DirectRunner ->
tokens/ shards, _stats.json, _tokenizer/, and the trainer's loader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_jobs.tokenize_job import TokenizeConfig, run_tokenize
from model.data import TokenDataError, list_token_shards, read_split
from model.tokenizer import load_tokenizer
from pipeline import cli
from pipeline.io import schemas, shards
from tests.helpers import doc_record

SPLITS = ("train", "train", "train", "train", "train", "train", "train", "train", "val", "test")


def corpus_row(doc_id: str, split: str, text: str) -> dict:
    return doc_record(doc_id, text, split=split)


def write_corpus(directory: Path, rows: list[dict], num_shards: int = 3) -> None:
    by_shard: dict[int, list[dict]] = {i: [] for i in range(num_shards)}
    for row in rows:
        by_shard[shards.shard_index(row["doc_id"], num_shards)].append(row)
    for index, members in by_shard.items():
        name = shards.shard_name(index, num_shards)
        shards.write_shard(
            str(directory), name, sorted(members, key=lambda r: r["doc_id"]), schemas.CORPUS
        )
    shards.finish_output(str(directory), {"stage": "dedup", "records_out": len(rows)})


@pytest.fixture(scope="module")
def webtext_docs(shared_file) -> list[tuple[str, str, str]]:
    """(doc_id, split, text) for 400 real WebText documents, 80/10/10 train/val/test."""
    lines = shared_file("webtext", "webtext.test.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines[:400]]
    return [(f"d{i:04d}", SPLITS[i % len(SPLITS)], t) for i, t in enumerate(texts)]


@pytest.fixture()
def corpus_dir(tmp_path: Path, webtext_docs) -> Path:
    d = tmp_path / "corpus"
    write_corpus(d, [corpus_row(*doc) for doc in webtext_docs])
    return d


def _all_rows(tokens_dir: Path) -> list[dict]:
    return shards.read_rows(str(tokens_dir), schemas.TOKENS)


def test_gpt2_files_end_to_end(tmp_path: Path, corpus_dir: Path, webtext_docs, shared_file) -> None:
    gpt2 = shared_file("gpt2")
    out = tmp_path / "tokens"
    config = TokenizeConfig(str(corpus_dir), str(out), gpt2_files=str(gpt2), num_shards=2)
    assert run_tokenize(config) == "ran"

    # The tokenizer is saved byte for byte, so training and eval decode with the same files.
    for name in ("encoder.json", "vocab.bpe"):
        assert (out / "_tokenizer" / name).read_bytes() == (gpt2 / name).read_bytes()
    tok = load_tokenizer(out / "_tokenizer")

    texts = {doc_id: (split, text) for doc_id, split, text in webtext_docs}
    rows = _all_rows(out)
    assert len(rows) == len(webtext_docs)
    for row in rows:
        split, text = texts[row["doc_id"]]
        assert row["split"] == split
        assert row["tokens"] == tok.encode(text) + [50256]
        assert row["n_tokens"] == len(row["tokens"])

    stats = shards.read_stats(str(out))
    assert stats["records_in"] == stats["records_out"] == 400
    assert stats["docs_per_split"] == {"train": 320, "val": 40, "test": 40}
    for split in ("train", "val", "test"):
        expected = [t for r in rows if r["split"] == split for t in r["tokens"]]
        assert stats["tokens_per_split"][split] == len(expected)
        flat = read_split(out, split)
        assert flat.dtype == np.uint16
        assert len(flat) == len(expected)
        assert int((flat == 50256).sum()) == stats["docs_per_split"][split]
        assert sorted(flat.tolist()) == sorted(expected)


def test_read_split_follows_shard_and_row_order(
    tmp_path: Path, corpus_dir: Path, shared_file
) -> None:
    out = tmp_path / "tokens"
    run_tokenize(
        TokenizeConfig(str(corpus_dir), str(out), gpt2_files=str(shared_file("gpt2")), num_shards=3)
    )
    expected: list[int] = []
    for path in list_token_shards(out):
        for row in pq.read_table(path).to_pylist():
            if row["split"] == "val":
                expected.extend(row["tokens"])
    assert read_split(out, "val").tolist() == expected
    with pytest.raises(ValueError, match="unknown split 'dev'; expected one of"):
        read_split(out, "dev")


def test_read_split_requires_finished_dir(tmp_path: Path) -> None:
    with pytest.raises(TokenDataError, match="incomplete .no _SUCCESS.: rerun `webtext tokenize`"):
        read_split(tmp_path, "train")


def test_trained_vocab_round_trips_and_resumes(
    tmp_path: Path, corpus_dir: Path, webtext_docs
) -> None:
    out = tmp_path / "tokens"
    config = TokenizeConfig(str(corpus_dir), str(out), vocab_size=600, num_shards=3)
    assert run_tokenize(config) == "ran"
    tok = load_tokenizer(out / "_tokenizer")
    assert tok.vocab_size == 600 and tok.eot_id == 599
    texts = {doc_id: text for doc_id, _, text in webtext_docs}
    rows = _all_rows(out)
    for row in rows:
        assert row["tokens"][-1] == 599
        assert tok.decode(row["tokens"][:-1]) == texts[row["doc_id"]]
        assert max(row["tokens"][:-1]) < 599

    # A finished run is not repeated.
    assert run_tokenize(config) == "complete"

    # A killed run (one shard, stats and _SUCCESS missing, a temp file left) resumes: the
    # tokenizer is reused, the missing shard rewritten identically, nothing duplicated.
    paths = list_token_shards(out)
    before = {p.name: p.read_bytes() for p in paths}
    vocab_before = ((out / "_tokenizer") / "vocab.bpe").read_bytes()
    paths[1].unlink()
    (out / "_SUCCESS").unlink()
    (out / shards.STATS_FILE).unlink()
    (out / "_tmp-deadbeef-part-00001-of-00003.parquet").write_bytes(b"partial")
    assert run_tokenize(config) == "ran"
    after = {p.name: p.read_bytes() for p in list_token_shards(out)}
    assert after == before
    assert ((out / "_tokenizer") / "vocab.bpe").read_bytes() == vocab_before
    assert not list(out.glob("_tmp-*"))
    assert shards.read_stats(str(out))["records_out"] == len(webtext_docs)


def test_bad_documents_are_counted_not_lost(tmp_path: Path, webtext_docs, shared_file) -> None:
    corpus = tmp_path / "corpus"
    good = [corpus_row(*doc) for doc in webtext_docs[:20]]
    write_corpus(corpus, good, num_shards=1)
    # A second shard written without UTF-8 validation: an invalid document and an empty one.
    bad_rows = [corpus_row("bad-utf8", "train", "x"), corpus_row("empty", "train", "")]
    table = pa.Table.from_pylist(bad_rows, schema=schemas.CORPUS)
    raw = pa.array([b"caf\xe9 au lait", b""], pa.binary()).view(pa.string())
    table = table.set_column(table.schema.get_field_index("text"), "text", raw)
    pq.write_table(table, corpus / "part-00001-of-00002.parquet")

    out = tmp_path / "tokens"
    run_tokenize(
        TokenizeConfig(str(corpus), str(out), gpt2_files=str(shared_file("gpt2")), num_shards=2)
    )
    stats = shards.read_stats(str(out))
    assert stats["records_in"] == 22
    assert stats["records_out"] == 20
    assert stats["dropped"] == {"empty_text": 1, "invalid_utf8": 1}
    assert any("bad-utf8" in s and "invalid UTF-8 at byte 3" in s for s in stats["error_samples"])
    assert {r["doc_id"] for r in _all_rows(out)} == {r["doc_id"] for r in good}


def test_vocabulary_too_large_for_uint16(tmp_path: Path, corpus_dir: Path) -> None:
    from model.tokenizer import BPETokenizer, base_symbol_order

    base = base_symbol_order()
    merges = [(a, b) for a in base for b in base][:65_400]
    encoder = {s: i for i, s in enumerate(base)}
    for a, b in merges:
        encoder[a + b] = len(encoder)
    encoder["<|endoftext|>"] = len(encoder)
    big = BPETokenizer(encoder, merges)
    assert big.vocab_size == 65_657
    big.save(tmp_path / "big")
    config = TokenizeConfig(
        str(corpus_dir), str(tmp_path / "tokens"), gpt2_files=str(tmp_path / "big")
    )
    with pytest.raises(ValueError, match=r"65,657 ids does not fit uint16"):
        run_tokenize(config)
    assert not (tmp_path / "tokens").exists()  # refused before the output was touched
    with pytest.raises(ValueError, match="--vocab-size 70,000"):
        run_tokenize(TokenizeConfig(str(corpus_dir), str(tmp_path / "t2"), vocab_size=70_000))


def test_unfinished_corpus_is_refused(tmp_path: Path, corpus_dir: Path) -> None:
    (corpus_dir / "_SUCCESS").unlink()
    with pytest.raises(shards.ShardError, match="no _SUCCESS"):
        run_tokenize(TokenizeConfig(str(corpus_dir), str(tmp_path / "tokens"), vocab_size=300))


def test_cli(tmp_path: Path, corpus_dir: Path, shared_file, capsys) -> None:
    out = tmp_path / "tokens"
    rc = cli.main(
        [
            "tokenize",
            str(corpus_dir),
            "--out",
            str(out),
            "--gpt2-files",
            str(shared_file("gpt2")),
            "--num-shards",
            "2",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "tokenize ->" in printed and "train" in printed
    assert (out / "_SUCCESS").exists()
    rc = cli.main(
        ["tokenize", str(corpus_dir), "--out", str(tmp_path / "t2"), "--vocab-size", "70000"]
    )
    assert rc == 2


def test_demo_step(tmp_path: Path, webtext_docs, capsys) -> None:
    from pipeline.demo.tokenize import tokenize_step

    write_corpus(tmp_path / "corpus", [corpus_row(*doc) for doc in webtext_docs])
    tokenize_step(tmp_path, [])
    printed = capsys.readouterr().out
    assert "[demo] tokenize ->" in printed
    tok = load_tokenizer(tmp_path / "tokens" / "_tokenizer")
    assert 300 < tok.vocab_size <= 2000
    assert len(read_split(tmp_path / "tokens", "train")) > 10_000


@pytest.mark.slow
def test_multiprocess_direct_runner(tmp_path: Path, corpus_dir: Path, shared_file) -> None:
    out = tmp_path / "tokens"
    config = TokenizeConfig(
        str(corpus_dir), str(out), gpt2_files=str(shared_file("gpt2")), num_shards=2
    )
    beam_args = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    assert run_tokenize(config, beam_args) == "ran"
    single = tmp_path / "single"
    shutil.copytree(corpus_dir, tmp_path / "corpus2")
    run_tokenize(
        TokenizeConfig(
            str(tmp_path / "corpus2"),
            str(single),
            gpt2_files=str(shared_file("gpt2")),
            num_shards=2,
        )
    )
    assert [p.read_bytes() for p in list_token_shards(out)] == [
        p.read_bytes() for p in list_token_shards(single)
    ]


def test_training_needs_train_documents(tmp_path: Path, webtext_docs) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, [corpus_row(d, "val", t) for d, _, t in webtext_docs[:10]], num_shards=1)
    config = TokenizeConfig(str(corpus), str(tmp_path / "tokens"), vocab_size=300)
    with pytest.raises(ValueError, match="no usable documents in split 'train'"):
        run_tokenize(config)
