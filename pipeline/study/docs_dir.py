"""Write the study's ``docs/`` directory: the documents of ``sources`` as a finished stage
directory (Parquet shards, ``_job.json``, ``_stats.json``, ``_SUCCESS``), which
``webtext dedup`` reads like the output of ``webtext extract``.

A rerun with the same settings and files finds the directory complete and leaves it; a run
killed midway is resumed (shards are deterministic: the ones written are kept); other settings
in the same directory are refused by ``prepare_output``, naming the directory.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.io import schemas, shards
from pipeline.io.locks import output_lock
from pipeline.io.shard_verify import record_files
from pipeline.io.stats import StageStats
from pipeline.study.sources import REQUIRED, doc_row, study_documents


def _fingerprint(path: Path) -> str:
    """PATH#SIZE, as the stages record their inputs (a folder: the sum of its files' sizes)."""
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    else:
        size = path.stat().st_size
    return f"{os.path.realpath(path)}#{size}"


def write_docs(
    shared: Path,
    out_dir: Path,
    *,
    words_per_doc: int,
    max_per_source: int | None,
    num_shards: int = 4,
) -> dict[str, Any]:
    """Write ``out_dir`` (docs/) from the shared data; returns its _stats.json content."""
    spec = shards.JobSpec(
        stage="docs",
        params={
            "source": "webtext study (pipeline/study/sources.py)",
            "words_per_doc": words_per_doc,
            "max_per_source": max_per_source,
            "num_shards": num_shards,
            "schema_version": schemas.SCHEMA_VERSION,
        },
        inputs=[_fingerprint(shared / p) for p in REQUIRED[:4]],
    )
    directory = str(out_dir)
    with output_lock(directory, "webtext study"):
        if shards.prepare_output(directory, spec) == "complete":
            return shards.read_stats(directory)
        shards.clean_temporaries(directory)
        stats = StageStats()
        per_source: Counter = Counter()
        parts: dict[int, list[dict[str, Any]]] = {}
        for doc in study_documents(shared, words_per_doc, max_per_source):
            stats.records_in += 1
            if not doc.text.strip():
                stats.drop("empty_text")
                continue
            row = doc_row(doc)
            parts.setdefault(shards.shard_index(row["doc_id"], num_shards), []).append(row)
            stats.records_out += 1
            per_source[doc.source] += 1
        written = {}
        for index in range(num_shards):
            name = shards.shard_name(index, num_shards)
            rows = sorted(parts.get(index, []), key=lambda r: r["doc_id"])
            if not shards.exists(shards.join(directory, name)):
                shards.write_shard(directory, name, rows, schemas.DOCS)
            written[name] = len(rows)
        stats.check_balance()
        data = stats.to_dict() | {
            "stage": "docs",
            "shards": written,
            "documents_per_source": dict(sorted(per_source.items())),
        }
        data.update(record_files(directory, list(written)))
        shards.finish_output(directory, data)
        return data
