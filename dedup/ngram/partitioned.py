"""A Bloom filter split into P independent filters by hash range, so that no worker ever holds
more than m / P bits, with the query API of :class:`dedup.ngram.bloom.BloomFilter`.

Routing (``ROUTING_SCHEME``). P is a power of two, P = 2**r. An item's 64-bit 8-gram hash g goes
to partition ``g >> (64 - r)`` (its top r bits: partition i owns the hash range
[i * 2**64 / P, (i + 1) * 2**64 / P)), and inside that partition it is the item
``g << r`` (mod 2**64): the same hash with the routing bits shifted out. The probe positions of
a filter are computed from the item alone (a = item mod m, b = 1 + rotl(item, 32) mod (m - 1);
see dedup.ngram.bloom), so inside a partition they depend on bits 0 .. 63 - r of g only, and the
partition on bits 64 - r .. 63 only: disjoint bits. For hashes whose bits are independent and
uniform (each 8-gram hash is a polynomial in fmix64-mixed word hashes), the partition an item
lands in therefore tells nothing about where its probes fall, and every partition is an ordinary
Bloom filter over uniformly random items.

Why not route by the low bits, or by `g mod P`, and keep g as the item? Both a and b are
reductions of all 64 bits of g modulo (near-)prime sizes, so no bit of g is unused by the probes;
routing on bits the probes also read leaves every partition with a subset of the hash space
selected by those bits, and whether a and b stay uniform on that subset then depends on the
arithmetic of m_i and P. Shifting the routing bits out makes the question disappear. The price
is r bits of the hash: two distinct 8-grams of one partition collide when their other 64 - r
bits agree, a false-positive rate of about (n / P) / 2**(64 - r) = n / 2**64 per query: the same
as the unpartitioned filter's 64-bit collisions (4e-10 at n = 8e9, far below p = 1e-8).

Sizing. Every partition is sized for ceil(n / P) items at the same target rate p (m_i = -n_i ln p
/ (ln 2)**2 rounded up to a prime, the same k): a query is routed to one partition, so the false
-positive rate per query is p again, and the bits add up to about m (P small rounding steps
more). With uniform routing a partition receives n / P items give or take sqrt(n / P), a
relative spread of 1e-4 at WebText scale, and the expected n is an over-estimate anyway.

A floor under the false-positive rate: double hashing (probe i = a + i b mod m) lets two items
share most of their probes when their steps are equal or opposite (b' = +-b) and their starts
lie on the same line (a' = a + t b, |t| < k): such a pair shares k - |t| probes. A random item
is such a neighbour of a query with probability about 2 (2k - 1) / m**2, and the query is then a
false positive when its |t| other probes are set, so the rate has an extra term of about
2 n_i (1 + f) / ((1 - f) m_i**2) ~ 0.16 / m_i at the design fill f = 1/2 (the formulas
(1 - e^(-kn/m))^k and fill^k leave it out). It concerns every filter of this format, and grows
with P because each partition is smaller: below m_i ~ 1.6e8 bits (20 MB, ~4M 8-grams a
partition) it exceeds p / 10 at p = 1e-8. At WebText scale (m = 3e11 bits) any P up to 1024
stays far under it; on small test corpora it is visible (observed: 1 hit in 1M random 8-grams
with P = 8 partitions of 480k bits, where this term predicts 0.16 and fill^k 5e-6).
:func:`double_hashing_floor` computes it and the Beam build logs a warning when it exceeds p.

Files. Partition i of P is ``part-{i:05d}-of-{P:05d}.bloom``, an ordinary filter file whose
header also names its index, P and the routing scheme; ``manifest.json`` beside them (written
last, after every partition) records P, the scheme, n, p and the partitions' parameters. Loading
checks that every partition file is present and that its header matches the manifest, naming the
first missing or wrong file. P = 1 routes everything to partition 0 with the item unchanged: it
answers exactly what one BloomFilter with the same parameters answers.

Queries are vectorised: route a whole array of hashes, order it by partition (a stable argsort
of 16-bit partition ids, which numpy does as a radix sort), query each partition's contiguous
slice in bulk with the filter's compiled or numpy kernels, and scatter the answers back.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow.fs as pafs

from dedup.ngram.bloom import (
    HASH_SCHEME,
    BloomError,
    BloomFilter,
    BloomParams,
    TextMethods,
    ngram_hashes_normalised,
    read_header_meta,
)
from pipeline.io import shards

ROUTING_SCHEME = "top-bits-range/shift-out/v1"
MANIFEST_NAME = "manifest.json"
SINGLE_FILTER_NAME = "reference.bloom"  # webtext overlap's filters/: the one (P = 1) filter
MANIFEST_FORMAT = "webtext-partitioned-bloom"
MANIFEST_VERSION = 1
MAX_PARTITIONS = 1 << 16  # partition ids fit in uint16 (numpy radix-sorts those)


# Paths are strings for the filesystem layer (pipeline.io.shards.resolve): a local path or a
# URI (s3://bucket/prefix), so a filter directory may live on object storage.
def _file_type(path: str) -> pafs.FileType:
    fs, p = shards.resolve(path)
    return fs.get_file_info(p).type


def _is_file(path: str) -> bool:
    return _file_type(path) == pafs.FileType.File


def _parent(path: str) -> str:
    """The directory holding ``path`` (``manifest.json`` alone: the working directory)."""
    head, sep, _ = path.rstrip("/").rpartition("/")
    return head or ("/" if sep else ".")


def check_partition_count(partitions: int) -> int:
    """`partitions` itself, or a clear error when it is not a power of two in [1, 65536]."""
    if (
        not isinstance(partitions, int)
        or partitions < 1
        or partitions > MAX_PARTITIONS
        or partitions & (partitions - 1)
    ):
        raise BloomError(
            f"filter partitions must be a power of two from 1 to {MAX_PARTITIONS}, "
            f"got {partitions!r}"
        )
    return partitions


def _routing_bits(partitions: int) -> int:
    return check_partition_count(partitions).bit_length() - 1


def partition_of(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (uint16, in [0, partitions)) of each uint64 hash: its top log2(P) bits."""
    r = _routing_bits(partitions)
    hashes = np.asarray(hashes, dtype=np.uint64)
    if r == 0:
        return np.zeros(len(hashes), dtype=np.uint16)
    return (hashes >> np.uint64(64 - r)).astype(np.uint16)


