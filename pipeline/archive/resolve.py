"""One link, one source: look the URL up, choose the capture, follow archived redirects
inside the archive, fetch the page. Every failure ends as a counted error class.

Redirect targets are checked with the link rules of the live fetcher
(pipeline.link_rules.check_url): a redirect to Wikipedia, into Reddit or to a blocked host
ends as ``redirect_wikipedia``, ``redirect_reddit_link``, ``redirect_blocked_domain``, ...,
exactly as pipeline.fetch.client.follow_redirect names them. The capture of a hop's target is
the one nearest the redirect's own capture (what a replay system shows).
"""

from __future__ import annotations

import time
from collections import Counter
from urllib.parse import urljoin

from pipeline.archive.capture import (
    ARCHIVE_BAD_INDEX,
    ARCHIVE_REDIRECT_LOOP,
    ARCHIVE_TOO_MANY_REDIRECTS,
    REDIRECT_STATUSES,
    Capture,
    Miss,
    select_capture,
    target_time,
)
from pipeline.archive.http import ArchiveError
from pipeline.archive.sources import ArchiveOutcome, ArchiveSource
from pipeline.link_rules import check_url


def window_bounds(target: int, near: str, window_s: int) -> tuple[int, int]:
    """The time range to ask the index for."""
    if near == "post":
        return target, target + window_s
    return target - window_s, target + window_s


class ArchiveFetcher:
    """Outcomes of links at one source; ``counts`` holds pages and errors by class."""

    def __init__(
        self,
        source: ArchiveSource,
        *,
        near: str = "scrape",
        window_s: int = 2 * 365 * 86400,
        max_redirects: int = 5,
    ) -> None:
        self.source = source
        self.near = near
        self.window_s = window_s
        self.max_redirects = max_redirects
        self.counts: Counter[str] = Counter()

    async def get(
        self, url: str, post_time: int | None = None, known: Capture | Miss | None = None
    ) -> ArchiveOutcome:
        """``known``: the link's capture already chosen (the columnar join), or a Miss when
        the join found none; the first lookup is then skipped. Hops are looked up as usual."""
        out = ArchiveOutcome(url=url, final_url=url, source=self.source.name)
        try:
            await self._follow(out, target_time(self.near, post_time), known)
        except ArchiveError as exc:
            out.error, out.message, out.body = exc.reason, exc.message[:300], None
        except ValueError as exc:  # an index row that cannot be used (bad offset, bad URL)
            out.error, out.message, out.body = ARCHIVE_BAD_INDEX, str(exc)[:300], None
        self.counts[out.error or "page"] += 1
        return out

    async def _follow(
        self, out: ArchiveOutcome, target: int, known: Capture | Miss | None = None
    ) -> None:
        current, seen, near = out.url, {out.url}, self.near
        while True:
            out.final_url = current
            if known is not None:
                pick: Capture | Miss = known
                known = None
            else:
                start, end = window_bounds(target, near, self.window_s)
                closest = target if near == "scrape" else None
                rows = await self.source.lookup(current, start, end, closest)
                pick = select_capture(rows, target=target, near=near, window_s=self.window_s)
            if isinstance(pick, Miss):
                raise ArchiveError(pick.reason, f"{current}: {pick.message}")
            location = pick.row.redirect if pick.is_redirect else ""
            status = pick.row.status
            if not location:  # the index does not know where a 3xx goes: read the capture
                response = await self.source.fetch(pick)
                status = response.status
                location = response.headers.get("location", "")
                if status not in REDIRECT_STATUSES or not location:
                    self._finish(out, response)
                    return
            nxt = urljoin(current, location)
            out.redirects += 1
            out.hops.append((current, status, nxt))
            if out.redirects > self.max_redirects:
                raise ArchiveError(ARCHIVE_TOO_MANY_REDIRECTS, f"more than {self.max_redirects}")
            if nxt in seen:
                out.final_url = nxt
                raise ArchiveError(ARCHIVE_REDIRECT_LOOP, f"{nxt} was already visited")
            checked = check_url(nxt)
            if isinstance(checked, str):
                out.final_url = nxt
                raise ArchiveError(f"redirect_{checked}", f"redirected to {nxt} in the archive")
            seen.add(nxt)
            current, target, near = nxt, pick.time, "scrape"  # the hop's nearest capture

    def _finish(self, out: ArchiveOutcome, response) -> None:  # noqa: ANN001 (ArchivedResponse)
        out.status = response.status
        out.headers = response.headers
        out.content_type = response.headers.get("content-type")
        out.capture_time = response.capture.time
        out.archive_record = response.capture.record
        out.digest_ok = response.digest_ok
        if response.status != 200:
            raise ArchiveError(f"http_{response.status}", f"archived HTTP {response.status}")
        if not response.body:
            raise ArchiveError("empty_body", "the archived response has no body")
        out.body = response.body


def now_utc() -> int:
    return int(time.time())
