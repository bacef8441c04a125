"""The crawl frontier: every politeness key (host) progresses on its own, under one global bound.

A worker hands the frontier every URL it has to fetch, in any order. The frontier keeps one
FIFO queue per key and starts a URL as soon as its key has room (fewer than the key's
``max_in_flight`` URLs under way), so a host with 181 links and a 0.5 s delay never holds back
the other hosts: they all run beside it, each at its own pace. The pace itself (the delay
between request starts, a Retry-After pause, the global number of requests in flight) is
enforced per request by the source, which shares one :class:`HostGate` and one global
semaphore between all its keys; a URL waiting for its host's delay holds no global slot.

Sources plug in through :class:`Source`: a politeness key per URL, a budget per key and a fetch
coroutine. The live web is :class:`LiveSource` (key: the host; budget: --per-host and
--host-delay). An archive (Common Crawl range requests, Wayback replay) is another source
whose key is the archive itself and whose budget is its own concurrency and request rate
(``HostGate.set_budget``), scheduled beside the live hosts by the same frontier.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from yarl import URL

from pipeline.fetch.client import Fetcher, FetchOutcome

T = TypeVar("T")


class Source(Protocol):
    """Something the frontier schedules: the live web, or an archive."""

    def key(self, url: str) -> str:
        """The politeness key of ``url`` (its host; an archive's own name). Never raises."""
        ...

    def max_in_flight(self, key: str) -> int:
        """How many URLs of ``key`` may be under way at once."""
        ...

    async def fetch(self, url: str) -> FetchOutcome:
        """Fetch one URL under the key's politeness; every failure is an outcome."""
        ...


class LiveSource:
    """The live web through a :class:`Fetcher`: one key per host."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher

    def key(self, url: str) -> str:
        try:
            return URL(url).host or ""
        except (ValueError, TypeError):
            return ""  # the fetch itself reports the URL as invalid

    def max_in_flight(self, key: str) -> int:
        return self.fetcher.gate.budget(key).max_in_flight

    async def fetch(self, url: str) -> FetchOutcome:
        return await self.fetcher.fetch(url)


class Frontier(Generic[T]):
    """Per-key queues on one event loop. ``add(token, url)`` (from the loop's thread) queues a
    URL; when it ends, ``on_done(token, outcome)`` is awaited, or ``on_error(token, exc)``
    called if the source raised (a bug: sources turn network failures into outcomes)."""

    def __init__(
        self,
        source: Source,
        on_done: Callable[[T, FetchOutcome], Awaitable[None]],
        on_error: Callable[[T, BaseException], None],
    ) -> None:
        self.source = source
        self._on_done = on_done
        self._on_error = on_error
        self._queues: dict[str, deque[tuple[T, str, Source]]] = {}
        self._running: dict[str, int] = {}
        self._live = 0  # queued + running
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """URLs queued or under way."""
        return self._live

    def add(self, token: T, url: str, source: Source | None = None) -> None:
        """Queue ``url`` at ``source`` (default: the frontier's own). Sources share the queues
        by key, so give each its own keys (an archive: its name; the live web: hosts)."""
        source = source or self.source
        key = source.key(url)
        self._live += 1
        self._idle.clear()
        if self._running.get(key, 0) < source.max_in_flight(key):
            self._start(key, token, url, source)
        else:
            self._queues.setdefault(key, deque()).append((token, url, source))

    async def join(self) -> None:
        """Wait until every URL added so far has ended."""
        await self._idle.wait()

    def _start(self, key: str, token: T, url: str, source: Source) -> None:
        self._running[key] = self._running.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._run(key, token, url, source))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: str, token: T, url: str, source: Source) -> None:
        try:
            outcome = await source.fetch(url)
            await self._on_done(token, outcome)
        except Exception as exc:
            self._on_error(token, exc)
        finally:
            self._finished(key)

    def _finished(self, key: str) -> None:
        self._live -= 1
        queue = self._queues.get(key)
        if queue:
            token, url, source = queue.popleft()
            if not queue:
                del self._queues[key]
            self._running[key] -= 1
            self._start(key, token, url, source)
        else:
            left = self._running[key] - 1
            if left:
                self._running[key] = left
            else:
                del self._running[key]
        if self._live == 0:
            self._idle.set()


async def fetch_all(fetcher: Fetcher, urls: Sequence[str]) -> list[FetchOutcome]:
    """Every URL through one frontier on the running loop; outcomes in the order of ``urls``."""
    outcomes: list[FetchOutcome | None] = [None] * len(urls)
    errors: list[BaseException] = []

    async def done(index: int, outcome: FetchOutcome) -> None:
        outcomes[index] = outcome

    frontier: Frontier[int] = Frontier(LiveSource(fetcher), done, lambda _, exc: errors.append(exc))
    for index, url in enumerate(urls):
        frontier.add(index, url)
    await frontier.join()
    if errors:
        raise errors[0]
    return [o for o in outcomes if o is not None]
