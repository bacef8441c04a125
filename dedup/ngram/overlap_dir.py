"""`webtext overlap`'s output directory: its file names, and every read and write of it, in one
place (the Beam job writes it; `webtext overlap`, the demo and `webtext report` read it).

  filters/reference.bloom   the merged filter (header + bits)               (P = 1)
  filters/partial/*.bloom   per-shard filters (removed after the merge)     (P = 1)
  filters/part-*-of-*.bloom one filter per hash range                       (P > 1)
  filters/manifest.json     P, routing scheme, parameters (written last)    (P > 1)
  filters/reference.json    counts of the indexed split (documents, 8-grams)
  documents/                per-(test set, reference, document) rows, _stats.json, _SUCCESS
  sets.json                 per-set results and the reference filter's parameters
  table.txt                 the Table-6-shaped table
  verify.json               random-8-gram false-positive check (when queried)
  _job.json  _SUCCESS       the stage conventions (pipeline.io.shards)

Every path here is a string for the filesystem layer (pipeline.io.shards.resolve): the
directory may be local or on object storage (s3://bucket/prefix).
"""

from __future__ import annotations

import json
import os
from typing import Any

from dedup.ngram import overlap
from dedup.ngram import partitioned as part
from dedup.ngram.bloom import BloomFilter
from pipeline.io import schemas, shards
from pipeline.io.shard_verify import record_files
from pipeline.io.stats import StageStats

FILTERS = "filters"
PARTIAL = "partial"  # under filters/
REFERENCE_FILTER = part.SINGLE_FILTER_NAME  # under filters/
REFERENCE_COUNTS = "reference.json"  # under filters/
DOCUMENTS = "documents"
SETS = "sets.json"
TABLE = "table.txt"
VERIFY = "verify.json"

Directory = str | os.PathLike


# -- filters/ ------------------------------------------------------------------------------------
def filters_dir(out_dir: Directory) -> str:
    return _join(out_dir, FILTERS)


def partial_dir(out_dir: Directory) -> str:
    """The per-shard filters of the unpartitioned build, merged into reference_filter_path."""
    return shards.join(filters_dir(out_dir), PARTIAL)


def reference_filter_path(out_dir: Directory) -> str:
    """The unpartitioned (P = 1) filter."""
    return shards.join(filters_dir(out_dir), REFERENCE_FILTER)


def reference_counts_path(out_dir: Directory) -> str:
    return shards.join(filters_dir(out_dir), REFERENCE_COUNTS)


def write_reference_counts(counts: dict[str, int], path: Directory) -> None:
    """filters/reference.json at ``path`` (a beam.Map over the counts, with the file's path)."""
    shards.write_json_atomic(str(path), counts)


def read_reference_counts(out_dir: Directory) -> dict[str, int]:
    return json.loads(shards.read_text(reference_counts_path(out_dir)))


def find_reference_filter(out_dir: Directory) -> str | None:
    """The reference filter to load: filters/reference.bloom or filters/manifest.json (what
    dedup.ngram.partitioned.load_filter takes); None when neither is there."""
    return part.find_reference_filter(filters_dir(out_dir))


# -- the results ---------------------------------------------------------------------------------
def _join(out_dir: Directory, name: str) -> str:
    return shards.join(os.fspath(out_dir), name)


def document_row(r: overlap.SetOverlap, d: overlap.DocOverlap) -> dict[str, Any]:
    """One row of documents/ (schemas.OVERLAP_DOCS)."""
    return {
        "test_set": r.test_set,
        "reference": r.reference,
        "doc_index": d.doc_index,
        "doc_key": d.doc_key,
        "n_ngrams": d.n_ngrams,
        "n_found": d.n_found,
        "fraction": d.fraction,
    }


