"""A frontier on an event loop of its own thread, for a synchronous caller (a Beam DoFn).

``submit(token, url)`` returns at once; ``take`` hands back ``(token, result)`` as each URL
ends, in the order they end. ``result = finish(token, outcome)`` runs in a worker thread
(building the stored row compresses the body), so the loop thread only does network work and
the caller's thread is free to write ledger files meanwhile. One instance lives as long as
its DoFn instance: connection pool, DNS cache, robots.txt and every host's politeness state
carry over from one bundle to the next.

Sources (``--source cc,wayback,live``): a URL goes to the first source of the chain; when it
ends with an error and another source is left, it goes back into the frontier for the next
one, under that source's politeness key (an archive: ``archive:<name>``, its own concurrency
and rate; the live web: the host). The first page ends the chain; every attempt is recorded in
``outcome.attempts`` ("cc:no_capture", "live:page"). An error of the link rules met by
following a redirect (``redirect_wikipedia``, ``redirect_reddit_link``, ...) ends the chain too:
the link led somewhere WebText drops, and another source would only say the same.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pipeline.fetch.client import Fetcher, FetchOutcome
from pipeline.fetch.config import FetchConfig
from pipeline.fetch.frontier import Frontier, LiveSource, Source

if TYPE_CHECKING:
    from pipeline.archive.config import ArchiveConfig

T = TypeVar("T")
R = TypeVar("R")
FINAL_ERRORS_NOT = frozenset({"redirect_loop", "redirect_invalid_url"})


def ends_chain(error: str | None) -> bool:
    """True when an outcome needs no further source: a page, or a redirect the link rules
    refuse (redirect_wikipedia, redirect_reddit_link, redirect_blocked_domain, ...)."""
    if error is None:
        return True
    return error.startswith("redirect_") and error not in FINAL_ERRORS_NOT


@dataclass
class _Chain(Generic[T]):
    token: T
    url: str
    post_time: int | None
    captures: dict[str, Any] | None = None  # source name -> capture chosen before (columnar)
    step: int = 0
    attempts: list[str] = field(default_factory=list)


class BackgroundFetcher(Generic[T, R]):
    """``with BackgroundFetcher(config, finish) as bg: bg.submit(t, url); bg.take()``."""

    def __init__(
        self,
        config: FetchConfig,
        finish: Callable[[T, FetchOutcome], R],
        workers: int = 2,
        *,
        sources: Sequence[str] = ("live",),
        archive: ArchiveConfig | None = None,
        out_dir: str = "",
    ) -> None:
        self.config = config
        self._finish = finish
        self.source_names = tuple(sources)
        self.archive = archive
        self.out_dir = out_dir
        self._archives: list[Any] = []  # entered archive sources, closed with the loop
        self._steps: list[Any] = []  # per chain position: None (live) or an ArchiveStep
        self._results: queue.SimpleQueue[tuple[T, Any, BaseException | None]] = queue.SimpleQueue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fetch-frontier", daemon=True
        )
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fetch-finish")
        self._fetcher: Fetcher | None = None
        self._frontier: Frontier[_Chain[T]] | None = None
        self._submitted = 0
        self._taken = 0

    def start(self) -> BackgroundFetcher[T, R]:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(60)
        return self

    async def _open(self) -> None:
        self._loop.set_default_executor(self._pool)
        self._fetcher = await Fetcher(self.config).__aenter__()
        live = LiveSource(self._fetcher)
        archives = [n for n in self.source_names if n != "live"]
        built: dict[str, Any] = {}
        if archives:
            from pipeline.archive.config import ArchiveConfig
            from pipeline.archive.factory import build_sources
            from pipeline.archive.resolve import ArchiveFetcher
            from pipeline.archive.step import ArchiveStep

            cfg = self.archive or ArchiveConfig(source=",".join(self.source_names))
            for name, source in build_sources(cfg, self.out_dir).items():
                await source.__aenter__()
                self._archives.append(source)
                fetcher = ArchiveFetcher(
                    source,
                    near=cfg.capture_near,
                    window_s=cfg.window_seconds(),
                    max_redirects=self.config.max_redirects,
                )
                built[name] = ArchiveStep(fetcher, cfg.archive_concurrency)
        self._steps = [built.get(name) for name in self.source_names]
        self._frontier = Frontier(live, self._done, self._error)

    def _source(self, chain: _Chain[T]) -> Source | None:
        step = self._steps[chain.step]
        if step is None:
            return None
        return step.bind(chain.post_time, (chain.captures or {}).get(step.name))

    async def _done(self, chain: _Chain[T], outcome: FetchOutcome) -> None:
        name = self.source_names[chain.step]
        outcome.source = name
        chain.attempts.append(f"{name}:{'page' if outcome.error is None else outcome.error}")
        if not ends_chain(outcome.error) and chain.step + 1 < len(self.source_names):
            chain.step += 1
            assert self._frontier is not None
            self._frontier.add(chain, chain.url, self._source(chain))
            return
        outcome.attempts = list(chain.attempts)
        try:
            result = await self._loop.run_in_executor(
                self._pool, self._finish, chain.token, outcome
            )
        except Exception as exc:
            self._results.put((chain.token, None, exc))
        else:
            self._results.put((chain.token, result, None))

    def _error(self, chain: _Chain[T], exc: BaseException) -> None:
        self._results.put((chain.token, None, exc))

    @property
    def outstanding(self) -> int:
        """URLs submitted whose result has not been taken yet."""
        return self._submitted - self._taken

    def submit(
        self,
        token: T,
        url: str,
        post_time: int | None = None,
        captures: dict[str, Any] | None = None,
    ) -> None:
        """Queue ``url`` at the first source; ``post_time`` (the Reddit post's, seconds) is
        what ``--capture-near post`` measures archive captures from; ``captures`` (source
        name -> capture tuple or None) what the columnar join chose for the link."""
        assert self._frontier is not None, "start() first"
        self._submitted += 1
        chain = _Chain(token, url, post_time, captures)
        self._loop.call_soon_threadsafe(self._frontier.add, chain, url, self._source(chain))

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
            for source in self._archives:
                asyncio.run_coroutine_threadsafe(source.__aexit__(), self._loop).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(60)
        if not self._loop.is_running():
            self._loop.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BackgroundFetcher[T, R]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
