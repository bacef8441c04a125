"""Stage 4 as a Beam job: docs/ -> de-duplicated corpus/ (with splits) + dups/.

Only ids, places (input shard, row) and signatures move; text never goes through a shuffle.
Per-document records travel as Arrow blobs, one ``bytes`` per partition and chunk
(dedup/records.py), so a shuffle holds a few bytes per document, not a Python object.

  (shard index, docs shard) -> ShardIds: doc_id + place by id partition
    -> GroupByKey(partition) -> DuplicateIds: the other rows of a repeated id (places only)
  CoGroupByKey(shard){docs shard, those rows} -> FingerprintShard: each row's exact key,
    rank, url -> by exact-key partition; its signature -> kept by input shard; empty texts
  -> GroupByKey(exact partition) -> ExactGroups: representatives' rows per shard + members
  CoGroupByKey(shard){signatures, representatives} -> BandShard: band keys by band partition
    -> GroupByKey(band partition) -> CandidatePairs (places); a bucket larger than
    max_neighbours + 1 (rare): its members' ids joined from the representatives' ids, paired
    in doc_id order -> Distinct
  each pair end by its shard -> CoGroupByKey(shard){signatures, ends} -> its fingerprint
    -> GroupByKey(pair) -> VerifyPairs: edges (two fingerprints, estimated Jaccard >= threshold)
  -> Removals: clusters resolved globally over the edges; exact members follow their
     representative -> (doc_id, Removal), each naming the shard of the removed document
  CoGroupByKey(shard){docs shard, skipped rows, removals} -> FilterShard (dedup_filter.py):
    the shard re-read, kept rows -> corpus/ shard of the same index (+ split), removed rows
    -> dups/ shard of that index; then _stats.json and _SUCCESS for each.

The pure decisions live in dedup/ (ids.py, near.py, exact.py, buckets.py, clusters.py,
minhash.py, split.py); this module only moves data between them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from beam_jobs.configs import DedupConfig
from beam_jobs.dedup_filter import FilterShard, FinishOutput
from beam_jobs.stage_io import SHUFFLE_BYTES, BundleStats, MergeStats, approx_bytes, finish_stage
from beam_jobs.stage_job import StageJob, StageOutput, beam_pipeline
from dedup import near
from dedup.buckets import candidate_pairs, ordered_bucket_pairs
from dedup.clusters import keeper_rank
from dedup.exact import exact_groups
from dedup.ids import kept_place, repeated_ids
from dedup.minhash import MinHashParams, band_keys
from dedup.records import (
    BAND_ROWS,
    EXACT_ROWS,
    ID_ROWS,
    SIG_ROWS,
    Partitioner,
    from_blobs,
    partition_of_band_key,
    partition_of_text,
    rows_blob,
    rows_of,
    to_blob,
)
from pipeline.io import schemas, shards

log = logging.getLogger(__name__)
DETAILS_TAG = "details"
FLUSH_ROWS = 32768  # rows of compact records a DoFn collects before emitting them as blobs
# Signatures (~0.6 KB a row) are flushed on their own, sooner: a blob stays near 2.5 MB, well
# inside a runner's record limit (Flink's sort buffer refused the 21 MB blobs of 32,768 rows).
SIGNATURE_FLUSH_ROWS = 4096


def partitions_for(num_inputs: int) -> int:
    """Partitions of the id, exact-key and band shuffles (decisions do not depend on it)."""
    return max(16, 8 * num_inputs)


def default_dups_dir(out_dir: str) -> str:
    """dups/ beside corpus/: CORPUS_DIR's parent + "/dups"."""
    return shards.join(out_dir.rstrip("/").rpartition("/")[0] or ".", "dups")


