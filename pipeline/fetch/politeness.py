"""Politeness towards each host: bounded concurrency, a minimum delay between request
starts, and (optionally) robots.txt."""

from __future__ import annotations

import asyncio
import urllib.robotparser
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class HostGate:
    """At most ``per_host`` requests in flight per host and ``delay`` seconds between the
    starts of two requests to the same host. Hosts are independent of each other."""

    def __init__(self, per_host: int, delay: float) -> None:
        if per_host < 1:
            raise ValueError(f"per-host concurrency must be >= 1, got {per_host}")
        self.per_host = per_host
        self.delay = max(0.0, delay)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._next_start: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        sem = self._slots.setdefault(host, asyncio.Semaphore(self.per_host))
        async with sem:
            if self.delay:
                loop = asyncio.get_running_loop()
                now = loop.time()
                start = max(now, self._next_start.get(host, now))
                self._next_start[host] = start + self.delay
                if start > now:
                    await asyncio.sleep(start - now)
            yield


class RobotsCache:
    """robots.txt per scheme+host, fetched once per batch through the same guarded client.
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
