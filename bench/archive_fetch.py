"""Archive fetch throughput (issue 15).

1. Records read by HTTP Range from a loopback "Common Crawl" (a WARC file of real Dragnet
   pages, or synthetic pages without ../shared/data) that adds --latency-ms to every answer,
   through pipeline.archive.commoncrawl.CommonCrawlSource.fetch (Range, warcio, digest check),
   at concurrency 1 and 64. The server runs in its own process (no shared GIL).
2. The columnar-index join (pipeline.archive.columnar.join_index, DuckDB, one thread):
   --links links against an --index-rows synthetic cc-index-table, generated in a temp dir;
   SURT keys of the links are computed apart (timed on a sample: a per-link cost that Beam
   spreads over workers).

    python bench/archive_fetch.py [--pages 1024] [--serial-pages 64] [--latency-ms 50]
                                  [--links 1000000] [--index-rows 10000000] [--skip-fetch]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import multiprocessing
import resource
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1024)
    parser.add_argument("--serial-pages", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--index-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-fetch", action="store_true")
    parser.add_argument("--skip-join", action="store_true")
    args = parser.parse_args()
    if not args.skip_fetch:
        bench_fetch(args)
    if not args.skip_join:
        bench_join(args)


if __name__ == "__main__":
    main()
