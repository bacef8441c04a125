"""Benchmark of near-duplicate detection on real text: quality and speed (one core).

Quality: a labelled set is built from real documents (the prose books of ../shared/data cut into
12-sentence documents, and WebText test documents): edited copies (words inserted from other
documents, spans deleted, boilerplate header/footer changed) at Jaccard levels from ~0.95 down,
plus unrelated pairs, each labelled with its exact 5-gram shingle Jaccard. The dedup steps
(fingerprint -> LSH band keys -> bucket verification -> connected components, the same pure
functions the Beam job runs) are applied, and precision / recall are printed for "is a near
duplicate at the configured threshold" (true Jaccard >= threshold).

Speed: documents/s on one core, text in -> MinHash signature out, for
  * this project: numpy shingle hashes + datasketch update_batch (identity hashfunc);
  * datasketch per-shingle ``update()`` loop (default sha1 hash, shingles as bytes);
  * plain ``MinHash.bulk`` (default sha1 hash, shingles as bytes).

Usage: python bench/dedup.py [--data ../shared/data] [--docs 1500] [--copies 1500]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasketch import MinHash  # noqa: E402
from synthetic import jsonl_texts, near_duplicate_set, prose_documents  # noqa: E402

from dedup import near  # noqa: E402
from dedup.clusters import UnionFind  # noqa: E402
from dedup.minhash import MinHashParams  # noqa: E402
from dedup.text import words  # noqa: E402


def quality(docs: list[str], pairs, params: MinHashParams) -> None:
    signer = near.Signer(params)
    prints = [near.fingerprint(f"d{i:06d}", "u", t, 3, i, signer) for i, t in enumerate(docs)]
    buckets: dict[bytes, list] = {}
    for fp in prints:
        if fp is None:
            continue
        for key, entry in near.band_entries(fp, params):
            buckets.setdefault(key, []).append(entry)
    edges = set()
    candidates = 0
    for members in buckets.values():
        found, checked = near.verify_bucket(members, params.threshold)
        candidates += checked
        edges.update((a.doc_id, b.doc_id) for a, b, _ in found)
    exact = {}
    for fp in prints:  # exact duplicates (same normalised text) are found before LSH
        if fp is not None:
            exact.setdefault(fp.exact_key, []).append(fp.doc_id)
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    for ids in exact.values():
        for other in ids[1:]:
            uf.union(ids[0], other)

    def ids(p):
        return f"d{p.a:06d}", f"d{p.b:06d}"

    key_of = {fp.doc_id: fp.exact_key for fp in prints if fp is not None}

    def exact_pair(p) -> bool:
        a, b = ids(p)
        return a in key_of and key_of.get(a) == key_of.get(b)

    def same_cluster(p) -> bool:
        a, b = ids(p)
        return a in uf.parent and b in uf.parent and uf.find(a) == uf.find(b)

    print(
        f"labelled pairs: {len(pairs):,} "
        f"({sum(p.kind == 'edited' for p in pairs):,} edited copies, "
        f"{sum(p.kind == 'unrelated' for p in pairs):,} unrelated); "
        f"{candidates:,} LSH candidate pairs checked, {len(edges):,} verified edges"
    )
    for name, predict in (
        ("pair verified", lambda p: tuple(sorted(ids(p))) in edges or exact_pair(p)),
        ("same cluster", same_cluster),
    ):
        tp = fp_ = fn = 0
        for p in pairs:
            truth, hit = p.jaccard >= params.threshold, predict(p)
            tp += truth and hit
            fp_ += hit and not truth
            fn += truth and not hit
        precision = tp / (tp + fp_) if tp + fp_ else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        print(
            f"  {name:<14} precision {precision:.3f}  recall {recall:.3f}  "
            f"(tp {tp}, fp {fp_}, fn {fn}) at threshold {params.threshold}"
        )
    levels = Counter()
    found = Counter()
    for p in pairs:
        level = min(9, int(p.jaccard * 10))
        levels[level] += 1
        found[level] += same_cluster(p)
    print("  detection rate by true Jaccard (same cluster):")
    for level in sorted(levels):
        lo = level / 10
        hi = 1.0 if level == 9 else lo + 0.1
        print(
            f"    [{lo:.1f}, {hi:.1f}{']' if level == 9 else ')'}: "
            f"{found[level]:>5} / {levels[level]:<5} = {found[level] / levels[level]:.3f}  "
            f"(theory for candidates at the bin centre: "
            f"{params.candidate_probability(min(1.0, lo + 0.05)):.3f})"
        )


def shingle_bytes(text: str, n: int = 5) -> list[bytes]:
    w = words(text)
    return [" ".join(w[i : i + n]).encode("utf-8") for i in range(len(w) - n + 1)]


def speed(docs: list[str], params: MinHashParams, loop_docs: int) -> None:
    signer = near.Signer(params)
    t = time.perf_counter()
    for text in docs:
        near.fingerprint("d", "u", text, 0, 0, signer)
    ours = len(docs) / (time.perf_counter() - t)

    t = time.perf_counter()
    MinHash.bulk([shingle_bytes(text) for text in docs], num_perm=params.num_perm)
    bulk = len(docs) / (time.perf_counter() - t)

    t = time.perf_counter()
    for text in docs[:loop_docs]:
        m = MinHash(num_perm=params.num_perm)
        for s in shingle_bytes(text):
            m.update(s)
    loop = loop_docs / (time.perf_counter() - t)
    n_words = sum(len(words(d)) for d in docs) / len(docs)
    print(
        f"\nspeed, text in -> signature out, {params.num_perm} permutations, "
        f"{len(docs):,} docs of {n_words:.0f} words on average:"
    )
    print(f"  this project (numpy shingles + update_batch) {ours:10,.0f} docs/s")
    print(
        f"  datasketch MinHash.bulk (sha1, bytes)        {bulk:10,.0f} docs/s   "
        f"(ours x{ours / bulk:.1f})"
    )
    print(
        f"  datasketch per-shingle update() loop         {loop:10,.0f} docs/s   "
        f"(ours x{ours / loop:.1f}; goal >= 10x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    ap.add_argument("--data", default=str(default))
    ap.add_argument("--docs", type=int, default=1500, help="real documents of each source")
    ap.add_argument("--copies", type=int, default=1500, help="edited copies (and unrelated pairs)")
    ap.add_argument("--loop-docs", type=int, default=100, help="docs for the slow update() loop")
    args = ap.parse_args()
    data = Path(args.data)
    params = MinHashParams()
    print(
        f"load: {os.getloadavg()[0]:.2f} (1-min load average, {os.cpu_count()} CPUs); "
        f"params: {params}"
    )
    prose = [
        t
        for _, t in prose_documents(
            data / "prose" / "nltk_gutenberg_17books.tar.xz", sentences_per_doc=12, limit=args.docs
        )
    ]
    web = [
        t
        for t in jsonl_texts(data / "webtext" / "webtext.test.jsonl", limit=args.docs)
        if len(words(t)) >= 30
    ]
    for name, texts in (
        ("prose (12-sentence documents)", prose),
        ("WebText test (~47-word prefixes)", web),
    ):
        print(f"\n== {name}: {len(texts):,} documents")
        docs, pairs = near_duplicate_set(
            texts, args.copies, seed=1, max_edits=24 if texts is prose else 8
        )
        quality(docs, pairs, params)
    speed(prose, params, args.loop_docs)


if __name__ == "__main__":
    main()
