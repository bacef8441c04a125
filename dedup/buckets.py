"""LSH buckets over compact rows: band keys of representatives -> the candidate pairs to verify.

A bucket of up to ``max_neighbours + 1`` members pairs every two of them (clusters.bucket_pairs),
whatever their order: its members are named by place alone. A larger bucket (many copies of one
page) pairs each member with its ``max_neighbours`` predecessors in doc_id order, so its
members' ids are needed: such a bucket is handed back whole (rare), its ids looked up, and
:func:`ordered_bucket_pairs` pairs it. Either way, the pairs are those near.verify_bucket checks.
Verification itself needs the two signatures and happens where they are (beam_jobs/dedup_job.py
joins each pair end with the signatures of its input shard).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.clusters import bucket_pairs

Place = tuple[int, int]  # (input shard, row)
PlacePair = tuple[int, int, int, int]  # (shard a, row a, shard b, row b), a's place < b's


def candidate_pairs(
    table: pa.Table, max_neighbours: int = 64
) -> tuple[list[PlacePair], int, list[tuple[bytes, list[Place]]]]:
    """A BAND_ROWS table (every entry of each of its band keys) -> (candidate pairs of the
    small buckets, a pair found in several buckets several times; the number of pairs they
    checked, counted per bucket as the job always counted them; the large buckets as
    (band key, member places))."""
    n = table.num_rows
    if n < 2:
        return [], 0, []
    table = table.sort_by([("key", "ascending"), ("shard", "ascending"), ("row", "ascending")])
    keys = table["key"]
    same = pc.equal(keys.slice(1), keys.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    # Runs of equal keys: a run starts where a key differs from the one before.
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    ends = np.append(starts[1:], n)
    shards_col = table["shard"].to_numpy()
    rows_col = table["row"].to_numpy()
    out: list[PlacePair] = []
    large: list[tuple[bytes, list[Place]]] = []
    checked = 0
    for b in np.flatnonzero(ends - starts >= 2):
        s, e = int(starts[b]), int(ends[b])
        members = list(zip(shards_col[s:e].tolist(), rows_col[s:e].tolist(), strict=True))
        if len(members) > max_neighbours + 1:
            large.append((keys[s].as_py(), members))
            continue
        pairs = bucket_pairs(members, max_neighbours)
        checked += len(pairs)
        out.extend((*members[i], *members[j]) for i, j in pairs)
    return out, checked, large


def ordered_bucket_pairs(
    members: Sequence[tuple[str, int, int]], max_neighbours: int = 64
) -> tuple[list[PlacePair], int]:
    """(doc_id, shard, row) of a large bucket's members -> its candidate pairs in doc_id order
    (each place pair with the smaller place first), and how many."""
    ordered = sorted(members)
    pairs = bucket_pairs(ordered, max_neighbours)
    out = []
    for i, j in pairs:
        a, b = sorted((ordered[i][1:], ordered[j][1:]))
        out.append((*a, *b))
    return out, len(pairs)
