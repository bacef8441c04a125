"""What every archive source offers the fetch scheduler, and the outcome of one link.

A source answers two questions, both async: ``lookup(url, start, end, closest)`` -> the index
rows of ``url`` captured between two times, nearest ``closest`` first if the source can sort
(cached on disk), and ``fetch(capture)`` -> the archived
response of one capture. ``politeness`` says how hard the scheduler may push it.
:class:`pipeline.archive.resolve.ArchiveFetcher` turns those into one outcome per link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pipeline.archive.capture import Capture, CdxRow
from pipeline.archive.politeness import Politeness


@dataclass
class ArchivedResponse:
    """One archived HTTP response (a hop or the page), body decoded."""

    url: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    capture: Capture
    digest_ok: bool | None = None


class ArchiveSource(Protocol):
    name: str  # "wayback", "cc": the ledger's ``source``
    politeness: Politeness

    async def lookup(
        self, url: str, start: int, end: int, closest: int | None = None
    ) -> list[CdxRow]: ...

    async def fetch(self, capture: Capture) -> ArchivedResponse: ...


@dataclass
class ArchiveOutcome:
    """What happened to one link at one source; ``error`` is None exactly when ``body`` is a
    page. Field names follow pipeline.fetch.client.FetchOutcome, plus the archive's own."""

    url: str
    final_url: str
    source: str
    status: int = 0
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None
    message: str = ""
    redirects: int = 0
    hops: list[tuple[str, int, str]] = field(default_factory=list)
    capture_time: int = 0  # seconds since the epoch; 0 when no capture was fetched
    archive_record: str = ""  # crawl:file:offset:length, or the Wayback timestamp
    digest_ok: bool | None = None
