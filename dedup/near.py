"""The per-document and per-group decisions of `webtext dedup`, as pure functions.

Data flow (beam_jobs/dedup_job.py runs each step as a Beam transform):

1. :func:`fingerprint` — per document: normalised text -> exact key (128-bit hash of the
   normalised text), keeper rank, MinHash signature of its word 5-gram shingles (None when the
   text is shorter than one shingle: such a document takes part in exact de-duplication only).
2. :func:`exact_group` — per exact key: the best-ranked document represents the group; the
   others are exact duplicates of it.
3. :func:`band_entries` / :func:`verify_bucket` — representatives are grouped by LSH band key;
   inside a bucket, candidate pairs whose estimated Jaccard reaches the threshold become edges.
4. :func:`resolve_slim_edges` — connected components over the edges (ids and ranks only); each
   component keeps its best-ranked document; every other member is a near duplicate of that
   keeper; :func:`near_removal` adds the estimated Jaccard to the keeper.
5. :func:`resolve_exact_members` — an exact duplicate follows its representative: kept
   representative -> "exact" (similarity 1.0); removed representative -> "near", pointing at the
   representative's keeper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash
from datasketch import MinHash

from dedup import text as textmod
from dedup.clusters import Rank, bucket_pairs, keeper_rank, resolve_clusters
from dedup.minhash import MinHashParams, band_keys, estimated_jaccard, identity_hash, shingle_hashes


@dataclass(frozen=True)
class Fingerprint:
    doc_id: str
    url: str
    rank: Rank
    exact_key: str
    signature: bytes | None  # uint32[num_perm] bytes; None: shorter than one shingle
    shard: int = -1  # index of the input shard holding it (the filter pass writes by shard)


@dataclass(frozen=True)
class Removal:
    doc_id: str
    keeper_id: str
    keeper_url: str
    similarity: float
    reason: str  # "exact" | "near"
    shard: int = -1  # index of the input shard holding the removed document


class Signer:
    """MinHash signatures with one datasketch template (permutations drawn once), each document
    through ``copy()`` + ``update_batch`` — what ``MinHash.bulk`` does, one document at a time."""

    def __init__(self, params: MinHashParams) -> None:
        self.params = params
        self.template = MinHash(
            num_perm=params.num_perm, seed=params.seed, hashfunc=identity_hash, scheme="affine32"
        )

    def sign(self, shingles: np.ndarray) -> bytes:
        mh = self.template.copy()
        mh.update_batch(shingles.tolist())
        return mh.hashvalues.astype(np.uint32).tobytes()


def fingerprint(
    doc_id: str, url: str, text: str, max_score: int, first_seen_utc: int, signer: Signer
) -> Fingerprint | None:
    """None when the text has no word at all (empty after normalisation)."""
    norm = textmod.normalised_codepoints(text)
    if len(norm) == 0:
        return None
    exact_key = xxhash.xxh3_128_hexdigest(textmod.codepoints_to_str(norm).encode("utf-8"))
    shingles = shingle_hashes(norm, signer.params.shingle)
    signature = signer.sign(shingles) if len(shingles) else None
    return Fingerprint(
        doc_id, url, keeper_rank(doc_id, max_score, first_seen_utc), exact_key, signature
    )


def exact_group(members: Iterable[Fingerprint]) -> tuple[Fingerprint, list[Fingerprint]]:
    """(representative, the other members) of a group sharing one exact key."""
    ordered = sorted(members, key=lambda f: f.rank)
    return ordered[0], ordered[1:]


def band_entries(fp: Fingerprint, params: MinHashParams) -> list[tuple[bytes, Fingerprint]]:
    if fp.signature is None:
        return []
    sig = np.frombuffer(fp.signature, dtype=np.uint32)
    return [(key, fp) for key in band_keys(sig, params)]


def verify_bucket(
    members: Iterable[Fingerprint], threshold: float, max_neighbours: int = 64
) -> tuple[list[tuple[Fingerprint, Fingerprint, float]], int]:
    """(edges (a, b, estimated Jaccard) with a.doc_id < b.doc_id and Jaccard >= threshold,
    number of candidate pairs checked)."""
    ordered = sorted(members, key=lambda f: f.doc_id)
    if len(ordered) < 2:
        return [], 0
    sigs = np.stack([np.frombuffer(f.signature, dtype=np.uint32) for f in ordered])
    pairs = bucket_pairs(ordered, max_neighbours)
    edges = []
    for i, j in pairs:
        sim = float(np.count_nonzero(sigs[i] == sigs[j])) / sigs.shape[1]
        if sim >= threshold:
            edges.append((ordered[i], ordered[j], sim))
    return edges, len(pairs)


# A verified edge as the global clustering step sees it: ids and ranks only (no signatures),
# ~100 bytes, so millions of edges fit one worker.
SlimEdge = tuple[str, Rank, str, Rank]


def slim_edge(a: Fingerprint, b: Fingerprint) -> SlimEdge:
    return (a.doc_id, a.rank, b.doc_id, b.rank)


def resolve_slim_edges(edges: Iterable[SlimEdge]) -> list[tuple[str, str]]:
    """(removed, keeper) for every non-keeper member of every connected component."""
    edges = list(edges)
    ranks: dict[str, Rank] = {}
    for a, rank_a, b, rank_b in edges:
        ranks[a] = rank_a
        ranks[b] = rank_b
    return resolve_clusters(((a, b) for a, _, b, _ in edges), ranks)


def near_removal(removed: Fingerprint, keeper: Fingerprint) -> Removal:
    """The Removal of a near duplicate, with its estimated Jaccard to the keeper (which may be
    below the threshold for a chain a~b~c)."""
    sim = estimated_jaccard(removed.signature, keeper.signature)
    return Removal(removed.doc_id, keeper.doc_id, keeper.url, sim, "near", removed.shard)


def resolve_near(edges: Sequence[tuple[Fingerprint, Fingerprint, float]]) -> list[Removal]:
    """In memory: connected components over verified edges -> one Removal per non-keeper."""
    prints: dict[str, Fingerprint] = {}
    for a, b, _ in edges:
        prints[a.doc_id] = a
        prints[b.doc_id] = b
    pairs = resolve_slim_edges(slim_edge(a, b) for a, b, _ in edges)
    return [near_removal(prints[removed], prints[keeper]) for removed, keeper in pairs]


def resolve_exact_members(
    rep_id: str,
    rep_url: str,
    member_ids: Iterable[str],
    rep_removal: Removal | None,
    member_shards: dict[str, int] | None = None,
) -> list[Removal]:
    """Removals for the exact duplicates of a representative (each with its input shard when
    ``member_shards`` names it)."""
    out = []
    where = member_shards or {}
    for doc_id in sorted(member_ids):
        shard = where.get(doc_id, -1)
        if rep_removal is None:
            out.append(Removal(doc_id, rep_id, rep_url, 1.0, "exact", shard))
        else:
            out.append(
                Removal(
                    doc_id,
                    rep_removal.keeper_id,
                    rep_removal.keeper_url,
                    rep_removal.similarity,
                    "near",
                    shard,
                )
            )
    return out
