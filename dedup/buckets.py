"""LSH buckets over compact rows: band keys -> the candidate pairs to verify.

A bucket holds every document with that band key; it keeps one representative per exact key
(the best keeper rank: the group's representative, since an exact group's members share every
band key), so only representatives pair, as when only representatives were banded. Inside a
bucket the representatives are ordered by doc_id and paired by clusters.bucket_pairs (every
pair, or each member with its ``max_neighbours`` predecessors in a large bucket): the same pairs
near.verify_bucket checks. Verification itself needs the two signatures and happens where
they are (beam_jobs/dedup_job.py joins the pairs with the signatures of their input shards).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.clusters import bucket_pairs, keeper_rank

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
    names = ("doc_id", "shard", "row", "exact_key", "max_score", "first_seen_utc")
    out: list[Candidate] = []
    checked = 0
    for b in big:
        s, e = int(starts[b]), int(ends[b])
        cols = [table[name].slice(s, e - s).to_pylist() for name in names]
        best: dict[bytes, tuple] = {}
        for doc_id, shard, row, exact, score, seen in zip(*cols, strict=True):
            rank = keeper_rank(doc_id, score, seen)
            if exact not in best or rank < best[exact][0]:
                best[exact] = (rank, (doc_id, shard, row))
        if len(best) < 2:
            continue
        members = sorted(m for _, m in best.values())  # by doc_id
        pairs = bucket_pairs(members, max_neighbours)
        checked += len(pairs)
        for i, j in pairs:
            out.append((*members[i], *members[j]))
    return out, checked
