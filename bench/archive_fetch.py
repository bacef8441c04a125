"""Archive fetch throughput (issue 15).

1. Records read by HTTP Range from a loopback "Common Crawl" (a WARC file of real Dragnet
   pages, or synthetic pages without ../shared/data) that adds --latency-ms to every answer,
   through pipeline.archive.commoncrawl.CommonCrawlSource.fetch (Range, warcio, digest check),
   at concurrency 1 and 64. The server runs in its own process (no shared GIL).
2. The columnar-index join (pipeline.archive.columnar.join_index, DuckDB, one thread):
   --links links against an --index-rows synthetic cc-index-table, generated in a temp dir;
   SURT keys of the links are computed apart (timed on a sample: a per-link cost that Beam
   spreads over workers).

3. ``--stage``: the whole ``webtext fetch --source cc`` command (a subprocess, Beam
   DirectRunner) on --stage-links links against a loopback Common Crawl layout in its own
   process (a CDX index server and WARC files served by Range, --latency-ms added to every
   answer; the cc-index-table Parquet of the same records, three rows a link: the 2017-11
   capture served, a 2014 one outside the window, a 2017-10 404), once through the CDX server
   (``--cc-index URL``) and once through the columnar index (``--cc-index PATH.parquet``):
   pages/s, CPU seconds and peak RSS of the command (wait4), requests the server saw.

    python bench/archive_fetch.py [--pages 1024] [--serial-pages 64] [--latency-ms 50]
                                  [--links 1000000] [--index-rows 10000000] [--skip-fetch]
    python bench/archive_fetch.py --stage [--stage-links 2000 8000] [--stage-modes cdx columnar]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.archive.capture import Capture, CdxRow  # noqa: E402
from pipeline.archive.commoncrawl import CommonCrawlSource  # noqa: E402
from pipeline.archive.politeness import Politeness  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
YEAR = 365 * 86400
SCRAPE = 1512086400  # 2017-12-01


def pages(n: int) -> list[bytes]:
    folder = SHARED / "extraction" / "dragnet" / "input"
    found = sorted(folder.glob("*.html.gz"))[:n]
    if found:
        return [gzip.decompress(p.read_bytes()) for p in found]
    return [
        f"<html><body><p>page {i} {'words ' * 800}</p></body></html>".encode() for i in range(n)
    ]


def write_warc(path: Path, bodies: list[bytes]) -> list[tuple[int, int]]:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for i, body in enumerate(bodies):
        http = StatusAndHeaders(
            "200 OK",
            [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )
        writer.write_record(
            writer.create_warc_record(
                f"http://bench{i}.example.com/",
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
            )
        )
    path.write_bytes(buffer.getvalue())
    spans = []
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for record in it:
            record.raw_stream.read()
            spans.append((it.get_record_offset(), it.get_record_length()))
    return spans


def serve(path: str, latency_s: float, port_queue: multiprocessing.Queue) -> None:
    from aiohttp import web

    data = Path(path).read_bytes()

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(latency_s)
        first, _, last = request.headers["Range"][6:].partition("-")
        start, end = int(first), int(last)
        return web.Response(
            status=206,
            body=data[start : end + 1],
            headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"},
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/data/{name}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def fetch_all(base: str, spans: list[tuple[int, int]], concurrency: int) -> int:
    policy = Politeness(concurrency=concurrency, rate=0)
    source = CommonCrawlSource(base, base + "/data", ("CC-BENCH",), politeness=policy)
    ok = 0
    async with source:

        async def one(i: int, span: tuple[int, int]) -> None:
            nonlocal ok
            row = CdxRow(f"http://bench{i}.example.com/", "20171201000000", 200, "text/html",
                         filename="bench.warc.gz", offset=span[0], length=span[1])  # fmt: skip
            response = await source.fetch(Capture(row, SCRAPE))
            ok += response.digest_ok is True and response.status == 200

        await asyncio.gather(*(one(i, s) for i, s in enumerate(spans)))
    return ok


def bench_fetch(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "bench.warc.gz"
        spans = write_warc(warc, pages(args.pages))
        spans = (spans * (args.pages // len(spans) + 1))[: args.pages]
        queue: multiprocessing.Queue = multiprocessing.Queue()
        server = multiprocessing.Process(
            target=serve, args=(str(warc), args.latency_ms / 1000, queue), daemon=True
        )
        server.start()
        base = f"http://127.0.0.1:{queue.get(timeout=30)}"
        try:
            rates = {}
            for concurrency, count in ((1, args.serial_pages), (64, args.pages)):
                started = time.perf_counter()
                ok = asyncio.run(fetch_all(base, spans[:count], concurrency))
                seconds = time.perf_counter() - started
                rates[concurrency] = count / seconds
                print(f"range fetch  concurrency {concurrency:>3}: {count} records in "
                      f"{seconds:.2f} s = {rates[concurrency]:.1f} pages/s "
                      f"({ok} digest-checked)")  # fmt: skip
            print(f"range fetch  speed-up 64 vs 1: {rates[64] / rates[1]:.1f}x "
                  f"(latency {args.latency_ms} ms)")  # fmt: skip
        finally:
            server.terminate()


def synthetic_index(path: Path, rows: int, urls: int, seed: int = 0) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    chunk = 2_000_000
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        ids = rng.integers(0, urls, n)
        keys = pc.binary_join_element_wise(
            "com,site", pc.cast(pa.array(ids % 50_000), pa.string()), ")/story/",
            pc.cast(pa.array(ids), pa.string()), "",
        )  # fmt: skip
        times = rng.integers(SCRAPE - 5 * YEAR, SCRAPE + 5 * YEAR, n) * 1_000_000
        status = rng.choice(np.array([200, 200, 200, 200, 301, 404], np.int16), n)
        mime = rng.choice(np.array(["text/html", "text/html", "application/pdf"]), n)
        table = pa.table(
            {
                "url_surtkey": keys,
                "url": pc.binary_join_element_wise("http://", keys, ""),
                "fetch_time": pa.array(times, pa.timestamp("us", tz="UTC")),
                "fetch_status": pa.array(status),
                "content_mime_detected": pa.array(mime),
                "warc_filename": pa.array(rng.integers(0, 80_000, n).astype(str), pa.string()),
                "warc_record_offset": pa.array(rng.integers(0, 2**30, n), pa.int64()),
                "warc_record_length": pa.array(rng.integers(500, 50_000, n), pa.int32()),
                "crawl": pa.array(np.full(n, "CC-MAIN-2017-51")),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=1_000_000)
    assert writer is not None
    writer.close()


def bench_join(args: argparse.Namespace) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.archive.columnar import LINK_SCHEMA, join_index
    from pipeline.archive.keys import surt_key

    urls = args.index_rows // 4  # about four captures per URL
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index.parquet"
        started = time.perf_counter()
        synthetic_index(index, args.index_rows, urls)
        print(f"columnar     index: {args.index_rows:,} rows, {urls:,} URLs, "
              f"{index.stat().st_size / 2**20:.0f} MiB, written in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        rng = np.random.default_rng(1)
        ids = rng.integers(0, urls * 2, args.links)  # half of the links are in the index
        keys = pc.binary_join_element_wise(
            "com,site", pc.cast(pa.array(ids % 50_000), pa.string()), ")/story/",
            pc.cast(pa.array(ids), pa.string()), "",
        )  # fmt: skip
        links = pa.table(
            [pc.cast(pa.array(np.arange(args.links)), pa.string()), keys,
             pa.array(np.full(args.links, SCRAPE), pa.int64())],
            schema=LINK_SCHEMA,
        )  # fmt: skip
        started, cpu = time.perf_counter(), time.process_time()
        joined = join_index(links, str(index), threads=1)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"columnar     join: {args.links:,} links x {args.index_rows:,} rows in "
              f"{seconds:.2f} s wall = {args.links / seconds:,.0f} links/s; CPU {cpu:.2f} s = "
              f"{args.links / cpu:,.0f} links per CPU-second (one DuckDB thread); "
              f"{joined.num_rows:,} links with a capture; peak RSS {rss:.2f} GiB")  # fmt: skip
        sample = [f"http://www.site{i % 50_000}.com/story/{i}?id={i}&b=2" for i in range(50_000)]
        started = time.perf_counter()
        for url in sample:
            surt_key(url)
        per = (time.perf_counter() - started) / len(sample)
        print(
            f"columnar     SURT keys of links: {per * 1e6:.1f} us/link = "
            f"{1 / per:,.0f} links/s on one core (computed once per link, before the join)"
        )


STAGE_CRAWL = "CC-MAIN-2017-51"
STAGE_WARC = "CC-MAIN-stage.warc.gz"


def stage_url(i: int) -> str:
    return f"http://www.site{i % 400}.com/story/{i}?id={i}"


def stage_layout(root: Path, n: int, small: bool = False) -> tuple[Path, Path, Path]:
    """links/ (one shard), the WARC file, its cc-index-table Parquet and the CDX entries
    (JSON, for the server process) of ``n`` links, each with one archived page (Dragnet
    pages, or ~1 KB synthetic ones with ``small``: memory then shows the job, not bodies)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from pipeline.archive.capture import timestamp_seconds
    from pipeline.archive.keys import surt_key
    from pipeline.io import schemas, shards
    from pipeline.urls import normalize_url, url_id

    bodies = [f"<html><body><p>{'word ' * 200}</p></body></html>".encode()] if small else pages(50)
    urls = [normalize_url(stage_url(i)).url for i in range(n)]
    data = root / "data"
    data.mkdir()
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    spans = []
    for i, url in enumerate(urls):
        body = bodies[i % len(bodies)] + f"<!-- {i} -->".encode()
        http = StatusAndHeaders(
            "200 OK",
            [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )
        start = buffer.tell()
        writer.write_record(
            writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Date": "2017-11-15T00:00:00Z"},
            )
        )  # fmt: skip
        spans.append((start, buffer.tell() - start))
    (data / STAGE_WARC).write_bytes(buffer.getvalue())
    keys = [surt_key(u) for u in urls]
    entries = [
        {"urlkey": k, "url": u, "timestamp": "20171115000000", "offset": o, "length": n_}
        for k, u, (o, n_) in zip(keys, urls, spans, strict=True)
    ]
    (root / "entries.json").write_text(json.dumps(entries))
    good, old, gone = (timestamp_seconds(t) * 1_000_000 for t in
                       ("20171115000000", "20140101000000", "20171001000000"))  # fmt: skip
    rows = [(k, u, t, s_, o, n_) for k, u, (o, n_) in zip(keys, urls, spans, strict=True)
            for t, s_ in ((good, 200), (old, 200), (gone, 404))]  # fmt: skip
    k, u, t, st, o, ln = (list(c) for c in zip(*rows, strict=True))
    table = pa.table(
        {
            "url_surtkey": k,
            "url": u,
            "fetch_time": pa.array(t, pa.timestamp("us", tz="UTC")),
            "fetch_status": pa.array(st, pa.int16()),
            "fetch_redirect": pa.nulls(len(k), pa.string()),
            "content_mime_detected": ["text/html"] * len(k),
            "warc_filename": [STAGE_WARC] * len(k),
            "warc_record_offset": pa.array(o, pa.int64()),
            "warc_record_length": pa.array(ln, pa.int32()),
            "crawl": [STAGE_CRAWL] * len(k),
        }
    )
    index = root / "cc-index.parquet"
    pq.write_table(table.sort_by("url_surtkey"), index, compression="zstd")
    links = root / "links"
    link_rows = []
    for i, url in enumerate(urls):
        norm = normalize_url(url)
        link_rows.append({
            "link_id": url_id(norm.key), "url": norm.url, "url_key": norm.key,
            "domain": norm.domain, "max_score": 3, "total_score": 4, "num_posts": 1,
            "post_ids": [f"p{i}"], "subreddits": ["news"], "first_seen_utc": 1_500_000_000,
            "first_title": "t",
        })  # fmt: skip
    shards.write_shard(str(links), shards.shard_name(0, 1), link_rows, schemas.LINKS)
    shards.finish_output(str(links), {"records_in": n, "records_out": n})
    return links, data, index


