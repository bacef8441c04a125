"""The fetch stage's crawl frontier (pipeline.fetch.frontier), end to end through the Beam job
(DirectRunner) against a real loopback server that logs every request it receives: hosts
progress concurrently, each at its own politeness, under one global bound, and a Retry-After
pauses its host. Assertions read the server's own request log (order and spacing of arrivals),
never the wall clock of the test."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from beam_jobs.fetch_job import FetchJobConfig, run_fetch
from pipeline.fetch.client import FetchConfig, FetchOutcome
from pipeline.fetch.frontier import Frontier
from pipeline.fetch.politeness import Budget, HostGate
from pipeline.io import schemas, shards
from pipeline.webserver import LoopbackServer
from tests.helpers import write_links

PAGE = b"<html><head><title>t</title></head><body>" + b"<p>words and more words</p>" * 40


@dataclass
class Log:
    """What the server saw: (host, path, arrival) per request, and the most in flight."""

    arrivals: list[tuple[str, str, float]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    answered_429: set[str] = field(default_factory=set)

    def of(self, host: str) -> list[float]:
        return [t for h, _, t in self.arrivals if h == host]


LOG = web.AppKey("log", Log)
SLOW_S = 1.5  # slow.test's answer time
BUSY_S = 0.2  # every other answer in the concurrency test


def logging_app(answer_s: float = 0.0) -> web.Application:
    log = Log()

    async def handle(request: web.Request) -> web.Response:
        host = request.host.split(":")[0]
        log.arrivals.append((host, request.path, time.monotonic()))
        log.in_flight += 1
        log.max_in_flight = max(log.max_in_flight, log.in_flight)
        try:
            if host.startswith("pause") and host not in log.answered_429:
                log.answered_429.add(host)
                return web.Response(status=429, headers={"Retry-After": "1"}, text="slow down")
            await asyncio.sleep(SLOW_S if host.startswith("slow") else answer_s)
            return web.Response(body=PAGE, headers={"Content-Type": "text/html"})
        finally:
            log.in_flight -= 1

    app = web.Application()
    app[LOG] = log
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


def fetch_hosts(tmp_path: Path, port: int, urls: list[str], **fetch) -> list[dict]:
    hosts = sorted({u.split("/")[2] for u in urls})
    config = FetchConfig(
        allow_private=True,
        resolve=tuple(f"{h}:80:127.0.0.1:{port}" for h in hosts),
        total_timeout_s=20.0,
        **fetch,
    )
    write_links(tmp_path / "links", urls)
    job = FetchJobConfig(
        str(tmp_path / "links"), str(tmp_path / "pages"), fetch=config, batch_size=5, num_shards=2
    )
    assert run_fetch(job) == "ran"
    return shards.read_rows(str(tmp_path / "pages"), schemas.PAGES)


def urls_for(hosts: list[str], per_host: int) -> list[str]:
    return [f"http://{h}/page/{i}" for h in hosts for i in range(per_host)]


def test_a_slow_host_does_not_hold_back_the_others(tmp_path):
    fast = [f"fast{i}.test" for i in range(6)]
    urls = urls_for(["slow.test"], 2) + urls_for(fast, 4)
    with LoopbackServer(logging_app()) as server:
        rows = fetch_hosts(tmp_path, server.port, urls, per_host=1, host_delay_s=0.0)
        log = server.app[LOG]
    assert len(rows) == len(urls) and all(r["error"] is None for r in rows)
    slow = log.of("slow.test")
    assert len(slow) == 2
    # One request at a time to slow.test, each answered after 1.5 s: its second request can
    # only arrive after its first answer. Every fast host's every request arrived before it.
    fast_arrivals = [t for h, _, t in log.arrivals if h != "slow.test"]
    assert len(fast_arrivals) == 24
    assert max(fast_arrivals) < slow[1]
    assert slow[1] - slow[0] >= SLOW_S - 0.05


def test_each_host_keeps_its_own_delay_while_hosts_run_side_by_side(tmp_path):
    hosts = ["a.test", "b.test", "c.test"]
    delay = 0.3
    with LoopbackServer(logging_app()) as server:
        rows = fetch_hosts(
            tmp_path, server.port, urls_for(hosts, 4), per_host=2, host_delay_s=delay
        )
        log = server.app[LOG]
    assert all(r["error"] is None for r in rows) and len(rows) == 12
    for host in hosts:
        times = sorted(log.of(host))
        assert len(times) == 4
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # Starts are spaced by the delay at the client; arrival jitter (a first connection
        # opened, a busy CPU) can shorten a gap by a little, never by most of it.
        assert min(gaps) >= delay - 0.1, (host, gaps)
    # The hosts were not served one after another: each host's first request arrived before
    # any host's last one.
    firsts = [min(log.of(h)) for h in hosts]
    lasts = [max(log.of(h)) for h in hosts]
    assert max(firsts) < min(lasts)


def test_global_concurrency_bound_holds_across_hosts(tmp_path):
    hosts = [f"h{i}.test" for i in range(8)]
    with LoopbackServer(logging_app(answer_s=BUSY_S)) as server:
        rows = fetch_hosts(
            tmp_path, server.port, urls_for(hosts, 3), concurrency=4, per_host=4, host_delay_s=0.0
        )
        log = server.app[LOG]
    assert len(rows) == 24 and all(r["error"] is None for r in rows)
    assert log.max_in_flight == 4  # never more, and the bound was used


def test_retry_after_pauses_its_host_only(tmp_path):
    urls = urls_for(["pause.test"], 3) + urls_for(["calm.test"], 3)
    with LoopbackServer(logging_app()) as server:
        rows = fetch_hosts(tmp_path, server.port, urls, per_host=1, host_delay_s=0.0)
        log = server.app[LOG]
    assert len(rows) == 6 and all(r["error"] is None for r in rows)
    assert sum(r["retries"] for r in rows) == 1
    paused = sorted(log.of("pause.test"))
    assert len(paused) == 4  # the 429, then its retry and the two other links
    # Retry-After: 1 -> no request to that host for a second after the 429 (arrival jitter
    # allowed for), while the other host went on meanwhile.
    assert paused[1] - paused[0] >= 1.0 - 0.1
    assert max(log.of("calm.test")) < paused[1]


class ArchiveSource:
    """A source of another kind, as an archive would plug in: one politeness key for all its
    URLs, its own budget in the shared gate, its own fetch coroutine."""

    def __init__(self, gate: HostGate) -> None:
        self.gate = gate
        self.starts: list[float] = []
        self.running = 0
        self.most_running = 0

    def key(self, url: str) -> str:
        return "archive"

    def max_in_flight(self, key: str) -> int:
        return self.gate.budget(key).max_in_flight

    async def fetch(self, url: str) -> FetchOutcome:
        async with self.gate.slot(self.key(url)):
            self.starts.append(asyncio.get_running_loop().time())
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            await asyncio.sleep(0.01)
            self.running -= 1
        return FetchOutcome(url, url, status=200, body=b"<html></html>")


def test_a_source_with_its_own_budget_plugs_into_the_frontier():
    async def run() -> tuple[ArchiveSource, dict[str, FetchOutcome]]:
        gate = HostGate(per_host=8, delay=0.0)
        gate.set_budget("archive", Budget(max_in_flight=2, interval_s=0.05))
        source = ArchiveSource(gate)
        done: dict[str, FetchOutcome] = {}

        async def on_done(token: str, outcome: FetchOutcome) -> None:
            done[token] = outcome

        frontier: Frontier[str] = Frontier(source, on_done, lambda t, e: pytest.fail(str(e)))
        for i in range(6):
            frontier.add(f"r{i}", f"https://archive.example/record/{i}")
        assert frontier.pending == 6
        await frontier.join()
        assert frontier.pending == 0
        return source, done

    source, done = asyncio.run(run())
    assert sorted(done) == [f"r{i}" for i in range(6)]
    assert source.most_running <= 2
    gaps = [b - a for a, b in zip(source.starts, source.starts[1:], strict=False)]
    assert min(gaps) >= 0.05 - 0.005  # same clock as the gate: only float rounding allowed


def test_politeness_state_is_per_key():
    gate = HostGate(per_host=2, delay=0.5)
    assert gate.budget("any.host") == Budget(2, 0.5)
    gate.set_budget("cc", Budget(16, 0.01))
    assert gate.budget("cc") == Budget(16, 0.01) and gate.budget("x") == Budget(2, 0.5)
    with pytest.raises(ValueError, match="per-host concurrency"):
        Budget(0)


def _pages(out: Path) -> dict[str, tuple]:
    return {
        r["link_id"]: (r["url"], r["final_url"], r["status"], r["error"], r["body"])
        for r in shards.read_rows(str(out), schemas.PAGES)
    }


@pytest.mark.slow
def test_two_worker_processes_write_the_same_pages(tmp_path):
    """The frontier lives in each worker's DoFn: DirectRunner with 2 worker processes writes
    the same pages/ as the in-process runner."""
    hosts = [f"w{i}.test" for i in range(6)]
    urls = urls_for(hosts, 5)
    write_links(tmp_path / "links", urls)
    with LoopbackServer(logging_app()) as server:
        fetch = FetchConfig(
            allow_private=True,
            resolve=tuple(f"{h}:80:127.0.0.1:{server.port}" for h in hosts),
            per_host=2,
            host_delay_s=0.0,
        )
        outs = {}
        for name, args in (
            ("inproc", []),
            ("multi", ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]),
        ):
            out = tmp_path / name
            job = FetchJobConfig(
                str(tmp_path / "links"), str(out), fetch=fetch, batch_size=4, num_shards=2
            )
            assert run_fetch(job, args) == "ran"
            outs[name] = _pages(out)
        assert len(server.app[LOG].arrivals) == 2 * len(urls)
    assert len(outs["inproc"]) == len(urls)
    assert outs["multi"] == outs["inproc"]
