"""`webtext overlap`: the 8-gram Bloom filter of a corpus split (a Beam job) and the overlap
of test sets with it (plain Python).

Filter build (Beam), one filter (--filter-partitions 1, the default): corpus shard paths ->
ParDo: one full-size filter per shard, saved as a file -> CombineGlobally(ToList) -> one OR-merge
streaming over the partial files. The partial filters travel as file paths, not as bit arrays (a
filter for 8G 8-grams is 38 GB: far too big to pass through a shuffle), and a partial file
already written by an interrupted run with the same parameters is reused. Every worker holds m
bits.

Filter build, P partitions by hash range (--filter-partitions P, a power of two; routing and
sizing in dedup.ngram.partitioned): corpus shard paths -> ParDo: hash the split's 8-grams, route
each batch of ~1M hashes by partition and emit (partition, uint64 array of its local items) -> Flatten
with one empty array per partition (so every partition is built, even one no 8-gram reached) ->
GroupByKey on the partition -> ParDo: one filter of m / P bits per partition, written atomically
to filters/part-{i:05d}-of-{P:05d}.bloom. A partition file already complete with the same parameters
is kept on rerun and its hashes are dropped before the shuffle. The counts travel on a tagged
output to one CombineGlobally; the driver writes filters/manifest.json last, after checking every
partition file. No worker holds more than m / P bits (plus one batch of hashes).

Queries (plain Python, dedup.ngram.overlap): test sets are small (MBs) next to the corpus, and
one process with the merged filter memory-mapped answers them at millions of 8-grams a second.
The output directory (filters/, documents/, sets.json, table.txt, verify.json) is laid out, written
and read back by dedup.ngram.overlap_dir.

The run is a StageJob (beam_jobs.stage_job: input check, fingerprint, lock, claim/resume, one
summary) whose ``produce`` is the filter build and the queries above.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np

from beam_jobs.configs import OverlapConfig  # noqa: F401 (re-exported)
from beam_jobs.shard_read import empty_input_message
from beam_jobs.stage_io import fingerprint_inputs
from beam_jobs.stage_job import StageJob, StageOutput, beam_pipeline
from dedup import text as textmod
from dedup.ngram import overlap, overlap_dir
from dedup.ngram import partitioned as part
from dedup.ngram.bloom import (
    BloomError,
    BloomFilter,
    BloomParams,
    hashing_kernels,
    merge_files,
    ngram_hashes_normalised,
    read_header,
)
from eval.testsets import TestDoc, parse_test_specs, read_test_set
from pipeline.io import schemas, shards

log = logging.getLogger(__name__)
CHARS_PER_NGRAM_ESTIMATE = (
    4.0  # English averages ~5.5 normalised bytes per word: n is overestimated
)
SHIP_BATCH_ITEMS = 1 << 20  # 8-gram hashes routed and shipped per batch (8 MB)


def _iter_split_texts(path: str, split: str) -> Iterable[str]:
    for batch in shards.iter_shard_batches(
        path, schemas.CORPUS, columns=["text", "split"], batch_size=1024
    ):
        for text, s in zip(
            batch.column("text").to_pylist(), batch.column("split").to_pylist(), strict=True
        ):
            if s == split:
                yield text


def estimate_ngrams(corpus_dir: str, split: str) -> int:
    """An over-estimate of the split's 8-gram count from its character count (no text read)."""
    chars = 0
    for batch in shards.iter_batches(corpus_dir, schemas.CORPUS, columns=["n_chars", "split"]):
        for n, s in zip(
            batch.column("n_chars").to_pylist(), batch.column("split").to_pylist(), strict=True
        ):
            if s == split:
                chars += n
    return max(1, int(chars / CHARS_PER_NGRAM_ESTIMATE))


class BuildShardFilter(beam.DoFn):
    """A corpus shard -> a full-size filter of its split's 8-grams, saved; yields its path and
    the counts (documents, 8-grams, documents shorter than one 8-gram)."""

    def __init__(self, params: BloomParams, partial_dir: str, split: str) -> None:
        self.params = params
        self.partial_dir = partial_dir
        self.split = split

    def process(self, shard_path: str) -> Iterable[tuple[str, dict[str, int]]]:
        out = Path(self.partial_dir) / (Path(shard_path).stem + ".bloom")
        if out.exists():
            try:
                params, items, _ = read_header(out)
                if params == self.params:
                    log.info("kept %s from an earlier run", out)
                    yield str(out), json.loads(out.with_suffix(".json").read_text())
                    return
            except (BloomError, FileNotFoundError, json.JSONDecodeError):
                pass  # unusable leftover: rebuild it
        bloom = BloomFilter(self.params)
        counts = {"documents": 0, "ngrams": 0, "documents_shorter_than_ngram": 0}
        for text in _iter_split_texts(shard_path, self.split):
            counts["documents"] += 1
            n = bloom.add_text(text)
            counts["ngrams"] += n
            if n == 0:
                counts["documents_shorter_than_ngram"] += 1
        shards.write_json_atomic(str(out.with_suffix(".json")), counts)
        bloom.save(out)
        yield str(out), counts