def write_documents(out_dir: Directory, results: list[overlap.SetOverlap]) -> None:
    """documents/: one shard of per-document rows, with its _stats.json and _SUCCESS."""
    docs_dir = _join(out_dir, DOCUMENTS)
    stats = StageStats()
    rows = []
    for r in results:
        stats.records_in += len(r.documents) + r.skipped_short
        stats.drop("shorter_than_ngram", r.skipped_short)
        for d in r.documents:
            stats.records_out += 1
            rows.append(document_row(r, d))
    stats.check_balance()
    name = shards.shard_name(0, 1)
    count = shards.write_shard(docs_dir, name, rows, schemas.OVERLAP_DOCS)
    # The shard, its row count, size and footer CRC-32, which readers check (shard_verify).
    record = {"shards": {name: count}, **record_files(docs_dir, [name])}
    shards.finish_output(docs_dir, {**stats.to_dict(), "stage": "overlap-documents", **record})


def reference_filter_summary(
    reference: BloomFilter | part.PartitionedBloom, counts: dict[str, int]
) -> dict[str, Any]:
    """sets.json's "reference_filter": the split's counts and the filter's parameters."""
    p = reference.params
    # Only a partitioned filter says so: sets.json of P = 1 stays as it always was.
    partitions = (
        {"partitions": reference.partitions, "routing": part.ROUTING_SCHEME}
        if isinstance(reference, part.PartitionedBloom)
        else {}
    )
    return partitions | {
        "split_counts": counts,
        "num_bits": p.num_bits,
        "num_hashes": p.num_hashes,
        "expected_items": p.expected_items,
        "target_fp_rate": p.target_fp_rate,
        "bits_per_expected_8gram": p.bits_per_item(),
        "items_inserted": reference.items_inserted,
        "fill_ratio": reference.fill_ratio(),
        "estimated_distinct_8grams": reference.estimated_distinct_items(),
    }


def write_results(
    out_dir: Directory,
    results: list[overlap.SetOverlap],
    counts: dict[str, int],
    reference: BloomFilter | part.PartitionedBloom,
    verification: overlap.Verification | None,
) -> None:
    """documents/, sets.json, table.txt, verify.json (when verified), then _SUCCESS."""
    write_documents(out_dir, results)
    shards.write_json_atomic(
        _join(out_dir, SETS),
        {
            "sets": [r.summary() for r in results],
            "reference_filter": reference_filter_summary(reference, counts),
        },
    )
    table = overlap.format_table(results)
    shards.write_bytes_atomic(_join(out_dir, TABLE), (table + "\n").encode())
    if verification is not None:
        shards.write_json_atomic(_join(out_dir, VERIFY), verification.as_dict())
    shards.write_bytes_atomic(_join(out_dir, shards.SUCCESS_MARKER), b"")


def is_complete(out_dir: Directory) -> bool:
    """Whether the job finished (its _SUCCESS is written last)."""
    return shards.exists(_join(out_dir, shards.SUCCESS_MARKER))


def read_sets(out_dir: Directory) -> list[dict[str, Any]]:
    """sets.json's per-set summaries (SetOverlap.summary())."""
    return json.loads(shards.read_text(_join(out_dir, SETS)))["sets"]


def read_reference_name(out_dir: Directory) -> str:
    """The corpus reference's row label (--reference-name), from _job.json."""
    job = json.loads(shards.read_text(_join(out_dir, shards.JOB_FILE)))
    return job["params"]["reference_name"]


def read_documents(out_dir: Directory, reference: str | None = None) -> list[dict[str, Any]]:
    """documents/'s rows, only those against ``reference`` when given."""
    rows = shards.read_rows(_join(out_dir, DOCUMENTS), schemas.OVERLAP_DOCS)
    return rows if reference is None else [r for r in rows if r["reference"] == reference]


def read_verification(out_dir: Directory) -> overlap.Verification | None:
    """verify.json, or None when the filter was not verified (--verify-queries 0)."""
    path = _join(out_dir, VERIFY)
    if not shards.exists(path):
        return None
    return overlap.Verification(**json.loads(shards.read_text(path)))


def read_results(out_dir: Directory) -> list[overlap.SetOverlap]:
    """Per-set results of a finished overlap directory, rebuilt from documents/ and sets.json."""
    rows = read_documents(out_dir)
    results = []
    for s in read_sets(out_dir):
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
