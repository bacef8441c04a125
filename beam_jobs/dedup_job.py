"""Stage 4 as a Beam job: docs/ -> de-duplicated corpus/ (with splits) + dups/.

read shards -> GroupByKey(doc_id) [one row per id] -> fingerprint
  -> GroupByKey(exact key) -> representatives + exact members
  -> representatives: FlatMap(band keys) -> GroupByKey(band key) -> verify candidate pairs
  -> GroupByKey(pair) [one edge per pair] -> global connected components over the edges only
  -> CoGroupByKey(representative) resolves exact members of removed representatives
  -> CoGroupByKey(doc_id) with the rows -> corpus/ rows (+ split) and dups/ rows

The pure decisions live in dedup/ (near.py, clusters.py, minhash.py, split.py); this module only
moves data between them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from beam_jobs.configs import DedupConfig
from beam_jobs.stage_io import BundleStats
from beam_jobs.stage_job import StageJob, StageOutput
from dedup import near
from dedup.minhash import MinHashParams
from dedup.split import assign_split
from pipeline.io import schemas, shards

log = logging.getLogger(__name__)
DETAILS_TAG = "details"


def default_dups_dir(out_dir: str) -> str:
    """dups/ beside corpus/: CORPUS_DIR's parent + "/dups"."""
    return shards.join(out_dir.rstrip("/").rpartition("/")[0] or ".", "dups")


def _details(counter: Counter) -> Any:
    return beam.pvalue.TaggedOutput(DETAILS_TAG, GlobalWindows.windowed_value(counter))


class ReadDocs(BundleStats):
    """A docs/ shard path -> (doc_id, row) for every row, schema checked."""

    def process(self, path: str) -> Iterable[tuple[str, dict]]:
        for batch in shards.iter_shard_batches(path, schemas.DOCS, batch_size=1024):
            for row in batch.to_pylist():
                self.stats.records_in += 1
                yield row["doc_id"], row


class PrepareDocs(BundleStats):
    """(doc_id, rows) -> the one row kept for the id + its fingerprint keyed by exact key."""

    def __init__(self, params: MinHashParams) -> None:
        self.params = params

    def setup(self) -> None:
        self.signer = near.Signer(self.params)

    def start_bundle(self) -> None:
        super().start_bundle()
        self.details: Counter = Counter()

    def process(self, element: tuple[str, Iterable[dict]]) -> Iterable[Any]:
        doc_id, rows = element
        ordered = sorted(rows, key=lambda r: (r["text"], r["url"], r["final_url"]))
        if len(ordered) > 1:
            self.stats.drop("duplicate_doc_id", len(ordered) - 1)
            self.stats.error(f"doc_id {doc_id} appears {len(ordered)} times in the input; kept one")
        row = ordered[0]
        fp = near.fingerprint(
            doc_id, row["url"], row["text"], row["max_score"], row["first_seen_utc"], self.signer
        )
        if fp is None:
            self.stats.drop("empty_text")
            return
        if fp.signature is None:
            self.details["near_dedup_skipped_shorter_than_shingle"] += 1
        yield doc_id, row
        yield beam.pvalue.TaggedOutput("prints", (fp.exact_key, fp))

    def finish_bundle(self) -> Iterable[Any]:
        yield from super().finish_bundle()
        yield _details(self.details)


def _exact_groups(element: tuple[str, Iterable[near.Fingerprint]]) -> Iterable[Any]:
    _, members = element
    rep, others = near.exact_group(members)
    yield rep
    for other in others:
        yield beam.pvalue.TaggedOutput("members", (rep.doc_id, (rep.url, other.doc_id)))


class VerifyBuckets(beam.DoFn):
    def __init__(self, threshold: float, max_neighbours: int) -> None:
        self.threshold = threshold
        self.max_neighbours = max_neighbours

    def start_bundle(self) -> None:
        self.details: Counter = Counter()

    def process(self, element: tuple[bytes, Iterable[near.Fingerprint]]) -> Iterable[Any]:
        _, members = element
        edges, checked = near.verify_bucket(members, self.threshold, self.max_neighbours)
        self.details["candidate_pairs_checked"] += checked
        for a, b, sim in edges:
            yield (a.doc_id, b.doc_id), (a, b, sim)

    def finish_bundle(self) -> Iterable[Any]:
        yield _details(self.details)


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
    for removal in near.resolve_exact_members(
        rep_id, rep_url, [m for _, m in members], rep_removal
    ):
        yield removal.doc_id, removal


