"""The paper's text normalisation and vectorised word / n-gram hashing.

Normalisation (GPT-2 paper, section 4, overlap analysis): lower-case, and every run of
non-alphanumeric characters becomes one space. "Alphanumeric" is Unicode-aware: it is
``str.isalnum`` (letters and digits of every script), so Cyrillic, Greek, CJK and Arabic words
survive; combining marks (category M*) count as separators, as ``isalnum`` says.

Hashing works on the code points of a normalised text with numpy, with no Python call per word
or per n-gram:

* a word's hash is a polynomial of its code points mod 2**64, read off a prefix sum over the whole
  text (``H[end] - H[start]`` times the inverse power of the start), then finalised with the
  MurmurHash3 64-bit mixer together with the word's length;
* an n-gram's hash is the same prefix-sum polynomial over the word hashes.

Polynomial hashing mod 2**64 is fast but not adversarially robust (crafted words of thousands
of bytes can collide); a collision only costs a false positive in the Bloom filter or a spurious
shingle match, which the MinHash verification absorbs.
"""

from __future__ import annotations

import re

import numpy as np

_NON_ALNUM = re.compile(r"[\W_]+")
SPACE = 0x20

# Odd multipliers (odd => invertible mod 2**64).
_BYTE_BASE = 0x9E3779B97F4A7C15
_WORD_BASE = 0xC2B2AE3D27D4EB4F
_MASK64 = (1 << 64) - 1


# ASCII lookup table: non-alphanumeric characters -> space, letters and digits unchanged.
_ASCII_TABLE = np.arange(128, dtype=np.uint8)
_ASCII_TABLE[[b for b in range(128) if not chr(b).isalnum()]] = SPACE
_ALNUM_TABLE: np.ndarray | None = None  # bool[0x110000], built on first non-ASCII text


def _alnum_table() -> np.ndarray:
    """str.isalnum for every code point (1.1 MB, built once per process in ~0.2 s)."""
    global _ALNUM_TABLE
    if _ALNUM_TABLE is None:
        import sys

        table = np.zeros(sys.maxunicode + 1, dtype=bool)
        alnum = [c for c in range(sys.maxunicode + 1) if chr(c).isalnum()]
        table[alnum] = True
        _ALNUM_TABLE = table
    return _ALNUM_TABLE


def normalise_reference(text: str) -> str:
    """The normalisation as one regular expression: the executable definition that the fast
    :func:`normalised_codepoints` is tested against."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def normalised_codepoints(text: str) -> np.ndarray:
    """Code points of the normalised text (uint8 for ASCII text, else uint32): words separated
    by single spaces (32).

    5-10x faster than the regular expression: after ``str.lower``, a lookup table maps every
    non-alphanumeric code point to a space, and numpy drops each space that follows a space.
    Hashing works on these code points directly, so no re-encoding is needed.
    """
    low = text.lower()
    if low.isascii():
        data = _ASCII_TABLE[np.frombuffer(low.encode("ascii"), dtype=np.uint8)]
    else:
        data = np.frombuffer(low.encode("utf-32-le"), dtype="<u4")
        data = np.where(_alnum_table()[data], data, np.uint32(SPACE)).astype(np.uint32)
    if len(data) == 0:
        return data
    space = data == SPACE
    keep = ~space
    keep[1:] |= ~space[:-1]  # a space right after a non-space starts a separator: kept
    out = data[keep]
    if len(out) and out[-1] == SPACE:
        out = out[:-1]
    return out


def codepoints_to_str(data: np.ndarray) -> str:
    if data.dtype == np.uint8:
        return data.tobytes().decode("ascii")
    return data.astype("<u4").tobytes().decode("utf-32-le")


def str_to_codepoints(norm: str) -> np.ndarray:
    """Code points of an already normalised string, in the dtype normalised_codepoints uses."""
    if norm.isascii():
        return np.frombuffer(norm.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(norm.encode("utf-32-le"), dtype="<u4").astype(np.uint32)


def normalise(text: str) -> str:
    """Lower-case; each run of non-alphanumeric characters becomes one space; trimmed."""
    return codepoints_to_str(normalised_codepoints(text))


def words(text: str) -> list[str]:
    """The normalised words of a text."""
    norm = normalise(text)
    return norm.split(" ") if norm else []


def count_words_normalised(data: np.ndarray) -> int:
    """Number of words in a normalised code-point array."""
    return 0 if len(data) == 0 else int(np.count_nonzero(data == SPACE)) + 1


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection that avalanches every input bit)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


class _Powers:
    """base**i and base**-i mod 2**64 for i < n, grown on demand and shared per process.

    Thread-safe without a lock: both tables are published together as one tuple, so a thread
    that reads while another grows them sees either the old pair or the new one (a Beam SDK
    worker runs bundles on several threads; two separate attributes once let a reader pair a
    new ``fwd`` with an old, shorter ``inv``)."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.inverse = pow(base, -1, 1 << 64)
        self.tables = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        fwd, inv = self.tables
        if n > len(fwd):
            size = max(n, 2 * len(fwd), 1 << 16)
            with np.errstate(over="ignore"):
                grown_fwd = np.full(size, self.base, dtype=np.uint64)
                grown_fwd[0] = 1
                grown_inv = np.full(size, self.inverse, dtype=np.uint64)
                grown_inv[0] = 1
                fwd = np.multiply.accumulate(grown_fwd)
                inv = np.multiply.accumulate(grown_inv)
            self.tables = (fwd, inv)
        return fwd[:n], inv[:n]


