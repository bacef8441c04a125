"""Exact groups over compact rows: documents sharing an exact key (the hash of the normalised
text); the best-ranked one represents the group (near.exact_group's rule), the others are its
exact duplicates."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from dedup.clusters import keeper_rank


@dataclass(frozen=True)
class Member:
    """An exact duplicate: the representative it follows, and where the duplicate lies."""

    rep_id: str
    rep_url: str
    doc_id: str
    shard: int


def exact_groups(table: pa.Table) -> tuple[dict[int, list[tuple[int, str]]], list[Member]]:
    """An EXACT_ROWS table (every row of each of its exact keys) -> (representatives' (row,
    doc_id) per input shard, the other members)."""
    cols = table.to_pydict()
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(cols["exact_key"]):
        groups.setdefault(key, []).append(i)
    reps: dict[int, list[tuple[int, str]]] = {}
    members: list[Member] = []
    ids, scores, seen = cols["doc_id"], cols["max_score"], cols["first_seen_utc"]
    for key in sorted(groups):
        ordered = sorted(groups[key], key=lambda i: keeper_rank(ids[i], scores[i], seen[i]))
        rep = ordered[0]
        reps.setdefault(cols["shard"][rep], []).append((cols["row"][rep], ids[rep]))
        for i in ordered[1:]:
            members.append(Member(ids[rep], cols["url"][rep], ids[i], cols["shard"][i]))
    return reps, members
