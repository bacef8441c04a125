"""Compiled (numba) kernels for the 8-gram Bloom filter: the optional fast path.

Each kernel computes exactly what the numpy code in :mod:`dedup.text` and :mod:`dedup.bloom`
computes (same word hash, same n-gram hash, same probe positions, same bits), but in one pass
with no temporaries: the numpy path makes ~20 passes over its arrays per probe round and pays
numpy's per-call overhead for every one of the k rounds. Importing this module needs numba;
:mod:`dedup.bloom` falls back to numpy when it is missing.

The query kernels test probes round by round over a block of items, keeping only the survivors
(the same early exit the numpy path has): an absent 8-gram costs about two probes on a
half-full filter, and the probes of one round are independent loads, so the CPU overlaps their
cache misses instead of waiting for each one.

All arithmetic is on uint64 (mod 2**64, as numpy's); every constant is a np.uint64 so that
numba never promotes to float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dedup.text import _BYTE_BASE, _WORD_BASE, SPACE

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U3 = np.uint64(3)
_U7 = np.uint64(7)
_U32 = np.uint64(32)
_U33 = np.uint64(33)
_SPACE = np.uint64(SPACE)
_BYTE_B = np.uint64(_BYTE_BASE)
_WORD_B = np.uint64(_WORD_BASE)
_WORD_B_INV = np.uint64(pow(_WORD_BASE, -1, 1 << 64))
_FMIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_2 = np.uint64(0xC4CEB9FE1A85EC53)

# Items per block of the query kernels: its work arrays (hashes, positions, steps, survivor
# indices: 32 bytes per item) stay in L1/L2 cache.
BLOCK = 2048


@njit(cache=True, nogil=True, inline="always")
def _fmix64(h):
    h ^= h >> _U33
    h *= _FMIX_1
    h ^= h >> _U33
    h *= _FMIX_2
    return h ^ (h >> _U33)


@njit(cache=True, nogil=True)
def word_hashes(data, seed):
    """dedup.text.word_hashes_normalised: words split at every space (32); each word's hash is
    fmix64(sum(c_j * B**j) ^ seed) over its code points c_j."""
    n_data = len(data)
    if n_data == 0:
        return np.empty(0, dtype=np.uint64)
    n_words = 1
    for j in range(n_data):
        if data[j] == _SPACE:
            n_words += 1
    out = np.empty(n_words, dtype=np.uint64)
    useed = np.uint64(seed)
    w = 0
    h = _U0
    p = _U1
    for j in range(n_data):
        c = np.uint64(data[j])
        if c == _SPACE:
            out[w] = _fmix64(h ^ useed)
            w += 1
            h = _U0
            p = _U1
        else:
            h += c * p
            p *= _BYTE_B
    out[w] = _fmix64(h ^ useed)
    return out


@njit(cache=True, nogil=True, inline="always")
def _first_gram(words, first, n):
    g = _U0
    p = _U1
    for t in range(n):
        g += words[first + t] * p
        p *= _WORD_B
    return g


@njit(cache=True, nogil=True)
def ngram_hashes(words, n):
    """dedup.text.ngram_hashes: sum(w_{i+t} * W**t, t < n), rolled from one window to the
    next as (G - w_i) * W**-1 + w_{i+n} * W**(n-1) (exact mod 2**64: W is odd)."""
    count = len(words) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    out = np.empty(count, dtype=np.uint64)
    top = _U1
    for _ in range(n - 1):
        top *= _WORD_B
    g = _first_gram(words, 0, n)
    out[0] = g
    for i in range(1, count):
        g = (g - words[i - 1]) * _WORD_B_INV + words[i + n - 1] * top
        out[i] = g
    return out


@njit(cache=True, nogil=True, inline="always")
def _bit(bits, pos):
    return np.int64((np.uint64(bits[pos >> _U3]) >> (pos & _U7)) & _U1)


@njit(cache=True, nogil=True)
def _probe_block(items, bits, m, k, out, pos, step, idx):
    """out[i] = all k probes of items[i] set; rounds over the survivors only."""
    m1 = m - _U1
    count = len(items)
    alive = 0
    for i in range(count):  # round 0: a = g mod m for every item
        a = items[i] % m
        out[i] = False
        idx[alive] = i
        pos[alive] = a
        alive += _bit(bits, a)
    if alive == 0:
        return
    for j in range(alive):  # the step, for the survivors alone
        g = items[idx[j]]
        step[j] = ((g << _U32) | (g >> _U32)) % m1 + _U1
    for _ in range(1, k):
        kept = 0
        for j in range(alive):
            p = pos[j] + step[j]  # both < m < 2**63: no overflow
            if p >= m:
                p -= m
            idx[kept] = idx[j]
            pos[kept] = p
            step[kept] = step[j]
            kept += _bit(bits, p)
        alive = kept
        if alive == 0:
            return
    for j in range(alive):
        out[idx[j]] = True


@njit(cache=True, nogil=True)
def contains(items, bits, m, k, out):
    """BloomFilter.contains_hashes, block by block."""
    pos = np.empty(BLOCK, dtype=np.uint64)
    step = np.empty(BLOCK, dtype=np.uint64)
    idx = np.empty(BLOCK, dtype=np.int64)
    for begin in range(0, len(items), BLOCK):
        end = min(begin + BLOCK, len(items))
        _probe_block(items[begin:end], bits, m, k, out[begin:end], pos, step, idx)


@njit(cache=True, nogil=True)
def query_words(words, n, bits, m, k, out):
    """Hash the n-grams of a word-hash array block by block and probe them: no array of n-gram
    hashes is ever materialised (each block's hashes stay in cache)."""
    count = len(words) - n + 1
    grams = np.empty(BLOCK, dtype=np.uint64)
    pos = np.empty(BLOCK, dtype=np.uint64)
    step = np.empty(BLOCK, dtype=np.uint64)
    idx = np.empty(BLOCK, dtype=np.int64)
    if count <= 0:
        return
    top = _U1
    for _ in range(n - 1):
        top *= _WORD_B
    g = _first_gram(words, 0, n)
    for begin in range(0, count, BLOCK):
        end = min(begin + BLOCK, count)
        for i in range(begin, end):
            if i > 0:
                g = (g - words[i - 1]) * _WORD_B_INV + words[i + n - 1] * top
            grams[i - begin] = g
        _probe_block(grams[: end - begin], bits, m, k, out[begin:end], pos, step, idx)


@njit(cache=True, nogil=True)
def add(items, bits, m, k):
    """BloomFilter.add_hashes: set all k bits of every item."""
    m1 = m - _U1
    for i in range(len(items)):
        g = items[i]
        p = g % m
        s = ((g << _U32) | (g >> _U32)) % m1 + _U1
        for r in range(k):
            if r:
                p += s
                if p >= m:
                    p -= m
            byte = p >> _U3
            bits[byte] |= np.uint8(_U1 << (p & _U7))