def shuffle_size(value: Any) -> int:
    """What a record costs to move through a shuffle (stage_io.approx_bytes), counting the
    fields of a dataclass (Fingerprint, Removal) rather than 8 bytes for the object."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(shuffle_size(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (list, tuple)):
        return sum(shuffle_size(v) for v in value)
    return approx_bytes(value)


class MeasureShuffle(beam.DoFn):
    """Passes records through unchanged, summing their shuffle_size per bundle: into the Beam
    counter ``webtext:dedup_shuffle_bytes`` and, on the "bytes" output, for _stats.json."""

    BYTES_TAG = "bytes"

    def __init__(self) -> None:
        self.counter = Metrics.counter("webtext", f"dedup_{SHUFFLE_BYTES}")

    def start_bundle(self) -> None:
        self.size = 0

    def process(self, element: Any) -> Iterable[Any]:
        self.size += shuffle_size(element)
        yield element

    def finish_bundle(self) -> Iterable[Any]:
        if self.size:
            self.counter.inc(self.size)
            yield beam.pvalue.TaggedOutput(self.BYTES_TAG, GlobalWindows.windowed_value(self.size))


class ShuffleMeter:
    """Measures every PCollection that enters one of dedup's GroupByKeys/CoGroupByKeys:
    ``meter(pcoll, "Name")`` returns the same records; ``meter.total(p)`` their bytes summed."""

    def __init__(self) -> None:
        self.sizes: list[beam.PCollection] = []

    def __call__(self, pcoll: beam.PCollection, name: str) -> beam.PCollection:
        out = pcoll | f"Measure{name}" >> beam.ParDo(MeasureShuffle()).with_outputs(
            MeasureShuffle.BYTES_TAG, main="records"
        )
        self.sizes.append(out[MeasureShuffle.BYTES_TAG])
        return out.records

    def total(self) -> beam.PCollection:
        return (
            tuple(self.sizes)
            | "AllShuffled" >> beam.Flatten()
            | "SumShuffled" >> (beam.CombineGlobally(sum))
        )


def _details(counter: Counter) -> Any:
    return beam.pvalue.TaggedOutput(DETAILS_TAG, GlobalWindows.windowed_value(counter))


class ShardIds(BundleStats):
    """(shard index, docs shard) -> (id partition, ID_ROWS blob): every row's id and place."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions

    def process(self, element: tuple[int, str]) -> Iterable[tuple[int, bytes]]:
        index, path = element
        out = Partitioner(ID_ROWS, self.partitions)
        row = 0
        for batch in shards.iter_shard_batches(
            path, schemas.DOCS, columns=["doc_id"], batch_size=FLUSH_ROWS
        ):
            for doc_id in batch.column(0).to_pylist():
                out.add(partition_of_text(doc_id, self.partitions), (doc_id, index, row))
                row += 1
            yield from out.flush()
        self.stats.records_in += row


class DuplicateIds(BundleStats):
    """(id partition, blobs) -> (shard, rows blob) of every row that repeats an id and is not
    the kept one (dedup/ids.py), counted as duplicate_doc_id. Only the rows of repeated ids
    are read again (their text, url and final url decide)."""

    def __init__(self, inputs: list[str]) -> None:
        self.inputs = inputs

    def process(self, element: tuple[int, Iterable[bytes]]) -> Iterable[tuple[int, bytes]]:
        _, blobs = element
        repeated = repeated_ids(from_blobs(blobs, ID_ROWS))
        if not repeated:
            return
        wanted: dict[int, set[int]] = {}
        for places in repeated.values():
            for shard, row in places:
                wanted.setdefault(shard, set()).add(row)
        values = {
            place: v for shard, rows in wanted.items() for place, v in self._read(shard, rows)
        }
        losers: dict[int, list[int]] = {}
        for doc_id, places in sorted(repeated.items()):
            keep = kept_place([(*values[p], *p) for p in places])
            for shard, row in places:
                if (shard, row) != keep:
                    losers.setdefault(shard, []).append(row)
            self.stats.drop("duplicate_doc_id", len(places) - 1)
            self.stats.error(f"doc_id {doc_id} appears {len(places)} times in the input; kept one")
        for shard, rows in sorted(losers.items()):
            yield shard, rows_blob(sorted(rows))

    def _read(self, shard: int, rows: set[int]) -> Iterable[tuple[tuple[int, int], tuple]]:
        start = 0
        columns = ["text", "url", "final_url"]
        for batch in shards.iter_shard_batches(
            self.inputs[shard], schemas.DOCS, columns=columns, batch_size=1024
        ):
            hits = [r - start for r in rows if start <= r < start + batch.num_rows]
            if hits:
                cols = [batch.column(c) for c in columns]
                for h in hits:
                    yield (shard, start + h), tuple(c[h].as_py() for c in cols)
            start += batch.num_rows


