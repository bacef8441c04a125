"""datatrove's MinHash de-duplication on a docs/ directory, side by side with `webtext dedup`.

    python bench/datatrove_dedup.py DOCS_DIR --work DIR [--ours-dups DUPS_DIR] [--json OUT]

Runs datatrove's four MinHash steps (signatures -> buckets -> clusters -> filter pass writing
the kept documents as Parquet) on our docs/ Parquet shards, in one child process, and reports
its wall time, CPU seconds (user + system) and peak RSS (the child's ``ru_maxrss``). Given
``--ours-dups`` (the dups/ directory `webtext dedup` wrote from the same docs/), it also prints
how the two removal sets agree: their sizes, the intersection, and datatrove's precision and
recall taking ours as the reference; and the same for the documents each puts in a duplicate
cluster (removed or kept in their place), which does not depend on the keeper rule.

Parameters, as close to ours (dedup/params.py) as datatrove's options allow:
  * word 5-gram shingles; 20 buckets (our bands) x 6 hashes (our rows); seed 1; 32-bit hashes.
  * Differs: datatrove has no verification step: any shared bucket makes a duplicate pair
    (ours also requires an estimated Jaccard >= 0.8 over 128 permutations), so at this
    banding it removes pairs down to a Jaccard of ~0.6. It has no separate exact step (exact
    copies share every bucket, so it finds them too). Its text normalisation is its own
    ``simplify_text`` (lower case, punctuation and digits folded), with words split on
    whitespace (its English tokenizer needs spaCy, not installed), shingles hashed by its
    xxhash path (patched to encode str as UTF-8, which the installed xxhash requires). It
    keeps one document per
    cluster by its own rule (not karma), so a pair can be removed on opposite sides.

``run_datatrove(docs_dir, work_dir)`` is the function form other bench scripts import; it
returns a dict with the same figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BANDS, ROWS, SHINGLE, SEED = 20, 6, 5, 1  # dedup/params.py defaults (num_perm 128: see above)


def _pipeline(docs_dir: str, work: str) -> None:
    """The four datatrove steps, in this (child) process, one task each step."""
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    # datatrove 0.10.1 hands str to xxhash, which the installed xxhash refuses ("Strings must
    # be encoded before hashing"): its own xxhash path, with the text encoded as UTF-8.
    dt_xxhash.xxhash32 = lambda data: xxhash.xxh32_intdigest(data.encode("utf-8"))
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode("utf-8"))
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    config = MinhashConfig(
        n_grams=SHINGLE,
        num_buckets=BANDS,
        hashes_per_bucket=ROWS,
        seed=SEED,
        hash_config=HashConfig(precision=32),
    )

    def reader() -> Any:
        return ParquetReader(
            docs_dir, glob_pattern="part-*.parquet", text_key="text", id_key="doc_id"
        )

    w = Path(work)
    steps = [
        (
            [
                reader(),
                MinhashDedupSignature(str(w / "sigs"), config=config, language=Whitespace()),
            ],
            1,
        ),
        ([MinhashDedupBuckets(str(w / "sigs"), str(w / "buckets"), config=config)], BANDS),
        (
            [
                MinhashDedupCluster(
                    str(w / "buckets"), str(w / "remove"), config=config, save_cluster_id=True
                )
            ],
            1,
        ),
        (
            [
                reader(),
                MinhashDedupFilter(
                    str(w / "remove"),
                    exclusion_writer=ParquetWriter(str(w / "removed")),
                    load_cluster_ids=True,
                ),
                ParquetWriter(str(w / "kept")),
            ],
            1,
        ),
    ]
    for i, (pipeline, tasks) in enumerate(steps):
        LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=1, logging_dir=str(w / f"logs{i}")
        ).run()


def removed_ids(work_dir: str | os.PathLike[str]) -> set[str]:
    """The ids datatrove's filter pass excluded (its exclusion writer's Parquet files)."""
    import pyarrow.parquet as pq

    out: set[str] = set()
    for path in sorted(Path(work_dir, "removed").glob("*.parquet")):
        out.update(pq.read_table(path, columns=["id"])["id"].to_pylist())
    return out


def clustered_ids(work_dir: str | os.PathLike[str]) -> set[str]:
    """The ids datatrove put in a duplicate cluster (removed or kept as its representative)."""
    import pyarrow.parquet as pq

    out: set[str] = set()
    for sub in ("removed", "kept"):
        for path in sorted(Path(work_dir, sub).glob("*.parquet")):
            table = pq.read_table(path, columns=["id", "metadata"])
            cluster = table["metadata"].combine_chunks().field("minhash_cluster_id").to_pylist()
            ids = table["id"].to_pylist()
            out.update(i for i, c in zip(ids, cluster, strict=True) if c is not None and c != -1)
    return out


def run_datatrove(docs_dir: str, work_dir: str) -> dict[str, Any]:
    """Run datatrove's MinHash dedup on docs_dir in a child process (work_dir is emptied
    first). Returns docs, removed, wall_s, cpu_s, peak_rss_mb and docs_per_cpu_s."""
    import pyarrow.parquet as pq

    work = Path(work_dir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    docs = sum(pq.read_metadata(p).num_rows for p in Path(docs_dir).glob("part-*.parquet"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = mp.get_context("spawn").Process(target=_pipeline, args=(str(docs_dir), str(work)))
    child.start()
    child.join()
    wall = time.perf_counter() - start
    if child.exitcode != 0:
        raise RuntimeError(f"datatrove's pipeline failed (exit {child.exitcode}); see {work}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    removed = removed_ids(work)
    return {
        "tool": "datatrove",
        "docs": docs,
        "removed": len(removed),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        # ru_maxrss of the largest child so far (KiB on Linux): this child's peak.
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "docs_per_cpu_s": round(docs / cpu, 1) if cpu else None,
        "params": {"shingle": SHINGLE, "bands": BANDS, "rows": ROWS, "seed": SEED},
    }


def agreement(theirs: set[str], ours: set[str]) -> dict[str, Any]:
    """Sizes, intersection, precision and recall of ``theirs`` against ``ours``."""
    both = len(theirs & ours)
    return {
        "datatrove_removed": len(theirs),
        "ours_removed": len(ours),
        "both": both,
        "precision": round(both / len(theirs), 4) if theirs else None,
        "recall": round(both / len(ours), 4) if ours else None,
    }


def our_removed_ids(dups_dir: str) -> tuple[set[str], set[str]]:
    """(ids removed, ids in a duplicate cluster: removed or kept in their place)."""
    from pipeline.io import schemas, shards

    rows = shards.read_rows(dups_dir, schemas.DUPS, columns=["doc_id", "keeper_id"])
    removed = {r["doc_id"] for r in rows}
    return removed, removed | {r["keeper_id"] for r in rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("docs_dir", help="a finished docs/ directory")
    ap.add_argument("--work", required=True, help="datatrove's working directory (emptied)")
    ap.add_argument("--ours-dups", help="dups/ written by `webtext dedup` from the same docs/")
    ap.add_argument("--json", help="write the figures here as JSON")
    args = ap.parse_args(argv)
    if not Path(args.docs_dir, "_SUCCESS").exists():
        print(f"error: {args.docs_dir}: not a finished docs/ directory (no _SUCCESS)")
        return 2
    result = run_datatrove(args.docs_dir, args.work)
    print(
        f"datatrove minhash: {result['docs']:,} docs, removed {result['removed']:,}; "
        f"wall {result['wall_s']} s, cpu {result['cpu_s']} s "
        f"({result['docs_per_cpu_s']} docs/cpu-s), peak RSS {result['peak_rss_mb']} MB"
    )
    if args.ours_dups:
        ours_removed, ours_clustered = our_removed_ids(args.ours_dups)
        for what, theirs, ours in (
            ("removal sets", removed_ids(args.work), ours_removed),
            ("documents in a duplicate cluster", clustered_ids(args.work), ours_clustered),
        ):
            agree = agreement(theirs, ours)
            result.setdefault("agreement", {})[what] = agree
            print(
                f"{what}: datatrove {agree['datatrove_removed']:,}, ours "
                f"{agree['ours_removed']:,}, both {agree['both']:,}; datatrove precision "
                f"{agree['precision']}, recall {agree['recall']} (ours as reference)"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
