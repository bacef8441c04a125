"""The compiled (numba) Bloom filter path gives exactly the numpy path's hashes, bits and
answers: on real text from ../shared/data, on arbitrary Unicode text (hypothesis), at block
boundaries and on long words; the false-positive behaviour is the same; the backend choice
(argument, environment variable, numba missing) works."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import jsonl_texts

from dedup import text as T
from dedup.ngram import bloom as bloommod
from dedup.ngram.bloom import BloomError, BloomFilter, BloomParams
from dedup.ngram.overlap import random_ngram_hashes, verify

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed (optional)")


def pair(params: BloomParams) -> tuple[BloomFilter, BloomFilter]:
    return BloomFilter(params, backend="numpy"), BloomFilter(params, backend="numba")


@pytest.fixture(scope="module")
def real_texts(shared_file) -> tuple[list[str], list[str]]:
    """(reference docs, query docs): WebText valid + WikiText-2 raw as the reference; WebText
    test + LAMBADA + 200 reference docs copied verbatim as the queries (so some answers are
    yes, most no)."""
    train = jsonl_texts(shared_file("webtext", "webtext.valid.jsonl"), limit=1500)
    wiki = shared_file("testsets", "wikitext-2-raw", "wiki.test.raw").read_text(encoding="utf-8")
    train += [p for p in wiki.split("\n \n") if p.strip()][:800]  # non-ASCII: uint32 path
    test = jsonl_texts(shared_file("webtext", "webtext.test.jsonl"), limit=1500)
    test += jsonl_texts(shared_file("testsets", "lambada", "lambada_test.jsonl"), limit=1000)
    return train, test + train[::10]


@needs_numba
def test_hashes_identical_on_real_text(real_texts):
    train, test = real_texts
    ref, fast = pair(BloomParams.for_capacity(1000, 1e-4, seed=11))
    joined = "\n".join(train + test)
    for text in (joined, *train[:50], *train[-50:]):
        data = T.normalised_codepoints(text)
        assert np.array_equal(fast.ngram_hashes_normalised(data), ref.ngram_hashes_normalised(data))
    data = T.normalised_codepoints(joined)
    assert data.dtype == np.uint32  # WikiText has non-ASCII: the wide code-point path ran
    assert len(ref.ngram_hashes_normalised(data)) > 100_000


@needs_numba
@pytest.mark.parametrize("fp_rate,load", [(1e-8, 1.0), (0.01, 1.0), (0.01, 4.0)])
def test_bits_and_answers_identical_on_real_text(real_texts, fp_rate, load):
    """Same bits after inserting, same answer for every 8-gram of every query document; at
    load 4 the filter is overfull (false positives everywhere, many probe rounds survive)."""
    train, test = real_texts
    grams = sum(len(T.words(t)) for t in train)
    ref, fast = pair(BloomParams.for_capacity(max(1, int(grams / load)), fp_rate))
    for text in train:
        assert fast.add_text(text) == ref.add_text(text)
    assert np.array_equal(fast.bits, ref.bits)
    assert fast.items_inserted == ref.items_inserted > 100_000
    found = total = 0
    for text in test:
        data = T.normalised_codepoints(text)
        answers = fast.query_normalised(data)
        assert np.array_equal(answers, ref.query_normalised(data))
        assert fast.query_text(text) == ref.query_text(text)
        found, total = found + int(answers.sum()), total + len(answers)
    assert 0 < found < total  # both answers occur: the comparison means something
    all_grams = ref.ngram_hashes_normalised(T.normalised_codepoints("\n".join(test)))
    assert np.array_equal(fast.contains_hashes(all_grams), ref.contains_hashes(all_grams))


@needs_numba
@pytest.mark.parametrize("words", [7, 8, 9, 2047 + 7, 2048 + 7, 2049 + 7, 3 * 2048 + 100])
def test_block_boundaries(words):
    """n-gram counts around the kernels' block size (2048): every 8-gram answered once."""
    rng = np.random.default_rng(words)
    vocab = [f"w{i}" for i in range(300)]
    text = " ".join(vocab[i] for i in rng.integers(0, len(vocab), words))
    ref, fast = pair(BloomParams.for_capacity(500, 0.05))
    ref.add_text(text[: len(text) // 2])
    fast.add_text(text[: len(text) // 2])
    expected = ref.query_normalised(T.normalised_codepoints(text))
    assert len(expected) == max(0, words - 7)
    assert np.array_equal(fast.query_normalised(T.normalised_codepoints(text)), expected)


@needs_numba
def test_long_words_empty_words_and_str_input():
    """Words longer than the kernel's 64-entry power table, and a raw str with runs of
    spaces (empty words, as the numpy code hashes them)."""
    long_text = " ".join(["x" * 63, "y" * 64, "z" * 65, "w" * 1000, "é" * 200] * 5)
    odd = "  a  b   c d e f g h i j  "
    for text in (long_text, odd, "", "a", " ", "a b c d e f g h"):
        data = T.str_to_codepoints(text)
        assert np.array_equal(
            bloommod._kernels_or_none().word_hashes(data, 3), T.word_hashes_normalised(data, 3)
        )
        ref, fast = pair(BloomParams.for_capacity(100, 0.1, seed=3))
        ref.add_hashes(ref.ngram_hashes_normalised(long_text[:400]))
        fast.add_hashes(fast.ngram_hashes_normalised(long_text[:400]))
        assert np.array_equal(fast.query_normalised(text), ref.query_normalised(text))


@needs_numba
@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(["the", "a", "of"]),
        max_size=60,
    )
)
def test_identical_on_arbitrary_text(pieces):
    text = " ".join(pieces)
    ref, fast = pair(BloomParams.for_capacity(50, 0.2))
    half = " ".join(pieces[: len(pieces) // 2])
    assert fast.add_text(half) == ref.add_text(half)
    assert np.array_equal(fast.bits, ref.bits)
    assert fast.query_text(text) == ref.query_text(text)
    data = T.normalised_codepoints(text)
    assert np.array_equal(fast.query_normalised(data), ref.query_normalised(data))


@needs_numba
@pytest.mark.parametrize("n,p", [(20_000, 0.01), (30_000, 0.001)])
def test_false_positive_behaviour_unchanged(n, p):
    """Random 8-grams through the text path: the two backends see the very same false
    positives, and their count stays within the statistical bound of theory."""
    ref, fast = pair(BloomParams.for_capacity(n, p))
    items = random_ngram_hashes(n, seed=5)
    ref.add_hashes(items)
    fast.add_hashes(items)
    assert np.array_equal(fast.bits, ref.bits)
    assert fast.contains_hashes(items).all()  # no false negatives
    queries = random_ngram_hashes(200_000, seed=6)
    assert np.array_equal(fast.contains_hashes(queries), ref.contains_hashes(queries))
    v_fast, v_ref = verify(fast, 200_000, seed=8), verify(ref, 200_000, seed=8)
    assert v_fast == v_ref
    assert v_fast.consistent(), v_fast
    assert v_fast.false_positives > 0  # p * queries >= 200 expected: the bound is not vacuous


@needs_numba
def test_memory_mapped_filter_queries_and_refuses_inserts(tmp_path):
    params = BloomParams.for_capacity(2_000, 1e-4)
    built = BloomFilter(params, backend="numba")
    built.add_text("one two three four five six seven eight nine ten eleven twelve")
    built.save(tmp_path / "f.bloom")
    mapped = BloomFilter.load(tmp_path / "f.bloom", mmap=True, backend="numba")
    assert mapped.backend == "numba"
    assert mapped.query_text("one two three four five six seven eight nine ten") == (3, 3)
    assert mapped.query_text("two one three four five six seven eight nine ten") == (3, 1)
    with pytest.raises(BloomError, match="read-only"):
        mapped.add_text("a b c d e f g h i")


def test_backend_choice(monkeypatch):
    params = BloomParams.for_capacity(100, 0.01)
    assert BloomFilter(params, backend="numpy").backend == "numpy"
    monkeypatch.setenv(bloommod.BACKEND_ENV, "numpy")
    assert BloomFilter(params).backend == "numpy"
    monkeypatch.setenv(bloommod.BACKEND_ENV, "fortran")
    with pytest.raises(BloomError, match="WEBTEXT_BLOOM_BACKEND"):
        BloomFilter(params)
    monkeypatch.delenv(bloommod.BACKEND_ENV)
    with pytest.raises(BloomError, match="unknown Bloom filter backend"):
        BloomFilter(params, backend="gpu")
    assert BloomFilter(params).backend == ("numba" if HAVE_NUMBA else "numpy")


def test_numpy_fallback_when_numba_is_missing(monkeypatch):
    """With the kernels unavailable, "auto" falls back to numpy (and still answers) and
    asking for "numba" explicitly is a clear error."""
    monkeypatch.setattr(bloommod, "_KERNELS", False)
    params = BloomParams.for_capacity(100, 0.01)
    fallback = BloomFilter(params)
    assert fallback.backend == "numpy"
    fallback.add_text("a b c d e f g h i")
    assert fallback.query_text("a b c d e f g h i j") == (3, 2)
    with pytest.raises(BloomError, match="numba is not installed"):
        BloomFilter(params, backend="numba")