def local_items(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """What each hash is inside its partition: the hash with the routing bits shifted out."""
    r = _routing_bits(partitions)
    hashes = np.asarray(hashes, dtype=np.uint64)
    return hashes << np.uint64(r) if r else hashes


@dataclass(frozen=True)
class Grouped:
    """Hashes ordered by partition: partition i's local items are
    items[bounds[i]:bounds[i + 1]], and they came from positions order[bounds[i]:bounds[i+1]]
    of the input."""

    items: np.ndarray
    bounds: np.ndarray
    order: np.ndarray

    def partition(self, index: int) -> np.ndarray:
        return self.items[self.bounds[index] : self.bounds[index + 1]]

    def nonempty(self) -> Iterator[tuple[int, np.ndarray]]:
        """(partition, its local items) for every partition that received any."""
        for index in np.flatnonzero(np.diff(self.bounds)):
            yield int(index), self.partition(int(index))


def group_by_partition(hashes: np.ndarray, partitions: int) -> Grouped:
    """Route every hash and order the local items by partition (stable: within a partition
    the input order is kept)."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    pid = partition_of(hashes, partitions)
    order = np.argsort(pid, kind="stable")
    bounds = np.zeros(partitions + 1, dtype=np.int64)
    np.cumsum(np.bincount(pid, minlength=partitions), out=bounds[1:])
    return Grouped(local_items(hashes[order], partitions), bounds, order)


def partition_params(
    expected_items: int, fp_rate: float, partitions: int, *, ngram: int = 8, seed: int = 0
) -> BloomParams:
    """The parameters of each of P partitions of a filter for n items at rate p: sized for
    ceil(n / P) items at p (see the module docstring)."""
    check_partition_count(partitions)
    if expected_items < 1:
        raise BloomError(f"expected item count must be at least 1, got {expected_items}")
    return BloomParams.for_capacity(
        math.ceil(expected_items / partitions), fp_rate, ngram=ngram, seed=seed
    )


def double_hashing_floor(params: BloomParams, fill: float = 0.5) -> float:
    """The extra false-positive rate of double hashing over fill^k for one filter with these
    parameters, loaded to its capacity (module docstring): 2 n (1 + f) / ((1 - f) m^2)."""
    if not 0.0 <= fill < 1.0:
        raise BloomError(f"fill ratio must be in [0, 1), got {fill}")
    m, n = params.num_bits, params.expected_items
    return 2 * n * (1 + fill) / ((1 - fill) * m * m)


def partition_file_name(index: int, partitions: int) -> str:
    return f"part-{index:05d}-of-{partitions:05d}.bloom"


def partition_header(index: int, partitions: int) -> dict[str, Any]:
    """The extra header keys of partition `index`'s file."""
    return {"partition": {"index": index, "count": partitions, "routing": ROUTING_SCHEME}}


def check_partition_file(
    path: str | os.PathLike, params: BloomParams, index: int, partitions: int
) -> int:
    """Items inserted into a complete partition file with these parameters, index, P and
    routing; BloomError naming the file and what is wrong otherwise."""
    path = os.fspath(path)
    if not _is_file(path):
        raise BloomError(f"{path}: partition {index} of {partitions} is missing (no such file)")
    got, items, _, meta = read_header_meta(path)
    if got != params:
        diff = {k: (getattr(got, k), v) for k, v in asdict(params).items() if getattr(got, k) != v}
        raise BloomError(
            f"{path}: partition {index} of {partitions} was built with other parameters: "
            f"{diff} (file, expected)"
        )
    expected = partition_header(index, partitions)["partition"]
    if meta.get("partition") != expected:
        raise BloomError(
            f"{path}: header says partition {meta.get('partition')}, expected {expected}"
        )
    return items


def reusable_partition(
    path: str | os.PathLike, params: BloomParams, index: int, partitions: int
) -> bool:
    """Whether an existing partition file is complete and built with these parameters (a
    rerun keeps it); any unusable leftover is simply rebuilt."""
    try:
        check_partition_file(path, params, index, partitions)
    except BloomError:
        return False
    return True


@dataclass(frozen=True)
class Manifest:
    """What manifest.json records: enough to load and check every partition."""

    partitions: int
    expected_items: int  # n of the whole filter
    target_fp_rate: float
    part_params: BloomParams
    routing: str = ROUTING_SCHEME

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "partitions": self.partitions,
            "routing": self.routing,
            "hash_scheme": self.part_params.hash_scheme,
            "expected_items": self.expected_items,
            "target_fp_rate": self.target_fp_rate,
            "part_params": asdict(self.part_params),
            "files": [partition_file_name(i, self.partitions) for i in range(self.partitions)],
        }

    @classmethod
    def read(cls, path: str | os.PathLike) -> Manifest:
        path = os.fspath(path)
        if not _is_file(path):
            raise BloomError(f"{path}: no partitioned-filter manifest (no such file)")
        try:
            raw = json.loads(shards.read_text(path))
            if raw.get("format") != MANIFEST_FORMAT:
                raise BloomError(f"{path}: not a {MANIFEST_FORMAT} manifest")
            if raw.get("version") != MANIFEST_VERSION:
                raise BloomError(
                    f"{path}: manifest version {raw.get('version')}, this code reads "
                    f"{MANIFEST_VERSION}"
                )
            manifest = cls(
                partitions=check_partition_count(raw["partitions"]),
                expected_items=int(raw["expected_items"]),
                target_fp_rate=float(raw["target_fp_rate"]),
                part_params=BloomParams(**raw["part_params"]),
                routing=raw["routing"],
            )
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BloomError(f"{path}: corrupt manifest ({exc!r})") from exc
        if manifest.routing != ROUTING_SCHEME:
            raise BloomError(
                f"{path}: routing scheme {manifest.routing!r}, this code routes by "
                f"{ROUTING_SCHEME!r}; rebuild the filter"
            )
        if manifest.part_params.hash_scheme != HASH_SCHEME:
            raise BloomError(
                f"{path}: hash scheme {manifest.part_params.hash_scheme!r}, this code uses "
                f"{HASH_SCHEME!r}; rebuild the filter"
            )
        return manifest

    def write(self, directory: str | os.PathLike) -> str:
        """Atomically write directory/manifest.json (a ``_tmp-`` name, then moved); its path."""
        path = shards.join(os.fspath(directory), MANIFEST_NAME)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        shards.write_bytes_atomic(path, text.encode("utf-8"))
        return path


