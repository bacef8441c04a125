"""A `webtext fetch --retry-errors` run killed (SIGKILL, a real process) before its end, then
rerun without the flag: the rerun finishes pages/ from the ledger as always and says that the
retry was interrupted, how many links it had left and how to finish it; --retry-errors then
finishes it and the warning goes away."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from aiohttp import web

from beam_jobs.fetch_job import LEDGER_DIR, RETRY_FILE
from pipeline.fetch.retry import interrupted_retry_message, links_left_to_retry
from pipeline.io import schemas, shards
from pipeline.io.locks import LOCK_FILE
from pipeline.webserver import LoopbackServer
from tests.helpers import write_links

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
HOST = "www.flaky.test"
HITS = web.AppKey("hits", Counter)
RELEASE = web.AppKey("release", asyncio.Event)


def app() -> web.Application:
    """/real/X: 200. /flaky/X: 503 the first time; later requests wait for app[RELEASE], then
    200 (a retry that hangs until the test lets it through)."""
    hits: Counter[str] = Counter()
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        hits[request.path] += 1
        if request.path.startswith("/flaky/"):
            if hits[request.path] == 1:
                return web.Response(status=503, text="overloaded")
            await release.wait()
        body = f"<html><body>{'<p>Some words about ' + request.path + '.</p>' * 8}</body></html>"
        return web.Response(body=body.encode(), headers={"Content-Type": "text/html"})

    application = web.Application()
    application[HITS] = hits
    application[RELEASE] = release
    application.router.add_route("GET", "/{tail:.*}", handle)
    return application


def fetch_args(tmp_path: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "pipeline.cli", "fetch", str(tmp_path / "links"),
        "--out", str(tmp_path / "pages"), "--allow-private",
        "--resolve", f"{HOST}:80:127.0.0.1:{port}", "--host-delay", "0", "--per-host", "8",
        "--retries", "0", "--timeout", "120", "--read-timeout", "120", "--num-shards", "2",
        "--batch-size", "10", *extra,
    ]  # fmt: skip


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=ENV, timeout=300)


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_retry_then_plain_rerun_says_how_to_finish(tmp_path):
    flaky = [f"/flaky/{i}" for i in range(3)]
    write_links(tmp_path / "links", [f"http://{HOST}{p}" for p in ["/real/a", "/real/b", *flaky]])
    out = tmp_path / "pages"
    with LoopbackServer(app()) as server:
        hits = server.app[HITS]
        first = run(fetch_args(tmp_path, server.port))
        assert first.returncode == 0, first.stderr
        assert shards.read_stats(str(out))["dropped"] == {"http_503": 3}

        retry = subprocess.Popen(
            fetch_args(tmp_path, server.port, "--retry-errors"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=ENV,
        )  # fmt: skip
        wait_until(lambda: all(hits[p] == 2 for p in flaky))  # all three retries in flight
        retry.send_signal(signal.SIGKILL)
        retry.wait(30)
        assert not (out / "_SUCCESS").exists()  # the retry had reopened the output
        assert json.loads((out / RETRY_FILE).read_text())["classes"]
        assert (out / LOCK_FILE).exists()  # the killed run's lock file: stale, harmless

        # Rerun without the flag: pages/ is finished from the ledger, nothing is fetched,
        # and the output says the retry is unfinished.
        before = Counter(hits)
        plain = run(fetch_args(tmp_path, server.port))
        assert plain.returncode == 0, plain.stderr
        assert Counter(hits) == before
        line = (
            "a --retry-errors run was interrupted: 3 links still to retry (transient errors); "
            "rerun with --retry-errors to finish"
        )
        assert line in plain.stderr
        assert shards.read_stats(str(out))["dropped"] == {"http_503": 3}
        # ...on every later run too, finished output or not.
        again = run(fetch_args(tmp_path, server.port))
        assert "already complete" in again.stderr and line in again.stderr

        server._loop.call_soon_threadsafe(server.app[RELEASE].set)  # noqa: SLF001
        finish = run(fetch_args(tmp_path, server.port, "--retry-errors"))
        assert finish.returncode == 0, finish.stderr
        stats = shards.read_stats(str(out))
        assert stats["records_out"] == 5 and stats["retry"] == {"retried": 3, "recovered": 3}
        assert not (out / RETRY_FILE).exists()
        after = run(fetch_args(tmp_path, server.port))
        assert after.returncode == 0 and "interrupted" not in after.stderr


def test_a_retry_killed_after_its_last_fetch_is_finished_by_a_plain_rerun(tmp_path):
    """Every retried link already has its new ledger row: nothing is left to fetch, so the
    plain rerun's rebuild is the retry's result and the record of the retry goes."""
    write_links(tmp_path / "links", [f"http://{HOST}/flaky/x", f"http://{HOST}/real/y"])
    out = tmp_path / "pages"
    with LoopbackServer(app()) as server:
        server._loop.call_soon_threadsafe(server.app[RELEASE].set)  # noqa: SLF001
        assert run(fetch_args(tmp_path, server.port)).returncode == 0
        assert run(fetch_args(tmp_path, server.port, "--retry-errors")).returncode == 0
        # As if killed between the last ledger file and _SUCCESS.
        (out / "_SUCCESS").unlink()
        shards.write_json_atomic(
            str(out / RETRY_FILE), {"classes": ["http_503"], "started_utc": int(time.time()) - 1}
        )
        plain = run(fetch_args(tmp_path, server.port))
        assert plain.returncode == 0, plain.stderr
        assert "left no link to retry: it is finished" in plain.stderr
        assert not (out / RETRY_FILE).exists()
        assert shards.read_stats(str(out))["records_out"] == 2
        ledger = shards.read_rows(str(out / LEDGER_DIR), schemas.PAGES, require_success=False)
        assert len(ledger) == 3  # the first run's two rows, the retry's one


def test_links_left_to_retry_and_message():
    def row(link: str, error: str | None, at: int) -> dict:
        return {"link_id": link, "error": error, "fetched_utc": at, "elapsed_ms": 1,
                "final_url": "u", "status": 0}  # fmt: skip

    rows = [
        row("a", "http_503", 100),  # not reached by the retry started at 200
        row("b", "http_503", 100), row("b", "http_503", 250),  # reached, still failing
        row("c", "http_503", 100), row("c", None, 260),  # reached, recovered
        row("d", "http_404", 100),  # not a retried class
        row("e", None, 100),
    ]  # fmt: skip
    assert links_left_to_retry(rows, {"http_503"}, 200) == 1
    assert links_left_to_retry(rows, {"http_503", "http_404"}, 200) == 2
    assert interrupted_retry_message(1, {"http_404"}) == (
        "a --retry-errors run was interrupted: 1 link still to retry (errors http_404); "
        "rerun with --retry-errors http_404 to finish"
    )
