"""Token-shard reading and the batch stream (order, disjoint ranks, position, errors)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import write_token_shards

from model.data import (
    DataPosition,
    TokenBatches,
    TokenDataError,
    eval_batches,
    load_split_cached,
    read_split,
    tokenizer_fingerprint,
    tokenizer_vocab_size,
)


def _docs(n: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    splits = ["train", "train", "train", "val", "test"]
    return [
        (f"doc{i}", splits[i % 5], np.append(rng.integers(0, 1000, rng.integers(5, 60)), 1023))
        for i in range(n)
    ]


def test_read_split_flattens_in_shard_order(tmp_path):
    docs = _docs()
    write_token_shards(tmp_path, docs, num_shards=3)
    for split in ("train", "val", "test"):
        want = np.concatenate(
            [
                np.asarray(ids, np.uint16)
                for s in range(3)
                for _, sp, ids in docs[s::3]
                if sp == split
            ]
        )
        got = read_split(tmp_path, split, vocab_size=1024)
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, want)


def test_cached_split_is_a_memmap_with_the_same_tokens_and_rebuilds_on_change(tmp_path):
    write_token_shards(tmp_path / "tok", _docs())
    direct = read_split(tmp_path / "tok", "train")
    cached = load_split_cached(tmp_path / "tok", "train", tmp_path / "cache")
    assert isinstance(cached, np.memmap)
    np.testing.assert_array_equal(cached, direct)
    write_token_shards(tmp_path / "tok", _docs(seed=1))  # new shards -> stale cache
    with pytest.raises(TokenDataError, match="stale"):
        load_split_cached(tmp_path / "tok", "train", tmp_path / "cache", build=False)
    np.testing.assert_array_equal(
        load_split_cached(tmp_path / "tok", "train", tmp_path / "cache"),
        read_split(tmp_path / "tok", "train"),
    )


def test_bad_token_dirs_are_named(tmp_path):
    with pytest.raises(TokenDataError, match="does not exist"):
        read_split(tmp_path / "none", "train")
    write_token_shards(tmp_path / "a", _docs())
    (tmp_path / "a" / "_SUCCESS").unlink()
    with pytest.raises(TokenDataError, match="incomplete"):
        read_split(tmp_path / "a", "train")
    write_token_shards(tmp_path / "b", _docs())
    with pytest.raises(TokenDataError, match=r"part-0000\d.*token id 1023 is outside .* 1000"):
        read_split(tmp_path / "b", "train", vocab_size=1000)
    bad = tmp_path / "c"
    bad.mkdir()
    pq.write_table(pa.table({"split": ["train"], "tokens": [[1, 2, 3]]}), bad / "p.parquet")
    (bad / "_SUCCESS").touch()
    with pytest.raises(TokenDataError, match="column 'tokens' has type list<element: int64>"):
        read_split(bad, "train")
    pq.write_table(pa.table({"tokens": pa.array([[1]], pa.list_(pa.uint16()))}), bad / "p.parquet")
    with pytest.raises(TokenDataError, match="missing column 'split'"):
        read_split(bad, "train")


# _tokenizer/ as tokenize writes it; tokenizer/ as versions before the rename wrote it.
@pytest.mark.parametrize("subdir", ["_tokenizer", "tokenizer"])
def test_tokenizer_vocab_and_fingerprint(tmp_path, subdir):
    assert tokenizer_vocab_size(tmp_path) is None
    tok = tmp_path / subdir
    tok.mkdir()
    (tok / "encoder.json").write_text(json.dumps({"a": 0, "b": 1, "<|endoftext|>": 2}))
    (tok / "vocab.bpe").write_text("#version: 0.2\na b\n")
    assert tokenizer_vocab_size(tmp_path) == 3
    fp = tokenizer_fingerprint(tok)
    (tok / "vocab.bpe").write_text("#version: 0.2\nb a\n")
    assert tokenizer_fingerprint(tok) != fp
    (tok / "encoder.json").write_text("[1, 2")
    with pytest.raises(TokenDataError, match="not a readable JSON"):
        tokenizer_vocab_size(tmp_path)


def _stream(tokens, **kw):
    args = dict(seq_len=4, micro_batch=2, grad_accum=2, seed=7) | kw
    return TokenBatches(tokens, **args)


def test_epoch_visits_every_window_once_and_targets_are_shifted():
    tokens = np.arange(4 * 40 + 1, dtype=np.uint16)  # exactly 40 windows
    stream = _stream(tokens)
    seen = []
    for _ in range(10):  # 10 steps x 4 sequences = one epoch
        for x, y in stream.next_step():
            assert x.shape == (2, 4)
            assert (y == x + 1).all()  # consecutive tokens: y is x shifted by one
            seen += (x[:, 0] // 4).tolist()
    assert sorted(seen) == list(range(40))
    assert stream.position == DataPosition(epoch=0, cursor=40)
    stream.next_step()
    assert stream.position == DataPosition(epoch=1, cursor=4)


def test_ranks_get_disjoint_parts_of_the_single_process_batch():
    tokens = np.arange(4 * 50 + 1, dtype=np.uint16)
    single = _stream(tokens, grad_accum=4)
    ranks = [_stream(tokens, grad_accum=2, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):
        want = [x for x, _ in single.next_step()]
        got = [x for r in ranks for x, _ in r.next_step()]
        assert all((a == b).all() for a, b in zip(want, got, strict=True))


def test_position_resumes_the_same_stream():
    tokens = np.arange(4 * 30 + 1, dtype=np.uint16)
    a = _stream(tokens)
    for _ in range(11):
        a.next_step()
    b = _stream(tokens, position=DataPosition(**a.position.to_dict()))
    for _ in range(9):
        for (xa, _), (xb, _) in zip(a.next_step(), b.next_step(), strict=True):
            assert (xa == xb).all()
    assert (
        _stream(tokens, seed=8).next_step()[0][0].tolist()
        != _stream(tokens).next_step()[0][0].tolist()
    )


def test_too_few_tokens_for_a_batch_is_a_clear_error():
    with pytest.raises(TokenDataError, match="fewer than one global batch of 4 sequences"):
        _stream(np.arange(12, dtype=np.uint16))


def test_eval_batches_are_fixed_and_split_between_ranks():
    tokens = np.arange(4 * 10 + 1, dtype=np.uint16)
    whole = np.concatenate(eval_batches(tokens, 4, 3, 100))
    assert whole.tolist() == [4 * i for i in range(10)]
    parts = [np.concatenate(eval_batches(tokens, 4, 3, 100, r, 2)) for r in range(2)]
    assert sorted(np.concatenate(parts).tolist()) == whole.tolist()
    assert len(np.concatenate(eval_batches(tokens, 4, 3, 2))) == 6


@settings(max_examples=40, deadline=None)
@given(
    n_windows=st.integers(1, 60),
    seq_len=st.integers(1, 5),
    micro_batch=st.integers(1, 4),
    grad_accum=st.integers(1, 3),
    world_size=st.integers(1, 3),
    seed=st.integers(0, 2**31),
)
def test_stream_property_each_epoch_is_a_partition(
    n_windows, seq_len, micro_batch, grad_accum, world_size, seed
):
    """Any geometry: within an epoch no window repeats, ranks never overlap, and the union
    over ranks equals what one process with world_size x the accumulation would see."""
    tokens = np.arange(n_windows * seq_len + 1, dtype=np.uint16)
    global_batch = micro_batch * grad_accum * world_size
    if n_windows < global_batch:
        with pytest.raises(TokenDataError):
            TokenBatches(tokens, seq_len, micro_batch, grad_accum, 0, world_size, seed)
        return
    ranks = [
        TokenBatches(tokens, seq_len, micro_batch, grad_accum, r, world_size, seed)
        for r in range(world_size)
    ]
    single = TokenBatches(tokens, seq_len, micro_batch, grad_accum * world_size, 0, 1, seed)
    steps_per_epoch = n_windows // global_batch
    seen: list[int] = []
    for _ in range(steps_per_epoch):
        got = [
            int(x[j, 0]) // seq_len for r in ranks for x, _ in r.next_step() for j in range(len(x))
        ]
        want = [int(x[j, 0]) // seq_len for x, _ in single.next_step() for j in range(len(x))]
        assert got == want
        seen += got
    assert len(seen) == len(set(seen)) == steps_per_epoch * global_batch
    assert all(r.position == DataPosition(0, steps_per_epoch * global_batch) for r in ranks)