class FingerprintShard(BundleStats):
    """(shard index, {"path": [docs shard], "losers": [rows blobs]}) -> (exact partition,
    EXACT_ROWS blob) for every row that counts; on "sigs" (shard, SIG_ROWS blob) of those with
    a signature; on "skip" (shard, rows blob) of the rows the filter pass leaves out (the
    repeated ids' other rows, and empty texts, counted here)."""

    def __init__(self, params: MinHashParams, partitions: int) -> None:
        self.params = params
        self.partitions = partitions

    def setup(self) -> None:
        self.signer = near.Signer(self.params)

    def process(self, element: tuple[int, dict[str, list]]) -> Iterable[Any]:
        index, groups = element
        (path,) = groups["path"]
        losers = set(rows_of(groups["losers"]).tolist())
        skip = sorted(losers)
        exact = Partitioner(EXACT_ROWS, self.partitions)
        sigs = Partitioner(SIG_ROWS, 1)
        details: Counter = Counter()
        columns = ["doc_id", "url", "text", "max_score", "first_seen_utc"]
        row = 0
        for batch in shards.iter_shard_batches(
            path, schemas.DOCS, columns=columns, batch_size=1024
        ):
            for doc_id, url, text, score, seen in zip(
                *(batch.column(c).to_pylist() for c in columns), strict=True
            ):
                if row not in losers:
                    fp = near.fingerprint(doc_id, url, text, score, seen, self.signer)
                    if fp is None:
                        self.stats.drop("empty_text")
                        skip.append(row)
                    else:
                        key = partition_of_text(fp.exact_key, self.partitions)
                        exact.add(key, (fp.exact_key, doc_id, index, row, url, score, seen))
                        if fp.signature is None:
                            details["near_dedup_skipped_shorter_than_shingle"] += 1
                        else:
                            sigs.add(0, (row, doc_id, url, score, seen, fp.exact_key, fp.signature))
                row += 1
            if exact.count >= FLUSH_ROWS:
                yield from exact.flush()
            if sigs.count >= SIGNATURE_FLUSH_ROWS:
                yield from self._flush_signatures(index, sigs)
        yield from exact.flush()
        yield from self._flush_signatures(index, sigs)
        if skip:
            yield beam.pvalue.TaggedOutput("skip", (index, rows_blob(sorted(skip))))
        yield _details(details)

    @staticmethod
    def _flush_signatures(index: int, sigs: Partitioner) -> Iterable[Any]:
        for _, blob in sigs.flush():
            yield beam.pvalue.TaggedOutput("sigs", (index, blob))


def _exact_groups(element: tuple[int, Iterable[bytes]]) -> Iterable[Any]:
    """(exact partition, blobs) -> (shard, rows blob) of representatives; on "rep_ids" (shard,
    ID_ROWS blob) their ids; on "members" (rep_id, (rep_url, member_id, member_shard)) for
    every other member."""
    _, blobs = element
    reps, members = exact_groups(from_blobs(blobs, EXACT_ROWS))
    for shard, found in sorted(reps.items()):
        found.sort()
        yield shard, rows_blob(row for row, _ in found)
        ids = pa.table(
            {
                "doc_id": pa.array([d for _, d in found], pa.string()),
                "shard": pa.array([shard] * len(found), pa.uint32()),
                "row": pa.array([row for row, _ in found], pa.uint32()),
            },
            schema=ID_ROWS,
        )
        yield beam.pvalue.TaggedOutput("rep_ids", (shard, to_blob(ids)))
    for m in members:
        yield beam.pvalue.TaggedOutput("members", (m.rep_id, (m.rep_url, m.doc_id, m.shard)))


