"""Politeness toward one archive: a bounded number of requests in flight, at most ``rate``
request starts a second, and a pause of the whole source when it answers 429 or 503
(``Retry-After`` honoured up to a cap, else exponential back-off).

An archive is one service, not many hosts: a 429 to one request slows every request to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Politeness:
    """What the scheduler needs to know of a source (phase 2 reads these)."""

    concurrency: int = 8
    rate: float = 4.0  # request starts per second; 0 = unlimited
    max_retries: int = 3
    backoff_s: float = 1.0  # first wait without Retry-After; doubles each retry
    max_retry_after_s: float = 60.0  # a longer Retry-After gives up (archive_unavailable)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"archive concurrency must be >= 1, got {self.concurrency}")
        if self.rate < 0:
            raise ValueError(f"--archive-rate must be >= 0, got {self.rate}")


class SourceGate:
    """Concurrency, request rate and a shared pause for one archive source."""

    def __init__(self, politeness: Politeness) -> None:
        self.politeness = politeness
        self._slots = asyncio.Semaphore(politeness.concurrency)
        self._next_start = 0.0
        self._paused_until = 0.0
        self.requests = 0
        self.waits = 0  # 429/503 answers that made the source pause

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                start = max(now, self._paused_until)
                if self.politeness.rate > 0:
                    start = max(start, self._next_start)
                    self._next_start = start + 1.0 / self.politeness.rate
                if start <= now:
                    break
                await asyncio.sleep(start - now)
                if loop.time() >= self._paused_until:
                    break
            self.requests += 1
            yield

    def pause(self, seconds: float) -> None:
        """Hold every request of this source for ``seconds`` from now."""
        loop = asyncio.get_running_loop()
        self.waits += 1
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    def retry_wait(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry ``attempt`` (0-based), or None to give up."""
        p = self.politeness
        if attempt >= p.max_retries:
            return None
        wait = retry_after if retry_after is not None else p.backoff_s * (2**attempt)
        return None if wait > p.max_retry_after_s else wait
