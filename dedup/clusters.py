"""Candidate pairs from LSH buckets, connected components, and the keeper of each cluster."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# A document's rank: lower is better. Highest karma first, then the earliest post, then doc id.
Rank = tuple[int, int, str]


def keeper_rank(doc_id: str, max_score: int, first_seen_utc: int) -> Rank:
    """Sort key of the keeper choice: highest karma, then earliest seen, then smallest id."""
    return (-int(max_score), int(first_seen_utc), doc_id)


def bucket_pairs(members: Sequence[Any], max_neighbours: int = 64) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, to verify inside one LSH bucket of (sorted) members.

    A bucket of up to max_neighbours + 1 members yields every pair. A larger one (many copies of
    one page) pairs each member with its max_neighbours predecessors only: O(n) pairs instead of
    O(n^2), and the chain still connects the whole bucket when its members are near-duplicates.
    """
    if max_neighbours < 1:
        raise ValueError("max_neighbours must be at least 1")
    n = len(members)
    return [(i, j) for j in range(1, n) for i in range(max(0, j - max_neighbours), j)]


class UnionFind:
    """Disjoint sets over hashable nodes (path halving + union by size)."""

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}
        self.size: dict[Any, int] = {}

    def find(self, x: Any) -> Any:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.size[x] = 1
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def components(self) -> list[list[Any]]:
        groups: dict[Any, list[Any]] = {}
        for x in self.parent:
            groups.setdefault(self.find(x), []).append(x)
        return list(groups.values())


def connected_components(edges: Iterable[tuple[Any, Any]]) -> list[list[Any]]:
    """Components (each with >= 2 nodes) of the graph given by its edges."""
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    return uf.components()


def resolve_clusters(
    edges: Iterable[tuple[str, str]], ranks: dict[str, Rank]
) -> list[tuple[str, str]]:
    """(removed doc, keeper doc) for every non-keeper node of every component: the keeper is
    the component's best-ranked node. Deterministic: independent of edge order."""
    out = []
    for component in connected_components(edges):
        keeper = min(component, key=lambda d: ranks[d])
        out.extend((doc, keeper) for doc in sorted(component) if doc != keeper)
    return sorted(out)