def _print_of(table_cols: dict[str, list], i: int, shard: int) -> near.Fingerprint:
    doc_id = table_cols["doc_id"][i]
    return near.Fingerprint(
        doc_id,
        table_cols["url"][i],
        keeper_rank(doc_id, table_cols["max_score"][i], table_cols["first_seen_utc"][i]),
        table_cols["exact_key"][i],
        table_cols["signature"][i],
        shard,
    )


class BandShard(beam.DoFn):
    """(shard, {"sigs": blobs, "reps": rows blobs}) -> (band partition, BAND_ROWS blob): the
    LSH band keys of the shard's representatives that have a signature."""

    def __init__(self, params: MinHashParams, partitions: int) -> None:
        self.params = params
        self.partitions = partitions

    def process(self, element: tuple[int, dict[str, list]]) -> Iterable[tuple[int, bytes]]:
        index, groups = element
        reps = set(rows_of(groups["reps"]).tolist())
        if not reps or not groups["sigs"]:
            return
        cols = from_blobs(groups["sigs"], SIG_ROWS).select(["row", "signature"])
        out = Partitioner(BAND_ROWS, self.partitions)
        for row, sig in zip(*(c.to_pylist() for c in cols.columns), strict=True):
            if row not in reps:
                continue
            for key in band_keys(np.frombuffer(sig, dtype=np.uint32), self.params):
                out.add(partition_of_band_key(key, self.partitions), (key, index, row))
            if out.count >= FLUSH_ROWS:
                yield from out.flush()
        yield from out.flush()


class CandidatePairs(beam.DoFn):
    """(band partition, blobs) -> place pairs (shard a, row a, shard b, row b) of its small
    buckets (a pair in several buckets comes several times); on "large" (band key, member
    places) of each bucket larger than max_neighbours + 1."""

    def __init__(self, max_neighbours: int) -> None:
        self.max_neighbours = max_neighbours

    def process(self, element: tuple[int, Iterable[bytes]]) -> Iterable[Any]:
        _, blobs = element
        table = from_blobs(blobs, BAND_ROWS)
        pairs, checked, large = candidate_pairs(table, self.max_neighbours)
        yield from pairs
        for bucket in large:
            yield beam.pvalue.TaggedOutput("large", bucket)
        yield _details(Counter({"candidate_pairs_checked": checked}))


def _large_member_places(bucket: tuple[bytes, list[tuple[int, int]]]) -> Iterable[Any]:
    key, members = bucket
    for shard, row in members:
        yield shard, (key, row)


def _large_member_ids(element: tuple[int, dict[str, list]]) -> Iterable[Any]:
    """(shard, {"ids": rep id blobs, "members": (band key, row)}) -> (band key, (doc_id,
    shard, row))."""
    index, groups = element
    if not groups["members"]:
        return
    ids = from_blobs(groups["ids"], ID_ROWS)
    at = dict(zip(ids["row"].to_pylist(), ids["doc_id"].to_pylist(), strict=True))
    for key, row in groups["members"]:
        yield key, (at[row], index, row)


class LargeBucketPairs(beam.DoFn):
    """(band key, [(doc_id, shard, row)]) -> the place pairs of a large bucket (doc_id order)."""

    def __init__(self, max_neighbours: int) -> None:
        self.max_neighbours = max_neighbours

    def process(self, element: tuple[bytes, Iterable[tuple[str, int, int]]]) -> Iterable[Any]:
        _, members = element
        pairs, checked = ordered_bucket_pairs(list(members), self.max_neighbours)
        yield from pairs
        yield _details(Counter({"candidate_pairs_checked": checked}))


