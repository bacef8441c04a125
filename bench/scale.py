"""Scale benchmark: `webtext dedup` -> `webtext tokenize` -> `webtext overlap` on synthetic docs/
built from real text, at several sizes, each stage a separate process under /usr/bin/time -v.

docs/ is generated from the real prose in ../shared/data (the NLTK Gutenberg books and the
WebText document prefixes): each document is 4-12 sentences drawn by a seeded generator, 1% are
planted exact copies and 2% near copies (bench/synthetic.edit_copy: words inserted, spans
deleted, boilerplate changed) of earlier documents. Shards are written with the project's
streaming shard writer and finished like a stage (_stats.json, _SUCCESS).

Per stage and size it prints: documents per second per core (documents / CPU seconds), wall
time, peak RSS and peak RSS per document, the overlap stage's temporary disk peak (the output
directory's size, polled), and the bytes each stage shuffled (``shuffle_bytes`` in the
_stats.json of the directories it wrote: what went into WriteStageOutput's GroupByKey; 0 for
a writer that maps input shards to output shards). With --corpus-direct, corpus/ is written
directly (split by a hash of the document id, no dedup run): for measuring tokenize and
overlap alone, e.g. with another checkout's code (--pythonpath /work/main).

With --flink-jar JAR, dedup runs on FlinkRunner instead: the script starts Beam's Flink job
server from JAR (an embedded ``[local]`` Flink cluster, parallelism 2, SDK workers in the
driver process: LOOPBACK), and the peak RSS reported is the driver's (/usr/bin/time -v) plus
the job server JVM's own (VmHWM, read from /proc before it is stopped): an upper bound of the
whole process tree; CPU is both processes' user + system.

When bench/datatrove_dedup.py exists, datatrove's MinHash dedup runs on the same docs/ and is
printed beside ours; otherwise a line says it was skipped.

Usage:
  python bench/scale.py [--sizes 40000,160000] [--work /tmp/scale] [--json out.json]
                        [--stages dedup,tokenize,overlap] [--corpus-direct] [--pythonpath DIR]
                        [--no-datatrove] [--flink-jar JAR [--flink-heap 3g]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyarrow as pa  # noqa: E402
from synthetic import edit_copy, jsonl_texts, prose_sentences  # noqa: E402

from beam_jobs.stage_io import SHUFFLE_BYTES, finish_stage, write_tables  # noqa: E402
from pipeline.io import schemas, shards  # noqa: E402
from pipeline.io.stats import StageStats  # noqa: E402

NUM_SHARDS = 8
EXACT_EVERY = 100  # document i is an exact copy of an earlier one when i % 100 == 37
NEAR_EVERY = 50  # ... a near copy when i % 50 == 11
TIME = "/usr/bin/time"


# ---- generating docs/ -------------------------------------------------------------------------


def sentence_pool(data: Path) -> list[str]:
    pool = [line for _, line in prose_sentences(data / "prose" / "nltk_gutenberg_17books.tar.xz")]
    for name in ("webtext.valid.jsonl", "webtext.test.jsonl"):
        pool.extend(jsonl_texts(data / "webtext" / name))
    return [s for s in pool if len(s.split()) >= 4]


def doc_text(i: int, pool: list[str]) -> str:
    """Document i (deterministic): 4-12 sentences, or a planted copy of an earlier one."""
    if i >= EXACT_EVERY and i % EXACT_EVERY == 37:
        return doc_text(i - 1 - (i * 7919) % min(i, 5000), pool)
    if i >= NEAR_EVERY and i % NEAR_EVERY == 11:
        rng = random.Random(i)
        source = doc_text(i - 1 - (i * 104729) % min(i, 5000), pool)
        return edit_copy(source, doc_text(i + 1, pool), rng, rng.randint(1, 3))
    rng = random.Random(i * 2654435761 % 2**32)
    return " ".join(rng.choice(pool) for _ in range(rng.randint(4, 12)))


def doc_row(i: int, text: str, split: str | None) -> dict[str, Any]:
    doc_id = f"doc{i:09d}"
    host = f"site{i % 997}.example.org"
    url = f"https://{host}/{doc_id}"
    row = {
        "doc_id": doc_id, "url": url, "final_url": url, "domain": host, "title": None,
        "text": text, "n_chars": len(text), "max_score": 3 + i % 50, "total_score": 3 + i % 50,
        "num_posts": 1, "subreddits": ["news"], "first_seen_utc": 1_120_000_000 + i,
    }  # fmt: skip
    if split is not None:
        row["split"] = split
    return row


def split_of(doc_id: str) -> str:
    bucket = zlib.crc32(doc_id.encode()) % 100
    return "val" if bucket < 5 else "test" if bucket < 10 else "train"


def _tables(
    shard: int, n: int, pool: list[str], schema: pa.Schema, corpus: bool
) -> Iterator[pa.Table]:
    batch: list[dict[str, Any]] = []
    for i in range(shard, n, NUM_SHARDS):
        doc_id = f"doc{i:09d}"
        batch.append(doc_row(i, doc_text(i, pool), split_of(doc_id) if corpus else None))
        if len(batch) == 2048:
            yield pa.Table.from_pylist(batch, schema=schema)
            batch = []
    yield pa.Table.from_pylist(batch, schema=schema)


def write_docs(out: Path, n: int, pool: list[str], *, corpus: bool = False) -> None:
    """docs/ (or corpus/) of n documents in NUM_SHARDS shards, finished like a stage."""
    stage, schema = ("corpus", schemas.CORPUS) if corpus else ("docs", schemas.DOCS)
    if (out / shards.SUCCESS_MARKER).exists():
        return
    shutil.rmtree(out, ignore_errors=True)
    shards.prepare_output(str(out), shards.JobSpec(stage, {"synthetic": n}, []))
    written = []
    for shard in range(NUM_SHARDS):
        name = shards.shard_name(shard, NUM_SHARDS)
        written.append(
            (name, write_tables(str(out), name, _tables(shard, n, pool, schema, corpus), schema))
        )
    finish_stage(StageStats(records_in=n, records_out=n), written, str(out), stage)


# ---- running a stage --------------------------------------------------------------------------


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):  # a temporary file renamed meanwhile
                total += os.path.getsize(os.path.join(root, f))
    return total


def run_stage(argv: list[str], pythonpath: str, watch: Path | None) -> dict[str, Any]:
    """Run `webtext ARGV` under /usr/bin/time -v; wall, CPU, peak RSS (and the peak size of
    ``watch`` while it ran)."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    cmd = [sys.executable, "-m", "pipeline.cli", *argv]
    use_time = os.path.exists(TIME)
    if use_time:
        cmd = [TIME, "-v", *cmd]
    peak_disk = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak_disk
        while not done.is_set():
            if watch is not None:
                peak_disk = max(peak_disk, dir_bytes(watch))
            time.sleep(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    start = time.perf_counter()
    before = os.times()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=pythonpath)
    wall = time.perf_counter() - start
    after = os.times()
    done.set()
    thread.join()
    if proc.returncode != 0:
        sys.exit(f"webtext {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    if use_time:
        text = proc.stderr
        rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
        user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
        system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
        rss, cpu = rss_kb * 1024, user + system
    else:  # the child's rusage, from the parent
        import resource

        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        cpu = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
    if watch is not None:
        peak_disk = max(peak_disk, dir_bytes(watch))
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": rss, "peak_disk_bytes": peak_disk}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_figures(pid: int) -> tuple[int, float]:
    """(peak RSS bytes (VmHWM), CPU seconds (utime + stime)) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm_kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm_kb * 1024, (int(fields[11]) + int(fields[12])) / ticks


@contextlib.contextmanager
def flink_job_server(
    jar: str, heap: str, work: Path, conf_dir: str | None = None
) -> Iterator[tuple[int, subprocess.Popen]]:
    """Beam's Flink job server with an embedded [local] cluster: (job port, process)."""
    port = _free_port()
    work.mkdir(parents=True, exist_ok=True)
    cmd = ["java", f"-Xmx{heap}", "-jar", jar, "--flink-master", "[local]", "--job-port",
           str(port), "--artifact-port", "0", "--expansion-port", "-1",
           "--artifacts-dir", str(work / "artifacts")]  # fmt: skip
    if conf_dir:
        cmd += ["--flink-conf-dir", conf_dir]
    with open(work / "job-server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                sys.exit(f"the Flink job server exited; see {work / 'job-server.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                sys.exit(f"the Flink job server did not listen in 180 s; see {work}")
            time.sleep(1)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def shuffled(*dirs: Path) -> int | None:
    values = []
    for d in dirs:
        try:
            values.append(shards.read_stats(str(d)).get(SHUFFLE_BYTES))
        except (OSError, ValueError):
            values.append(None)
    return None if any(v is None for v in values) else sum(values)


def run_size(n: int, args: argparse.Namespace, pool: list[str]) -> list[dict[str, Any]]:
    work = Path(args.work) / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    stages = args.stages.split(",")
    rows: list[dict[str, Any]] = []
    docs, corpus, dups = work / "docs", work / "corpus", work / "dups"
    t = time.perf_counter()
    if args.corpus_direct:
        write_docs(corpus, n, pool, corpus=True)
    else:
        write_docs(docs, n, pool)
    print(f"[{n:,}] input written in {time.perf_counter() - t:.0f}s", flush=True)
    tag = args.label

    def record(stage: str, result: dict[str, Any], shuffle: int | None) -> None:
        result.update(stage=stage, docs=n, label=tag, shuffle_bytes=shuffle)
        rows.append(result)
        print(f"[{n:,}] {stage}: {json.dumps(result)}", flush=True)

    if "dedup" in stages and not args.corpus_direct:
        for d in (corpus, dups):
            shutil.rmtree(d, ignore_errors=True)
        argv = ["dedup", str(docs), "--out", str(corpus), "--dups-out", str(dups)]
        if args.flink_jar:
            with flink_job_server(
                args.flink_jar, args.flink_heap, work / "flink", args.flink_conf_dir
            ) as (port, js):
                argv += ["--runner=FlinkRunner", f"--job_endpoint=localhost:{port}",
                         "--parallelism=2", "--environment_type=LOOPBACK"]  # fmt: skip
                r = run_stage(argv, args.pythonpath, None)
                server_rss, server_cpu = _proc_figures(js.pid)
            r.update(driver_rss_bytes=r["peak_rss_bytes"], job_server_rss_bytes=server_rss,
                     job_server_cpu_s=server_cpu)  # fmt: skip
            r["peak_rss_bytes"] += server_rss
            r["cpu_s"] += server_cpu
            tag = f"{args.label} (Flink)"
        else:
            r = run_stage(argv, args.pythonpath, None)
        record("dedup", r, shuffled(corpus, dups))
        tag = args.label
        script = ROOT / "bench" / "datatrove_dedup.py"
        if args.no_datatrove:
            print(f"[{n:,}] datatrove: skipped (--no-datatrove)")
        elif script.exists():
            out_json = work / "datatrove.json"
            subprocess.run(
                [sys.executable, str(script), str(docs), "--work", str(work / "datatrove"),
                 "--ours-dups", str(dups), "--json", str(out_json)],
                check=True, cwd=ROOT,
            )  # fmt: skip
            dt = json.loads(out_json.read_text())
            dt.update(stage="datatrove dedup", docs=n, label="datatrove", shuffle_bytes=None)
            if dt.get("peak_rss_mb") is not None:  # the table's units
                dt["peak_rss_bytes"] = dt["peak_rss_mb"] * 2**20
            rows.append(dt)
            print(f"[{n:,}] datatrove: {json.dumps(dt)}", flush=True)
        else:
            print(f"[{n:,}] datatrove: skipped (bench/datatrove_dedup.py does not exist)")
    if "tokenize" in stages:
        tokens = work / f"tokens-{tag}"
        shutil.rmtree(tokens, ignore_errors=True)
        r = run_stage(["tokenize", str(corpus), "--out", str(tokens), "--gpt2-files",
                       str(Path(args.data) / "gpt2")], args.pythonpath, None)  # fmt: skip
        record("tokenize", r, shuffled(tokens))
        shutil.rmtree(tokens, ignore_errors=True)
    if "overlap" in stages:
        out = work / f"overlap-{tag}"
        shutil.rmtree(out, ignore_errors=True)
        test = Path(args.data) / "testsets" / "wikitext-2" / "test.txt"
        r = run_stage(["overlap", str(corpus), "--out", str(out), "--test", f"wikitext-2={test}",
                       "--verify-queries", "0"], args.pythonpath, out)  # fmt: skip
        record("overlap", r, 0)  # partial filters move as file paths; nothing else is shuffled
        shutil.rmtree(out, ignore_errors=True)
    return rows


def gb(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e9:.2f} GB"


def mb(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e6:,.1f} MB"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| stage | code | docs | docs/s per core | wall | peak RSS | RSS/doc | temp disk peak | shuffled |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_core = r["docs"] / r["cpu_s"] if r.get("cpu_s") else None
        rss = r.get("peak_rss_bytes")
        per_doc = "-" if rss is None else f"{rss / r['docs'] / 1e3:.1f} KB"
        disk = r.get("peak_disk_bytes") if r["stage"] == "overlap" else None
        lines.append(
            f"| {r['stage']} | {r.get('label', '')} | {r['docs']:,} | "
            f"{'-' if per_core is None else f'{per_core:,.0f}'} | {r.get('wall_s', 0):.0f} s | "
            f"{gb(rss)} | {per_doc} | "
            f"{gb(disk)} | {mb(r.get('shuffle_bytes'))} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="40000,160000", help="document counts, comma-separated")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--work", default="/tmp/webtext-scale", help="scratch directory")
    ap.add_argument("--stages", default="dedup,tokenize,overlap")
    ap.add_argument("--corpus-direct", action="store_true",
                    help="write corpus/ directly instead of docs/ + dedup")  # fmt: skip
    ap.add_argument("--pythonpath", default=str(ROOT), help="checkout whose code runs the stages")
    ap.add_argument("--label", default="this", help="names the code in the table (e.g. main)")
    ap.add_argument("--json", help="write the rows as JSON here")
    ap.add_argument("--no-datatrove", action="store_true", help="do not run datatrove's dedup")
    ap.add_argument("--flink-jar", help="run dedup on FlinkRunner with this job-server jar")
    ap.add_argument("--flink-heap", default="3g", help="the job server JVM's -Xmx")
    ap.add_argument("--flink-conf-dir", help="a Flink configuration directory for the job server")
    args = ap.parse_args()
    if not os.path.exists(TIME):
        print(f"{TIME} not found: CPU and peak RSS from the children's rusage instead")
    pool = sentence_pool(Path(args.data))
    rows: list[dict[str, Any]] = []
    for n in [int(s) for s in args.sizes.split(",")]:
        rows.extend(run_size(n, args, pool))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
