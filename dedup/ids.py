"""Rows that repeat a doc_id: which one is kept (the rest are dropped as duplicate_doc_id).

The rule (unchanged from the job that grouped whole rows by id): the row with the smallest
``(text, url, final_url)`` is kept; rows equal in all three are told apart by their place in
the input (shard, then row), so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

Place = tuple[int, int]  # (input shard index, row in it)


def repeated_ids(table: pa.Table) -> dict[str, list[Place]]:
    """doc_id -> its places, for every id on more than one row of an ID_ROWS table."""
    if table.num_rows == 0:
        return {}
    counts = table.group_by("doc_id").aggregate([("row", "count")])
    repeated = counts.filter(pc.greater(counts["row_count"], 1))["doc_id"]
    if len(repeated) == 0:
        return {}
    picked = table.filter(pc.is_in(table["doc_id"], value_set=repeated))
    out: dict[str, list[Place]] = {}
    for doc_id, shard, row in zip(
        picked["doc_id"].to_pylist(),
        picked["shard"].to_pylist(),
        picked["row"].to_pylist(),
        strict=True,
    ):
        out.setdefault(doc_id, []).append((shard, row))
    return {k: sorted(v) for k, v in out.items()}


def kept_place(candidates: Sequence[tuple[str, str, str, int, int]]) -> Place:
    """(text, url, final_url, shard, row) of each row of one id -> the place of the kept row."""
    best = min(candidates)
    return best[3], best[4]
