"""A Bloom filter of word 8-grams, vectorised with numpy, mergeable by bitwise OR.

Sizing (the standard optimum): for n expected items and target false-positive rate p,
m = -n ln p / (ln 2)**2 bits, rounded up to the next prime, and k = round((m / n) ln 2) probes;
at p = 1e-8 that is 38.3 bits and 27 probes per 8-gram.

Probe positions use double hashing (Kirsch & Mitzenmacher): from an item's 64-bit hash g,
a = g mod m and b = 1 + (rotl(g, 32) mod (m - 1)), and probe i is (a + i * b) mod m. With m
prime every step b generates all of Z_m, so the k probes of an item are k distinct bits (with a
composite m, a step sharing a factor with m would revisit bits and raise the false-positive rate
above theory). Items arrive as numpy
arrays of 8-gram hashes (dedup.text.ngram_hashes); every operation works on the whole array:

* insert sets all k bits of every item. Two items may touch the same byte in one batch, and a
  numpy fancy assignment keeps only one of the writes, so the bytes whose bits did not stick are
  written again until all have (few rounds: collisions within a batch are rare in a large filter);
* query tests probe 0 for every item, then probe 1 only for the items still possibly present,
  and so on: an absent item costs about two probes on a half-full filter, not k.

The bits live in a uint8 numpy array (bit j of the filter is bit j % 8 of byte j // 8, so files
are the same on every platform), or in a memory-mapped file. A saved filter is a header (magic,
version, JSON parameters: m, k, n, p, hash scheme, seed, items inserted) followed by the bits;
loading checks the size and the parameters, and merging refuses filters with other parameters.

Two backends compute the same answers and the same bits: compiled kernels
(:mod:`dedup.ngram._kernels`, numba, used when it is installed) and the numpy code below (the fallback, and the reference the
kernels are tested against). ``BloomFilter(..., backend="numpy")`` or the environment variable
``WEBTEXT_BLOOM_BACKEND=numpy`` selects the numpy path; ``backend="numba"`` requires the kernels.
The kernels hash and probe in one pass over cache-sized blocks (``query_normalised``: normalised
words in, one answer per 8-gram out) where numpy makes ~20 passes with temporaries per probe
round; the probe positions, and so the files, are identical.
"""

from __future__ import annotations

import json
import math
import os
import struct
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow.fs as pafs

from dedup import text as textmod
from pipeline.io import shards

BACKENDS = ("auto", "numba", "numpy")
BACKEND_ENV = "WEBTEXT_BLOOM_BACKEND"
_KERNELS: object | None = None  # dedup.ngram._kernels once imported; False if numba is missing

MAGIC = b"WTBLOOM\x00"
FORMAT_VERSION = 1
# Names the whole chain: normalisation, word hash, n-gram hash, probe positions. A filter built
# with another scheme answers other questions, so loading or merging one is refused.
HASH_SCHEME = "webtext-poly64-fmix64/ngram-poly64/kirsch-mitzenmacher-rotl32/v1"
BATCH_ITEMS = 1 << 16  # items per vectorised step (keeps the work arrays in cache)
TAIL_ITEMS = 2048  # below this many candidates, test all remaining probes at once
_HEADER_ALIGN = 64


class BloomError(ValueError):
    """A filter file is unusable or two filters do not match."""


@dataclass(frozen=True)
class BloomParams:
    num_bits: int  # m (a prime; stored in ceil(m / 8) bytes)
    num_hashes: int  # k
    expected_items: int  # n the filter was sized for
    target_fp_rate: float  # p it was sized for
    ngram: int = 8
    seed: int = 0
    hash_scheme: str = HASH_SCHEME

    @classmethod
    def for_capacity(
        cls, expected_items: int, fp_rate: float = 1e-8, *, ngram: int = 8, seed: int = 0
    ) -> BloomParams:
        """m = -n ln p / (ln 2)^2 bits, k = (m/n) ln 2 probes."""
        if expected_items < 1:
            raise BloomError(f"expected item count must be at least 1, got {expected_items}")
        if not 0.0 < fp_rate < 1.0:
            raise BloomError(f"false-positive rate must be in (0, 1), got {fp_rate}")
        bits = next_prime(
            max(67, math.ceil(-expected_items * math.log(fp_rate) / math.log(2) ** 2))
        )
        hashes = max(1, round(bits / expected_items * math.log(2)))
        return cls(bits, hashes, expected_items, fp_rate, ngram, seed)

    def bits_per_item(self) -> float:
        return self.num_bits / self.expected_items


