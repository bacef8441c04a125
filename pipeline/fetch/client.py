"""The asyncio fetch client: every URL ends as exactly one :class:`FetchOutcome`.

One :class:`Fetcher` serves URLs on one event loop and one connection pool; which URL starts
when is the frontier's business (pipeline.fetch.frontier). Per URL:
safety (resolved addresses, via the guarded resolver; IP literals here), optional robots.txt,
politeness (per-host slots and delay), then up to ``max_redirects`` hops followed by hand so
each target is re-checked against the link rules (a redirect to Wikipedia, back into Reddit or
to an image is dropped as such) and loops are caught. 429 and 5xx are retried with exponential
backoff; a ``Retry-After`` (up to a cap) pauses the whole host, not only the request that got
it. Bodies are streamed under a byte cap, then content-decoded under the same cap with a bomb
guard, in a worker thread (as is the charset detection), so a big page never stalls the event
loop that times every other request. Every exception becomes an error class.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from pipeline.fetch.config import DEFAULT_USER_AGENT, FetchConfig  # noqa: F401 (re-exported)
from pipeline.fetch.content import (
    ContentError,
    decode_content,
    detect_charset,
    is_html_type,
    kept_headers,
    looks_binary,
    parse_media_type,
    parse_retry_after,
    sniff_html,
)
from pipeline.fetch.politeness import HostGate, RobotsCache
from pipeline.fetch.safety import (
    ForbiddenAddress,
    GuardedResolver,
    ip_literal,
    is_forbidden_address,
)
from pipeline.link_rules import check_url

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
OK_STATUSES = frozenset({200, 203})


@dataclass
class FetchOutcome:
    """What happened to one URL. ``error`` is None exactly when ``body`` is a usable page."""

    url: str
    final_url: str
    status: int = 0
    content_type: str | None = None
    charset: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None
    message: str = ""
    elapsed_ms: int = 0
    redirects: int = 0
    retries: int = 0
    # Redirect hops followed: (url, status, location), for --write-warc.
    hops: list[tuple[str, int, str]] = field(default_factory=list)
    # Where the outcome comes from: "live", or an archive (pipeline.archive) with its capture
    source: str = "live"
    capture_time: int | None = None  # seconds since the epoch; archive pages only
    archive_record: str | None = None  # crawl:file:offset:length, or a Wayback timestamp
    # every source tried for the link, in order ("cc:no_capture", "live:page"): set by the
    # source chain (pipeline.fetch.background); empty means this outcome's source alone
    attempts: list[str] = field(default_factory=list)


@dataclass
class _Hop:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes | None = None


def follow_redirect(
    out: FetchOutcome, current: str, status: int, location: str, seen: set[str], c: FetchConfig
) -> str:
    """The next URL of a redirect, or ContentError when it must not be followed: too many
    hops, a loop, or a target the link rules refuse (redirect_wikipedia, redirect_reddit_link,
    redirect_blocked_domain, ...). Shared by the live client and the WARC reader."""
    nxt = urljoin(current, location)
    out.redirects += 1
    out.hops.append((current, status, nxt))
    if out.redirects > c.max_redirects:
        raise ContentError("too_many_redirects", f"more than {c.max_redirects}")
    if nxt in seen:
        out.final_url = nxt
        raise ContentError("redirect_loop", f"{nxt} was already visited")
    checked = check_url(nxt)
    if isinstance(checked, str):
        out.final_url = nxt
        raise ContentError(f"redirect_{checked}", f"redirected to {nxt}")
    seen.add(nxt)
    return nxt


def judge_response(
    out: FetchOutcome, status: int, content_type: str | None, body: bytes | None
) -> None:
    """Accept the last response as a page (sets charset and body) or raise ContentError.
    Shared by the live client and the WARC reader so both apply the same rules."""
    out.status = status
    mime, header_charset = parse_media_type(content_type)
    out.content_type = mime
    if status not in OK_STATUSES:
        raise ContentError(f"http_{status}", f"HTTP {status}")
    if not is_html_type(mime):
        raise ContentError("not_html", f"Content-Type {mime}")
    if not body:
        raise ContentError("empty_body", "the response has no body")
    if looks_binary(body):
        raise ContentError("binary_body", "the body is binary data, not text")
    if mime is None and not sniff_html(body):
        raise ContentError("not_html", "no Content-Type and the body is not HTML")
    out.charset = detect_charset(body, header_charset)
    out.body = body


def classify_exception(exc: BaseException) -> str:
    """The error class of an exception raised while fetching."""
    if isinstance(exc, ContentError):
        return exc.error_class
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "forbidden_address" if isinstance(exc.os_error, ForbiddenAddress) else "dns_error"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "tls_error"
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
        return "connection_error"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated_body"
    if isinstance(exc, aiohttp.InvalidURL | UnicodeError | ValueError):
        return "invalid_url"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "protocol_error"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return "connection_error"
    raise exc


class Fetcher:
    """Async context manager owning one session (pool, resolver, politeness state)."""

    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._inflight = asyncio.Semaphore(config.concurrency)
        self._gate = HostGate(config.per_host, config.host_delay_s)
        self._robots = RobotsCache(config.user_agent, self._fetch_text)

    async def __aenter__(self) -> Fetcher:
        c = self.config
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(c.rules(), allow_private=c.allow_private),
            limit=c.concurrency,
            limit_per_host=0,  # HostGate does per-host limits (and the delay)
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=c.connect_timeout_s, sock_read=c.read_timeout_s
            ),
            auto_decompress=False,  # decode_content does it, under the cap and bomb guard
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={
                "User-Agent": c.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
                "Accept-Encoding": "gzip, deflate",
            },
            max_line_size=16384,
            max_field_size=16384,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str) -> FetchOutcome:
        """Fetch one URL; never raises for anything the network or the server does."""
        started = time.monotonic()
        outcome = FetchOutcome(url=url, final_url=url)
        try:
            await self._follow(outcome)
        except Exception as exc:  # every failure becomes a counted class (unknown ones re-raise)
            outcome.error = classify_exception(exc)
            outcome.message = f"{type(exc).__name__}: {exc}"[:300]
            outcome.body = None
        outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
        return outcome

    @property
    def gate(self) -> HostGate:
        return self._gate

    async def _follow(self, out: FetchOutcome) -> None:
        c = self.config
        current = out.url
        seen = {current}
        while True:
            out.final_url = current
            target = URL(current)
            host = target.host or ""
            literal = ip_literal(host)
            if literal is not None and not c.allow_private and is_forbidden_address(literal):
                raise ContentError("forbidden_address", f"{host} is not a public address")
            if c.respect_robots and not await self._robots.allowed(
                target.scheme, target.raw_authority, current
            ):
                raise ContentError("robots_disallowed", f"robots.txt disallows {current}")
            hop = await self._request_with_retries(current, host, out)
            out.status = hop.status
            if 300 <= hop.status < 400 and "Location" in hop.headers:
                nxt = follow_redirect(out, current, hop.status, hop.headers["Location"], seen, c)
                current = nxt
                continue
            break
        content_type = hop.headers.get("Content-Type")
        if hop.body:  # binary sniffing and charset detection: off the loop
            await asyncio.get_running_loop().run_in_executor(
                None, judge_response, out, hop.status, content_type, hop.body
            )
        else:
            judge_response(out, hop.status, content_type, hop.body)

    async def _request_with_retries(self, url: str, host: str, out: FetchOutcome) -> _Hop:
        c = self.config
        attempt = 0
        while True:
            async with self._gate.slot(host), self._inflight:
                async with asyncio.timeout(c.total_timeout_s):
                    hop = await self._request(url, out)
            if hop.status not in RETRY_STATUSES or attempt >= c.max_retries:
                return hop
            wait = parse_retry_after(hop.headers.get("Retry-After"))
            if wait is None:
                wait = c.backoff_s * (2**attempt)
            if wait > c.max_retry_after_s:
                return hop  # the server asks for more patience than we have: give up now
            attempt += 1
            out.retries += 1
            if "Retry-After" in hop.headers:
                self._gate.defer(host, wait)  # the whole host waits; the next slot() sleeps
            else:
                await asyncio.sleep(wait)

    async def _request(self, url: str, out: FetchOutcome) -> _Hop:
        c = self.config
        assert self._session is not None, "use Fetcher as an async context manager"
        async with self._session.get(url, allow_redirects=False) as resp:
            out.headers = kept_headers(resp.headers)
            mime, _ = parse_media_type(resp.headers.get("Content-Type"))
            out.content_type = mime
            if resp.status not in OK_STATUSES:
                return _Hop(resp.status, resp.headers)
            if not is_html_type(mime):
                raise ContentError("not_html", f"Content-Type {mime}")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > c.max_body_bytes:
                raise ContentError("too_large", f"Content-Length {declared} exceeds the cap")
            raw = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                raw += chunk
                if len(raw) > c.max_body_bytes:
                    raise ContentError("too_large", f"body exceeds {c.max_body_bytes} bytes")
            encoding = resp.headers.get("Content-Encoding")
            if encoding:  # inflating runs in a worker thread, never on the loop
                body = await asyncio.get_running_loop().run_in_executor(
                    None,
                    decode_content,
                    bytes(raw),
                    encoding,
                    c.max_body_bytes,
                    c.max_compression_ratio,
                )
            else:
                body = bytes(raw)
            return _Hop(resp.status, resp.headers, body)

    async def _fetch_text(self, url: str) -> tuple[int, str]:
        """Small text resources (robots.txt): status and text, (0, "") when unreachable."""
        assert self._session is not None
        try:
            async with asyncio.timeout(self.config.total_timeout_s):
                async with self._session.get(url, allow_redirects=True, max_redirects=3) as resp:
                    data = await resp.content.read(512 * 1024)
                    return resp.status, data.decode("utf-8", errors="replace")
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return 0, ""


def fetch_urls(urls: Sequence[str], config: FetchConfig) -> list[FetchOutcome]:
    """Fetch a list of URLs through the frontier on a fresh event loop. Order is kept."""
    from pipeline.fetch.frontier import fetch_all

    async def run() -> list[FetchOutcome]:
        async with Fetcher(config) as fetcher:
            return await fetch_all(fetcher, urls)

    return asyncio.run(run())