def _pair_ends(pair: tuple[int, int, int, int]) -> Iterable[tuple[int, Any]]:
    """A candidate place pair -> each end keyed by its shard: (shard, (pair, row))."""
    shard_a, row_a, shard_b, row_b = pair
    yield shard_a, (pair, row_a)
    yield shard_b, (pair, row_b)


def _end_prints(element: tuple[int, dict[str, list]]) -> Iterable[Any]:
    """(shard, {"sigs", "ends"}) -> (pair, fingerprint) for each pair end."""
    index, groups = element
    if not groups["ends"]:
        return
    cols = from_blobs(groups["sigs"], SIG_ROWS).to_pydict()
    at = {row: i for i, row in enumerate(cols["row"])}
    for pair, row in groups["ends"]:
        yield pair, _print_of(cols, at[row], index)


class VerifyPairs(beam.DoFn):
    """(pair, [fingerprint] x 2) -> an edge (a, b, estimated Jaccard), a's id < b's, when it
    reaches the threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def process(self, element: tuple[tuple[int, ...], Iterable[Any]]) -> Iterable[Any]:
        _, ends = element
        a, b = sorted(ends, key=lambda fp: fp.doc_id)
        sa = np.frombuffer(a.signature, dtype=np.uint32)
        sb = np.frombuffer(b.signature, dtype=np.uint32)
        sim = float(np.count_nonzero(sa == sb)) / len(sa)  # as near.verify_bucket
        if sim >= self.threshold:
            yield a, b, sim


def _resolve_components(edges: list[near.SlimEdge]) -> Iterable[tuple[str, str]]:
    # The one global step: the graph of verified edges only (ids and ranks, no signatures).
    yield from near.resolve_slim_edges(edges)


def _removed_with_print(element: tuple[str, dict[str, list]]) -> Iterable[tuple[str, Any]]:
    _, groups = element
    for keeper_id in groups["keeper"]:
        yield keeper_id, groups["fp"][0]


def _near_removals(element: tuple[str, dict[str, list]]) -> Iterable[tuple[str, near.Removal]]:
    _, groups = element
    keeper_fp = groups["fp"][0] if groups["fp"] else None
    for removed_fp in groups["removed"]:
        removal = near.near_removal(removed_fp, keeper_fp)
        yield removal.doc_id, removal


def _resolve_members(element: tuple[str, dict[str, list]]) -> Iterable[tuple[str, near.Removal]]:
    rep_id, groups = element
    members = groups["members"]
    if not members:
        return
    rep_removal = groups["near"][0] if groups["near"] else None
    rep_url = members[0][0]
    where = {member_id: shard for _, member_id, shard in members}
    for removal in near.resolve_exact_members(rep_id, rep_url, list(where), rep_removal, where):
        yield removal.doc_id, removal


class Removals(beam.PTransform):
    """Edges and exact members -> (doc_id, Removal) for every removed document: clusters of
    edges resolved globally (the keeper is each component's best document), then the members
    of exact groups whose representative was removed. "near" holds the near removals alone.
    ``meter`` (a ShuffleMeter) measures what enters its joins."""

    def __init__(self, meter: ShuffleMeter | None = None) -> None:
        super().__init__()
        self.meter = meter or (lambda pcoll, _: pcoll)

    def expand(self, inputs: dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        edges, members, m = inputs["edges"], inputs["members"], self.meter
        clusters = (
            edges
            | "SlimEdges" >> beam.Map(lambda e: near.slim_edge(e[0], e[1]))
            | "AllEdges" >> beam.combiners.ToList()
            | "Components" >> beam.FlatMap(_resolve_components)  # (removed, keeper)
        )
        # The Jaccard of each removed document to its keeper: two joins with the fingerprints
        # of the documents on edges (not the whole corpus).
        node_prints = (
            edges
            | "EdgeNodes" >> beam.FlatMap(lambda e: [(e[0].doc_id, e[0]), (e[1].doc_id, e[1])])
            | "OnePrintPerNode" >> beam.CombinePerKey(lambda fps: next(iter(fps)))
        )
        removed_prints = (
            {"keeper": m(clusters, "Clusters"), "fp": m(node_prints, "NodePrints")}
            | "JoinRemoved" >> beam.CoGroupByKey()
            | "ByKeeper" >> beam.FlatMap(_removed_with_print)
        )
        near_removals = (
            {"removed": m(removed_prints, "RemovedPrints"), "fp": m(node_prints, "KeeperPrints")}
            | "JoinKeeper" >> beam.CoGroupByKey()
            | "NearRemovals" >> beam.FlatMap(_near_removals)
        )
        member_removals = (
            {"members": m(members, "Members"), "near": m(near_removals, "NearRemovals")}
            | "JoinRepresentatives" >> beam.CoGroupByKey()
            | "ResolveMembers" >> beam.FlatMap(_resolve_members)
        )
        removals = (near_removals, member_removals) | "AllRemovals" >> beam.Flatten()
        return {"all": removals, "near": near_removals}


class DeduplicateDocs(beam.PTransform):
    """``(shard index, docs shard path)`` pairs -> {"corpus": (name, rows) of each corpus/
    shard written, "dups": the same for dups/, "removals": (doc_id, Removal), "stats",
    "details", "shuffled": the bytes of the records that entered its GroupByKeys and
    CoGroupByKeys (one int)}; see the module docstring for the steps."""

    def __init__(self, config: DedupConfig, inputs: list[str]) -> None:
        super().__init__()
        self.config = config
        self.inputs = inputs

    def expand(self, shard_paths: beam.PCollection) -> dict[str, beam.PCollection]:
        cfg, n = self.config, partitions_for(len(self.inputs))
        m = ShuffleMeter()
        ids = shard_paths | "ShardIds" >> beam.ParDo(ShardIds(n)).with_outputs(
            BundleStats.STATS_TAG, main="ids"
        )
        losers = (
            m(ids.ids, "Ids")
            | "GroupIds" >> beam.GroupByKey()
            | "DuplicateIds"
            >> beam.ParDo(DuplicateIds(self.inputs)).with_outputs(
                BundleStats.STATS_TAG, main="losers"
            )
        )
        prints = (
            {"path": m(shard_paths, "Paths"), "losers": m(losers.losers, "Losers")}
            | "JoinLosers" >> beam.CoGroupByKey()
            | "Fingerprint"
            >> beam.ParDo(FingerprintShard(cfg.minhash, n)).with_outputs(
                BundleStats.STATS_TAG, DETAILS_TAG, "sigs", "skip", main="exact"
            )
        )
        exact = (
            m(prints.exact, "Exact")
            | "GroupExactKeys" >> beam.GroupByKey()
            | "ExactGroups"
            >> beam.FlatMap(_exact_groups).with_outputs("rep_ids", "members", main="reps")
        )
        candidates = (
            {"sigs": m(prints.sigs, "Sigs"), "reps": m(exact.reps, "Reps")}
            | "JoinReps" >> beam.CoGroupByKey()
            | "BandKeys" >> beam.ParDo(BandShard(cfg.minhash, n))
        )
        candidates = (
            m(candidates, "Bands")
            | "GroupBands" >> beam.GroupByKey()
            | "CandidatePairs"
            >> beam.ParDo(CandidatePairs(cfg.max_bucket_neighbours)).with_outputs(
                DETAILS_TAG, "large", main="pairs"
            )
        )
        large = (
            {
                "ids": m(exact.rep_ids, "RepIds"),
                "members": m(
                    candidates.large | "LargeMembers" >> beam.FlatMap(_large_member_places),
                    "LargeMembers",
                ),
            }
            | "JoinLargeIds" >> beam.CoGroupByKey()
            | "LargeMemberIds" >> beam.FlatMap(_large_member_ids)
        )
        large = (
            m(large, "LargeIds")
            | "GroupLarge" >> beam.GroupByKey()
            | "LargeBucketPairs"
            >> beam.ParDo(LargeBucketPairs(cfg.max_bucket_neighbours)).with_outputs(
                DETAILS_TAG, main="pairs"
            )
        )
        pairs = (candidates.pairs, large.pairs) | "AllPairs" >> beam.Flatten()
        ends = (
            m(pairs, "Pairs")
            | "OnePairEach" >> beam.Distinct()
            | "PairEnds" >> beam.FlatMap(_pair_ends)
        )
        edges = (
            {"sigs": m(prints.sigs, "EndSigs"), "ends": m(ends, "Ends")}
            | "JoinSignatures" >> beam.CoGroupByKey()
            | "EndPrints" >> beam.FlatMap(_end_prints)
        )
        edges = (
            m(edges, "EndPrints")
            | "GroupPairs" >> beam.GroupByKey()
            | "VerifyPairs" >> beam.ParDo(VerifyPairs(cfg.minhash.threshold))
        )
        removals = {"edges": edges, "members": exact.members} | "Removals" >> Removals(m)
        by_shard = removals["all"] | "ByShard" >> beam.Map(lambda kv: (kv[1].shard, kv[1]))
        written = (
            {
                "path": m(shard_paths, "FilterPaths"),
                "skip": m(prints.skip, "Skip"),
                "removals": m(by_shard, "ByShard"),
            }
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "FilterShards"
            >> beam.ParDo(
                FilterShard(
                    cfg.out_dir,
                    cfg.dups_dir,
                    len(self.inputs),
                    cfg.val_fraction,
                    cfg.test_fraction,
                )
            ).with_outputs(BundleStats.STATS_TAG, "dups", main="corpus")
        )
        stats = (
            ids.stats,
            losers.stats,
            prints.stats,
            written.stats,
        ) | "AllStats" >> beam.Flatten()
        details = (
            prints[DETAILS_TAG],
            candidates[DETAILS_TAG],
            large[DETAILS_TAG],
            edges | "CountEdges" >> beam.combiners.Count.Globally(),
            removals["near"] | "CountNear" >> beam.combiners.Count.Globally(),
        )
        return {
            "corpus": written.corpus,
            "dups": written.dups,
            "removals": removals["all"],
            "stats": stats,
            "details": _all_details(*details),
            "shuffled": m.total(),
        }


def _all_details(
    fingerprints: beam.PCollection,
    buckets: beam.PCollection,
    large_buckets: beam.PCollection,
    edge_count: beam.PCollection,
    near_count: beam.PCollection,
) -> beam.PCollection:
    """Every Counter of figures that are not drops: short documents, candidate pairs checked,
    verified edges, near duplicates of representatives."""
    return (
        fingerprints,
        buckets,
        large_buckets,
        edge_count | "EdgeCounter" >> beam.Map(lambda n: Counter({"verified_edges": n})),
        near_count
        | "NearCounter" >> beam.Map(lambda n: Counter({"near_duplicates_of_representatives": n})),
    ) | "AllDetailsAndCounts" >> beam.Flatten()


class FinishCorpus(FinishOutput):
    """FinishOutput for corpus/, with ``shuffle_bytes`` in _stats.json: the "shuffled" input
    (one int, DeduplicateDocs' own shuffles; the filter pass writes without one)."""

    def expand(self, pcolls: dict[str, beam.PCollection]) -> beam.PCollection:
        summed = pcolls["totals"] | "SumTotals" >> beam.CombinePerKey(sum)
        total = pcolls["stats"] | "MergeStats" >> beam.CombineGlobally(MergeStats())
        return total | "Finish" >> beam.Map(
            finish_stage,
            written=beam.pvalue.AsList(pcolls["written"]),
            out_dir=self.out_dir,
            stage=self.stage,
            totals=beam.pvalue.AsList(summed),
            shuffled=beam.pvalue.AsSingleton(pcolls["shuffled"]),
        )


# dups/ is a side output: its _stats.json counts the removed documents by reason.
DUP_REASONS = ("exact", "near")


def _removed_totals(p: beam.Pipeline, removals: beam.PCollection) -> beam.PCollection:
    """(("removed", reason), n) for every reason, zeros included, for dups/ _stats.json."""
    zeros = p | "NoRemovals" >> beam.Create([(("removed", r), 0) for r in DUP_REASONS])
    counted = removals | "RemovedReason" >> beam.Map(lambda kv: (("removed", kv[1].reason), 1))
    return (zeros, counted) | "AllRemoved" >> beam.Flatten()


def _detail_totals(counter: Counter) -> Iterable[tuple[tuple[str, str], int]]:
    """Figures that are not drops (clusters, candidate pairs, short documents) go to
    _stats.json's "details" section through FinishOutput's totals."""
    for name, value in counter.items():
        yield ("details", name), value


class DedupJob(StageJob):
    """docs/ -> corpus/ (with splits) + dups/ (a side output: what was removed, and why)."""

    command = "dedup"
    input_name = "docs"
    input_schema = schemas.DOCS

    def input_dir(self) -> str:
        return self.config.docs_dir

    def outputs(self) -> list[StageOutput]:
        """corpus/ and dups/: one shard per docs/ shard, of the same index (the filter pass
        writes them, named after the docs/ shards)."""
        cfg = self.config
        return [
            StageOutput(cfg.out_dir, "corpus", schemas.CORPUS),
            StageOutput(
                cfg.dups_dir,
                "dups",
                schemas.DUPS,
                empty_stats={"removed": dict.fromkeys(DUP_REASONS, 0)},
            ),
        ]

    def produce(self, inputs: list[str], beam_args: list[str] | None) -> None:
        """One pipeline: the decisions over compact records, then the filter pass writes
        corpus/ and dups/ shard by shard (not WriteStageOutput: no row is shuffled)."""
        cfg = self.config
        with beam_pipeline(beam_args) as p:
            result = (
                p
                | "Inputs" >> beam.Create(list(enumerate(inputs)))
                | "Dedup" >> DeduplicateDocs(cfg, inputs)
            )
            totals = result["details"] | "DetailTotals" >> beam.FlatMap(_detail_totals)
            _ = {
                "written": result["corpus"],
                "stats": result["stats"],
                "totals": totals,
                "shuffled": result["shuffled"],
            } | "FinishCorpus" >> FinishCorpus(cfg.out_dir, "corpus")
            _ = {
                "written": result["dups"],
                "totals": _removed_totals(p, result["removals"]),
            } | "FinishDups" >> FinishOutput(cfg.dups_dir, "dups")

    def summary_lines(self, data: dict[str, Any]) -> list[str]:
        """The figures that are not drops, the split sizes, a few removed documents."""
        cfg = self.config
        lines = [f"  {key:<36} {value:>10,}" for key, value in data.get("details", {}).items()]
        splits = Counter(
            r["split"] for r in shards.read_rows(cfg.out_dir, schemas.CORPUS, columns=["split"])
        )
        lines.append(
            "  splits: " + ", ".join(f"{s} {splits.get(s, 0):,}" for s in ("train", "val", "test"))
        )
        dups = shards.read_rows(cfg.dups_dir, schemas.DUPS)
        for d in sorted(dups, key=lambda r: (r["reason"], -r["similarity"], r["doc_id"]))[:5]:
            lines.append(
                f"  removed {d['reason']:<5} J={d['similarity']:.2f} {d['url']} "
                f"(kept {d['keeper_url']})"
            )
        return lines


def run_dedup(
    config: DedupConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the dedup job. Returns "complete" when both outputs were already finished, else
    "ran". A rerun after a crash keeps the shards already written (they are identical)."""
    return DedupJob(config).run(beam_args, overwrite=overwrite)
