"""Does the model copy its training data? Generated samples against the corpus train split.

Two figures per text, computed on the paper's normalised words (dedup.text):

* the share of its 8-grams found in the training data's 8-gram Bloom filter (the overlap
  stage's filter, or one built here from the train split);
* the longest run of consecutive words that occurs verbatim in some training document.

The same figures for held-out documents (the corpus's val/test splits, each cut to the word
count of one sample) are the baseline: what text the model never saw shares with the
training data by chance and by common phrases. Samples well above it are memorised.

Longest match is exact (up to 64-bit hash collisions): for each text a binary search on the
length L, where one pass over the training documents tests, for every text at once, whether
any of its L-grams occurs in them (numpy isin over the documents' L-gram hashes). A match of
length L implies one of every shorter length, so about log2(words) passes answer all texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from dedup import text as textmod
from dedup.ngram.bloom import BloomFilter, BloomParams, NgramFilter


def word_hash_arrays(texts: Sequence[str]) -> list[np.ndarray]:
    return [textmod.word_hashes(t) for t in texts]


def ngram_share(bloom: NgramFilter, words: np.ndarray) -> tuple[int, int]:
    """(8-grams of the text, how many the filter holds)."""
    grams = textmod.ngram_hashes(words, bloom.params.ngram)
    return len(grams), int(bloom.contains_hashes(grams).sum()) if len(grams) else 0


def longest_matches(
    queries: Sequence[np.ndarray], train_words: Callable[[], Iterable[np.ndarray]]
) -> list[int]:
    """For each query (word hashes), the length in words of its longest run that occurs
    verbatim in a training document. ``train_words`` yields the training documents' word
    hashes afresh on each call (one call per pass)."""
    lo = [0] * len(queries)  # a match of this length exists (0 trivially)
    hi = [len(q) for q in queries]  # no match longer than this
    while True:
        mids = {i: (lo[i] + hi[i] + 1) // 2 for i in range(len(queries)) if lo[i] < hi[i]}
        if not mids:
            return lo
        by_length: dict[int, list[int]] = {}
        for i, length in mids.items():
            by_length.setdefault(length, []).append(i)
        wanted = {
            length: np.unique(
                np.concatenate([textmod.ngram_hashes(queries[i], length) for i in idx])
            )
            for length, idx in by_length.items()
        }
        found = {length: np.zeros(len(h), dtype=bool) for length, h in wanted.items()}
        for doc in train_words():
            for length, hashes in wanted.items():
                if len(doc) >= length:
                    found[length] |= np.isin(hashes, textmod.ngram_hashes(doc, length))
        for length, idx in by_length.items():
            hits = wanted[length][found[length]]
            for i in idx:
                if np.isin(textmod.ngram_hashes(queries[i], length), hits).any():
                    lo[i] = length
                else:
                    hi[i] = length - 1


def bloom_from_texts(texts: Iterable[np.ndarray], n_ngrams: int, ngram: int = 8) -> BloomFilter:
    """A filter of the 8-grams of these word-hash arrays (when no overlap filter exists)."""
    bloom = BloomFilter(BloomParams.for_capacity(max(1, n_ngrams), 1e-8, ngram=ngram))
    for words in texts:
        bloom.add_hashes(textmod.ngram_hashes(words, ngram))
    return bloom


def describe(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "max": None}
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "median": float(np.median(arr)), "max": float(arr.max())}