_BYTE_POWERS = _Powers(_BYTE_BASE)
_WORD_POWERS = _Powers(_WORD_BASE)


def _window_polynomial(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, powers: _Powers):
    """sum(values[j] * base**(j - start)) for each [start, end) window, via one prefix sum."""
    fwd, inv = powers.get(len(values) + 1)
    prefix = np.zeros(len(values) + 1, dtype=np.uint64)
    np.cumsum(values * fwd[: len(values)], out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * inv[starts]


CHUNK_BYTES = 1 << 18  # hash in pieces that stay in cache (256 Ki code points at a time)


def word_hashes_normalised(data: np.ndarray | str, seed: int = 0) -> np.ndarray:
    """64-bit hashes of the words of an already normalised text (see :func:`normalise`),
    given as the code-point array of :func:`normalised_codepoints` or as a str.

    The polynomial prefix sums run over pieces of about CHUNK_BYTES code points (cut between
    words), so the work arrays stay in cache. A word's hash depends on its code points only
    (not on the array's dtype, nor on where a piece was cut)."""
    if isinstance(data, str):
        data = str_to_codepoints(data)
    if len(data) == 0:
        return np.empty(0, dtype=np.uint64)
    spaces = np.flatnonzero(data == SPACE)
    starts = np.empty(len(spaces) + 1, dtype=np.intp)
    starts[0] = 0
    starts[1:] = spaces + 1
    ends = np.empty(len(spaces) + 1, dtype=np.intp)
    ends[:-1] = spaces
    ends[-1] = len(data)
    out = np.empty(len(starts), dtype=np.uint64)
    first = 0
    with np.errstate(over="ignore"):
        while first < len(starts):
            begin = int(starts[first])
            last = max(first + 1, int(np.searchsorted(starts, begin + CHUNK_BYTES, "left")))
            stop = int(ends[last - 1])
            out[first:last] = _window_polynomial(
                data[begin:stop].astype(np.uint64),
                starts[first:last] - begin,
                ends[first:last] - begin,
                _BYTE_POWERS,
            )
            first = last
        return fmix64(out ^ np.uint64(seed))


def word_hashes(text: str, seed: int = 0) -> np.ndarray:
    """Normalise a raw text, then hash its words."""
    return word_hashes_normalised(normalised_codepoints(text), seed)


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every window of n consecutive word hashes (len(hashes) - n + 1 of them;
    none when the text is shorter than n words). Order-sensitive: "a b" != "b a". Computed in
    pieces of CHUNK_BYTES windows (overlapping by n - 1 words) to stay in cache."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    out = np.empty(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for first in range(0, count, CHUNK_BYTES):
            last = min(count, first + CHUNK_BYTES)
            starts = np.arange(last - first, dtype=np.intp)
            out[first:last] = _window_polynomial(
                hashes[first : last + n - 1], starts, starts + n, _WORD_POWERS
            )
    return out