class Finalize(BundleStats):
    """(doc_id, {"row": [row], "removal": [Removal]}) -> corpus row or dups row."""

    def __init__(self, val_fraction: float, test_fraction: float) -> None:
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def process(self, element: tuple[str, dict[str, list]]) -> Iterable[Any]:
        doc_id, groups = element
        rows, removals = groups["row"], groups["removal"]
        if len(rows) != 1 or len(removals) > 1:
            raise AssertionError(f"{doc_id}: {len(rows)} rows, {len(removals)} removals")
        row = rows[0]
        if removals:
            r = removals[0]
            self.stats.drop(f"{r.reason}_duplicate")
            yield beam.pvalue.TaggedOutput(
                "dups",
                (
                    doc_id,
                    {
                        "doc_id": doc_id,
                        "keeper_id": r.keeper_id,
                        "similarity": r.similarity,
                        "reason": r.reason,
                        "url": row["url"],
                        "keeper_url": r.keeper_url,
                    },
                ),
            )
            return
        self.stats.records_out += 1
        out = {name: row[name] for name in schemas.DOCS.names}
        out["split"] = assign_split(doc_id, self.val_fraction, self.test_fraction)
        yield doc_id, out


class ExactGroups(beam.PTransform):
    """(exact key, Fingerprint) -> {"reps": one representative Fingerprint per exact group,
    "members": (representative id, (its url, member id)) for every other member}."""

    def expand(self, prints: beam.PCollection) -> dict[str, beam.PCollection]:
        groups = (
            prints
            | "GroupByExactKey" >> beam.GroupByKey()
            | "ExactGroups" >> beam.FlatMap(_exact_groups).with_outputs("members", main="reps")
        )
        return {"reps": groups.reps, "members": groups.members}


class NearEdges(beam.PTransform):
    """Representatives -> verified near-duplicate edges ``(a, b, similarity)``, one per pair;
    the figures of the bucket checks on the "details" output."""

    def __init__(self, minhash: MinHashParams, max_bucket_neighbours: int) -> None:
        super().__init__()
        self.minhash = minhash
        self.max_bucket_neighbours = max_bucket_neighbours

    def expand(self, reps: beam.PCollection) -> dict[str, beam.PCollection]:
        verified = (
            reps
            | "BandKeys" >> beam.FlatMap(near.band_entries, self.minhash)
            | "GroupByBand" >> beam.GroupByKey()
            | "VerifyBuckets"
            >> beam.ParDo(
                VerifyBuckets(self.minhash.threshold, self.max_bucket_neighbours)
            ).with_outputs(DETAILS_TAG, main="edges")
        )
        edges = (
            verified.edges
            | "GroupByPair" >> beam.GroupByKey()  # a pair found in several bands: one edge
            | "OneEdge" >> beam.Map(lambda kv: next(iter(kv[1])))
        )
        return {"edges": edges, "details": verified[DETAILS_TAG]}


class Removals(beam.PTransform):
    """Edges and exact members -> (doc_id, Removal) for every removed document: clusters of
    edges resolved globally (the keeper is each component's best document), then the members
    of exact groups whose representative was removed. "near" holds the near removals alone."""

    def expand(self, inputs: dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        edges, members = inputs["edges"], inputs["members"]
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
            {"keeper": clusters, "fp": node_prints}
            | "JoinRemoved" >> beam.CoGroupByKey()
            | "ByKeeper" >> beam.FlatMap(_removed_with_print)
        )
        near_removals = (
            {"removed": removed_prints, "fp": node_prints}
            | "JoinKeeper" >> beam.CoGroupByKey()
            | "NearRemovals" >> beam.FlatMap(_near_removals)
        )
        member_removals = (
            {"members": members, "near": near_removals}
            | "JoinRepresentatives" >> beam.CoGroupByKey()
            | "ResolveMembers" >> beam.FlatMap(_resolve_members)
        )
        removals = (near_removals, member_removals) | "AllRemovals" >> beam.Flatten()
        return {"all": removals, "near": near_removals}


