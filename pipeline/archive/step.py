"""An archive source as a step of the crawl frontier (pipeline.fetch.frontier.Source).

Every link an archive handles is one frontier item under the archive's own politeness key
(``archive:cc``, ``archive:wayback``), at most ``--archive-concurrency`` of them at once; each
request they make (index lookups, WARC ranges, replays) also passes the source's own gate:
``--archive-rate`` starts a second, and a 429/503 pauses the whole archive (Retry-After
honoured). No archive request touches a live host's gate. The archived response is then
judged by the live fetcher's own rules (pipeline.fetch.client.judge_response: HTML, not
binary, charset), so a page is a page whatever its source.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pipeline.archive.capture import NO_CAPTURE, Miss
from pipeline.archive.columnar import capture_of
from pipeline.archive.resolve import ArchiveFetcher
from pipeline.fetch.client import FetchOutcome, judge_response
from pipeline.fetch.content import ContentError, kept_headers


class ArchiveStep:
    """One archive (its :class:`ArchiveFetcher`) for the frontier; ``bind`` gives the
    per-link Source (the frontier passes only the URL; the post time rides along, and in
    columnar mode the link's capture tuple from the join, columnar.CAPTURE_FIELDS: a link
    without one has no capture in the index and ends as ``no_capture`` with no request)."""

    def __init__(self, fetcher: ArchiveFetcher, concurrency: int) -> None:
        self.fetcher = fetcher
        self.name = fetcher.source.name
        self.concurrency = concurrency
        self.columnar = bool(getattr(fetcher.source, "columnar", False))
        self._key = f"archive:{self.name}"

    def key(self, url: str) -> str:
        return self._key

    def max_in_flight(self, key: str) -> int:
        return self.concurrency

    def bind(self, post_time: int | None, capture: Any = None) -> _Bound:
        return _Bound(self, post_time, capture)

    def known(self, capture: Any) -> Any:
        """What the join chose for a link: a Capture, a Miss, or None (look it up)."""
        if not self.columnar:
            return None
        if capture is None:
            return Miss(NO_CAPTURE, "no usable capture in the columnar index")
        return capture_of(capture)

    async def fetch(
        self, url: str, post_time: int | None = None, capture: Any = None
    ) -> FetchOutcome:
        started = time.monotonic()
        got = await self.fetcher.get(url, post_time, self.known(capture))
        out = FetchOutcome(
            url=url,
            final_url=got.final_url,
            status=got.status,
            headers=kept_headers(got.headers),  # lower-case names already
            redirects=got.redirects,
            hops=list(got.hops),
            source=self.name,
            capture_time=got.capture_time or None,
            archive_record=got.archive_record or None,
        )
        if got.error is not None:
            out.error, out.message = got.error, got.message
            out.content_type = got.content_type
        else:
            try:  # charset detection and binary sniffing: off the loop
                await asyncio.get_running_loop().run_in_executor(
                    None, judge_response, out, got.status, got.content_type, got.body
                )
            except ContentError as exc:
                out.error, out.message, out.body = exc.error_class, str(exc)[:300], None
        out.elapsed_ms = int((time.monotonic() - started) * 1000)
        return out


class _Bound:
    """One link at one archive, as the frontier sees it."""

    def __init__(self, step: ArchiveStep, post_time: int | None, capture: Any = None) -> None:
        self.step = step
        self.post_time = post_time
        self.capture = capture

    def key(self, url: str) -> str:
        return self.step.key(url)

    def max_in_flight(self, key: str) -> int:
        return self.step.concurrency

    async def fetch(self, url: str) -> FetchOutcome:
        return await self.step.fetch(url, self.post_time, self.capture)