def _is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3.3e24."""
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for q in small:
        if n % q == 0:
            return n == q
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n: int) -> int:
    """The smallest prime >= n."""
    while not _is_prime(n):
        n += 1
    return n


def theoretical_fp_rate(num_bits: int, num_hashes: int, items: int) -> float:
    """(1 - e^(-k n / m))^k: the false-positive rate after inserting n distinct items."""
    return (1.0 - math.exp(-num_hashes * items / num_bits)) ** num_hashes


def _byte_and_mask(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte index (int64 view: no conversion pass) and bit mask of each bit position."""
    byte = (pos >> np.uint64(3)).view(np.int64)
    mask = np.left_shift(np.uint8(1), (pos & np.uint64(7)).astype(np.uint8))
    return byte, mask


def _kernels_or_none():
    """The compiled kernels module, or None when numba is not installed (imported once)."""
    global _KERNELS
    if _KERNELS is None:
        try:
            from dedup.ngram import _kernels
        except ImportError:
            _KERNELS = False
        else:
            _KERNELS = _kernels
    return _KERNELS or None


def resolve_backend(backend: str = "auto") -> str:
    """ "numba" or "numpy": what `backend` ("auto" follows $WEBTEXT_BLOOM_BACKEND, else numba
    when installed) means on this machine."""
    if backend == "auto":
        backend = os.environ.get(BACKEND_ENV, "auto") or "auto"
        if backend not in BACKENDS:
            raise BloomError(f"${BACKEND_ENV}={backend!r}: expected one of {BACKENDS}")
        if backend == "auto":
            return "numba" if _kernels_or_none() is not None else "numpy"
    if backend not in BACKENDS:
        raise BloomError(f"unknown Bloom filter backend {backend!r}: expected one of {BACKENDS}")
    if backend == "numba" and _kernels_or_none() is None:
        raise BloomError(
            "backend 'numba' asked for, but numba is not installed (pip install numba)"
        )
    return backend


class NgramFilter(Protocol):
    """What the overlap queries need of a filter: BloomFilter, and the partitioned filter of
    dedup.ngram.partitioned, which answers the same questions from P filters."""

    params: BloomParams

    @property
    def items_inserted(self) -> int: ...

    def contains_hashes(self, items: np.ndarray) -> np.ndarray: ...

    def query_normalised(self, data: np.ndarray | str) -> np.ndarray: ...

    def query_text(self, text: str) -> tuple[int, int]: ...

    def fill_ratio(self) -> float: ...

    def estimated_fp_rate(self) -> float: ...

    def estimated_distinct_items(self) -> float: ...


def hashing_kernels(backend: str = "auto") -> object | None:
    """The compiled kernels module when `backend` resolves to numba, else None (numpy): the
    `kernels` argument of :func:`ngram_hashes_normalised`."""
    return _kernels_or_none() if resolve_backend(backend) == "numba" else None


class TextMethods:
    """``add_text`` / ``query_text`` on top of a filter's hash-level methods (shared by
    :class:`BloomFilter` and ``dedup.ngram.partitioned.PartitionedBloom``)."""

    def add_text(self, text: str) -> int:
        """Normalise, hash and insert a document's 8-grams. Returns how many."""
        grams = self.ngram_hashes_normalised(textmod.normalised_codepoints(text))
        self.add_hashes(grams)
        return len(grams)

    def query_text(self, text: str) -> tuple[int, int]:
        """(8-grams in the text, how many of them the filter holds)."""
        found = self.query_normalised(textmod.normalised_codepoints(text))
        return len(found), int(np.count_nonzero(found))


