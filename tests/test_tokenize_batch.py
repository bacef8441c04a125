"""pipeline.tokenize.tokenize_batch on arbitrary document bytes: every document is either a
row whose ids decode back to its text, or a drop counted by reason; nothing else happens."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.tokenizer import BPETokenizer, load_tokenizer
from pipeline.io.stats import StageStats
from pipeline.tokenize import DOCS_PER_SPLIT, TOKENS_PER_SPLIT, row_key, tokenize_batch


@pytest.fixture(scope="module")
def gpt2(shared_file) -> BPETokenizer:
    return load_tokenizer(shared_file("gpt2"))


documents = st.lists(
    st.tuples(
        st.sampled_from(["train", "val", "test"]),
        st.one_of(st.text(max_size=80).map(lambda t: t.encode("utf-8")), st.binary(max_size=40)),
    ),
    max_size=12,
)


@given(documents)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_document_is_a_row_or_a_counted_drop(gpt2: BPETokenizer, docs) -> None:
    doc_ids = [f"doc{i}" for i in range(len(docs))]
    splits = [s for s, _ in docs]
    raw = [b for _, b in docs]
    stats = StageStats()
    batch = tokenize_batch(gpt2, doc_ids, splits, raw, stats, "memory")
    stats.check_balance()
    assert stats.records_in == len(docs)
    assert set(stats.dropped) <= {"empty_text", "invalid_utf8"}
    rows = dict(batch.rows)
    for i, (split, data) in enumerate(docs):
        key = row_key(split, doc_ids[i])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            assert key not in rows
            continue
        if not text:
            assert key not in rows
            continue
        row = rows[key]
        tokens = row["tokens"].tolist()
        assert tokens[-1] == gpt2.eot_id and gpt2.eot_id not in tokens[:-1]
        assert row["n_tokens"] == len(tokens)
        assert gpt2.decode_bytes(tokens[:-1]) == data
    for split in ("train", "val", "test"):
        in_split = [r for r in rows.values() if r["split"] == split]
        assert batch.totals[(DOCS_PER_SPLIT, split)] == len(in_split)
        assert batch.totals[(TOKENS_PER_SPLIT, split)] == sum(r["n_tokens"] for r in in_split)


def test_invalid_utf8_is_sampled_with_its_position(gpt2: BPETokenizer) -> None:
    stats = StageStats()
    raw = [b"ok", b"\xed\xa0\x80 encoded surrogate", b"", None]
    batch = tokenize_batch(gpt2, ["a", "b", "c", "d"], ["train"] * 4, raw, stats, "shard.parquet")
    assert [k for k, _ in batch.rows] == [row_key("train", "a")]
    assert stats.dropped == {"invalid_utf8": 1, "empty_text": 2}
    assert stats.error_samples == [
        "shard.parquet: document b: invalid UTF-8 at byte 0 (b'\\xed\\xa0\\x80 '); document skipped"
    ]
