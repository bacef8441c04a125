"""`webtext overlap`: the 8-gram Bloom filter of a corpus split (a Beam job) and the overlap
of test sets with it (plain Python).

Filter build (Beam), one filter (--filter-partitions 1, the default): corpus shard paths ->
ParDo: one full-size filter per bundle of shards, saved as a file with the shards it covers ->
CombineGlobally(ToList) -> one OR-merge streaming over the partial files in chunks (plain reads,
each partial deleted once merged; a single partial is renamed). The partial filters travel as
file paths, not as bit arrays (a filter for 8G 8-grams is 38 GB: far too big to pass through a
shuffle), and a partial already written by an interrupted run with the same parameters is kept
(its shards are not read again). Every worker holds m bits; temporary disk is one filter per
bundle plus the merged one (one bundle on the DirectRunner: the final filter, renamed). Filters
are read and written through pyarrow filesystems (pipeline.io.shards.resolve), so out_dir may
be on object storage.

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

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow.fs as pafs
from apache_beam.transforms.window import GlobalWindows

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


ZERO_COUNTS = {"documents": 0, "ngrams": 0, "documents_shorter_than_ngram": 0}


class BuildBundleFilter(beam.DoFn):
    """The corpus shards of one bundle -> one full-size filter of their split's 8-grams (the
    shards a worker is handed together share it), saved when the bundle ends as
    partial/bundle-<hash of its shards>.bloom beside a .json naming its shards and their
    counts (documents, 8-grams, documents shorter than one 8-gram), written after the
    filter. Yields (filter path, {shard name: counts}). One filter per bundle, not per shard:
    the partial files on disk at once are as many as bundles (one on the DirectRunner), so
    the merge needs at most the final filter again in temporary space. Files go through the
    filesystem layer (pipeline.io.shards.resolve): local or object storage."""

    def __init__(self, params: BloomParams, partial_dir: str, split: str) -> None:
        self.params = params
        self.partial_dir = partial_dir
        self.split = split

    def start_bundle(self) -> None:
        self.bloom: BloomFilter | None = None
        self.covered: dict[str, dict[str, int]] = {}

    def process(self, shard_path: str) -> Iterable[Any]:
        if self.bloom is None:
            self.bloom = BloomFilter(self.params)
        counts = dict(ZERO_COUNTS)
        for text in _iter_split_texts(shard_path, self.split):
            counts["documents"] += 1
            n = self.bloom.add_text(text)
            counts["ngrams"] += n
            if n == 0:
                counts["documents_shorter_than_ngram"] += 1
        self.covered[shard_path.rstrip("/").rpartition("/")[2]] = counts
        return []

    def finish_bundle(self) -> Iterable[Any]:
        if self.bloom is None:
            return
        names = sorted(self.covered)
        tag = hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()[:16]
        path = shards.join(self.partial_dir, f"bundle-{tag}.bloom")
        self.bloom.save(path)
        shards.write_json_atomic(_sidecar(path), {"shards": self.covered})
        log.info("partial filter of %d shards -> %s", len(names), path)
        yield GlobalWindows.windowed_value((path, dict(self.covered)))
        self.bloom, self.covered = None, {}


def _sidecar(bloom_path: str) -> str:
    return bloom_path[: -len(".bloom")] + ".json"


def kept_partials(partial_dir: str, params: BloomParams) -> list[tuple[str, dict[str, Any]]]:
    """The partial filters an interrupted run left complete (its .json written after the
    filter; same parameters): (path, {shard name: counts}). Anything else there is removed."""
    fs, d = shards.resolve(partial_dir)
    if fs.get_file_info(d).type == pafs.FileType.NotFound:
        return []
    kept = []
    for info in fs.get_file_info(pafs.FileSelector(d)):
        path = shards.join(partial_dir, info.base_name)
        if not info.base_name.endswith(".bloom") or info.base_name.startswith("_"):
            continue
        try:
            got, _, _ = read_header(path)
            covered = json.loads(shards.read_text(_sidecar(path)))["shards"]
        except (BloomError, OSError, ValueError, KeyError, TypeError):
            continue
        if got == params and isinstance(covered, dict):
            kept.append((path, covered))
    keep = {p for p, _ in kept} | {_sidecar(p) for p, _ in kept}
    for info in fs.get_file_info(pafs.FileSelector(d)):
        if shards.join(partial_dir, info.base_name) not in keep:
            fs.delete_file(info.path)
    return kept


def build_reference_filter(
    config: OverlapConfig, beam_args: list[str] | None = None
) -> tuple[str, dict[str, int]]:
    """Build (or reuse) the corpus split's filter: out_dir/filters/reference.bloom, or with
    filter_partitions > 1 the partition files and out_dir/filters/manifest.json. Returns the
    path to load (dedup.ngram.partitioned.load_filter takes either) and the split's counts."""
    n = config.expected_ngrams or estimate_ngrams(config.corpus_dir, config.split)
    if config.filter_partitions > 1:
        path, counts = build_partitioned_filter(config, n, beam_args)
        return path, counts
    inputs = shards.list_shards(config.corpus_dir)
    params = BloomParams.for_capacity(n, config.fp_rate, ngram=config.ngram)
    partial = overlap_dir.partial_dir(config.out_dir)
    final = overlap_dir.reference_filter_path(config.out_dir)
    counts_path = overlap_dir.reference_counts_path(config.out_dir)
    if not inputs:  # an empty corpus: an empty filter, nothing to merge
        BloomFilter(params).save(final)
        overlap_dir.write_reference_counts(dict(ZERO_COUNTS), counts_path)
        return final, dict(ZERO_COUNTS)
    log.info(
        "filter for %s 8-grams at p=%g: %s bits (%.1f MB), %d probes",
        f"{n:,}",
        config.fp_rate,
        f"{params.num_bits:,}",
        params.num_bits / 8e6,
        params.num_hashes,
    )
    kept = kept_partials(partial, params)
    done = {name for _, covered in kept for name in covered}
    todo = [path for path in inputs if path.rstrip("/").rpartition("/")[2] not in done]
    if kept:
        log.info("kept %d partial filters (%d shards) from an earlier run", len(kept), len(done))
    if todo:
        with beam_pipeline(beam_args) as p:
            _ = (
                p
                | "Shards" >> beam.Create(todo)
                | "BuildBundleFilters"
                >> beam.ParDo(BuildBundleFilter(params, partial, config.split))
                | "AllPartials" >> beam.combiners.ToList()
                | "OrMerge" >> beam.Map(_merge_partials, kept, final, counts_path)
            )
    else:
        _merge_partials([], kept, final, counts_path)
    fs, d = shards.resolve(partial)
    if fs.get_file_info(d).type == pafs.FileType.Directory:
        fs.delete_dir(d)  # emptied by the merge
    return final, json.loads(shards.read_text(counts_path))


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
        path = shards.join(self.filters_dir, part.partition_file_name(index, self.partitions))
        bloom.save(path, extra=part.partition_header(index, self.partitions))
        log.info("partition %d of %d: %s items -> %s", index, self.partitions,
                 f"{bloom.items_inserted:,}", path)  # fmt: skip
        yield index, bloom.items_inserted