class BloomFilter(TextMethods):
    """k-probe Bloom filter over uint64 item hashes. See the module docstring."""

    def __init__(
        self,
        params: BloomParams,
        bits: np.ndarray | None = None,
        items_inserted: int = 0,
        *,
        backend: str = "auto",
    ) -> None:
        nbytes = (params.num_bits + 7) // 8
        if bits is None:
            bits = np.zeros(nbytes, dtype=np.uint8)
        if bits.dtype != np.uint8 or bits.shape != (nbytes,):
            raise BloomError(f"bit array must be uint8[{nbytes}], got {bits.dtype}{bits.shape}")
        self.params = params
        self.bits = bits
        self.items_inserted = items_inserted
        if params.num_bits < 3 or not _is_prime(params.num_bits):
            raise BloomError(f"filter size must be a prime number of bits, got {params.num_bits}")
        self._m = np.uint64(params.num_bits)
        self._m1 = np.uint64(params.num_bits - 1)
        self.backend = resolve_backend(backend)
        self._kernels = _kernels_or_none() if self.backend == "numba" else None

    # -- inserting and querying -----------------------------------------------------------
    def add_hashes(self, items: np.ndarray) -> None:
        """Insert every item (uint64 8-gram hashes)."""
        items = np.ascontiguousarray(items, dtype=np.uint64)
        if self._kernels is not None:
            if not self.bits.flags.writeable:
                raise BloomError("this filter's bits are read-only (loaded with mmap=True)")
            self._kernels.add(items, np.asarray(self.bits), self._m, self.params.num_hashes)
        else:
            for begin in range(0, len(items), BATCH_ITEMS):
                self._add_batch(items[begin : begin + BATCH_ITEMS])
        self.items_inserted += len(items)

    def _start_positions(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b): probe i is (a + i * b) mod m, advanced without a division per probe."""
        rotated = (items << np.uint64(32)) | (items >> np.uint64(32))
        return items % self._m, rotated % self._m1 + np.uint64(1)

    def _advance(self, pos: np.ndarray, step: np.ndarray) -> None:
        pos += step  # both < m < 2**63: no overflow
        np.subtract(pos, self._m, out=pos, where=pos >= self._m)

    def _add_batch(self, items: np.ndarray) -> None:
        if len(items) == 0:
            return
        pos, step = self._start_positions(items)
        bits = self.bits
        for i in range(self.params.num_hashes):
            if i:
                self._advance(pos, step)
            byte, mask = _byte_and_mask(pos)
            while True:
                bits[byte] |= mask  # with repeated bytes in `byte` only one write survives
                missing = (bits[byte] & mask) == 0
                if not missing.any():
                    break
                byte, mask = byte[missing], mask[missing]

    def contains_hashes(self, items: np.ndarray) -> np.ndarray:
        """Boolean array: is each item (possibly) in the filter."""
        items = np.ascontiguousarray(items, dtype=np.uint64)
        out = np.empty(len(items), dtype=bool)
        if self._kernels is not None:
            self._kernels.contains(
                items, np.asarray(self.bits), self._m, self.params.num_hashes, out
            )
            return out
        for begin in range(0, len(items), BATCH_ITEMS):
            out[begin : begin + BATCH_ITEMS] = self._query_batch(items[begin : begin + BATCH_ITEMS])
        return out

    def _test(self, pos: np.ndarray) -> np.ndarray:
        byte, mask = _byte_and_mask(pos)
        return (self.bits[byte] & mask) != 0

    def _query_batch(self, items: np.ndarray) -> np.ndarray:
        result = np.zeros(len(items), dtype=bool)
        # Probe 0 needs only a = g mod m; the step is computed for the survivors alone.
        pos = items % self._m
        alive = np.flatnonzero(self._test(pos))
        if len(alive) == 0:
            return result
        items, pos = items[alive], pos[alive]
        step = ((items << np.uint64(32)) | (items >> np.uint64(32))) % self._m1 + np.uint64(1)
        k = self.params.num_hashes
        for i in range(1, k):
            if len(alive) <= TAIL_ITEMS:
                # Few candidates left: test all their remaining probes in one 2-D step instead
                # of paying numpy's per-call overhead for each of the remaining probes.
                offsets = np.arange(1, k - i + 1, dtype=np.uint64)
                rest = (pos[:, None] + offsets[None, :] * step[:, None]) % self._m
                alive = alive[self._test(rest).all(axis=1)]
                break
            self._advance(pos, step)
            keep = self._test(pos)
            if not keep.all():
                alive = np.compress(keep, alive)
                if len(alive) == 0:
                    return result
                pos, step = np.compress(keep, pos), np.compress(keep, step)
        result[alive] = True
        return result

    def ngram_hashes_normalised(self, data: np.ndarray | str) -> np.ndarray:
        """The 8-gram hashes (this filter's seed and n) of a normalised text, given as the
        code points of dedup.text.normalised_codepoints or as a normalised str."""
        return ngram_hashes_normalised(
            data, self.params.seed, self.params.ngram, kernels=self._kernels
        )

    def query_normalised(self, data: np.ndarray | str) -> np.ndarray:
        """One answer per 8-gram of a normalised text (code points or str): is it (possibly)
        in the filter. The compiled path hashes the words, then hashes and probes the 8-grams
        block by block, never holding the 8-gram hashes of the whole text; the numpy path
        hashes everything, then probes."""
        if isinstance(data, str):
            data = textmod.str_to_codepoints(data)
        if self._kernels is None:
            return self.contains_hashes(self.ngram_hashes_normalised(data))
        p = self.params
        words = self._kernels.word_hashes(data, p.seed)
        out = np.empty(max(0, len(words) - p.ngram + 1), dtype=bool)
        self._kernels.query_words(words, p.ngram, np.asarray(self.bits), self._m, p.num_hashes, out)
        return out

    # -- statistics -------------------------------------------------------------------------
    def fill_ratio(self) -> float:
        """Fraction of bits set (counted a chunk at a time: no temporary the filter's size)."""
        step = MERGE_CHUNK_BYTES
        ones = sum(
            int(np.bitwise_count(self.bits[i : i + step]).sum(dtype=np.int64))
            for i in range(0, len(self.bits), step)
        )
        return ones / self.params.num_bits

    def estimated_fp_rate(self) -> float:
        """fill^k: the false-positive rate implied by the bits actually set."""
        return self.fill_ratio() ** self.params.num_hashes

    def estimated_distinct_items(self) -> float:
        """-(m/k) ln(1 - fill): distinct items implied by the bits set (Swamidass & Baldi)."""
        fill = self.fill_ratio()
        if fill >= 1.0:
            return float("inf")
        m, k = self.params.num_bits, self.params.num_hashes
        return -(m / k) * math.log(1.0 - fill)

    # -- merging ----------------------------------------------------------------------------
    def check_compatible(self, other: BloomFilter, what: str = "other filter") -> None:
        if other.params != self.params:
            diff = {
                k: (v, getattr(other.params, k))
                for k, v in asdict(self.params).items()
                if getattr(other.params, k) != v
            }
            raise BloomError(f"{what} was built with other parameters: {diff} (this, other)")

    def merge(self, other: BloomFilter) -> BloomFilter:
        """In-place bitwise OR (the union of the two item sets)."""
        self.check_compatible(other)
        np.bitwise_or(self.bits, other.bits, out=self.bits)
        self.items_inserted += other.items_inserted
        return self

    # -- files ------------------------------------------------------------------------------
    def header_bytes(self, extra: dict[str, Any] | None = None) -> bytes:
        return _header_for(self.params, self.items_inserted, extra)

    def save(self, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> None:
        """Write header + bits to a temporary sibling, then rename (atomic), through the
        filesystem layer (a local path or a URI: pipeline.io.shards.resolve). `extra` adds
        JSON-serialisable keys to the header (a partition's index and routing scheme, see
        dedup.ngram.partitioned); without it the file is what this format has always been."""
        fs, p = shards.resolve(str(path))
        parent, _, name = p.rpartition("/")
        with shards.naming(str(path)):
            fs.create_dir(parent, recursive=True)
            tmp = f"{parent}/{shards.TMP_PREFIX}{uuid.uuid4().hex}-{name}"
            with fs.open_output_stream(tmp, compression=None) as f:
                f.write(self.header_bytes(extra))
                f.write(memoryview(self.bits))
            fs.move(tmp, p)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        expect: BloomParams | None = None,
        mmap: bool = False,
        backend: str = "auto",
    ) -> BloomFilter:
        """Read a saved filter (a local path or a URI). With ``mmap`` a local file's bits stay
        on disk (a read-only memory map: the queries touch only the pages they probe); a
        filter on an object store cannot be mapped, so its bits are streamed into memory
        (one read of the whole filter), ``mmap`` or not."""
        params, items, offset = read_header(path)
        if expect is not None and params != expect:
            diff = {
                k: (getattr(params, k), v)
                for k, v in asdict(expect).items()
                if getattr(params, k) != v
            }
            raise BloomError(
                f"{path}: built with other parameters than expected: {diff} (file, expected)"
            )
        nbytes = (params.num_bits + 7) // 8
        fs, p = shards.resolve(os.fspath(path))
        if mmap and isinstance(fs, pafs.LocalFileSystem):
            bits = np.memmap(p, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
        else:
            bits = _read_bits(fs, p, offset, nbytes, os.fspath(path))
        return cls(params, bits, items, backend=backend)


def _read_bits(fs: pafs.FileSystem, p: str, offset: int, nbytes: int, path: str) -> np.ndarray:
    """A filter's bits read straight into their array, a chunk at a time (no second copy)."""
    bits = np.empty(nbytes, dtype=np.uint8)
    view = memoryview(bits)
    with fs.open_input_file(p) as f:
        f.seek(offset)
        done = 0
        while done < nbytes:
            got = f.readinto(view[done : done + MERGE_CHUNK_BYTES])
            if not got:
                raise BloomError(f"{path}: truncated while loading ({done} of {nbytes} bytes)")
            done += got
    return bits


def read_header(path: str | os.PathLike) -> tuple[BloomParams, int, int]:
    """(params, items inserted, offset of the bits) of a filter file, checking its size."""
    params, items, offset, _ = read_header_meta(path)
    return params, items, offset


def read_header_meta(path: str | os.PathLike) -> tuple[BloomParams, int, int, dict[str, Any]]:
    """read_header, plus the header's whole JSON object (with any `extra` keys of save)."""
    fs, p = shards.resolve(str(path))
    info = fs.get_file_info(p)
    if info.type != pafs.FileType.File:
        raise BloomError(f"{path}: no such filter file")
    size = info.size
    with fs.open_input_file(p) as f:
        head = f.read(len(MAGIC) + 8)
        if len(head) < len(MAGIC) + 8 or head[: len(MAGIC)] != MAGIC:
            raise BloomError(f"{path}: not a webtext Bloom filter file (bad magic)")
        version, meta_len = struct.unpack("<II", head[len(MAGIC) :])
        if version != FORMAT_VERSION:
            raise BloomError(
                f"{path}: filter format version {version}, this code reads {FORMAT_VERSION}"
            )
        raw = f.read(meta_len)
    try:
        meta = json.loads(raw.decode("utf-8"))
        params = BloomParams(**meta["params"])
        items = int(meta["items_inserted"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BloomError(f"{path}: corrupt filter header ({exc})") from exc
    if params.hash_scheme != HASH_SCHEME:
        raise BloomError(
            f"{path}: hash scheme {params.hash_scheme!r}, this code uses "
            f"{HASH_SCHEME!r}; rebuild the filter"
        )
    offset = len(MAGIC) + 8 + meta_len
    offset += (-offset) % _HEADER_ALIGN
    expected = offset + (params.num_bits + 7) // 8
    if size != expected:
        raise BloomError(
            f"{path}: truncated or corrupt: {size} bytes, expected {expected} "
            f"for {params.num_bits} bits"
        )
    return params, items, offset, meta


MERGE_CHUNK_BYTES = 1 << 24  # bytes read per source and step of merge_files (16 MB)


def merge_files(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    chunk_bytes: int = MERGE_CHUNK_BYTES,
    *,
    delete_sources: bool = False,
) -> BloomParams:
    """OR-merge saved filters into one file (local paths or URIs, through the filesystem
    layer), streaming: every source is read chunk by chunk with plain reads, so memory is two
    chunks however many sources and however large the filter (no memory map: its pages
    would count towards the process's resident memory). Every header is checked first: a
    filter of other parameters is refused, naming it. The output is written under a
    temporary name and renamed. With ``delete_sources`` the sources are removed once the
    merge is in place, and a single source is renamed, not copied (no second copy on disk)."""
    paths = [str(p) for p in paths]
    if not paths:
        raise BloomError("no filter files to merge")
    headers = [read_header(p) for p in paths]
    params = headers[0][0]
    for p, (other, _, _) in zip(paths[1:], headers[1:], strict=True):
        if other != params:
            diff = {
                k: (v, getattr(other, k))
                for k, v in asdict(params).items()
                if getattr(other, k) != v
            }
            raise BloomError(f"{p}: built with other parameters than {paths[0]}: {diff}")
    total_items = sum(items for _, items, _ in headers)
    nbytes = (params.num_bits + 7) // 8
    fs, target = shards.resolve(str(out))
    parent, _, name = target.rpartition("/")
    if delete_sources and len(paths) == 1:
        src_fs, src = shards.resolve(paths[0])
        if src_fs.type_name == fs.type_name:
            with shards.naming(str(out)):
                fs.create_dir(parent, recursive=True)
                fs.move(src, target)
            return params
    tmp = f"{parent}/{shards.TMP_PREFIX}{uuid.uuid4().hex}-{name}"
    sources: list[Any] = []
    try:
        for p in paths:
            src_fs, src = shards.resolve(p)
            sources.append(src_fs.open_input_file(src))
        with shards.naming(str(out)):
            fs.create_dir(parent, recursive=True)
            with fs.open_output_stream(tmp, compression=None) as f:
                f.write(_header_for(params, total_items))
                for begin in range(0, nbytes, chunk_bytes):
                    size = min(chunk_bytes, nbytes - begin)
                    acc = _read_exactly(sources[0], headers[0][2] + begin, size, paths[0])
                    for src, (_, _, off), p in zip(
                        sources[1:], headers[1:], paths[1:], strict=True
                    ):
                        np.bitwise_or(acc, _read_exactly(src, off + begin, size, p), out=acc)
                    f.write(memoryview(acc))
            fs.move(tmp, target)
    except BaseException:
        if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
            fs.delete_file(tmp)
        raise
    finally:
        for src in sources:
            src.close()
    if delete_sources:
        for p in paths:
            shards.remove(p)
    return params


def _read_exactly(f: Any, offset: int, size: int, path: str) -> np.ndarray:
    data = f.read_at(size, offset)
    if len(data) != size:
        raise BloomError(f"{path}: truncated while merging ({len(data)} of {size} bytes read)")
    return np.frombuffer(data, dtype=np.uint8).copy()


def ngram_hashes_normalised(
    data: np.ndarray | str, seed: int = 0, n: int = 8, *, kernels: object | None = None
) -> np.ndarray:
    """The n-gram hashes of a normalised text (code points of dedup.text.normalised_codepoints
    or a normalised str): with the compiled kernels when given (`_kernels_or_none()`), else
    numpy; both give the same hashes."""
    if isinstance(data, str):
        data = textmod.str_to_codepoints(data)
    if kernels is not None:
        return kernels.ngram_hashes(kernels.word_hashes(data, seed), n)
    return textmod.ngram_hashes(textmod.word_hashes_normalised(data, seed), n)


def _header_for(params: BloomParams, items: int, extra: dict[str, Any] | None = None) -> bytes:
    fields: dict[str, Any] = {"params": asdict(params), "items_inserted": items}
    if extra:
        clash = set(extra) & set(fields)
        if clash:
            raise BloomError(f"extra header keys {sorted(clash)} would overwrite the format's own")
        fields.update(extra)
    meta = json.dumps(fields, sort_keys=True).encode("utf-8")
    head = MAGIC + struct.pack("<II", FORMAT_VERSION, len(meta)) + meta
    return head + b" " * ((-len(head)) % _HEADER_ALIGN)
