"""The Wayback Machine, or any server with its CDX API and ``id_`` replay (pywb).

Two URL shapes: the public Wayback Machine (``https://web.archive.org``: CDX at
``/cdx/search/cdx``, captures at ``/web/<timestamp>id_/<url>``) and a pywb collection
(``http://host:port/COLL``: CDX at ``/COLL/cdx``, captures at ``/COLL/<timestamp>id_/<url>``).
The ``id_`` modifier returns the capture as archived, never the rewritten replay page.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from pipeline.archive.cache import IndexCache
from pipeline.archive.capture import (
    ARCHIVE_BAD_INDEX,
    NO_CAPTURE,
    Capture,
    CdxRow,
    seconds_timestamp,
    timestamp_seconds,
)
from pipeline.archive.cdx import CdxFormatError, parse_cdx_json, rows_from_json, rows_to_json
from pipeline.archive.http import ArchiveError, ArchiveHttp
from pipeline.archive.politeness import Politeness
from pipeline.archive.record import payload_digest
from pipeline.archive.sources import ArchivedResponse
from pipeline.fetch.content import ContentError, decode_content

PUBLIC_WAYBACK = "https://web.archive.org"
_ARCHIVE_LOCATION = re.compile(r"/(\d{4,14})(?:[a-z]{2}_)?/(https?:/?/?.*)$")


def wayback_endpoints(base_url: str) -> tuple[str, str]:
    """(CDX endpoint, replay prefix) of a Wayback-shaped base URL."""
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--wayback-url {base_url!r} is not an http(s) URL")
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    if path in ("", "/web"):  # the Wayback Machine's own shape
        return f"{origin}/cdx/search/cdx", f"{origin}/web"
    return f"{origin}{path}/cdx", f"{origin}{path}"  # pywb: /COLLECTION


def archived_location(location: str) -> tuple[str, str] | None:
    """(timestamp, original URL) when a Location points into the archive itself."""
    match = _ARCHIVE_LOCATION.search(location)
    if match is None:
        return None
    original = re.sub(r"^(https?):/+", r"\1://", match.group(2))
    return match.group(1), original


class WaybackSource:
    name = "wayback"

    def __init__(
        self,
        base_url: str = PUBLIC_WAYBACK,
        *,
        politeness: Politeness | None = None,
        cache: IndexCache | None = None,
        limit: int = 500,
    ) -> None:
        self.cdx_endpoint, self.replay_prefix = wayback_endpoints(base_url)
        self.politeness = politeness or Politeness()
        self.cache = cache or IndexCache(None)
        self.limit = limit
        # Raw bodies: the payload digest is over the bytes as archived (decoded here after).
        self.http = ArchiveHttp(self.politeness, decompress=False)
        self.max_body_bytes = 4 * 1024 * 1024

    async def __aenter__(self) -> WaybackSource:
        await self.http.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.http.__aexit__(*exc_info)

    def cdx_query(self, url: str, start: int, end: int, closest: int | None = None) -> str:
        """The CDX question. With ``closest`` the answer is sorted nearest-first (both the
        Wayback Machine and pywb support ``sort=closest``), so ``limit`` keeps the nearest
        captures of a URL captured thousands of times, not the oldest."""
        params = {
            "url": url,
            "output": "json",
            "from": seconds_timestamp(start),
            "to": seconds_timestamp(end),
        }
        if closest is not None:
            params |= {"closest": seconds_timestamp(closest), "sort": "closest"}
        params["limit"] = str(self.limit)
        return f"{self.cdx_endpoint}?{urlencode(params)}"

    async def lookup(
        self, url: str, start: int, end: int, closest: int | None = None
    ) -> list[CdxRow]:
        question = self.cdx_query(url, start, end, closest)
        cached = self.cache.get(self.name, question)
        if cached is not None:
            return rows_from_json(cached)
        answer = await self.http.get(question)
        if answer.status == 404:
            rows: list[CdxRow] = []
        elif answer.status != 200:
            raise ArchiveError(NO_CAPTURE, f"index answered HTTP {answer.status} for {url}")
        else:
            try:
                rows = parse_cdx_json(answer.body.decode("utf-8", "replace"))
            except CdxFormatError as exc:
                raise ArchiveError(ARCHIVE_BAD_INDEX, f"{exc} ({question})") from None
        self.cache.put(self.name, question, rows_to_json(rows))
        return rows

    def replay_url(self, timestamp: str, url: str) -> str:
        """``PREFIX/<timestamp>id_/<url>``, the URL byte for byte as submitted (it is already
        a valid URL: pipeline.urls); only a ``#`` (a kept ``#!`` fragment) is escaped so it
        reaches the archive."""
        return f"{self.replay_prefix}/{timestamp}id_/{url.replace('#', '%23')}"

    async def fetch(self, capture: Capture) -> ArchivedResponse:
        """The archived response of ``capture``. The archive's own redirects to another
        timestamp of the same URL are followed (up to 3); an archived 3xx is returned."""
        row = capture.row
        timestamp, target = row.timestamp, row.url
        for _ in range(4):
            answer = await self.http.get(self.replay_url(timestamp, target))
            location = answer.headers.get("location", "")
            inside = archived_location(location) if location else None
            if 300 <= answer.status < 400 and inside is not None and inside[1] == target:
                timestamp = inside[0]  # the archive moved us to its nearest timestamp
                continue
            break
        if answer.status == 404:
            raise ArchiveError(NO_CAPTURE, f"the archive has no capture {timestamp} of {target}")
        headers = dict(answer.headers)
        if inside is not None:  # an archived redirect: give the original target
            headers["location"] = inside[1]
        # The CDX digest is the SHA-1 of the payload as archived: True when the raw bytes match
        # it, None when they cannot be compared (a replay may re-encode); never a refusal.
        digest_ok = True if row.digest and payload_digest(answer.body)[5:] == row.digest else None
        try:
            body = decode_content(
                answer.body, headers.get("content-encoding"), self.max_body_bytes, 100.0
            )
        except ContentError as exc:
            raise ArchiveError(exc.error_class, f"{target} at {timestamp}: {exc}") from None
        for name in ("content-encoding", "content-length", "transfer-encoding"):
            headers.pop(name, None)  # the body is decoded now
        when = capture.time if timestamp == row.timestamp else timestamp_seconds(timestamp)
        moved = Capture(
            CdxRow(target, timestamp, answer.status, row.mime, row.digest),
            when,
            capture.revisit_of,
        )
        return ArchivedResponse(target, answer.status, headers, body, moved, digest_ok=digest_ok)
