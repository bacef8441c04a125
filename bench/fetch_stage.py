"""The fetch stage at crawl speed: the whole `webtext fetch` command (Beam job, ledger, shards),
not the client alone, on links whose hosts follow WebText's own domain distribution.

    python bench/fetch_stage.py [--links 2000 20000] [--modes default off] [--code DIR]

Workload: N links drawn (seeded) from the top 400 names of ../shared/data/webtext/domains.txt
weighted by their counts (host www.NAME.com), every host routed with --resolve to one loopback
server in its own process that answers each request after --latency-ms with a real Dragnet
page (~87 KB; ../shared/data/extraction). The server is a bare asyncio protocol with the
responses prebuilt, so its CPU cost stays small beside the stage's (it shares the 2 cores);
it counts the requests it sees and the most it ever had in flight.

Modes: ``default`` (the command's politeness: --per-host 2 --host-delay 0.5) and ``off``
(--per-host 64 --host-delay 0). Beside each figure, the floor the link list allows:
max(biggest host's links x host delay, N x latency / concurrency). CPU per page is the
command process's user+system time over the pages it wrote; peak RSS is that process's.

``--code DIR`` runs the command from another checkout (PYTHONPATH=DIR), e.g. /work/main for
the figures before a change, with the same workload and server.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.io import schemas, shards  # noqa: E402
from pipeline.urls import normalize_url, url_id  # noqa: E402

MODES = {
    "default": {"per_host": 2, "host_delay": 0.5, "args": []},
    "off": {"per_host": 64, "host_delay": 0.0, "args": ["--per-host", "64", "--host-delay", "0"]},
}
CONCURRENCY = 64  # the command's default --concurrency


def load_pages(data_dir: Path, count: int = 50) -> list[bytes]:
    folder = data_dir / "extraction" / "dragnet" / "input"
    pages = [gzip.decompress(p.read_bytes()) for p in sorted(folder.glob("*.html.gz"))]
    # The `count` pages nearest the issue's 87 KB.
    return sorted(pages, key=lambda p: (abs(len(p) - 87_000), p))[:count]


def serve(data_dir: str, latency_s: float, port_queue, counters) -> None:
    """Loopback HTTP/1.1 server (keep-alive): every GET answered after latency_s."""
    pages = load_pages(Path(data_dir))
    responses = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        + f"Content-Length: {len(p)}\r\n\r\n".encode()
        + p
        for p in pages
    ]
    state = {"in_flight": 0}

    class Http(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            loop = asyncio.get_running_loop()
            while b"\r\n\r\n" in self.buffer:
                head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                path = head.split(b" ", 2)[1] if b" " in head else b"/"
                index = sum(path) % len(responses)
                state["in_flight"] += 1
                counters[0] += 1
                counters[1] = max(counters[1], state["in_flight"])
                loop.call_later(latency_s, self.answer, responses[index])

        def answer(self, response: bytes) -> None:
            state["in_flight"] -= 1
            if not self.transport.is_closing():
                self.transport.write(response)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Http, "127.0.0.1", 0, backlog=4096)
        port_queue.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def make_links(domains_file: Path, n: int, seed: int = 0) -> list[str]:
    names, weights = [], []
    for line in domains_file.read_text().splitlines()[:400]:
        fields = line.split()
        if len(fields) != 2:  # a count without a name: no host to route
            continue
        count, name = fields
        names.append(name)
        weights.append(int(count))
    rng = random.Random(seed)
    hosts = rng.choices(names, weights=weights, k=n)
    return [f"http://www.{name}.com/page/{i}" for i, name in enumerate(hosts)]


def write_links(directory: Path, urls: list[str]) -> None:
    rows = []
    for i, url in enumerate(urls):
        norm = normalize_url(url)
        rows.append(
            {
                "link_id": url_id(norm.key),
                "url": norm.url,
                "url_key": norm.key,
                "domain": norm.domain,
                "max_score": 3 + i % 50,
                "total_score": 4 + i % 50,
                "num_posts": 1,
                "post_ids": [f"p{i}"],
                "subreddits": ["news"],
                "first_seen_utc": 1_500_000_000,
                "first_title": "t",
            }
        )
    shards.write_shard(str(directory), shards.shard_name(0, 1), rows, schemas.LINKS)
    shards.finish_output(str(directory), {"records_in": len(rows), "records_out": len(rows)})


def floor_s(urls: list[str], mode: dict, latency_s: float) -> tuple[float, int, int]:
    hosts = Counter(u.split("/")[2] for u in urls)
    biggest = max(hosts.values())
    return (
        max(biggest * mode["host_delay"], len(urls) * latency_s / CONCURRENCY),
        len(hosts),
        biggest,
    )


def run_command(code: Path, links: Path, out: Path, urls: list[str], port: int, mode: dict):
    hosts = sorted({u.split("/")[2] for u in urls})
    resolve = [a for h in hosts for a in ("--resolve", f"{h}:80:127.0.0.1:{port}")]
    argv = [sys.executable, "-m", "pipeline.cli", "fetch", str(links), "--out", str(out)]
    argv += ["--allow-private", *resolve, *mode["args"]]
    env = dict(os.environ, PYTHONPATH=str(code))
    log_path = out.parent / f"{out.name}.log"
    with open(log_path, "w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=str(code), env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"webtext fetch failed ({proc.returncode}); see {log_path}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--links", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["default", "off"])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--code", default=str(ROOT), help="checkout whose command runs")
    parser.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()
    data = Path(args.data)
    latency = args.latency_ms / 1000
    sizes = [len(p) for p in load_pages(data)]
    print(
        f"code: {args.code}; pages {min(sizes) // 1000}-{max(sizes) // 1000} KB "
        f"(mean {sum(sizes) / len(sizes) / 1000:.0f} KB); latency {args.latency_ms:.0f} ms"
    )
    counters = multiprocessing.Array("q", 2, lock=False)  # requests, max in flight
    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(str(data), latency, queue, counters), daemon=True
    )
    server.start()
    work = Path(args.work or tempfile.mkdtemp(prefix="fetch-stage-"))
    try:
        port = queue.get(timeout=60)
        print(
            f"{'links':>6} {'mode':>7} {'hosts':>5} {'biggest':>7} {'floor s':>8} {'wall s':>7} "
            f"{'x floor':>7} {'pages/s':>8} {'pages':>6} {'timeouts':>8} {'CPU ms/page':>11} "
            f"{'peak RSS MiB':>12} {'server max in flight':>20}"
        )
        for n in args.links:
            urls = make_links(data / "webtext" / "domains.txt", n)
            links = work / f"links-{n}"
            if not links.exists():
                write_links(links, urls)
            for name in args.modes:
                mode = MODES[name]
                out = work / f"pages-{n}-{name}-{int(time.time())}"
                counters[0] = counters[1] = 0
                wall, cpu, rss_mib = run_command(Path(args.code), links, out, urls, port, mode)
                stats = json.loads((out / "_stats.json").read_text())
                pages = stats["records_out"]
                timeouts = stats.get("dropped", {}).get("timeout", 0)
                floor, n_hosts, biggest = floor_s(urls, mode, latency)
                print(
                    f"{n:>6} {name:>7} {n_hosts:>5} {biggest:>7} {floor:>8.1f} {wall:>7.1f} "
                    f"{wall / floor:>7.2f} {pages / wall:>8.1f} {pages:>6} {timeouts:>8} "
                    f"{1000 * cpu / max(pages, 1):>11.2f} {rss_mib:>12.0f} {counters[1]:>20}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
