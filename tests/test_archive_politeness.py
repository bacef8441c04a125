"""Politeness toward one archive: concurrency, the spacing of request starts, the shared pause
after a 429/503, when to give up; and the on-disk index cache."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.archive.cache import IndexCache
from pipeline.archive.politeness import Politeness, SourceGate


def starts(politeness: Politeness, n: int, hold_s: float = 0.0, pause_after: int = -1):
    """Loop times at which ``n`` concurrent requests got their slot, and the most in flight."""

    async def run():
        gate = SourceGate(politeness)
        loop = asyncio.get_running_loop()
        times: list[float] = []
        inflight = peak = 0

        async def one(i: int) -> None:
            nonlocal inflight, peak
            async with gate.slot():
                times.append(loop.time())
                inflight += 1
                peak = max(peak, inflight)
                if i == pause_after:
                    gate.pause(0.2)
                await asyncio.sleep(hold_s)
                inflight -= 1

        await asyncio.gather(*(one(i) for i in range(n)))
        return sorted(times), peak, gate

    return asyncio.run(run())


def test_request_starts_are_spaced_by_the_rate() -> None:
    times, _, gate = starts(Politeness(concurrency=8, rate=50.0), 6)
    # The k-th start is never before k intervals after the first (one late wake-up may bring
    # two starts closer, never ahead of the schedule).
    since = [t - times[0] for t in times]
    assert all(s >= k / 50 - 0.002 for k, s in enumerate(since)), since
    assert gate.requests == 6


def test_no_more_than_concurrency_in_flight() -> None:
    _, peak, _ = starts(Politeness(concurrency=2, rate=0), 8, hold_s=0.01)
    assert peak == 2


def test_a_pause_holds_every_later_request() -> None:
    times, _, gate = starts(Politeness(concurrency=1, rate=0), 3, pause_after=0)
    assert times[1] - times[0] >= 0.2 - 0.002
    assert gate.waits == 1


def test_retry_wait_honours_retry_after_up_to_the_cap() -> None:
    gate = SourceGate(Politeness(max_retries=2, backoff_s=1.0, max_retry_after_s=30))
    assert gate.retry_wait(0, None) == 1.0 and gate.retry_wait(1, None) == 2.0
    assert gate.retry_wait(0, 7.0) == 7.0
    assert gate.retry_wait(0, 3600.0) is None  # asks for more patience than allowed
    assert gate.retry_wait(2, None) is None  # retries spent


def test_bad_politeness_is_refused() -> None:
    with pytest.raises(ValueError, match="--archive-rate must be >= 0"):
        Politeness(rate=-1)


def test_cache_keeps_answers_across_instances_and_ignores_damage(tmp_path) -> None:
    first = IndexCache(tmp_path)
    assert first.get("cc", "q1") is None
    first.put("cc", "q1", [{"a": 1}])
    second = IndexCache(tmp_path)
    assert second.get("cc", "q1") == [{"a": 1}] and second.hits == 1
    assert second.get("wayback", "q1") is None  # sources do not share answers
    (entry,) = (tmp_path / "cc").rglob("*.json")
    entry.write_text("{not json")  # a damaged entry is asked again, not an error
    assert IndexCache(tmp_path).get("cc", "q1") is None
    assert not list(tmp_path.rglob("_tmp-*"))
    assert IndexCache(None).get("cc", "q1") is None  # no directory: no cache