def serve_layout(root: str, latency_s: float, port_queue: multiprocessing.Queue) -> None:
    """The CDX index server (``/CRAWL-index?url=``, one JSON object a line, 404 when none)
    and ``/data/FILE`` with Range, every answer after ``latency_s``; ``/_counts`` says how
    many requests of each kind came, ``/_reset`` zeroes them."""
    from aiohttp import web

    from pipeline.archive.keys import surt_key

    entries = {e["urlkey"]: e for e in json.loads((Path(root) / "entries.json").read_text())}
    data = (Path(root) / "data" / STAGE_WARC).read_bytes()
    counts = {"index": 0, "data": 0}

    async def index(request: web.Request) -> web.Response:
        counts["index"] += 1
        await asyncio.sleep(latency_s)
        e = entries.get(surt_key(request.query.get("url", "")))
        if e is None:
            return web.Response(status=404, text='{"error": "No Captures found"}')
        line = {**e, "mime": "text/html", "mime-detected": "text/html", "status": "200",
                "filename": STAGE_WARC, "offset": str(e["offset"]), "length": str(e["length"])}  # fmt: skip
        return web.Response(text=json.dumps(line) + "\n", content_type="text/x-ndjson")

    async def ranged(request: web.Request) -> web.Response:
        counts["data"] += 1
        await asyncio.sleep(latency_s)
        first, _, last = request.headers["Range"][6:].partition("-")
        start, end = int(first), int(last)
        return web.Response(
            status=206,
            body=data[start : end + 1],
            headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"},
        )

    async def show(request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def reset(request: web.Request) -> web.Response:
        counts.update(index=0, data=0)
        return web.json_response(counts)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/data/{name}", ranged)
        app.router.add_get("/_counts", show)
        app.router.add_get("/_reset", reset)
        app.router.add_get("/{crawl}-index", index)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _get_json(url: str) -> dict:
    from urllib.request import urlopen

    with urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def run_stage(root: Path, base: str, index: str, out: Path) -> dict:
    """One ``webtext fetch --source cc`` subprocess: wall, CPU, peak RSS (its own, wait4)."""
    repo = str(Path(__file__).resolve().parent.parent)
    command = [
        sys.executable, "-m", "pipeline.cli", "fetch", str(root / "links"), "--out", str(out),
        "--source", "cc", "--cc-index", index, "--cc-data-url", f"{base}/data",
        "--cc-crawls", STAGE_CRAWL, "--archive-rate", "0", "--archive-concurrency", "64",
        "--num-shards", "1", "--batch-size", "500",
    ]  # fmt: skip
    _get_json(f"{base}/_reset")
    env = os.environ | {"PYTHONPATH": repo}
    started = time.perf_counter()
    log = open(out.parent / f"{out.name}.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    log.close()
    if proc.returncode != 0:
        sys.exit(f"fetch failed ({proc.returncode}); see {out.parent / (out.name + '.log')}")
    stats = json.loads((out / "_stats.json").read_text())
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "pages": stats.get("records_out", 0),
        "requests": _get_json(f"{base}/_counts"),
    }


def bench_stage(args: argparse.Namespace) -> None:
    print(f"stage        webtext fetch --source cc, latency {args.latency_ms:g} ms, "
          f"--archive-concurrency 64 --archive-rate 0; RSS/CPU of the command process")  # fmt: skip
    print(
        "stage        | index | links | wall s | pages | pages/s | CPU s | peak RSS MiB "
        "| index requests | range requests |"
    )
    for n in args.stage_links:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            stage_layout(root, n, args.stage_small_pages)
            queue: multiprocessing.Queue = multiprocessing.Queue()
            server = multiprocessing.Process(
                target=serve_layout, args=(tmp, args.latency_ms / 1000, queue), daemon=True
            )
            server.start()
            base = f"http://127.0.0.1:{queue.get(timeout=60)}"
            try:
                for mode in args.stage_modes:
                    index = str(root / "cc-index.parquet") if mode == "columnar" else base
                    got = run_stage(root, base, index, root / f"pages-{mode}")
                    print(f"stage        | {mode} | {n:,} | {got['wall']:.1f} | {got['pages']:,} "
                          f"| {got['pages'] / got['wall']:.1f} | {got['cpu']:.1f} "
                          f"| {got['rss_mib']:.0f} | {got['requests']['index']:,} "
                          f"| {got['requests']['data']:,} |", flush=True)  # fmt: skip
            finally:
                server.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1024)
    parser.add_argument("--serial-pages", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--index-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-fetch", action="store_true")
    parser.add_argument("--skip-join", action="store_true")
    parser.add_argument("--stage", action="store_true", help="only the whole fetch command")
    parser.add_argument("--stage-links", type=int, nargs="+", default=[2000])
    parser.add_argument("--stage-modes", nargs="+", default=["cdx", "columnar"],
                        choices=("cdx", "columnar"))  # fmt: skip
    parser.add_argument("--stage-small-pages", action="store_true",
                        help="~1 KB pages instead of Dragnet's (memory without the bodies)")  # fmt: skip
    args = parser.parse_args()
    if args.stage:
        bench_stage(args)
        return
    if not args.skip_fetch:
        bench_fetch(args)
    if not args.skip_join:
        bench_join(args)


if __name__ == "__main__":
    main()
