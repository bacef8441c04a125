"""The Bloom filter: sizing, no false negatives, false-positive rate within a statistical bound
of theory, OR-merge, files (header, truncation, other parameters), verification."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from dedup.ngram.bloom import (
    HASH_SCHEME,
    BloomError,
    BloomFilter,
    BloomParams,
    merge_files,
    next_prime,
    theoretical_fp_rate,
)
from dedup.ngram.overlap import random_ngram_hashes, verify


def random_items(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)


def test_sizing_follows_the_formula():
    p = BloomParams.for_capacity(1_000_000, 1e-8)
    assert abs(p.bits_per_item() - 38.34) < 0.01  # -ln(1e-8) / ln(2)^2
    assert p.num_hashes == 27  # 38.34 * ln 2 = 26.6
    assert p.num_bits == next_prime(math.ceil(-1e6 * math.log(1e-8) / math.log(2) ** 2))
    with pytest.raises(BloomError, match="false-positive rate"):
        BloomParams.for_capacity(10, 1.5)
    with pytest.raises(BloomError, match="at least 1"):
        BloomParams.for_capacity(0)


BACKENDS = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n,p", [(20_000, 0.01), (50_000, 0.001)])
def test_false_positive_rate_matches_theory(n, p, backend):
    bloom = BloomFilter(BloomParams.for_capacity(n, p), backend=backend)
    items = random_items(n, seed=1)
    bloom.add_hashes(items)
    assert bloom.contains_hashes(items).all()  # no false negatives, ever
    queries = 400_000
    hits = int(bloom.contains_hashes(random_items(queries, seed=2)).sum())
    for rate in (
        theoretical_fp_rate(bloom.params.num_bits, bloom.params.num_hashes, n),
        bloom.estimated_fp_rate(),
    ):
        expected = rate * queries
        assert abs(hits - expected) <= 4 * math.sqrt(expected), (hits, expected)
    assert abs(bloom.estimated_distinct_items() - n) < 0.02 * n


def test_verification_on_text_path_is_within_bound():
    bloom = BloomFilter(BloomParams.for_capacity(30_000, 0.02))
    bloom.add_hashes(random_ngram_hashes(30_000, seed=99))
    result = verify(bloom, 200_000, seed=7)
    assert result.consistent(), result
    assert 0.01 < result.observed_rate < 0.03


def test_or_merge_is_the_union(tmp_path):
    params = BloomParams.for_capacity(5_000, 1e-4)
    a, b, both = BloomFilter(params), BloomFilter(params), BloomFilter(params)
    xa, xb = random_items(2_000, 3), random_items(2_000, 4)
    a.add_hashes(xa)
    b.add_hashes(xb)
    both.add_hashes(np.concatenate([xa, xb]))
    a.save(tmp_path / "a.bloom")
    b.save(tmp_path / "b.bloom")
    merge_files([tmp_path / "a.bloom", tmp_path / "b.bloom"], tmp_path / "m.bloom", chunk_bytes=100)
    merged = BloomFilter.load(tmp_path / "m.bloom")
    assert np.array_equal(merged.bits, both.bits)
    assert merged.items_inserted == 4_000
    assert np.array_equal(a.merge(b).bits, both.bits)


def test_save_load_roundtrip_and_mmap(tmp_path):
    bloom = BloomFilter(BloomParams.for_capacity(1_000, 1e-6, seed=5))
    bloom.add_text("the quick brown fox jumps over the lazy dog again and again")
    bloom.save(tmp_path / "f.bloom")
    for mmap in (False, True):
        loaded = BloomFilter.load(tmp_path / "f.bloom", mmap=mmap)
        assert loaded.params == bloom.params and loaded.items_inserted == 5
        assert loaded.query_text("The QUICK brown fox jumps over the lazy dog!") == (2, 2)
        assert loaded.query_text("a quick brown fox jumps over the lazy cat") == (2, 0)
        assert loaded.query_text("lazy dog") == (0, 0)
    assert not list(tmp_path.glob("_tmp-*"))


def test_bad_files_and_mismatched_parameters_are_refused(tmp_path):
    params = BloomParams.for_capacity(1_000, 1e-6)
    BloomFilter(params).save(tmp_path / "f.bloom")
    data = (tmp_path / "f.bloom").read_bytes()
    (tmp_path / "short.bloom").write_bytes(data[:-10])
    with pytest.raises(BloomError, match="truncated"):
        BloomFilter.load(tmp_path / "short.bloom")
    (tmp_path / "junk.bloom").write_bytes(b"not a filter at all" * 10)
    with pytest.raises(BloomError, match="bad magic"):
        BloomFilter.load(tmp_path / "junk.bloom")
    (tmp_path / "head.bloom").write_bytes(data[:20])
    with pytest.raises(BloomError, match="corrupt filter header"):
        BloomFilter.load(tmp_path / "head.bloom")
    with pytest.raises(BloomError, match="no such filter"):
        BloomFilter.load(tmp_path / "missing.bloom")
    other = BloomParams.for_capacity(2_000, 1e-6)
    with pytest.raises(BloomError, match="other parameters"):
        BloomFilter.load(tmp_path / "f.bloom", expect=other)
    BloomFilter(other).save(tmp_path / "g.bloom")
    with pytest.raises(BloomError, match="other parameters"):
        merge_files([tmp_path / "f.bloom", tmp_path / "g.bloom"], tmp_path / "m.bloom")
    with pytest.raises(BloomError, match="other parameters"):
        BloomFilter(params).merge(BloomFilter(other))
    old = tmp_path / "f.bloom"
    old.write_bytes(data.replace(HASH_SCHEME.encode(), HASH_SCHEME.replace("v1", "v0").encode()))
    with pytest.raises(BloomError, match="hash scheme"):
        BloomFilter.load(old)