def build_reference_filter(
    config: OverlapConfig, beam_args: list[str] | None = None
) -> tuple[Path, dict[str, int]]:
    """Build (or reuse) the corpus split's filter: out_dir/filters/reference.bloom, or with
    filter_partitions > 1 the partition files and out_dir/filters/manifest.json. Returns the
    path to load (dedup.ngram.partitioned.load_filter takes either) and the split's counts."""
    n = config.expected_ngrams or estimate_ngrams(config.corpus_dir, config.split)
    if config.filter_partitions > 1:
        return build_partitioned_filter(config, n, beam_args)
    inputs = shards.list_shards(config.corpus_dir)
    params = BloomParams.for_capacity(n, config.fp_rate, ngram=config.ngram)
    partial = overlap_dir.partial_dir(config.out_dir)
    partial.mkdir(parents=True, exist_ok=True)
    final = overlap_dir.reference_filter_path(config.out_dir)
    counts_path = overlap_dir.reference_counts_path(config.out_dir)
    if not inputs:  # an empty corpus: an empty filter, nothing to merge
        BloomFilter(params).save(final)
        counts = {"documents": 0, "ngrams": 0, "documents_shorter_than_ngram": 0}
        overlap_dir.write_reference_counts(counts, counts_path)
        partial.rmdir()
        return final, counts
    log.info(
        "filter for %s 8-grams at p=%g: %s bits (%.1f MB), %d probes",
        f"{n:,}",
        config.fp_rate,
        f"{params.num_bits:,}",
        params.num_bits / 8e6,
        params.num_hashes,
    )
    with beam_pipeline(beam_args) as p:
        _ = (
            p
            | "Shards" >> beam.Create(inputs)
            | "BuildShardFilters"
            >> beam.ParDo(BuildShardFilter(params, str(partial), config.split))
            | "AllPartials" >> beam.combiners.ToList()
            | "OrMerge" >> beam.Map(_merge_partials, str(final), str(counts_path))
        )
    counts = overlap_dir.read_reference_counts(config.out_dir)
    for leftover in partial.glob("*"):
        leftover.unlink()
    partial.rmdir()
    return final, counts


class HashShardByPartition(beam.DoFn):
    """A corpus shard -> (partition, uint64 array of its local items) for each partition still
    to build, in batches of about SHIP_BATCH_ITEMS hashes (one element per batch and partition,
    not per 8-gram); the shard's counts (documents, 8-grams, documents shorter than one 8-gram)
    go to the "counts" output."""

    COUNTS = "counts"

    def __init__(
        self,
        params: BloomParams,
        partitions: int,
        split: str,
        todo: list[int],
        batch_items: int = SHIP_BATCH_ITEMS,
    ) -> None:
        self.params = params
        self.partitions = partitions
        self.split = split
        self.todo = sorted(todo)
        self.batch_items = batch_items

    def setup(self) -> None:
        self._kernels = hashing_kernels()
        self._wanted = np.zeros(self.partitions, dtype=bool)
        self._wanted[self.todo] = True

    def process(self, shard_path: str) -> Iterable[Any]:
        counts = {"documents": 0, "ngrams": 0, "documents_shorter_than_ngram": 0}
        pending: list[np.ndarray] = []
        size = 0
        for text in _iter_split_texts(shard_path, self.split):
            grams = ngram_hashes_normalised(
                textmod.normalised_codepoints(text),
                self.params.seed,
                self.params.ngram,
                kernels=self._kernels,
            )
            counts["documents"] += 1
            counts["ngrams"] += len(grams)
            if len(grams) == 0:
                counts["documents_shorter_than_ngram"] += 1
                continue
            pending.append(grams)
            size += len(grams)
            if size >= self.batch_items:
                yield from self._route(pending)
                pending, size = [], 0
        yield from self._route(pending)
        yield beam.pvalue.TaggedOutput(self.COUNTS, counts)

    def _route(self, pending: list[np.ndarray]) -> Iterable[tuple[int, np.ndarray]]:
        if not pending:
            return
        grouped = part.group_by_partition(np.concatenate(pending), self.partitions)
        for index, local in grouped.nonempty():
            if self._wanted[index]:
                yield index, local.copy()  # its own buffer: not a view of the whole batch


