"""The dedup Beam job end to end on real text: exact and near duplicates removed, keepers chosen
by karma, splits stable, dups/ complete, bad input counted, reruns resume."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import xxhash
from synthetic import edit_copy, prose_documents, true_jaccard

from beam_jobs.dedup_job import DedupConfig, run_dedup
from dedup.split import assign_split
from dedup.text import normalise
from pipeline.io import schemas, shards
from pipeline.io.shards import ShardError
from tests.helpers import doc_record


def doc_row(text: str, key: str, score: int = 5, seen: int = 1_500_000_000) -> dict:
    return doc_record(
        xxhash.xxh64_hexdigest(key.encode()),
        text,
        path=key.replace(":", "/"),
        title=key,
        max_score=score,
        total_score=score,
        first_seen_utc=seen,
    )


def write_docs(directory, rows, num_shards: int = 3) -> None:
    parts: dict[int, list] = {}
    for row in rows:
        parts.setdefault(shards.shard_index(row["doc_id"], num_shards), []).append(row)
    for i in range(num_shards):
        shards.write_shard(
            str(directory),
            shards.shard_name(i, num_shards),
            sorted(parts.get(i, []), key=lambda r: r["doc_id"]),
            schemas.DOCS,
        )
    shards.finish_output(str(directory), {"records_out": len(rows)})


@pytest.fixture(scope="module")
def prose(shared_file):
    return prose_documents(
        shared_file("prose", "nltk_gutenberg_17books.tar.xz"), sentences_per_doc=10, limit=400
    )


@pytest.fixture(scope="module")
def dedup_run(prose, tmp_path_factory):
    """120 originals; 10 exact copies (punctuation/case changed), 10 light edits (J >= 0.8),
    10 heavy edits (J < 0.5); empty and duplicate-id records."""
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("dedup")
    originals = prose[:120]
    rows = [doc_row(text, key, score=3 + i % 5) for i, (key, text) in enumerate(originals)]
    expect: dict[str, tuple[str, str]] = {}  # removed doc_id -> (keeper doc_id, reason)
    for i in range(10):
        key, text = originals[i]
        copy = doc_row(text.upper().replace(" , ", "; "), f"{key}:exact", score=1)
        rows.append(copy)
        expect[copy["doc_id"]] = (rows[i]["doc_id"], "exact")
    for i in range(10, 20):
        key, text = originals[i]
        edited = edit_copy(text, originals[i + 50][1], rng, edits=1)
        assert true_jaccard(text, edited) >= 0.85
        # The copy has more karma: it is the keeper and the original is removed.
        copy = doc_row(edited, f"{key}:light", score=100)
        rows.append(copy)
        # An edit that only deleted punctuation leaves the normalised text equal: exact.
        reason = "exact" if normalise(edited) == normalise(text) else "near"
        expect[rows[i]["doc_id"]] = (copy["doc_id"], reason)
    heavy = []
    for i in range(20, 30):
        key, text = originals[i]
        edited = edit_copy(text, originals[i + 50][1], rng, edits=150)
        assert true_jaccard(text, edited) < 0.5
        copy = doc_row(edited, f"{key}:heavy")
        rows.append(copy)
        heavy.append(copy["doc_id"])
    rows.append(doc_row(" ... !!! ", "empty:1"))
    rows.append(doc_row("Tiny text here.", "short:1"))
    rows.append(dict(rows[30]))  # the same doc_id twice
    write_docs(root / "docs", rows)
    config = DedupConfig(
        docs_dir=str(root / "docs"),
        out_dir=str(root / "corpus"),
        dups_dir=str(root / "dups"),
    )
    assert run_dedup(config, ["--direct_num_workers=1"]) == "ran"
    return config, rows, expect, heavy


def test_duplicates_removed_with_the_right_keeper(dedup_run):
    config, rows, expect, heavy = dedup_run
    dups = {d["doc_id"]: d for d in shards.read_rows(config.dups_dir, schemas.DUPS)}
    assert {k: (d["keeper_id"], d["reason"]) for k, d in dups.items()} == expect
    for d in dups.values():
        if d["reason"] == "exact":
            assert d["similarity"] == 1.0
        else:
            assert 0.8 <= d["similarity"] < 1.0
    corpus_ids = {r["doc_id"] for r in shards.read_rows(config.out_dir, schemas.CORPUS)}
    assert not corpus_ids & set(dups)
    assert set(heavy) <= corpus_ids  # heavy edits are different documents
    for removed, (keeper, _) in expect.items():
        assert keeper in corpus_ids, removed


def test_stats_balance_and_count_every_drop(dedup_run):
    config, rows, expect, _ = dedup_run
    stats = shards.read_stats(config.out_dir)
    reasons = Counter(reason for _, reason in expect.values())
    assert stats["records_in"] == len(rows)
    assert stats["dropped"] == {
        "duplicate_doc_id": 1,
        "empty_text": 1,
        "exact_duplicate": reasons["exact"],
        "near_duplicate": reasons["near"],
    }
    assert stats["records_out"] == len(rows) - 2 - len(expect)
    assert stats["details"]["near_dedup_skipped_shorter_than_shingle"] == 1
    assert stats["details"]["verified_edges"] == reasons["near"]
    assert shards.read_stats(config.dups_dir)["records_out"] == len(expect)


def test_splits_follow_the_doc_id_hash(dedup_run):
    config, *_ = dedup_run
    corpus = shards.read_rows(config.out_dir, schemas.CORPUS)
    for row in corpus:
        assert row["split"] == assign_split(row["doc_id"])
    assert Counter(r["split"] for r in corpus)["train"] >= 0.9 * len(corpus)


def test_rerun_is_a_no_op_and_resume_rewrites_only_missing_shards(dedup_run, tmp_path):
    config, *_ = dedup_run
    assert run_dedup(config, ["--direct_num_workers=1"]) == "complete"
    # Simulate a crash: one corpus shard and the marker gone.
    from pathlib import Path

    first = shards.list_shards(config.out_dir)
    before = {p: Path(p).read_bytes() for p in first}
    Path(first[1]).unlink()
    Path(config.out_dir, "_SUCCESS").unlink()
    assert run_dedup(config, ["--direct_num_workers=1"]) == "ran"
    assert {p: Path(p).read_bytes() for p in shards.list_shards(config.out_dir)} == before


def test_wrong_input_schema_is_named(tmp_path):
    import pyarrow as pa

    bad = pa.schema([pa.field("doc_id", pa.string()), pa.field("text", pa.string())])
    shards.write_shard(
        str(tmp_path / "docs"), "part-00000-of-00001.parquet", [{"doc_id": "a", "text": "x"}], bad
    )
    shards.finish_output(str(tmp_path / "docs"), {})
    config = DedupConfig(
        docs_dir=str(tmp_path / "docs"),
        out_dir=str(tmp_path / "corpus"),
        dups_dir=str(tmp_path / "dups"),
    )
    with pytest.raises(Exception, match="missing column 'url'"):
        run_dedup(config, ["--direct_num_workers=1"])


def test_unfinished_input_is_refused(tmp_path):
    (tmp_path / "docs").mkdir()
    config = DedupConfig(
        docs_dir=str(tmp_path / "docs"),
        out_dir=str(tmp_path / "corpus"),
        dups_dir=str(tmp_path / "dups"),
    )
    with pytest.raises(ShardError, match="_SUCCESS"):
        run_dedup(config)


@pytest.mark.slow
def test_multi_process_run_writes_identical_output(dedup_run, tmp_path):
    """Two worker processes (real pickling between stages) give byte-identical shards."""
    from dataclasses import replace
    from pathlib import Path

    config, *_ = dedup_run
    multi = replace(config, out_dir=str(tmp_path / "corpus"), dups_dir=str(tmp_path / "dups"))
    run_dedup(multi, ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    for a_dir, b_dir in ((config.out_dir, multi.out_dir), (config.dups_dir, multi.dups_dir)):
        a, b = shards.list_shards(a_dir), shards.list_shards(b_dir)
        assert [Path(p).name for p in a] == [Path(p).name for p in b]
        for pa_, pb_ in zip(a, b, strict=True):
            assert Path(pa_).read_bytes() == Path(pb_).read_bytes()


def test_non_latin_duplicates(tmp_path):
    base = (
        "Москва — столица России, крупнейший по численности населения город страны. "
        "Город расположен на реке Москве в центре Восточно-Европейской равнины. "
    ) * 3
    greek = "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μία από τις αρχαιότερες πόλεις. " * 3
    rows = [
        doc_row(base, "ru:1", score=9),
        doc_row(base.replace("—", "-").upper(), "ru:2"),
        doc_row(greek, "el:1"),
        doc_row("東京都は日本の首都である。", "ja:1"),
    ]
    write_docs(tmp_path / "docs", rows, num_shards=1)
    config = DedupConfig(
        docs_dir=str(tmp_path / "docs"),
        out_dir=str(tmp_path / "corpus"),
        dups_dir=str(tmp_path / "dups"),
    )
    run_dedup(config, ["--direct_num_workers=1"])
    dups = shards.read_rows(config.dups_dir, schemas.DUPS)
    assert [(d["doc_id"], d["keeper_id"], d["reason"]) for d in dups] == [
        (rows[1]["doc_id"], rows[0]["doc_id"], "exact")
    ]
    stats = shards.read_stats(config.out_dir)
    assert stats["records_out"] == 3
    # Japanese without spaces is one "word": shorter than a shingle, exact dedup only.
    assert stats["details"]["near_dedup_skipped_shorter_than_shingle"] == 1
