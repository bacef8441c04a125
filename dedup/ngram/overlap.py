"""8-gram overlap between test sets and reference (training) sets, and filter verification.

A test document's overlap is the fraction of its 8-grams (after the paper's normalisation) that
the reference Bloom filter holds; a test set's overlap pools all its 8-grams (as the paper's
Table 6 does). Documents shorter than one 8-gram have nothing to measure: they are counted and
skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dedup import text as textmod
from dedup.ngram.bloom import BloomFilter, BloomParams, NgramFilter, theoretical_fp_rate


@dataclass
class DocOverlap:
    doc_index: int
    doc_key: str
    n_ngrams: int
    n_found: int

    @property
    def fraction(self) -> float:
        return self.n_found / self.n_ngrams if self.n_ngrams else 0.0


@dataclass
class SetOverlap:
    test_set: str
    reference: str
    documents: list[DocOverlap] = field(default_factory=list)
    skipped_short: int = 0  # documents with fewer than n words

    @property
    def n_ngrams(self) -> int:
        return sum(d.n_ngrams for d in self.documents)

    @property
    def n_found(self) -> int:
        return sum(d.n_found for d in self.documents)

    @property
    def percent(self) -> float:
        return 100.0 * self.n_found / self.n_ngrams if self.n_ngrams else 0.0

    def summary(self) -> dict:
        fractions = [d.fraction for d in self.documents]
        return {
            "test_set": self.test_set,
            "reference": self.reference,
            "documents_measured": len(self.documents),
            "documents_skipped_shorter_than_ngram": self.skipped_short,
            "ngrams": self.n_ngrams,
            "ngrams_found": self.n_found,
            "percent_ngrams_found": self.percent,
            "mean_document_fraction": float(np.mean(fractions)) if fractions else 0.0,
            "documents_over_50_percent": sum(f > 0.5 for f in fractions),
        }


def measure(
    bloom: NgramFilter, test_set: str, reference: str, docs: Sequence[tuple[str, str]]
) -> SetOverlap:
    """Overlap of each (key, text) document with the filter."""
    result = SetOverlap(test_set, reference)
    for index, (key, text) in enumerate(docs):
        n, found = bloom.query_text(text)
        if n == 0:
            result.skipped_short += 1
            continue
        result.documents.append(DocOverlap(index, key, n, found))
    return result


def measure_all(
    references: Sequence[tuple[str, NgramFilter, Sequence[str]]],
    test_docs: Mapping[str, Sequence[tuple[str, str]]],
) -> list[SetOverlap]:
    """Every (reference name, filter, test set names) against those test sets' (key, text)
    documents, in that order."""
    return [
        measure(bloom, name, ref_name, test_docs[name])
        for ref_name, bloom, names in references
        for name in names
    ]


def text_filter(texts: Sequence[str], ngram: int, fp_rate: float, what: str) -> BloomFilter:
    """A filter sized exactly for these texts' 8-grams (a test set's own train split); ``what``
    names them in the error when there are none."""
    n = count_ngrams(texts, ngram)
    if n == 0:
        raise ValueError(f"{what}: no 8-grams (every document is shorter than {ngram} words)")
    bloom = BloomFilter(BloomParams.for_capacity(n, fp_rate, ngram=ngram))
    for text in texts:
        bloom.add_text(text)
    return bloom


def count_ngrams(texts: Iterable[str], n: int = 8) -> int:
    """8-grams in these texts (sizing a filter exactly)."""
    return sum(
        max(0, textmod.count_words_normalised(textmod.normalised_codepoints(t)) - n + 1)
        for t in texts
    )


def format_table(results: Sequence[SetOverlap]) -> str:
    """Table 6 of the paper: rows are reference sets, columns test sets, cells % of the test
    set's 8-grams found in the reference set ("-" where not measured)."""
    tests = list(dict.fromkeys(r.test_set for r in results))
    refs = list(dict.fromkeys(r.reference for r in results))
    cell = {(r.reference, r.test_set): f"{r.percent:.2f}%" for r in results}
    width = max([len(t) for t in tests] + [8])
    ref_width = max([len(r) for r in refs] + [len("reference \\ test")])
    lines = [
        "Percentage of test set 8-grams found in the reference set",
        "reference \\ test".ljust(ref_width) + "".join(f"  {t:>{width}}" for t in tests),
    ]
    for ref in refs:
        lines.append(
            ref.ljust(ref_width) + "".join(f"  {cell.get((ref, t), '-'):>{width}}" for t in tests)
        )
    return "\n".join(lines)


def random_ngram_hashes(count: int, seed: int = 0, n: int = 8) -> np.ndarray:
    """Hashes of `count` random 8-grams of random lower-case words (4 to 10 letters), built as
    normalised text and hashed through the same path as real text. With 26^4+ words drawn at
    random none of them is in any real corpus, so every hit is a false positive."""
    rng = np.random.default_rng(seed)
    n_words = count * n
    lengths = rng.integers(4, 11, n_words)
    total = int(lengths.sum()) + n_words - 1
    data = rng.integers(ord("a"), ord("z") + 1, total, dtype=np.uint8)
    ends = np.cumsum(lengths + 1)[:-1] - 1  # the byte after each word but the last
    data[ends] = textmod.SPACE
    hashes = textmod.word_hashes_normalised(data)
    return textmod.ngram_hashes(hashes, n)[::n][:count]  # non-overlapping windows


@dataclass(frozen=True)
class Verification:
    queries: int
    false_positives: int
    observed_rate: float
    rate_from_fill: float  # fill^k, the exact expectation given the bits set
    rate_from_items: float  # (1 - e^{-kn/m})^k with n = items inserted
    target_rate: float
    upper_bound_99: float  # observed count's 99% one-sided upper limit, as a rate

    def as_dict(self) -> dict:
        return self.__dict__.copy()

    def consistent(self) -> bool:
        """Observed count within 4 standard deviations (+1) of the fill-based expectation."""
        expected = self.rate_from_fill * self.queries
        return abs(self.false_positives - expected) <= 4 * math.sqrt(expected) + 1


def verify(bloom: NgramFilter, queries: int = 1_000_000, seed: int = 12345) -> Verification:
    """Query random 8-grams (absent by construction) and compare the false positives seen
    with theory."""
    if queries < 1:
        raise ValueError("number of queries must be at least 1")
    hits = int(bloom.contains_hashes(random_ngram_hashes(queries, seed, bloom.params.ngram)).sum())
    p = bloom.params
    # Poisson 99% upper limit for the count (normal approximation; 4.6 for zero events).
    upper = 4.61 if hits == 0 else hits + 2.33 * math.sqrt(hits) + 1.0
    return Verification(
        queries=queries,
        false_positives=hits,
        observed_rate=hits / queries,
        rate_from_fill=bloom.estimated_fp_rate(),
        rate_from_items=theoretical_fp_rate(p.num_bits, p.num_hashes, bloom.items_inserted),
        target_rate=p.target_fp_rate,
        upper_bound_99=upper / queries,
    )


def format_verification(v: Verification) -> str:
    return (
        f"queried {v.queries:,} random 8-grams: {v.false_positives} false positives "
        f"(observed rate {v.observed_rate:.3g}, 99% upper bound {v.upper_bound_99:.3g}); "
        f"theory {v.rate_from_fill:.3g} from the bits set, {v.rate_from_items:.3g} from the "
        f"items inserted; target {v.target_rate:.3g}"
    )