def build_partitioned_filter(
    config: OverlapConfig, n: int, beam_args: list[str] | None = None
) -> tuple[str, dict[str, int]]:
    """The partitioned build (see the module docstring). Partition files already complete
    with these parameters are kept; when all are there and the counts too, no pipeline runs."""
    partitions = config.filter_partitions
    params = part.partition_params(n, config.fp_rate, partitions, ngram=config.ngram)
    manifest = part.Manifest(partitions, n, config.fp_rate, params)
    filters = overlap_dir.filters_dir(config.out_dir)  # created by its first file's write
    shards.clean_temporaries(filters)
    counts_path = overlap_dir.reference_counts_path(config.out_dir)
    shards.remove(shards.join(filters, part.MANIFEST_NAME))  # written again once all are there
    todo = [
        i
        for i in range(partitions)
        if not part.reusable_partition(
            shards.join(filters, part.partition_file_name(i, partitions)), params, i, partitions
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
    if todo or not shards.exists(counts_path):
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
                | "BuildPartitions" >> beam.ParDo(BuildPartitionFilter(params, partitions, filters))
            )
            _ = (
                hashed[HashShardByPartition.COUNTS]
                | "SumCounts" >> beam.CombineGlobally(_sum_counts)
                | "WriteCounts" >> beam.Map(overlap_dir.write_reference_counts, counts_path)
            )
    for i in range(partitions):  # names the first missing or wrong file
        part.check_partition_file(
            shards.join(filters, part.partition_file_name(i, partitions)), params, i, partitions
        )
    return manifest.write(filters), overlap_dir.read_reference_counts(config.out_dir)


def _merge_partials(
    parts: list[tuple[str, dict[str, dict[str, int]]]],
    kept: list[tuple[str, dict[str, dict[str, int]]]],
    final: str,
    counts_path: str,
) -> None:
    """The global step: OR the partial filters into one file, streaming, each partial
    deleted once merged (dedup.ngram.bloom.merge_files); the counts summed once per shard."""
    every = sorted([*kept, *parts], key=lambda item: item[0])
    per_shard: dict[str, dict[str, int]] = {}
    for _, covered in every:
        per_shard.update(covered)
    overlap_dir.write_reference_counts(_sum_counts(per_shard.values()), counts_path)
    merge_files([path for path, _ in every], final, delete_sources=True)
    for path, _ in every:
        shards.remove(_sidecar(path))


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
