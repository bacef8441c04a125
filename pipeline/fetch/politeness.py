"""Politeness towards each host (or archive source): bounded concurrency, a minimum delay
between request starts, a pause the server asked for (Retry-After), and (optionally)
robots.txt."""

from __future__ import annotations

import asyncio
import urllib.robotparser
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """What one politeness key (a host, or an archive source such as Common Crawl) allows:
    at most ``max_in_flight`` requests at once, request starts ``interval_s`` apart."""

    max_in_flight: int
    interval_s: float = 0.0

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"per-host concurrency must be >= 1, got {self.max_in_flight}")
        if self.interval_s < 0:
            raise ValueError(f"the delay between requests must be >= 0, got {self.interval_s}")


class HostGate:
    """Every request to a key passes through ``slot(key)``: at most the key's
    ``max_in_flight`` at once, starts ``interval_s`` apart, none before a pause set by
    ``defer`` (Retry-After) is over. Keys are independent of each other. Hosts get the
    default budget (``per_host``, ``delay``); ``set_budget`` gives a key its own (an archive
    source with its own request rate)."""

    def __init__(self, per_host: int, delay: float) -> None:
        self.default = Budget(per_host, max(0.0, delay))
        self._budgets: dict[str, Budget] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._next_start: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}

    @property
    def per_host(self) -> int:
        return self.default.max_in_flight

    @property
    def delay(self) -> float:
        return self.default.interval_s

    def budget(self, key: str) -> Budget:
        return self._budgets.get(key, self.default)

    def set_budget(self, key: str, budget: Budget) -> None:
        if key in self._slots:
            raise ValueError(f"{key!r} already has requests under its old budget")
        self._budgets[key] = budget

    def defer(self, key: str, seconds: float) -> None:
        """No request to ``key`` starts in the next ``seconds`` (the server said Retry-After)."""
        until = asyncio.get_running_loop().time() + max(0.0, seconds)
        self._paused_until[key] = max(until, self._paused_until.get(key, 0.0))

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        budget = self.budget(key)
        sem = self._slots.get(key)
        if sem is None:
            sem = self._slots[key] = asyncio.Semaphore(budget.max_in_flight)
        async with sem:
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                start = max(now, self._paused_until.get(key, now))
                if budget.interval_s:
                    start = max(start, self._next_start.get(key, now))
                if start <= now:
                    break
                # Sleep, then look again: a Retry-After may have arrived meanwhile.
                await asyncio.sleep(start - now)
            if budget.interval_s:
                self._next_start[key] = now + budget.interval_s
            yield


class RobotsCache:
    """robots.txt per scheme+host, fetched once per worker through the same guarded client.
    An unreachable or missing robots.txt allows everything (the usual crawler convention);
    a 401/403 disallows everything."""

    def __init__(self, user_agent: str, fetch_text: Callable[[str], Awaitable[tuple[int, str]]]):
        self.user_agent = user_agent
        self._fetch_text = fetch_text
        self._parsers: dict[str, asyncio.Task[urllib.robotparser.RobotFileParser]] = {}

    async def allowed(self, scheme: str, netloc: str, url: str) -> bool:
        origin = f"{scheme}://{netloc}"
        task = self._parsers.get(origin)
        if task is None:  # the first request to a host loads it; the others wait for it
            task = asyncio.ensure_future(self._load(origin))
            self._parsers[origin] = task
        parser = await task
        return parser.can_fetch(self.user_agent, url)

    async def _load(self, origin: str) -> urllib.robotparser.RobotFileParser:
        parser = urllib.robotparser.RobotFileParser()
        try:
            status, text = await self._fetch_text(origin + "/robots.txt")
        except (TimeoutError, OSError, ValueError):
            status, text = 0, ""
        if status in (401, 403):
            parser.disallow_all = True
        elif status == 200:
            parser.parse(text.splitlines())
        else:
            parser.allow_all = True
        return parser
