"""Compiled (numba) kernels for the 8-gram Bloom filter: the optional fast path.

Each kernel computes exactly what the numpy code in :mod:`dedup.text` and :mod:`dedup.ngram.bloom`
computes (same word hash, same n-gram hash, same probe positions, same bits), but in one pass
with no temporaries: the numpy path makes ~20 passes over its arrays per probe round and pays
numpy's per-call overhead for every one of the k rounds. Importing this module needs numba;
:mod:`dedup.ngram.bloom` falls back to numpy when it is missing.

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

# B**t for t < _POW_TABLE_SIZE (position t of a word), and B**_POW_TABLE_SIZE.
_POW_TABLE_SIZE = 64
_POW_TABLE = np.array(
    [pow(_BYTE_BASE, t, 1 << 64) for t in range(_POW_TABLE_SIZE)], dtype=np.uint64
)
_POW_LONG = np.uint64(pow(_BYTE_BASE, _POW_TABLE_SIZE, 1 << 64))

# Items per block of the query kernels: its work arrays (hashes, positions, steps, survivor
# indices, probed bytes: 33 bytes per item) stay in L1/L2 cache.
BLOCK = 2048


@njit(cache=True, nogil=True, inline="always")
def _fmix64(h):
    h ^= h >> _U33
    h *= _FMIX_1
    h ^= h >> _U33
    h *= _FMIX_2
    return h ^ (h >> _U33)


@njit(cache=True, nogil=True)
def count_words(data):
    """Words in a normalised code-point array: one more than its spaces (0 when empty)."""
    if len(data) == 0:
        return 0
    spaces = 0
    for j in range(len(data)):
        spaces += data[j] == _SPACE
    return spaces + 1


@njit(cache=True, nogil=True)
def _hash_words(data, j, seed, out, start, count):
    """Hash the `count` words that begin at data[j] into out[start:start + count]; returns the
    position after them. A word ends at a space (every space ends one, so two spaces in a row
    make an empty word, as in the numpy code) or at the end of the data. Its hash is
    fmix64(sum(c_t * B**t) ^ seed) over its code points c_t, as dedup.text computes it.

    Branch-free over the bytes (word ends are unpredictable, and a mispredicted branch per word
    costs more than the word's arithmetic): every byte stores the running sum at out[w] (the
    last store before a space leaves the word's full sum), and B**t comes from a table, so the
    only dependency from byte to byte is t's increment. Words longer than the table continue
    from B**len(table) by multiplication (a rare, well-predicted branch)."""
    n_data = len(data)
    stop = start + count
    w = start
    h = _U0
    t = 0
    p_long = _POW_LONG
    while w < stop and j < n_data:
        c = np.uint64(data[j])
        j += 1
        space = c == _SPACE
        out[w] = h
        w += space
        if t < _POW_TABLE_SIZE:
            p = _POW_TABLE[t]
            p_long = _POW_LONG
        else:
            p = p_long
            p_long *= _BYTE_B
        h = _U0 if space else h + c * p
        t = 0 if space else t + 1
    if w < stop:  # the data ended inside the last word
        out[w] = h
    useed = np.uint64(seed)
    for i in range(start, stop):
        out[i] = _fmix64(out[i] ^ useed)
    return j


@njit(cache=True, nogil=True)
def word_hashes(data, seed):
    """dedup.text.word_hashes_normalised."""
    n_words = count_words(data)
    out = np.empty(n_words, dtype=np.uint64)
    _hash_words(data, 0, seed, out, 0, n_words)
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
def _is_set(byte, pos):
    """1 if bit pos % 8 of this byte (the filter's byte pos // 8) is set, else 0."""
    return np.int64((np.uint64(byte) >> (pos & _U7)) & _U1)


@njit(cache=True, nogil=True, inline="always")
def _load_first(items, i, bits, m, pos, byte):
    """Round 0 for item i: its first probe a = g mod m, and the filter byte holding bit a."""
    a = items[i] % m
    pos[i] = a
    byte[i] = bits[a >> _U3]


@njit(cache=True, nogil=True)
def _probe_block(items, bits, m, k, out, pos, step, idx, byte):
    """out[i] = all k probes of items[i] set, testing each round's probes for the survivors
    of the previous round only. The caller has done round 0's loads (_load_first) for every
    item. Each round is two loops: the first loads the probed bytes (independent loads, so
    their cache misses overlap), the second keeps the items whose bit is set (branch-free
    compaction of indices, positions and steps)."""
    m1 = m - _U1
    count = len(items)
    alive = 0
    out[:count] = False
    for i in range(count):
        idx[alive] = i
        pos[alive] = pos[i]
        alive += _is_set(byte[i], pos[i])
    if alive == 0:
        return
    for j in range(alive):  # the step, for the survivors alone
        g = items[idx[j]]
        step[j] = ((g << _U32) | (g >> _U32)) % m1 + _U1
    for _ in range(1, k):
        for j in range(alive):
            p = pos[j] + step[j]  # both < m < 2**63: no overflow
            if p >= m:
                p -= m
            pos[j] = p
            byte[j] = bits[p >> _U3]
        kept = 0
        for j in range(alive):
            idx[kept] = idx[j]
            pos[kept] = pos[j]
            step[kept] = step[j]
            kept += _is_set(byte[j], pos[j])
        alive = kept
        if alive == 0:
            return
    for j in range(alive):
        out[idx[j]] = True


@njit(cache=True, nogil=True)
def _scratch():
    """Work arrays of one block: positions, steps, survivor indices, probed bytes."""
    return (
        np.empty(BLOCK, dtype=np.uint64),
        np.empty(BLOCK, dtype=np.uint64),
        np.empty(BLOCK, dtype=np.int64),
        np.empty(BLOCK, dtype=np.uint8),
    )


@njit(cache=True, nogil=True)
def contains(items, bits, m, k, out):
    """BloomFilter.contains_hashes, block by block."""
    pos, step, idx, byte = _scratch()
    for begin in range(0, len(items), BLOCK):
        end = min(begin + BLOCK, len(items))
        block = items[begin:end]
        for i in range(end - begin):
            _load_first(block, i, bits, m, pos, byte)
        _probe_block(block, bits, m, k, out[begin:end], pos, step, idx, byte)


@njit(cache=True, nogil=True)
def query_words(words, n, bits, m, k, out):
    """BloomFilter.query_normalised after word_hashes: hash the n-grams of a word-hash array
    block by block (rolled from one window to the next, as ngram_hashes does) and probe them.
    Only one block of n-gram hashes exists at a time (in cache); out gets one answer per n-gram
    (len(words) - n + 1). (Loading each n-gram's first probe inside the hashing loop measured
    1.5x slower than a separate loop: keep them apart.)"""
    count = len(words) - n + 1
    if count <= 0:
        return
    grams = np.empty(BLOCK, dtype=np.uint64)
    pos, step, idx, byte = _scratch()
    top = _U1
    for _ in range(n - 1):
        top *= _WORD_B
    g = _first_gram(words, 0, n)
    for begin in range(0, count, BLOCK):
        size = min(BLOCK, count - begin)
        for i in range(size):
            w = begin + i
            if w > 0:
                g = (g - words[w - 1]) * _WORD_B_INV + words[w + n - 1] * top
            grams[i] = g
        for i in range(size):
            _load_first(grams, i, bits, m, pos, byte)
        _probe_block(grams[:size], bits, m, k, out[begin : begin + size], pos, step, idx, byte)


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
