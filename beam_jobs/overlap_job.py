"""`webtext overlap`: the 8-gram Bloom filter of a corpus split (a Beam job) and the overlap
of test sets with it (plain Python).

Filter build (Beam): corpus shard paths -> ParDo: one full-size filter per shard, saved as a
file -> CombineGlobally(ToList) -> one OR-merge streaming over the partial files. The partial
filters travel as file paths, not as bit arrays (a filter for 8G 8-grams is 38 GB: far too big
to pass through a shuffle), and a partial file already written by an interrupted run with the
same parameters is reused.

Queries (plain Python): test sets are small (MBs) next to the corpus, and one process with the
merged filter memory-mapped answers them at millions of 8-grams a second; per-document results
go to documents/ (Parquet, stage conventions), per-set results to sets.json, the Table-6-shaped
table to table.txt, and the verification (1M random 8-grams) to verify.json.

Output directory:
  filters/reference.bloom   the merged filter (header + bits)
  filters/partial/*.bloom   per-shard filters (removed after the merge)
  documents/                per-(test set, reference, document) rows, stats.json, _SUCCESS
  sets.json  table.txt  verify.json  _job.json  _SUCCESS
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from beam_jobs.stage_io import input_fingerprint
from dedup import overlap
from dedup.bloom import BloomError, BloomFilter, BloomParams, merge_files, read_header
from eval.testsets import TestSetSpec, parse_test_specs, read_test_set
from pipeline import schemas, shards
from pipeline.stats import StageStats

log = logging.getLogger(__name__)
CHARS_PER_NGRAM_ESTIMATE = (
    4.0  # English averages ~5.5 normalised bytes per word: n is overestimated
)


@dataclass(frozen=True)
class OverlapConfig:
    corpus_dir: str
    tests: list[str]  # NAME[:FORMAT[:FIELD]]=PATH
    out_dir: str
    own_train: list[str] = field(default_factory=list)  # NAME=PATH: a test set's own train split
    split: str = "train"
    reference_name: str = "WebText train"
    fp_rate: float = 1e-8
    expected_ngrams: int | None = None  # default: estimated from the split's character count
    verify_queries: int = 1_000_000
    ngram: int = 8

    def params(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "fp_rate": self.fp_rate,
            "expected_ngrams": self.expected_ngrams,
            "verify_queries": self.verify_queries,
            "ngram": self.ngram,
            "reference_name": self.reference_name,
            "tests": sorted(self.tests),
            "own_train": sorted(self.own_train),
            "schema_version": schemas.SCHEMA_VERSION,
        }


def _iter_split_texts(path: str, split: str) -> Iterable[str]:
    fs, p = shards._resolve(path)
    with fs.open_input_file(p) as f:
        pf = pq.ParquetFile(f)
        shards.validate_schema(path, pf.schema_arrow, schemas.CORPUS)
        for batch in pf.iter_batches(batch_size=1024, columns=["text", "split"]):
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
    """Build (or reuse) out_dir/filters/reference.bloom from the corpus split."""
    inputs = shards.list_shards(config.corpus_dir)
    n = config.expected_ngrams or estimate_ngrams(config.corpus_dir, config.split)
    params = BloomParams.for_capacity(n, config.fp_rate, ngram=config.ngram)
    filters = Path(config.out_dir) / "filters"
    partial = filters / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    final = filters / "reference.bloom"
    log.info(
        "filter for %s 8-grams at p=%g: %s bits (%.1f MB), %d probes",
        f"{n:,}",
        config.fp_rate,
        f"{params.num_bits:,}",
        params.num_bits / 8e6,
        params.num_hashes,
    )
    with beam.Pipeline(options=PipelineOptions(beam_args or [])) as p:
        _ = (
            p
            | "Shards" >> beam.Create(inputs)
            | "BuildShardFilters"
            >> beam.ParDo(BuildShardFilter(params, str(partial), config.split))
            | "AllPartials" >> beam.combiners.ToList()
            | "OrMerge" >> beam.Map(_merge_partials, str(final), str(filters / "reference.json"))
        )
    counts = json.loads((filters / "reference.json").read_text())
    for leftover in partial.glob("*"):
        leftover.unlink()
    partial.rmdir()
    return final, counts


def _merge_partials(parts: list[tuple[str, dict[str, int]]], final: str, counts_path: str) -> None:
    """The global step: OR the per-shard filters into one file, sum their counts."""
    merge_files(sorted(path for path, _ in parts), final)
    shards.write_json_atomic(counts_path, _sum_counts(c for _, c in parts))


def _sum_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


def _own_train_filter(spec: TestSetSpec, ngram: int, fp_rate: float) -> BloomFilter:
    docs = read_test_set(spec)
    n = overlap.count_ngrams((d.text for d in docs), ngram)
    if n == 0:
        raise ValueError(
            f"{spec.describe()}: no 8-grams (every document is shorter than {ngram} words)"
        )
    bloom = BloomFilter(BloomParams.for_capacity(n, fp_rate, ngram=ngram))
    for d in docs:
        bloom.add_text(d.text)
    return bloom


def run_overlap(
    config: OverlapConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> list[overlap.SetOverlap]:
    """Build the reference filter, measure every test set, write the outputs. Returns the
    per-set results (also when the directory was already complete: read back from it)."""
    tests = parse_test_specs(config.tests)
    own = {s.name: s for s in parse_test_specs(config.own_train)}
    unknown = sorted(set(own) - {t.name for t in tests})
    if unknown:
        raise ValueError(f"--own-train names {', '.join(unknown)} match no --test")
    test_docs = {t.name: read_test_set(t) for t in tests}  # fail early on a bad test file
    shards.require_complete(config.corpus_dir)
    inputs = shards.list_shards(config.corpus_dir)
    if not inputs:
        raise ValueError(f"{config.corpus_dir}: no corpus shards")
    files = [t.path for t in tests] + [s.path for s in own.values()]
    spec = shards.JobSpec(
        "overlap", config.params(), input_fingerprint(inputs) + input_fingerprint(files)
    )
    state = shards.prepare_output(config.out_dir, spec, overwrite=overwrite)
    if state == "complete":
        log.info("%s is already complete for these inputs; nothing to do", config.out_dir)
        return read_results(config.out_dir)

    reference_path, counts = build_reference_filter(config, beam_args)
    reference = BloomFilter.load(reference_path, mmap=True)
    refs: list[tuple[str, BloomFilter, list[str]]] = [
        (config.reference_name, reference, [t.name for t in tests])
    ]
    for name, s in own.items():
        refs.append(
            (f"{name} own train", _own_train_filter(s, config.ngram, config.fp_rate), [name])
        )

    results = []
    for ref_name, bloom, names in refs:
        for name in names:
            docs = [(d.key, d.text) for d in test_docs[name]]
            results.append(overlap.measure(bloom, name, ref_name, docs))
    verification = (
        overlap.verify(reference, config.verify_queries) if config.verify_queries else None
    )
    write_results(config.out_dir, results, counts, reference, verification)
    return results


def write_results(
    out_dir: str,
    results: list[overlap.SetOverlap],
    counts: dict[str, int],
    reference: BloomFilter,
    verification: overlap.Verification | None,
) -> None:
    docs_dir = shards.join(out_dir, "documents")
    stats = StageStats()
    rows = []
    for r in results:
        stats.records_in += len(r.documents) + r.skipped_short
        stats.drop("shorter_than_ngram", r.skipped_short)
        for d in r.documents:
            stats.records_out += 1
            rows.append(
                {
                    "test_set": r.test_set,
                    "reference": r.reference,
                    "doc_index": d.doc_index,
                    "doc_key": d.doc_key,
                    "n_ngrams": d.n_ngrams,
                    "n_found": d.n_found,
                    "fraction": d.fraction,
                }
            )
    stats.check_balance()
    shards.write_shard(docs_dir, shards.shard_name(0, 1), rows, schemas.OVERLAP_DOCS)
    shards.finish_output(docs_dir, {**stats.to_dict(), "stage": "overlap-documents"})
    p = reference.params
    shards.write_json_atomic(
        shards.join(out_dir, "sets.json"),
        {
            "sets": [r.summary() for r in results],
            "reference_filter": {
                "split_counts": counts,
                "num_bits": p.num_bits,
                "num_hashes": p.num_hashes,
                "expected_items": p.expected_items,
                "target_fp_rate": p.target_fp_rate,
                "bits_per_expected_8gram": p.bits_per_item(),
                "items_inserted": reference.items_inserted,
                "fill_ratio": reference.fill_ratio(),
                "estimated_distinct_8grams": reference.estimated_distinct_items(),
            },
        },
    )
    table = overlap.format_table(results)
    shards.write_bytes_atomic(shards.join(out_dir, "table.txt"), (table + "\n").encode())
    if verification is not None:
        shards.write_json_atomic(shards.join(out_dir, "verify.json"), verification.as_dict())
    shards.write_bytes_atomic(shards.join(out_dir, shards.SUCCESS_MARKER), b"")


def read_results(out_dir: str) -> list[overlap.SetOverlap]:
    """Per-set results of a finished overlap directory, rebuilt from documents/ and sets.json."""
    rows = shards.read_rows(shards.join(out_dir, "documents"), schemas.OVERLAP_DOCS)
    sets = json.loads(shards.read_text(shards.join(out_dir, "sets.json")))["sets"]
    results = []
    for s in sets:
        r = overlap.SetOverlap(
            s["test_set"], s["reference"], skipped_short=s["documents_skipped_shorter_than_ngram"]
        )
        r.documents = [
            overlap.DocOverlap(x["doc_index"], x["doc_key"], x["n_ngrams"], x["n_found"])
            for x in rows
            if x["test_set"] == r.test_set and x["reference"] == r.reference
        ]
        results.append(r)
    return results


def run_demo_overlap(root: Path, beam_args: list[str]) -> None:
    """The demo's overlap step: the train split of root/corpus against (a) its held-out val and
    test splits and (b) a test file that copies some training paragraphs next to held-out ones."""
    corpus = shards.read_rows(str(root / "corpus"), schemas.CORPUS)
    train = sorted((r for r in corpus if r["split"] == "train"), key=lambda r: r["doc_id"])
    held = sorted((r for r in corpus if r["split"] != "train"), key=lambda r: r["doc_id"])
    if not train:
        print("[demo] overlap skipped: the corpus has no training documents")
        return
    inputs = root / "overlap_input"
    inputs.mkdir(parents=True, exist_ok=True)
    tests = []
    if held:
        with open(inputs / "heldout.jsonl", "w", encoding="utf-8") as f:
            for r in held:
                f.write(json.dumps({"text": r["text"]}) + "\n")
        tests.append(f"heldout:jsonl={inputs / 'heldout.jsonl'}")
    else:
        print("[demo] overlap: the corpus has no val/test documents; only the copied test set")
    # Contaminated test set: the first paragraph of every other training document (copied),
    # then the held-out documents' paragraphs, as plain text paragraphs.
    copied = [r["text"].split("\n\n")[0] for r in train[::2]]
    clean = [r["text"].split("\n\n")[0] for r in held]
    (inputs / "contaminated.txt").write_text("\n\n".join(copied + clean) + "\n", encoding="utf-8")
    tests.append(f"contaminated:text={inputs / 'contaminated.txt'}")
    config = OverlapConfig(
        corpus_dir=str(root / "corpus"),
        tests=tests,
        out_dir=str(root / "overlap"),
        verify_queries=100_000,
    )
    results = run_overlap(config, beam_args, overwrite=True)
    print(
        f"[demo] overlap -> {config.out_dir} ({len(copied)} copied training paragraphs and "
        f"{len(clean)} held-out ones in contaminated.txt)"
    )
    print(overlap.format_table(results))
    verify = json.loads((Path(config.out_dir) / "verify.json").read_text())
    print(
        f"[demo] filter check: {verify['false_positives']} false positives in "
        f"{verify['queries']:,} random 8-grams (theory {verify['rate_from_fill']:.2g})"
    )
