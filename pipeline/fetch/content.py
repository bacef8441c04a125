"""What a response body is: media type, content decoding (with a decompression-bomb guard),
binary sniffing, charset detection, kept headers and body compression for storage.

All pure functions over bytes and header values, shared by the live and the WARC path.
"""

from __future__ import annotations

import codecs
import email.utils
import re
import time
import zlib
from collections.abc import Mapping

import zstandard

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Headers worth keeping beside the body (dates for analysis, language, robots directives).
KEPT_HEADERS = (
    "content-type",
    "content-language",
    "content-encoding",
    "content-length",
    "last-modified",
    "date",
    "etag",
    "server",
    "x-robots-tag",
)
_BINARY_MAGIC = (
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"%PDF",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"\x7fELF",
    b"MZ",
    b"RIFF",
    b"OggS",
    b"\x00\x00\x01\x00",
)
_CONTROL = set(range(0, 9)) | {11} | set(range(14, 27)) | set(range(28, 32))
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]+)""", re.IGNORECASE
)
# WHATWG: these labels mean windows-1252 in HTML.
_HTML_ALIASES = {"latin_1": "cp1252", "ascii": "cp1252", "iso8859-1": "cp1252"}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class ContentError(Exception):
    """A body that cannot become a page. ``error_class`` is the counted reason."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def parse_media_type(header: str | None) -> tuple[str | None, str | None]:
    """``text/html; charset=UTF-8`` -> ("text/html", "UTF-8"). Missing -> (None, None)."""
    if not header:
        return None, None
    parts = header.split(";")
    mime = parts[0].strip().lower() or None
    charset = None
    for param in parts[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return mime, charset


def is_html_type(mime: str | None) -> bool:
    """HTML and XHTML only; a missing type is decided later by sniffing the body."""
    return mime is None or mime in HTML_TYPES


def decode_content(raw: bytes, encoding: str | None, max_bytes: int, max_ratio: float) -> bytes:
    """Undo Content-Encoding (gzip, deflate; several in sequence) without ever holding more
    than ``max_bytes`` of output. A stream that expands past the cap with a ratio above
    ``max_ratio`` is a decompression bomb; one below it is merely too large."""
    codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
    data = raw
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, 16 + zlib.MAX_WBITS, max_bytes, max_ratio)
        elif coding == "deflate":
            try:
                data = _inflate(data, zlib.MAX_WBITS, max_bytes, max_ratio)
            except ContentError as exc:
                if exc.error_class != "bad_encoding":
                    raise
                data = _inflate(data, -zlib.MAX_WBITS, max_bytes, max_ratio)  # raw deflate
        else:
            raise ContentError("unsupported_encoding", f"Content-Encoding {coding!r}")
    return data


def _inflate(data: bytes, wbits: int, max_bytes: int, max_ratio: float) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    try:
        while pending:
            room = max_bytes + 1 - len(out)
            out += inflater.decompress(pending, room)
            if len(out) > max_bytes:
                consumed = len(data) - len(inflater.unconsumed_tail)
                ratio = len(out) / max(consumed, 1)
                if ratio > max_ratio:
                    raise ContentError(
                        "decompression_bomb",
                        f"compressed body expands {ratio:.0f}x past {max_bytes} bytes",
                    )
                raise ContentError("too_large", f"decoded body exceeds {max_bytes} bytes")
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        out += inflater.flush()
    except zlib.error as exc:
        raise ContentError("bad_encoding", f"corrupt compressed body: {exc}") from exc
    if not inflater.eof:
        raise ContentError("truncated_body", "compressed body ends before the stream does")
    return bytes(out)


def looks_binary(body: bytes) -> bool:
    """True for bytes that are not text in any charset HTML uses (images, archives,
    executables served as text/html): known magic numbers, NUL bytes, many control bytes.
    UTF-16 with a BOM is text."""
    head = body[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if head.lstrip().startswith(_BINARY_MAGIC):
        return True
    if b"\x00" in head:
        return True
    if not head:
        return False
    controls = sum(1 for b in head if b in _CONTROL)
    return controls / len(head) > 0.05


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    return _HTML_ALIASES.get(name, name)


def _valid_utf8_prefix(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is not an error.
        return exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"


def detect_charset(body: bytes, header_charset: str | None = None) -> str:
    """The codec to decode an HTML body with: BOM, then the HTTP header, then a <meta>
    declaration, then valid UTF-8, then statistical detection (charset_normalizer), then
    windows-1252 (which decodes any byte)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    declared = _codec_name(header_charset)
    if declared:
        return declared
    match = _META_CHARSET.search(body[:4096])
    if match:
        meta = _codec_name(match.group(1).decode("ascii", "replace"))
        if meta:
            return meta
    sample = body[:65536]
    if _valid_utf8_prefix(sample):
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    guessed = _codec_name(best.encoding) if best is not None else None
    return guessed or "cp1252"


def decode_html(body: bytes, charset: str | None) -> str:
    """Decode a stored body with its detected charset; undecodable bytes become U+FFFD."""
    codec = _codec_name(charset) or detect_charset(body)
    return body.decode(codec, errors="replace")


def sniff_html(body: bytes) -> bool:
    """For responses without a Content-Type: does the body start like an HTML document?"""
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta"))


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in KEPT_HEADERS:
        value = headers.get(name)
        if value is not None:
            out[name] = value[:1000]
    return out


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def compress_body(body: bytes) -> bytes:
    """Bodies travel through Beam and sit in the ledger compressed (zstd frame)."""
    return zstandard.ZstdCompressor(level=3).compress(body)


def decompress_body(blob: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(blob)