class BuildPartitionFilter(beam.DoFn):
    """(partition, its batches of local items) -> that partition's filter (m / P bits), written
    atomically to filters_dir/part-{i:05d}-of-{P:05d}.bloom; yields (partition, items inserted)."""

    def __init__(self, params: BloomParams, partitions: int, filters_dir: str) -> None:
        self.params = params
        self.partitions = partitions
        self.filters_dir = filters_dir

    def process(self, element: tuple[int, Iterable[np.ndarray]]) -> Iterable[tuple[int, int]]:
        index, batches = element
        bloom = BloomFilter(self.params)
        for batch in batches:
            if len(batch):
                bloom.add_hashes(batch)
        path = Path(self.filters_dir) / part.partition_file_name(index, self.partitions)
        bloom.save(path, extra=part.partition_header(index, self.partitions))
        log.info("partition %d of %d: %s items -> %s", index, self.partitions,
                 f"{bloom.items_inserted:,}", path)  # fmt: skip
        yield index, bloom.items_inserted


def build_partitioned_filter(
    config: OverlapConfig, n: int, beam_args: list[str] | None = None
) -> tuple[Path, dict[str, int]]:
    """The partitioned build (see the module docstring). Partition files already complete
    with these parameters are kept; when all are there and the counts too, no pipeline runs."""
    partitions = config.filter_partitions
    params = part.partition_params(n, config.fp_rate, partitions, ngram=config.ngram)
    manifest = part.Manifest(partitions, n, config.fp_rate, params)
    filters = overlap_dir.filters_dir(config.out_dir)
    filters.mkdir(parents=True, exist_ok=True)
    shards.clean_temporaries(str(filters))
    counts_path = overlap_dir.reference_counts_path(config.out_dir)
    (filters / part.MANIFEST_NAME).unlink(missing_ok=True)  # written again once all are there
    todo = [
        i
        for i in range(partitions)
        if not part.reusable_partition(
            filters / part.partition_file_name(i, partitions), params, i, partitions
        )
    ]
    log.info(
        "filter for %s 8-grams at p=%g in %d partitions of %s bits (%.1f MB) each, %d probes; "
        "%d to build, %d kept from an earlier run",
        f"{n:,}", config.fp_rate, partitions, f"{params.num_bits:,}", params.num_bits / 8e6,
        params.num_hashes, len(todo), partitions - len(todo),
    )  # fmt: skip
    floor = part.double_hashing_floor(params)
    if floor > config.fp_rate:
        log.warning(
            "partitions of %s bits are small enough that double hashing adds ~%.2g to the "
            "false-positive rate (target %g): use fewer partitions for a corpus this size",
            f"{params.num_bits:,}", floor, config.fp_rate,
        )  # fmt: skip
    if todo or not counts_path.is_file():
        inputs = shards.list_shards(config.corpus_dir)
        with beam_pipeline(beam_args) as p:
            hashed = (
                p
                | "Shards" >> beam.Create(inputs)
                | "HashByPartition"
                >> beam.ParDo(
                    HashShardByPartition(params, partitions, config.split, todo)
                ).with_outputs(HashShardByPartition.COUNTS, main="hashes")
            )
            every = p | "EveryPartition" >> beam.Create(
                [(i, np.empty(0, dtype=np.uint64)) for i in todo]
            )
            _ = (
                (hashed.hashes, every)
                | "WithEmpty" >> beam.Flatten()
                | "ByPartition" >> beam.GroupByKey()
                | "BuildPartitions"
                >> beam.ParDo(BuildPartitionFilter(params, partitions, str(filters)))
            )
            _ = (
                hashed[HashShardByPartition.COUNTS]
                | "SumCounts" >> beam.CombineGlobally(_sum_counts)
                | "WriteCounts" >> beam.Map(overlap_dir.write_reference_counts, str(counts_path))
            )
    for i in range(partitions):  # names the first missing or wrong file
        part.check_partition_file(
            filters / part.partition_file_name(i, partitions), params, i, partitions
        )
    return manifest.write(filters), overlap_dir.read_reference_counts(config.out_dir)


