"""LSH buckets over compact rows: band keys of representatives -> the candidate pairs to verify.

Inside a bucket the members are ordered by doc_id and paired by clusters.bucket_pairs (every
pair, or each member with its ``max_neighbours`` predecessors in a large bucket): the same pairs
near.verify_bucket checks. Verification itself needs the two signatures and happens where
they are (beam_jobs/dedup_job.py joins the pairs with the signatures of their input shards).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.clusters import bucket_pairs

# (doc_id a, shard a, row a, doc_id b, shard b, row b) with a's id < b's id
Candidate = tuple[str, int, int, str, int, int]


def candidate_pairs(table: pa.Table, max_neighbours: int = 64) -> tuple[list[Candidate], int]:
    """A BAND_ROWS table (every entry of each of its band keys) -> (candidate pairs, one per
    pair found in a bucket (a pair sharing several bands comes several times), the number of
    pairs checked, counted per bucket as the job always counted them)."""
    n = table.num_rows
    if n < 2:
        return [], 0
    table = table.sort_by([("key", "ascending"), ("doc_id", "ascending")])
    keys = table["key"]
    same = pc.equal(keys.slice(1), keys.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    # Runs of equal keys: a run starts where a key differs from the one before.
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    ends = np.append(starts[1:], n)
    big = np.flatnonzero(ends - starts >= 2)
    if len(big) == 0:
        return [], 0
    ids = table["doc_id"]
    shard_col = table["shard"]
    row_col = table["row"]
    out: list[Candidate] = []
    checked = 0
    for b in big:
        s, e = int(starts[b]), int(ends[b])
        members = list(
            zip(
                ids.slice(s, e - s).to_pylist(),
                shard_col.slice(s, e - s).to_pylist(),
                row_col.slice(s, e - s).to_pylist(),
                strict=True,
            )
        )
        pairs = bucket_pairs(members, max_neighbours)
        checked += len(pairs)
        for i, j in pairs:
            out.append((*members[i], *members[j]))
    return out, checked
