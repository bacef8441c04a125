"""Streaming readers for Reddit submission dumps (Pushshift / Arctic Shift).

Compression is recognised by magic bytes, not by file name: zstd (decoded with the 2 GiB
window the dumps need), xz, bz2, gzip, or plain JSON lines. Files are never loaded whole.

Problems never stop the stream: they come out as :class:`ReadProblem` items naming the file
and the line or byte offset, so the caller can count them and go on.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZ2_MAGIC = b"BZh"
GZIP_MAGIC = b"\x1f\x8b"

ZSTD_MAX_WINDOW = 2**31  # Pushshift dumps are compressed with --long=31
CHUNK = 1 << 20
MAX_LINE_BYTES = 16 << 20  # a single submission is a few KB; longer "lines" are garbage


@dataclass(frozen=True)
class ReadProblem:
    """Something in the input that could not be read as a line."""

    source: str
    reason: str  # short machine-readable reason, used as the drop reason in stats
    detail: str  # human-readable, names the position

    def message(self) -> str:
        return f"{self.source}: {self.detail}"


@dataclass(frozen=True)
class Line:
    source: str
    number: int  # 1-based
    data: bytes


def sniff_compression(head: bytes) -> str:
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZ2_MAGIC):
        return "bz2"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "plain"


class TruncatedInput(Exception):
    """The compressed stream ended in the middle of a frame."""


def _zstd_chunks(raw: BinaryIO) -> Iterator[bytes]:
    # zstandard's stream_reader silently stops at a truncated frame; decompressobj tells us.
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    dobj = dctx.decompressobj()
    fed_since_frame_start = False
    while True:
        chunk = raw.read(CHUNK)
        if not chunk:
            break
        while chunk:
            fed_since_frame_start = True
            out = dobj.decompress(chunk)
            if out:
                yield out
            if dobj.eof:
                chunk = dobj.unused_data
                dobj = dctx.decompressobj()
                fed_since_frame_start = False
            else:
                chunk = b""
    if fed_since_frame_start and not dobj.eof:
        raise TruncatedInput("zstd stream ends in the middle of a frame")


def _stdlib_chunks(raw: BinaryIO, kind: str) -> Iterator[bytes]:
    opener = {"xz": lzma.open, "bz2": bz2.open, "gzip": gzip.open}[kind]
    with opener(raw, "rb") as stream:
        while True:
            try:
                chunk = stream.read(CHUNK)
            except EOFError as exc:
                raise TruncatedInput(f"{kind} stream ends early ({exc})") from exc
            if not chunk:
                return
            yield chunk


def _plain_chunks(raw: BinaryIO) -> Iterator[bytes]:
    while chunk := raw.read(CHUNK):
        yield chunk


def decompressed_chunks(raw: BinaryIO, kind: str) -> Iterator[bytes]:
    if kind == "zstd":
        return _zstd_chunks(raw)
    if kind == "plain":
        return _plain_chunks(raw)
    return _stdlib_chunks(raw, kind)


class _Peekable:
    """Give back the sniffed header bytes before the rest of the raw stream."""

    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        self._raw = raw
        self._head = head

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += self._raw.read(n - len(data))
            return data
        return self._raw.read(n)

    def readable(self) -> bool:
        return True


def iter_lines(raw: BinaryIO, source: str) -> Iterator[Line | ReadProblem]:
    """Yield each non-empty line of a (possibly compressed) dump, or a problem.

    The last item for a truncated or corrupt file is a ReadProblem; everything before it
    has already been yielded, so nothing decodable is lost.
    """
    head = raw.read(8)
    kind = sniff_compression(head)
    stream = _Peekable(raw, head)
    number = 0
    pending = b""
    skipping_long = False
    bytes_out = 0
    try:
        for chunk in decompressed_chunks(stream, kind):  # type: ignore[arg-type]
            bytes_out += len(chunk)
            pending += chunk
            start = 0
            while True:
                nl = pending.find(b"\n", start)
                if nl < 0:
                    break
                number += 1
                if skipping_long:
                    skipping_long = False
                else:
                    line = pending[start:nl].strip()
                    if line:
                        yield Line(source, number, line)
                start = nl + 1
            pending = pending[start:]
            if len(pending) > MAX_LINE_BYTES:
                if not skipping_long:
                    yield ReadProblem(
                        source,
                        "line_too_long",
                        f"line {number + 1}: longer than {MAX_LINE_BYTES:,} bytes, skipped",
                    )
                skipping_long = True
                pending = b""
    except TruncatedInput as exc:
        if pending.strip() and not skipping_long:
            yield ReadProblem(
                source,
                "truncated_file",
                f"line {number + 1}: file is truncated ({exc}) after {bytes_out:,} "
                "decompressed bytes; the incomplete last line is dropped",
            )
        else:
            yield ReadProblem(
                source,
                "truncated_file",
                f"file is truncated ({exc}) after {bytes_out:,} decompressed bytes, "
                f"{number:,} complete lines",
            )
        return
    except (zstandard.ZstdError, lzma.LZMAError, OSError, zlib.error, ValueError) as exc:
        # OSError covers gzip.BadGzipFile and bz2's "Invalid data stream".
        yield ReadProblem(
            source,
            "corrupt_file",
            f"{kind} data is corrupt after {bytes_out:,} decompressed bytes "
            f"({number:,} complete lines): {exc}",
        )
        return
    number += 1
    if skipping_long:
        return
    tail = pending.strip()
    if tail:
        yield Line(source, number, tail)
