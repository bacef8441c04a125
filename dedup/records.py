"""The compact records `webtext dedup` shuffles, and how they travel: Arrow tables serialised
as one ``bytes`` blob per (partition, chunk), never one Python object per document.

No text is in any of them. Each document is named by its id and its place in the input
(``shard``: index of its docs/ shard file, ``row``: its row in that file), so the filter pass
can re-read the input and write the kept rows (dedup/filter.py).

* ``ID_ROWS``    doc_id, shard, row                           -> duplicate ids (dedup/ids.py)
* ``EXACT_ROWS`` exact key, doc_id, place, url, rank fields    -> exact groups (dedup/exact.py)
* ``SIG_ROWS``   a document's fingerprint with its signature (bytes), kept per input shard
* ``BAND_ROWS``  band key, place                               -> LSH buckets (dedup/buckets.py)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import xxhash

ID_ROWS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("shard", pa.uint32(), nullable=False),
        pa.field("row", pa.uint32(), nullable=False),
    ]
)

EXACT_ROWS = pa.schema(
    [
        pa.field("exact_key", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("shard", pa.uint32(), nullable=False),
        pa.field("row", pa.uint32(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("max_score", pa.int64(), nullable=False),
        pa.field("first_seen_utc", pa.int64(), nullable=False),
    ]
)

SIG_ROWS = pa.schema(
    [
        pa.field("row", pa.uint32(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("max_score", pa.int64(), nullable=False),
        pa.field("first_seen_utc", pa.int64(), nullable=False),
        pa.field("exact_key", pa.string(), nullable=False),
        pa.field("signature", pa.binary(), nullable=False),  # uint32[num_perm].tobytes()
    ]
)

# No doc_id: buckets pair their members by place, except the rare bucket larger than
# max_neighbours + 1, whose members' ids are looked up (dedup/buckets.py).
BAND_ROWS = pa.schema(
    [
        pa.field("key", pa.binary(), nullable=False),  # band number (2 bytes) + xxh64 digest
        pa.field("shard", pa.uint32(), nullable=False),
        pa.field("row", pa.uint32(), nullable=False),
    ]
)


def to_blob(table: pa.Table) -> bytes:
    """One Arrow IPC stream: a table as a single bytes object (what a shuffle carries)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_blobs(blobs: Iterable[bytes], schema: pa.Schema) -> pa.Table:
    """The tables of several blobs, concatenated (an empty table of ``schema`` for none)."""
    tables = [pa.ipc.open_stream(pa.py_buffer(b)).read_all() for b in blobs]
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


def rows_blob(rows: Iterable[int]) -> bytes:
    """Row numbers of one shard as uint32 bytes."""
    return np.fromiter(rows, dtype=np.uint32).tobytes()


def rows_of(blobs: Iterable[bytes]) -> np.ndarray:
    """The row numbers of several ``rows_blob`` values, sorted and unique."""
    parts = [np.frombuffer(b, dtype=np.uint32) for b in blobs]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint32)


def partition_of_text(value: str, partitions: int) -> int:
    """Stable partition of an id or an exact key (the same on every worker)."""
    return xxhash.xxh64_intdigest(value.encode("utf-8")) % partitions


def partition_of_band_key(key: bytes, partitions: int) -> int:
    return int.from_bytes(key[2:], "big") % partitions


class Partitioner:
    """Columns of rows collected per partition, flushed as ``(partition, blob)`` pairs."""

    def __init__(self, schema: pa.Schema, partitions: int) -> None:
        self.schema = schema
        self.partitions = partitions
        self.columns: dict[int, list[list]] = {}
        self.count = 0

    def add(self, partition: int, values: tuple) -> None:
        cols = self.columns.get(partition)
        if cols is None:
            cols = self.columns[partition] = [[] for _ in self.schema]
        for col, value in zip(cols, values, strict=True):
            col.append(value)
        self.count += 1

    def flush(self) -> Iterator[tuple[int, bytes]]:
        for partition in sorted(self.columns):
            cols = self.columns[partition]
            table = pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(cols, self.schema, strict=True)],
                schema=self.schema,
            )
            yield partition, to_blob(table)
        self.columns = {}
        self.count = 0