class PartitionedBloom(TextMethods):
    """P Bloom filters, one per hash range, answering as one filter (see the module docstring).

    Has BloomFilter's query API (contains_hashes, query_normalised, query_text,
    ngram_hashes_normalised, add_hashes, add_text, fill_ratio, estimated_fp_rate,
    estimated_distinct_items, params, items_inserted), so the overlap queries, overlap-verify
    and eval/memorization take either."""

    def __init__(self, manifest: Manifest, parts: Sequence[BloomFilter]) -> None:
        if len(parts) != manifest.partitions:
            raise BloomError(f"{len(parts)} partition filters for P = {manifest.partitions}")
        for index, part in enumerate(parts):
            if part.params != manifest.part_params:
                raise BloomError(f"partition {index} has other parameters than the manifest")
        self.manifest = manifest
        self.parts = list(parts)
        self.partitions = manifest.partitions
        p = manifest.part_params
        # The filter as a whole: m = the sum of the partitions' bits, the same k.
        self.params = BloomParams(
            num_bits=p.num_bits * self.partitions,
            num_hashes=p.num_hashes,
            expected_items=manifest.expected_items,
            target_fp_rate=manifest.target_fp_rate,
            ngram=p.ngram,
            seed=p.seed,
            hash_scheme=p.hash_scheme,
        )

    @classmethod
    def empty(
        cls,
        expected_items: int,
        fp_rate: float = 1e-8,
        partitions: int = 1,
        *,
        ngram: int = 8,
        seed: int = 0,
        backend: str = "auto",
    ) -> PartitionedBloom:
        """An empty in-memory filter for n items at rate p in P partitions."""
        part = partition_params(expected_items, fp_rate, partitions, ngram=ngram, seed=seed)
        manifest = Manifest(partitions, expected_items, fp_rate, part)
        return cls(manifest, [BloomFilter(part, backend=backend) for _ in range(partitions)])

    # -- inserting and querying -----------------------------------------------------------
    @property
    def items_inserted(self) -> int:
        return sum(p.items_inserted for p in self.parts)

    def add_hashes(self, items: np.ndarray) -> None:
        """Insert every item (uint64 8-gram hashes), each into its partition."""
        for index, local in group_by_partition(items, self.partitions).nonempty():
            self.parts[index].add_hashes(local)

    def contains_hashes(self, items: np.ndarray) -> np.ndarray:
        """Boolean array: is each item (possibly) in the filter. Grouped by partition, one bulk
        query per partition, answers scattered back to the input order."""
        items = np.ascontiguousarray(items, dtype=np.uint64)
        if self.partitions == 1:
            return self.parts[0].contains_hashes(items)
        grouped = group_by_partition(items, self.partitions)
        answers = np.empty(len(items), dtype=bool)
        for index, local in grouped.nonempty():
            lo, hi = grouped.bounds[index], grouped.bounds[index + 1]
            answers[lo:hi] = self.parts[index].contains_hashes(local)
        out = np.empty(len(items), dtype=bool)
        out[grouped.order] = answers
        return out

    def ngram_hashes_normalised(self, data: np.ndarray | str) -> np.ndarray:
        """The 8-gram hashes of a normalised text (code points or str), as BloomFilter's."""
        return ngram_hashes_normalised(
            data, self.params.seed, self.params.ngram, kernels=self.parts[0]._kernels
        )

    def query_normalised(self, data: np.ndarray | str) -> np.ndarray:
        """One answer per 8-gram of a normalised text (code points or str)."""
        if self.partitions == 1:
            return self.parts[0].query_normalised(data)
        return self.contains_hashes(self.ngram_hashes_normalised(data))

    # -- statistics -------------------------------------------------------------------------
    def fill_ratio(self) -> float:
        """Fraction of all the partitions' bits that are set."""
        return float(np.mean([p.fill_ratio() for p in self.parts]))  # equal sizes

    def estimated_fp_rate(self) -> float:
        """The mean of the partitions' fill^k: a query lands in each with probability 1/P."""
        return float(np.mean([p.estimated_fp_rate() for p in self.parts]))

    def estimated_distinct_items(self) -> float:
        return float(sum(p.estimated_distinct_items() for p in self.parts))

    # -- files ------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> str:
        """Write every partition file (atomically), then the manifest. Returns its path."""
        directory = os.fspath(directory)
        for index, part in enumerate(self.parts):
            part.save(
                shards.join(directory, partition_file_name(index, self.partitions)),
                extra=partition_header(index, self.partitions),
            )
        return self.manifest.write(directory)

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, mmap: bool = False, backend: str = "auto"
    ) -> PartitionedBloom:
        """Load a directory holding manifest.json and its partition files (or the manifest's
        own path), checking every partition; with mmap the bits of local files stay on disk
        (on an object store they are read into memory: BloomFilter.load)."""
        path = os.fspath(path)
        manifest_path = path if path.endswith(".json") else shards.join(path, MANIFEST_NAME)
        manifest = Manifest.read(manifest_path)
        directory = _parent(manifest_path)
        parts = []
        for index in range(manifest.partitions):
            file = shards.join(directory, partition_file_name(index, manifest.partitions))
            check_partition_file(file, manifest.part_params, index, manifest.partitions)
            parts.append(BloomFilter.load(file, mmap=mmap, backend=backend))
        return cls(manifest, parts)


