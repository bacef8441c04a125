"""The archive path: responses read from WARC files instead of the live web (Common Crawl
or our own --write-warc output), and live responses kept as WARC.

Reading applies the rules of the live client (pipeline.fetch.client.judge_response and
follow_redirect): the same status, type, size, binary and charset checks, and redirect
targets re-checked against the link rules. Redirects are followed through the archive's own
3xx records (Common Crawl stores each hop as its own record).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import IO

from pipeline.fetch.client import FetchConfig, FetchOutcome, follow_redirect, judge_response
from pipeline.fetch.content import ContentError
from pipeline.urls import InvalidUrl, normalize_url


@dataclass
class WarcResponse:
    """One HTTP response record of a WARC file, body decoded (chunked, gzip) under the cap."""

    target_uri: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes | None
    error: str | None  # too_large when the body passed the cap
    date_utc: int


def url_key(url: str) -> str | None:
    try:
        return normalize_url(url).key
    except InvalidUrl:
        return None


def _warc_date(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def iter_warc_responses(stream: IO[bytes], max_body_bytes: int) -> Iterator[WarcResponse]:
    """Every HTTP response record of a (gzipped or plain) WARC stream."""
    from warcio.archiveiterator import ArchiveIterator

    for record in ArchiveIterator(stream):
        if record.rec_type != "response" or record.http_headers is None:
            continue
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        try:
            status = int(record.http_headers.get_statuscode() or 0)
        except ValueError:
            status = 0
        headers = {k.lower(): v for k, v in record.http_headers.headers}
        data = record.content_stream().read(max_body_bytes + 1)
        too_large = len(data) > max_body_bytes
        yield WarcResponse(
            target_uri=uri,
            status=status,
            headers=headers,
            body=None if too_large else data,
            error="too_large" if too_large else None,
            date_utc=_warc_date(record.rec_headers.get_header("WARC-Date")),
        )


def choose_response(current_url: str, candidates: Iterable[WarcResponse]) -> WarcResponse | None:
    """Among the records whose URL key matches, the one for this exact URL if any, then a
    200 over anything else, then the latest capture (deterministic for equal inputs)."""
    items = list(candidates)
    if not items:
        return None
    return min(
        items,
        key=lambda r: (r.target_uri != current_url, r.status != 200, -r.date_utc, r.target_uri),
    )


def apply_warc_response(
    out: FetchOutcome, response: WarcResponse | None, config: FetchConfig
) -> str | None:
    """Advance ``out`` (positioned at ``out.final_url``) by one archived response. Returns the
    next URL to look up for a redirect, or None once ``out`` is final (page or error)."""
    if response is None:
        out.error = "warc_missing"
        out.message = f"no WARC response record for {out.final_url}"
        return None
    try:
        if response.error is not None:
            out.status = response.status
            raise ContentError(response.error, f"WARC record of {response.target_uri}")
        location = response.headers.get("location")
        if 300 <= response.status < 400 and location:
            seen = {out.url} | {hop[0] for hop in out.hops}
            nxt = follow_redirect(out, out.final_url, response.status, location, seen, config)
            out.status = response.status
            out.final_url = nxt
            return nxt
        judge_response(out, response.status, response.headers.get("content-type"), response.body)
    except ContentError as exc:
        out.error = exc.error_class
        out.message = str(exc)
        out.body = None
    return None


_DROPPED_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def warc_bytes(outcomes: Iterable[FetchOutcome]) -> bytes:
    """A gzipped WARC holding the responses of the fetched pages: each redirect hop as a 3xx
    record (status and Location as received) and the final response with its kept headers
    and decoded body. Failed fetches are not archived."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for out in outcomes:
        if out.error is not None or out.body is None:
            continue
        for url, status, location in out.hops:
            http = StatusAndHeaders(
                _status_line(status),
                [("Location", location), ("Content-Length", "0")],
                protocol="HTTP/1.1",
            )
            writer.write_record(
                writer.create_warc_record(
                    url, "response", payload=io.BytesIO(b""), http_headers=http
                )
            )
        headers = [(k, v) for k, v in out.headers.items() if k not in _DROPPED_HEADERS]
        headers.append(("Content-Length", str(len(out.body))))
        http = StatusAndHeaders(_status_line(out.status), headers, protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                out.final_url, "response", payload=io.BytesIO(out.body), http_headers=http
            )
        )
    return buffer.getvalue()


def write_warc_file(directory: str, outcomes: Iterable[FetchOutcome]) -> str | None:
    """Write the batch's pages as one new WARC file in ``directory`` (local or a pyarrow URI),
    atomically (temporary name, then rename). Returns its path, or None if nothing to keep.

    The bytes are written as they are: pyarrow's default would gzip a ``.gz`` name again."""
    import os

    import pyarrow.fs as pafs

    data = warc_bytes(outcomes)
    if not data:
        return None
    if "://" in directory:
        fs, base = pafs.FileSystem.from_uri(directory)
    else:
        fs, base = pafs.LocalFileSystem(), os.path.abspath(directory)
    fs.create_dir(base, recursive=True)
    name = f"fetch-{uuid.uuid4().hex}.warc.gz"
    tmp = f"{base}/_tmp-{name}"
    with fs.open_output_stream(tmp, compression=None) as out:
        out.write(data)
    fs.move(tmp, f"{base}/{name}")
    return directory.rstrip("/") + "/" + name
