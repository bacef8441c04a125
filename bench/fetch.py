"""Fetch throughput: N real pages (Dragnet HTML) from a loopback server that adds a fixed
latency to every response, fetched by the project's asyncio client at several concurrency
levels. The server runs in a separate process so it does not share the client's GIL.

    python bench/fetch.py [--pages 2000] [--latency-ms 50] [--serial-pages 200]

Concurrency 1 takes pages * latency seconds at best (100 s for 2,000 pages at 50 ms), so it
runs on --serial-pages pages (a subsample; the rate does not depend on the count).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.fetch.client import FetchConfig, fetch_urls  # noqa: E402

HOST = "bench.webtext.test"


def serve(data_dir: str, latency_s: float, port_queue: multiprocessing.Queue) -> None:
    from aiohttp import web

    folder = Path(data_dir) / "extraction" / "dragnet" / "input"
    pages = [gzip.decompress(p.read_bytes()) for p in sorted(folder.glob("*.html.gz"))[:200]]

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(latency_s)
        index = int(request.match_info["n"]) % len(pages)
        return web.Response(body=pages[index], headers={"Content-Type": "text/html; charset=utf-8"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/page/{n}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # noqa: SLF001
        await asyncio.Event().wait()

    asyncio.run(main())


def run(port: int, n: int, concurrency: int) -> tuple[float, int]:
    config = FetchConfig(
        concurrency=concurrency,
        per_host=concurrency,
        host_delay_s=0.0,
        allow_private=True,
        resolve=(f"{HOST}:80:127.0.0.1:{port}",),
    )
    urls = [f"http://{HOST}/page/{i}" for i in range(n)]
    started = time.perf_counter()
    outcomes = fetch_urls(urls, config)
    elapsed = time.perf_counter() - started
    ok = sum(1 for o in outcomes if o.error is None)
    return n / elapsed, ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    )
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--serial-pages", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(args.data, args.latency_ms / 1000, queue), daemon=True
    )
    server.start()
    try:
        port = queue.get(timeout=30)
        run(port, 20, 4)  # warm up
        rates = {}
        for c in args.concurrency:
            n = args.serial_pages if c == 1 else args.pages
            rate, ok = run(port, n, c)
            rates[c] = rate
            print(
                f"concurrency {c:>4}: {n:>5} pages ({ok} ok) at {rate:8.1f} pages/s "
                f"(latency {args.latency_ms:.0f} ms; ideal {c * 1000 / args.latency_ms:.0f}/s)"
            )
        if 1 in rates:
            for c, rate in rates.items():
                if c != 1:
                    print(f"speed-up at concurrency {c}: {rate / rates[1]:.1f}x over concurrency 1")
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
