"""MinHash signatures over word 5-gram shingles, LSH band keys, and Jaccard estimates.

Signatures come from datasketch's batch API (``MinHash.bulk`` -> ``update_batch``) fed with
shingle hashes computed by numpy (dedup.text: each word hashed once, 5-word windows combined by
a prefix-sum polynomial, folded to 32 bits). datasketch's ``hashfunc`` is then the identity (``int``), so
the per-shingle Python work inside datasketch is one builtin call, and the permutations and the
min run vectorised over all shingles x permutations at once (scheme ``affine32``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import xxhash
from datasketch import MinHash

from dedup import text as textmod
from dedup.params import MinHashParams  # noqa: F401 (re-exported)

# datasketch hashfunc for values that are already 32-bit hashes: the builtin ``int`` returns an
# int unchanged, and as a C builtin it costs about half of a Python identity function (datasketch
# calls it once per shingle).
identity_hash = int


def shingle_hashes(norm: np.ndarray, shingle: int = 5) -> np.ndarray:
    """uint32 hashes of the word shingles of a normalised text (empty when it is shorter than
    one shingle)."""
    grams = textmod.ngram_hashes(textmod.word_hashes_normalised(norm), shingle)
    return ((grams ^ (grams >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def signatures(shingle_sets: Sequence[np.ndarray], params: MinHashParams) -> list[np.ndarray]:
    """One uint32[num_perm] signature per shingle-hash array, through ``MinHash.bulk``.
    Every array must be non-empty (a MinHash of nothing estimates nothing)."""
    for i, s in enumerate(shingle_sets):
        if len(s) == 0:
            raise ValueError(
                f"shingle set {i} is empty: documents shorter than one shingle have no signature"
            )
    batches = [s.tolist() for s in shingle_sets]
    mhs = MinHash.bulk(
        batches,
        num_perm=params.num_perm,
        seed=params.seed,
        hashfunc=identity_hash,
        scheme="affine32",
    )
    return [m.hashvalues.astype(np.uint32) for m in mhs]


def band_keys(signature: np.ndarray, params: MinHashParams) -> list[bytes]:
    """One key per band: the band number and a 64-bit hash of the band's rows. Documents
    sharing a key are LSH candidates."""
    r = params.rows
    keys = []
    for band in range(params.bands):
        digest = xxhash.xxh64_digest(signature[band * r : (band + 1) * r].tobytes())
        keys.append(band.to_bytes(2, "big") + digest)
    return keys


def estimated_jaccard(a: np.ndarray | bytes, b: np.ndarray | bytes) -> float:
    """Fraction of equal signature slots: an unbiased estimate of the Jaccard similarity."""
    if isinstance(a, bytes):
        a = np.frombuffer(a, dtype=np.uint32)
    if isinstance(b, bytes):
        b = np.frombuffer(b, dtype=np.uint32)
    if a.shape != b.shape:
        raise ValueError(f"signatures of different lengths: {a.shape} vs {b.shape}")
    return float(np.count_nonzero(a == b)) / len(a)


def exact_jaccard(a: Iterable, b: Iterable) -> float:
    """|A & B| / |A | B| of two collections (as sets); 1.0 for two empty ones."""
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    return 1.0 if union == 0 else len(sa & sb) / union