def load_filter(
    path: str | os.PathLike, *, mmap: bool = False, backend: str = "auto"
) -> BloomFilter | PartitionedBloom:
    """A saved filter of either kind: a .bloom file, a manifest.json, or a directory holding
    manifest.json (a partitioned filter) or reference.bloom (webtext overlap's filters/). A
    local path or a URI; ``mmap`` maps local files only (object stores are read into memory)."""
    path = os.fspath(path)
    if _file_type(path) == pafs.FileType.Directory:
        if _is_file(shards.join(path, MANIFEST_NAME)):
            return PartitionedBloom.load(path, mmap=mmap, backend=backend)
        single = shards.join(path, SINGLE_FILTER_NAME)
        if _is_file(single):
            return BloomFilter.load(single, mmap=mmap, backend=backend)
        raise BloomError(f"{path}: holds neither {MANIFEST_NAME} nor {SINGLE_FILTER_NAME}")
    if path.endswith(".json"):
        return PartitionedBloom.load(path, mmap=mmap, backend=backend)
    return BloomFilter.load(path, mmap=mmap, backend=backend)


def find_reference_filter(filters_dir: str | os.PathLike) -> str | None:
    """webtext overlap's reference filter in OVERLAP_DIR/filters: reference.bloom (one filter)
    or manifest.json (partitioned); None when neither is there."""
    for name in (SINGLE_FILTER_NAME, MANIFEST_NAME):
        path = shards.join(os.fspath(filters_dir), name)
        if _is_file(path):
            return path
    return None
