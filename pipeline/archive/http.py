"""The one HTTP path to an archive: a gate (politeness.py), retries on 429/5xx and network
errors, and :class:`ArchiveError` when the archive keeps failing. aiohttp, one session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from yarl import URL

from pipeline.archive.capture import ARCHIVE_UNAVAILABLE
from pipeline.archive.politeness import Politeness, SourceGate
from pipeline.fetch.content import parse_retry_after

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "webtext-archive/0.1 (research corpus builder; honours Retry-After)"


class ArchiveError(Exception):
    """A link gets no page from this source: ``reason`` is the counted error class."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str


class ArchiveHttp:
    """An aiohttp session behind a :class:`SourceGate`. Use as an async context manager."""

    def __init__(
        self,
        politeness: Politeness,
        *,
        timeout_s: float = 60.0,
        max_body_bytes: int = 16 * 1024 * 1024,
        decompress: bool = True,
    ) -> None:
        self.gate = SourceGate(politeness)
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.decompress = decompress
        self.retries = 0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ArchiveHttp:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.gate.politeness.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            auto_decompress=self.decompress,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, url: str, headers: dict[str, str] | None = None) -> HttpAnswer:
        """GET ``url`` (no redirects followed). 429/5xx and network errors are retried with
        the source paused; when retries run out, ArchiveError(archive_unavailable)."""
        assert self._session is not None, "use ArchiveHttp as an async context manager"
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                async with self.gate.slot():
                    answer = await self._get(url, headers)
                if answer.status not in RETRY_STATUSES:
                    return answer
                retry_after = parse_retry_after(answer.headers.get("retry-after"))
                problem = f"HTTP {answer.status} from {url}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc} ({url})"
            wait = self.gate.retry_wait(attempt, retry_after)
            if wait is None:
                raise ArchiveError(ARCHIVE_UNAVAILABLE, problem[:300])
            self.gate.pause(wait)
            attempt += 1
            self.retries += 1
            await asyncio.sleep(wait)

    async def _get(self, url: str, headers: dict[str, str] | None) -> HttpAnswer:
        assert self._session is not None
        # encoded=True: the URL goes out byte for byte (yarl would otherwise requote it and turn
        # a submitted %2F or %5F in the query into / and _).
        target = URL(url, encoded=True)
        async with self._session.get(target, headers=headers, allow_redirects=False) as resp:
            data = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                data += chunk
                if len(data) > self.max_body_bytes:
                    raise ArchiveError("too_large", f"{url}: more than {self.max_body_bytes} bytes")
            return HttpAnswer(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, bytes(data), url
            )