class DeduplicateDocs(beam.PTransform):
    """PCollection of docs/ shard paths -> {"corpus", "dups", "stats", "details"}:
    read -> one row per id + fingerprint -> ExactGroups -> NearEdges -> Removals -> Finalize."""

    def __init__(self, config: DedupConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, paths: beam.PCollection) -> dict[str, beam.PCollection]:
        cfg = self.config
        read = paths | "ReadDocs" >> beam.ParDo(ReadDocs()).with_outputs(
            BundleStats.STATS_TAG, main="rows"
        )
        prepared = (
            read.rows
            | "GroupById" >> beam.GroupByKey()
            | "Fingerprint"
            >> beam.ParDo(PrepareDocs(cfg.minhash)).with_outputs(
                BundleStats.STATS_TAG, DETAILS_TAG, "prints", main="rows"
            )
        )
        exact = prepared.prints | "Exact" >> ExactGroups()
        near_edges = exact["reps"] | "Near" >> NearEdges(cfg.minhash, cfg.max_bucket_neighbours)
        removals = {"edges": near_edges["edges"], "members": exact["members"]} | (
            "Removals" >> Removals()
        )
        final = (
            {"row": prepared.rows, "removal": removals["all"]}
            | "JoinRemovals" >> beam.CoGroupByKey()
            | "Finalize"
            >> beam.ParDo(Finalize(cfg.val_fraction, cfg.test_fraction)).with_outputs(
                BundleStats.STATS_TAG, "dups", main="corpus"
            )
        )
        stats = (read.stats, prepared.stats, final.stats) | "AllStats" >> beam.Flatten()
        return {
            "corpus": final.corpus,
            "dups": final.dups,
            "stats": stats,
            "details": _all_details(prepared, near_edges, removals["near"]),
        }


def _all_details(
    prepared: beam.pvalue.DoOutputsTuple,
    near_edges: dict[str, beam.PCollection],
    near_removals: beam.PCollection,
) -> beam.PCollection:
    """Every Counter of figures that are not drops: short documents, candidate pairs checked,
    verified edges, near duplicates of representatives."""
    edge_count = near_edges["edges"] | "CountEdges" >> beam.combiners.Count.Globally()
    removal_count = near_removals | "CountNear" >> beam.combiners.Count.Globally()
    return (
        prepared[DETAILS_TAG],
        near_edges["details"],
        edge_count | beam.Map(lambda n: Counter({"verified_edges": n})),
        removal_count | beam.Map(lambda n: Counter({"near_duplicates_of_representatives": n})),
    ) | "AllDetailsAndCounts" >> beam.Flatten()


# dups/ is a side output: its _stats.json counts the removed documents by reason.
DUP_REASONS = ("exact", "near")


def _removed_totals(p: beam.Pipeline, dups: beam.PCollection) -> beam.PCollection:
    """(("removed", reason), n) for every reason, zeros included, for dups/ _stats.json."""
    zeros = p | "NoRemovals" >> beam.Create([(("removed", r), 0) for r in DUP_REASONS])
    counted = dups | "RemovedReason" >> beam.Map(lambda kv: (("removed", kv[1]["reason"]), 1))
    return (zeros, counted) | "AllRemoved" >> beam.Flatten()


def _detail_totals(counter: Counter) -> Iterable[tuple[tuple[str, str], int]]:
    """Figures that are not drops (clusters, candidate pairs, short documents) go to
    _stats.json's "details" section through WriteStageOutput's totals."""
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
        cfg = self.config
        return [
            StageOutput(cfg.out_dir, "corpus", schemas.CORPUS, cfg.num_shards),
            StageOutput(
                cfg.dups_dir,
                "dups",
                schemas.DUPS,
                cfg.num_shards,
                empty_stats={"removed": dict.fromkeys(DUP_REASONS, 0)},
            ),
        ]

    def expand(self, p: beam.Pipeline, inputs: list[str]) -> dict[str, dict[str, Any]]:
        result = p | "Inputs" >> beam.Create(inputs) | "Dedup" >> DeduplicateDocs(self.config)
        totals = result["details"] | "DetailTotals" >> beam.FlatMap(_detail_totals)
        return {
            "corpus": {"rows": result["corpus"], "stats": result["stats"], "totals": totals},
            "dups": {"rows": result["dups"], "totals": _removed_totals(p, result["dups"])},
        }

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