def _merge_partials(parts: list[tuple[str, dict[str, int]]], final: str, counts_path: str) -> None:
    """The global step: OR the per-shard filters into one file, sum their counts."""
    merge_files(sorted(path for path, _ in parts), final)
    overlap_dir.write_reference_counts(_sum_counts(c for _, c in parts), counts_path)


def _sum_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


class OverlapJob(StageJob):
    """corpus/ (its split's 8-grams) and the test sets -> overlap/. Its output is not Parquet
    shards written by one pipeline: ``produce`` builds the reference filter (a pipeline, none
    when every partition is kept from an earlier run), then measures the test sets and writes
    the directory in plain Python (dedup.ngram.overlap_dir). An empty corpus is measured
    against too (every overlap 0%)."""

    command = "overlap"
    input_name = "corpus"
    input_schema = schemas.CORPUS

    def __init__(self, config: OverlapConfig) -> None:
        super().__init__(config)
        self.tests = parse_test_specs(config.tests)
        self.own = {s.name: s for s in parse_test_specs(config.own_train)}
        self.test_docs: dict[str, list[TestDoc]] = {}
        self.results: list[overlap.SetOverlap] = []  # set by the run, or read back

    def input_dir(self) -> str:
        return self.config.corpus_dir

    def outputs(self) -> list[StageOutput]:
        return [StageOutput(self.config.out_dir, "overlap")]  # written by produce, no schema

    def check(self) -> None:
        self.test_docs = {t.name: read_test_set(t) for t in self.tests}  # a bad test file

    def fingerprint(self, inputs: list[str]) -> list[str]:
        """The corpus shards, then every test set's and own train split's file."""
        files = [t.path for t in self.tests] + [s.path for s in self.own.values()]
        return fingerprint_inputs([*inputs, *files])

    def on_complete(self) -> None:
        self.results = overlap_dir.read_results(self.config.out_dir)

    def on_empty_input(self, directory: str, outs: list[StageOutput]) -> bool:
        action = (
            "measuring the test sets against an empty reference (0% overlap) in "
            f"{self.config.out_dir}"
        )
        log.info("%s", empty_input_message(directory, "corpus", "overlap", action))
        return False  # measured all the same

    def produce(self, inputs: list[str], beam_args: list[str] | None) -> None:
        config = self.config
        reference_path, counts = build_reference_filter(config, beam_args)
        reference = part.load_filter(reference_path, mmap=True)
        refs: list[tuple[str, BloomFilter | part.PartitionedBloom, list[str]]] = [
            (config.reference_name, reference, [t.name for t in self.tests])
        ]
        for name, s in self.own.items():
            texts = [d.text for d in read_test_set(s)]
            bloom = overlap.text_filter(texts, config.ngram, config.fp_rate, s.describe())
            refs.append((f"{name} own train", bloom, [name]))

        docs = {name: [(d.key, d.text) for d in ds] for name, ds in self.test_docs.items()}
        self.results = overlap.measure_all(refs, docs)
        verification = (
            overlap.verify(reference, config.verify_queries) if config.verify_queries else None
        )
        overlap_dir.write_results(config.out_dir, self.results, counts, reference, verification)

    def summary(self, prefix: str = "") -> str:
        """The Table-6-shaped table, each set's counts and the filter check, read from the
        finished directory when this job did not run it; titled only when ``prefix`` is."""
        out = self.config.out_dir
        results = self.results or overlap_dir.read_results(out)
        lines = [f"{prefix}overlap -> {out}"] if prefix else []
        lines.append(overlap.format_table(results))
        for r in results:
            s = r.summary()
            lines.append(
                f"  {r.test_set} vs {r.reference}: {s['ngrams_found']:,} of {s['ngrams']:,} "
                f"8-grams, {s['documents_measured']:,} documents "
                f"({s['documents_skipped_shorter_than_ngram']:,} shorter than 8 words skipped)"
            )
        verification = overlap_dir.read_verification(out)
        if verification is not None:
            lines.append(overlap.format_verification(verification))
        return "\n".join(lines)


def run_overlap(
    config: OverlapConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> list[overlap.SetOverlap]:
    """Build the reference filter, measure every test set, write the outputs. Returns the
    per-set results (also when the directory was already complete: read back from it)."""
    job = OverlapJob(config)
    job.run(beam_args, overwrite=overwrite)
    return job.results
