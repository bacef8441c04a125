"""One WARC record, fetched by byte range, read with warcio and checked against its payload
digest (``WARC-Payload-Digest: sha1:<base32>``). Pure: bytes in, an :class:`ArchivedRecord`
or :class:`~pipeline.archive.http.ArchiveError` (``archive_corrupt``) out."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass

from pipeline.archive.capture import ARCHIVE_CORRUPT
from pipeline.archive.http import ArchiveError
from pipeline.fetch.content import ContentError, decode_content


@dataclass
class ArchivedRecord:
    target_uri: str
    warc_date: str
    status: int
    headers: dict[str, str]  # lower-case names, as archived
    body: bytes  # dechunked and content-decoded
    digest_ok: bool | None  # None: the record carries no payload digest
    rec_type: str = "response"
    refers_to_uri: str = ""
    refers_to_date: str = ""


def payload_digest(payload: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode("ascii")


def parse_record(
    data: bytes, *, max_body_bytes: int = 4 * 1024 * 1024, max_ratio: float = 100.0
) -> ArchivedRecord:
    """The first record of ``data`` (a gzip member or a plain record), its HTTP response and
    its decoded body. Unparseable bytes or a payload that does not match its digest raise
    ArchiveError(archive_corrupt)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.bufferedreaders import ChunkedDataReader
    from warcio.exceptions import ArchiveLoadFailed

    try:
        record = next(iter(ArchiveIterator(io.BytesIO(data))), None)
        if record is None:
            raise ArchiveError(ARCHIVE_CORRUPT, "the range holds no WARC record")
        head = record.rec_headers
        if record.http_headers is None:
            raise ArchiveError(ARCHIVE_CORRUPT, f"{record.rec_type} record has no HTTP response")
        payload = record.raw_stream.read()
        headers = {k.lower(): v for k, v in record.http_headers.headers}
        status = int(record.http_headers.get_statuscode() or 0)
    except ArchiveError:
        raise
    except (ArchiveLoadFailed, OSError, EOFError, ValueError, StopIteration) as exc:
        raise ArchiveError(ARCHIVE_CORRUPT, f"the range is not a WARC record: {exc}") from None
    declared = (head.get_header("WARC-Payload-Digest") or "").strip()
    digest_ok: bool | None = None
    if declared.lower().startswith("sha1:") and record.rec_type != "revisit":
        digest_ok = payload_digest(payload).upper() == ("sha1:" + declared[5:]).upper()
        if not digest_ok:
            raise ArchiveError(
                ARCHIVE_CORRUPT,
                f"payload digest mismatch for {head.get_header('WARC-Target-URI')} "
                f"(declared {declared}, got {payload_digest(payload)})",
            )
    body = payload
    if headers.get("transfer-encoding", "").lower() == "chunked":
        try:
            body = ChunkedDataReader(io.BytesIO(payload)).read()
        except (ValueError, OSError) as exc:
            raise ArchiveError(ARCHIVE_CORRUPT, f"bad chunked payload: {exc}") from None
    try:
        body = decode_content(body, headers.get("content-encoding"), max_body_bytes, max_ratio)
    except ContentError as exc:
        raise ArchiveError(exc.error_class, str(exc)) from None
    return ArchivedRecord(
        target_uri=head.get_header("WARC-Target-URI") or "",
        warc_date=head.get_header("WARC-Date") or "",
        status=status,
        headers=headers,
        body=body,
        digest_ok=digest_ok,
        rec_type=record.rec_type,
        refers_to_uri=head.get_header("WARC-Refers-To-Target-URI") or "",
        refers_to_date=head.get_header("WARC-Refers-To-Date") or "",
    )
