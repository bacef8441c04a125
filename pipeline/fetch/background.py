"""A frontier on an event loop of its own thread, for a synchronous caller (a Beam DoFn).

``submit(token, url)`` returns at once; ``take`` hands back ``(token, result)`` as each URL
ends, in the order they end. ``result = finish(token, outcome)`` runs in a worker thread
(building the stored row compresses the body), so the loop thread only does network work and
the caller's thread is free to write ledger files meanwhile. One instance lives as long as
its DoFn instance: connection pool, DNS cache, robots.txt and every host's politeness state
carry over from one bundle to the next.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from pipeline.fetch.client import Fetcher, FetchOutcome
from pipeline.fetch.config import FetchConfig
from pipeline.fetch.frontier import Frontier, LiveSource

T = TypeVar("T")
R = TypeVar("R")


class BackgroundFetcher(Generic[T, R]):
    """``with BackgroundFetcher(config, finish) as bg: bg.submit(t, url); bg.take()``."""

    def __init__(
        self, config: FetchConfig, finish: Callable[[T, FetchOutcome], R], workers: int = 2
    ) -> None:
        self.config = config
        self._finish = finish
        self._results: queue.SimpleQueue[tuple[T, Any, BaseException | None]] = queue.SimpleQueue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fetch-frontier", daemon=True
        )
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fetch-finish")
        self._fetcher: Fetcher | None = None
        self._frontier: Frontier[T] | None = None
        self._submitted = 0
        self._taken = 0

    def start(self) -> BackgroundFetcher[T, R]:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(60)
        return self

    async def _open(self) -> None:
        self._loop.set_default_executor(self._pool)
        self._fetcher = await Fetcher(self.config).__aenter__()
        self._frontier = Frontier(LiveSource(self._fetcher), self._done, self._error)

    async def _done(self, token: T, outcome: FetchOutcome) -> None:
        try:
            result = await self._loop.run_in_executor(self._pool, self._finish, token, outcome)
        except Exception as exc:
            self._results.put((token, None, exc))
        else:
            self._results.put((token, result, None))

    def _error(self, token: T, exc: BaseException) -> None:
        self._results.put((token, None, exc))

    @property
    def outstanding(self) -> int:
        """URLs submitted whose result has not been taken yet."""
        return self._submitted - self._taken

    def submit(self, token: T, url: str) -> None:
        assert self._frontier is not None, "start() first"
        self._submitted += 1
        self._loop.call_soon_threadsafe(self._frontier.add, token, url)

    def take(self, block: bool = True) -> tuple[T, R] | None:
        """The next ended URL's (token, result); None when ``block`` is False and none has
        ended. An exception raised while fetching or finishing it is raised here."""
        if not self.outstanding:
            return None
        try:
            token, result, exc = self._results.get(block)
        except queue.Empty:
            return None
        self._taken += 1
        if exc is not None:
            raise exc
        return token, result

    def close(self) -> None:
        if self._thread.is_alive():
            if self._fetcher is not None:
                asyncio.run_coroutine_threadsafe(self._fetcher.__aexit__(), self._loop).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(60)
        if not self._loop.is_running():
            self._loop.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BackgroundFetcher[T, R]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
