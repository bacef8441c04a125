"""Benchmark of the 8-gram overlap engine on real text (one process, one core).

Prints, on the prose books of ../shared/data (1.6M words) and the WebText/LAMBADA test files:
  * 8-grams/s for hashing alone (normalised text in, 8-gram hashes out);
  * 8-grams/s inserted and queried (absent and present 8-grams) by the numpy Bloom filter, and
    hashing + probing together (normalised text in, answers out: the issue's goal, >= 20M/s);
  * the same work with a Python set of 8-gram strings and with a per-8-gram xxhash loop that
    probes the same bit array from Python;
  * MB/s of raw text end to end (normalise + hash + insert, and normalise + hash + query);
  * bits per 8-gram at p = 1e-8 (theory: 38.3) and the false positives of 1M random 8-grams.

The filter's two backends (dedup.ngram.bloom: the numpy code, which was the only implementation
before the compiled kernels, and the numba kernels) are timed side by side in this process,
alternating run by run, so that both see the same machine load; each figure is the best of
--repeat runs, as wall-clock time and as this thread's CPU time (time.thread_time: the time the
work had a core, which on a shared, overloaded VM is the fairer "per core" figure).

With --partitions P it also compares the filter partitioned by hash range (dedup.ngram.partitioned,
`webtext overlap --filter-partitions P`) with one filter on the same data: query throughput for
P = 1 and P, and the peak memory (tracemalloc: numpy's allocations) of building the whole filter
vs one partition, each fed 8-gram hashes in batches as the Beam workers are.
--partitions-only skips everything else (a short run).

Usage: python bench/overlap.py [--data ../shared/data] [--big-items 20000000] [--repeat 7]
                               [--partitions 8 [--partitions-only]]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ itself must not be on the path: bench/tokenize.py would shadow the standard library's
# tokenize module (numpy and scipy import it). So this runs before any other import.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import xxhash  # noqa: E402

sys.path.insert(0, str(_BENCH.parent))

from synthetic import prose_sentences  # noqa: E402

from dedup import text as T  # noqa: E402
from dedup.ngram import partitioned as part  # noqa: E402
from dedup.ngram.bloom import BloomFilter, BloomParams, resolve_backend  # noqa: E402
from dedup.ngram.overlap import format_verification, verify  # noqa: E402


def best_of(fn, repeat: int = 5) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds / 1e6:8.2f} M/s"


def side_by_side(fns: dict[str, object], repeat: int) -> dict[str, tuple[float, float, object]]:
    """Run each function in turn, `repeat` rounds; per name the best wall-clock seconds, the
    best thread CPU seconds and the last result."""
    best = {name: [float("inf"), float("inf"), None] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.thread_time()
            out = fn()
            cpu, wall = time.thread_time() - c, time.perf_counter() - w
            b = best[name]
            b[0], b[1], b[2] = min(b[0], wall), min(b[1], cpu), out
    return {name: (w, c, out) for name, (w, c, out) in best.items()}


def compare_backends(params: BloomParams, grams, test_grams, test_norm, repeat: int) -> None:
    """The previous implementation (numpy) beside the compiled kernels, same filter, same
    inputs, alternating runs; asserts that both give the same bits and the same answers."""
    try:
        resolve_backend("numba")
    except ValueError as exc:
        print(f"\n(compiled backend unavailable: {exc}; numpy figures only above)")
        return
    filters = {b: BloomFilter(params, backend=b) for b in ("numpy", "numba")}
    for f in filters.values():
        f.add_hashes(grams[:1000])  # compile (numba caches the machine code on disk)
        f.query_normalised(test_norm[:1000])
    n, nt = len(grams), len(test_grams)

    def insert(backend: str):
        def run() -> BloomFilter:
            f = BloomFilter(params, backend=backend)
            f.add_hashes(grams)
            return f

        return run

    built = side_by_side({b: insert(b) for b in filters}, max(2, repeat // 3))
    assert np.array_equal(built["numpy"][2].bits, built["numba"][2].bits)
    bits = built["numpy"][2].bits
    filters = {b: BloomFilter(params, bits, n, backend=b) for b in filters}
    rows = [("insert (8-gram hashes in)", n, built)]
    for label, count, make in (
        (
            "hash only (normalised in, hashes out)",
            nt,
            lambda f: lambda: f.ngram_hashes_normalised(test_norm),
        ),
        ("query, test text (mostly absent)", nt, lambda f: lambda: f.contains_hashes(test_grams)),
        ("query, train text (all present)", n, lambda f: lambda: f.contains_hashes(grams)),
        (
            "hash + probe, normalised test text in",
            nt,
            lambda f: lambda: f.query_normalised(test_norm),
        ),
    ):
        result = side_by_side({b: make(f) for b, f in filters.items()}, repeat)
        a, b = result["numpy"][2], result["numba"][2]
        assert np.array_equal(a, b), label
        rows.append((label, count, result))
    print(
        f"\nnumpy path (the implementation before the kernels) vs compiled kernels, "
        f"best of {repeat} alternating runs; load now {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'':40s} {'numpy wall':>12s} {'numba wall':>12s} {'numpy CPU':>12s} {'numba CPU':>12s}  x (CPU)"
    )
    for label, count, r in rows:
        (wn, cn, _), (wb, cb, _) = r["numpy"], r["numba"]
        print(
            f"{label:40s} {rate(count, wn)} {rate(count, wb)} {rate(count, cn)} "
            f"{rate(count, cb)}  x{cn / cb:.1f}"
            + ("   <- goal >= 20 M/s" if label.startswith("hash + probe") else "")
        )


def peak_bytes(fn) -> tuple[int, object]:
    """Peak bytes allocated (tracemalloc, which sees numpy's buffers) while fn runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out = fn()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


def compare_partitions(grams, test_grams, test_norm, partitions: int, sizes, repeat: int) -> None:
    """P = 1 vs P partitions on the same 8-grams: query throughput (alternating runs, best of
    `repeat`) and peak memory of building the whole filter vs one partition."""
    batch = 1 << 20  # as beam_jobs.overlap_job.SHIP_BATCH_ITEMS
    print(
        f"\nfilter partitioned by hash range: P = 1 vs P = {partitions}, same 8-grams "
        f"({len(grams):,} inserted; queries: {len(test_grams):,} test 8-grams, mostly absent); "
        f"backend {resolve_backend()}; best of {repeat} alternating runs; "
        f"load now {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'':44s} {'P=1 wall':>11s} {f'P={partitions} wall':>11s} {'P=1 CPU':>11s} "
        f"{f'P={partitions} CPU':>11s}  P/1 (CPU)"
    )
    for n in sizes:
        filters = {}
        for p in (1, partitions):
            f = part.PartitionedBloom.empty(n, 1e-8, p)
            f.add_hashes(grams)
            f.contains_hashes(test_grams[:1000])  # compile / warm up
            filters[p] = f
        answers = {p: f.contains_hashes(test_grams) for p, f in filters.items()}
        assert np.array_equal(answers[1], answers[partitions])
        mb = filters[1].params.num_bits / 8e6
        for label, count, make in (
            ("query hashes (absent)", len(test_grams), lambda f: lambda: f.contains_hashes(test_grams)),
            ("query hashes (present)", len(grams), lambda f: lambda: f.contains_hashes(grams)),
            ("hash + probe, normalised text in", len(test_grams),
             lambda f: lambda: f.query_normalised(test_norm)),
        ):  # fmt: skip
            r = side_by_side({p: make(f) for p, f in filters.items()}, repeat)
            (w1, c1, _), (wp, cp, _) = r[1], r[partitions]
            print(
                f"{f'{label}, m = {mb:.0f} MB':44s} {rate(count, w1)} {rate(count, wp)} "
                f"{rate(count, c1)} {rate(count, cp)}  x{c1 / cp:.2f}"
            )

    n = max(sizes)
    whole = BloomParams.for_capacity(n, 1e-8)
    one = part.partition_params(n, 1e-8, partitions)

    def build_whole() -> int:
        f = BloomFilter(whole)
        for begin in range(0, len(grams), batch):
            f.add_hashes(grams[begin : begin + batch])
        return f.items_inserted

    # The worker of partition 0 receives that partition's local items, batch by batch.
    local0 = [
        part.group_by_partition(grams[b : b + batch], partitions).partition(0).copy()
        for b in range(0, len(grams), batch)
    ]

    def build_partition() -> int:
        f = BloomFilter(one)
        for items in local0:
            f.add_hashes(items)
        return f.items_inserted

    def route_batches() -> int:  # the shard side: route each batch, keep nothing
        return sum(
            len(part.group_by_partition(grams[b : b + batch], partitions).items)
            for b in range(0, len(grams), batch)
        )

    peak_whole, _ = peak_bytes(build_whole)
    peak_part, _ = peak_bytes(build_partition)
    peak_route, _ = peak_bytes(route_batches)
    print(
        f"peak memory, filter sized for {n:,} 8-grams at p = 1e-8 "
        f"(tracemalloc; hashes arrive in batches of {batch:,}):\n"
        f"  build the whole filter ({whole.num_bits / 8e6:.1f} MB of bits):        "
        f"{peak_whole / 1e6:8.1f} MB\n"
        f"  build one of {partitions} partitions ({one.num_bits / 8e6:.1f} MB of bits):"
        f"     {peak_part / 1e6:8.1f} MB\n"
        f"  route a shard's hashes to partitions (per batch):  {peak_route / 1e6:8.1f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    ap.add_argument("--data", default=str(default))
    ap.add_argument(
        "--big-items",
        type=int,
        default=20_000_000,
        help="also probe a filter sized for this many 8-grams (memory: ~4.8 B each)",
    )
    ap.add_argument(
        "--python-sample", type=int, default=300_000, help="8-grams for the slow Python baselines"
    )
    ap.add_argument("--repeat", type=int, default=7, help="runs per backend (best is reported)")
    ap.add_argument(
        "--partitions",
        type=int,
        default=0,
        help="also compare P partitions with one filter (a power of two; 0: skip)",
    )
    ap.add_argument(
        "--partitions-only", action="store_true", help="run only the --partitions comparison"
    )
    args = ap.parse_args()
    data = Path(args.data)

    train_text = "\n".join(
        line for _, line in prose_sentences(data / "prose" / "nltk_gutenberg_17books.tar.xz")
    )
    test_text = "\n".join(
        json.loads(line)["text"]
        for name in ("webtext/webtext.test.jsonl", "testsets/lambada/lambada_test.jsonl")
        for line in (data / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    mb_train = len(train_text.encode("utf-8")) / 1e6
    mb_test = len(test_text.encode("utf-8")) / 1e6
    print(
        f"load: {os.getloadavg()[0]:.2f} (1-min load average, {os.cpu_count()} CPUs); "
        f"numpy {np.__version__}; filter backend {resolve_backend()}"
    )
    print(
        f"train text: prose books, {mb_train:.1f} MB; test text: WebText test + LAMBADA, "
        f"{mb_test:.1f} MB"
    )

    # --- hashing -------------------------------------------------------------------------
    t_norm, norm = best_of(lambda: T.normalised_codepoints(train_text))
    t_hash, grams = best_of(lambda: T.ngram_hashes(T.word_hashes_normalised(norm), 8))
    n = len(grams)
    test_norm = T.normalised_codepoints(test_text)
    test_grams = T.ngram_hashes(T.word_hashes_normalised(test_norm), 8)
    print(f"\n8-grams: {n:,} in the train text, {len(test_grams):,} in the test text")
    print(f"normalise (raw text -> normalised bytes)   {mb_train / t_norm:8.1f} MB/s")
    print(f"hash (normalised -> 8-gram hashes)         {rate(n, t_hash)}")
    if args.partitions:
        sizes = sorted({n, args.big_items} - {0})
        compare_partitions(grams, test_grams, test_norm, args.partitions, sizes, args.repeat)
        if args.partitions_only:
            return

    # --- the Bloom filter ----------------------------------------------------------------
    params = BloomParams.for_capacity(n, 1e-8)
    print(
        f"\nfilter sized for n={n:,} at p=1e-8: {params.num_bits:,} bits "
        f"({params.num_bits / 8e6:.1f} MB), k={params.num_hashes}, "
        f"{params.bits_per_item():.2f} bits per 8-gram "
        f"(theory -ln p/(ln 2)^2 = {-math.log(1e-8) / math.log(2) ** 2:.2f})"
    )

    def build() -> BloomFilter:
        b = BloomFilter(params)
        b.add_hashes(grams)
        return b

    t_ins, bloom = best_of(build, 2)
    t_absent, hits_absent = best_of(lambda: bloom.contains_hashes(test_grams))
    t_present, hits_present = best_of(lambda: bloom.contains_hashes(grams))
    t_e2e_q, _ = best_of(lambda: bloom.query_normalised(test_norm))
    t_raw_q, _ = best_of(lambda: bloom.query_text(test_text))
    t_raw_i, _ = best_of(lambda: BloomFilter(params).add_text(train_text), 2)
    assert hits_present.all()
    print(f"insert                                     {rate(n, t_ins)}")
    print(
        f"query, test text (mostly absent)           {rate(len(test_grams), t_absent)}  "
        f"({hits_absent.mean() * 100:.2f}% of test 8-grams found)"
    )
    print(f"query, train text (all present)            {rate(n, t_present)}")
    print(
        f"hash + probe, normalised test text in      {rate(len(test_grams), t_e2e_q)}"
        "   <- goal >= 20 M/s"
    )
    print(f"end to end raw text -> answers (query)     {mb_test / t_raw_q:8.1f} MB/s")
    print(f"end to end raw text -> filter (insert)     {mb_train / t_raw_i:8.1f} MB/s")
    print(format_verification(verify(bloom, 1_000_000)))
    compare_backends(params, grams, test_grams, test_norm, args.repeat)

    # --- baselines ------------------------------------------------------------------------
    k = params.num_hashes
    words = T.codepoints_to_str(norm).split(" ")
    test_words = T.codepoints_to_str(test_norm).split(" ")
    sample = min(args.python_sample, len(words) - 7)
    strings = [" ".join(words[i : i + 8]) for i in range(len(words) - 7)]
    test_strings = [" ".join(test_words[i : i + 8]) for i in range(len(test_words) - 7)]

    t_set_ins, gram_set = best_of(lambda: set(strings), 2)
    t_set_q, _ = best_of(lambda: sum(s in gram_set for s in test_strings), 2)
    set_bytes = sum(sys.getsizeof(s) for s in strings[:10000]) / 10000 + 8 * 2  # + table slots
    print(
        f"\nPython set of 8-gram strings (8-grams already joined): insert "
        f"{rate(len(strings), t_set_ins)}, query {rate(len(test_strings), t_set_q)}, "
        f"~{set_bytes * 8:.0f} bits per 8-gram"
    )
    t_join, _ = best_of(lambda: [" ".join(words[i : i + 8]) for i in range(len(words) - 7)], 1)
    print(f"  (joining the words into 8-gram strings alone: {rate(len(words) - 7, t_join)})")

    m = params.num_bits
    bits = bytearray(bloom.bits.tobytes())

    def xxhash_loop_insert() -> None:
        for s in strings[:sample]:
            h = xxhash.xxh3_64_intdigest(s.encode())
            a, step = h % m, ((h << 32 | h >> 32) & 0xFFFFFFFFFFFFFFFF) % (m - 1) + 1
            for _ in range(k):
                bits[a >> 3] |= 1 << (a & 7)
                a = (a + step) % m

    def xxhash_loop_query() -> int:
        found = 0
        for s in test_strings[:sample]:
            h = xxhash.xxh3_64_intdigest(s.encode())
            a, step = h % m, ((h << 32 | h >> 32) & 0xFFFFFFFFFFFFFFFF) % (m - 1) + 1
            for _ in range(k):
                if not bits[a >> 3] >> (a & 7) & 1:
                    break
                a = (a + step) % m
            else:
                found += 1
        return found

    t_loop_ins, _ = best_of(xxhash_loop_insert, 1)
    t_loop_q, _ = best_of(xxhash_loop_query, 1)
    print(
        f"per-8-gram xxhash loop, same bit array: insert {rate(sample, t_loop_ins)}, "
        f"query {rate(sample, t_loop_q)}  (8-gram strings already joined)"
    )
    print(
        f"speed-up of the numpy filter: insert x{(n / t_ins) / (sample / t_loop_ins):.1f}, "
        f"query x{(len(test_grams) / t_absent) / (sample / t_loop_q):.1f} over the loop; "
        f"query x{(len(test_grams) / t_absent) / (len(test_strings) / t_set_q):.1f} "
        "over the set"
    )

    # --- a filter larger than the caches ------------------------------------------------------
    if args.big_items:
        big = BloomFilter(BloomParams.for_capacity(args.big_items, 1e-8))
        t_big_ins, _ = best_of(lambda: big.add_hashes(grams), 1)
        t_big_q, _ = best_of(lambda: big.contains_hashes(test_grams))
        t_big_p, _ = best_of(lambda: big.contains_hashes(grams))
        print(
            f"\nfilter sized for {args.big_items:,} 8-grams ({big.params.num_bits / 8e6:.0f} MB, "
            f"beyond the CPU caches): insert {rate(n, t_big_ins)}, query absent "
            f"{rate(len(test_grams), t_big_q)}, query present {rate(n, t_big_p)}"
        )


if __name__ == "__main__":
    main()
