"""Streaming readers for Reddit submission dumps (Pushshift / Arctic Shift).

Compression is recognised by magic bytes, not by file name: zstd (decoded with the 2 GiB
window the dumps need), xz, bz2, gzip, or plain JSON lines. Files are never loaded whole.

Problems never stop the stream: they come out as :class:`ReadProblem` items naming the file
and the line or byte offset, so the caller can count them and go on.

Damaged files. Every format is decoded by an incremental decompressor object fed
:data:`PIECE` bytes of compressed input at a time (zstd: :data:`ZSTD_PIECE`), xz, bz2 and gzip
are asked for at most :data:`OUT_MAX` bytes of output per call, and each call's output is split
into lines at once. A decompressor that raises discards the output of that one call, so at
most OUT_MAX decompressed bytes before the point where the damage is noticed are lost (zstd:
the blocks completed by the failing 1 KiB piece, none when blocks are larger than that), and a
truncated file loses nothing but its unfinished last line. (``lzma.open``/``bz2.open``/
``gzip.open`` with 1 MiB reads, used before, threw away everything decoded in the read that hit
the damage: 0 of the 486 lines ``xz -dc`` gets from the first half of RS_v2_2005-07.xz.) The
rest of a damaged file is one ``truncated_file`` or ``corrupt_file`` problem naming the file,
the compressed byte offset where reading stopped, the decompressed bytes and the complete
lines read before it. Damage a format cannot see at once (gzip checks a CRC only at the end
of a member, xz at the end of a block) first comes out as garbage lines, which the JSON parser
rejects and counts as malformed; a streaming reader cannot hold them back.

Memory stays bounded whatever the file: xz, bz2 and gzip output is capped per call by
``max_length``; zstandard's ``decompressobj`` has no such cap, so its input pieces are kept
small (a zstd block is >= 4 compressed bytes for <= 128 KiB of output, so one 1 KiB piece
yields at most 32 MiB even from a decompression bomb). The one line being assembled is at most
:data:`MAX_LINE_BYTES`.
"""

from __future__ import annotations

import bz2
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
# Compressed bytes read and fed per call (xz, bz2, gzip, plain): the reported offset of
# damage is precise to 16 KiB; the read calls cost nothing next to decoding 16 KiB.
PIECE = 16 << 10
# Most decompressed bytes asked of xz/bz2/gzip per call: what a call that hits damage loses.
# Decoding speed was flat from 1 KiB to 1 MiB per call (gzip reading ~10% slower than at
# 16 KiB, xz/bz2 within noise); 1 KiB is less than one modern submission line. At 4 KiB an xz
# dump that noticed 64 flipped bytes 2.6 KB after them lost 2 intact lines.
OUT_MAX = 1 << 10
# zstd pieces: zstandard's decompressobj has no output cap, so its input is kept small.
ZSTD_PIECE = 1 << 10
ZSTD_WRITE_SIZE = 64 << 10
# A line (bytes between newlines, newline excluded) longer than this is skipped and reported;
# one of exactly this length is kept. A submission is a few KB; longer "lines" are garbage.
MAX_LINE_BYTES = 16 << 20


@dataclass(frozen=True)
class ReadProblem:
    """Something in the input that could not be read as a line."""

    source: str
    reason: str  # short machine-readable reason, used as the drop reason in stats
    detail: str  # human-readable, names the position
    # For truncated_file / corrupt_file: compressed bytes read when reading stopped, and the
    # decompressed bytes and complete lines (numbered 1..lines_before) read before it.
    offset: int | None = None
    bytes_out: int | None = None
    lines_before: int | None = None

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


class DamagedInput(Exception):
    """The compressed stream ends early or cannot be decoded.

    ``start``..``offset``: the compressed bytes the failing decompressor call was given (the
    damage, or the detection of it, lies in there); for truncation both are the file size.
    """

    def __init__(self, reason: str, kind: str, start: int, offset: int, what: str) -> None:
        super().__init__(what)
        self.reason = reason
        self.kind = kind
        self.start = start
        self.offset = offset
        self.what = what


class _Counting:
    """Read the raw stream in pieces, counting the compressed bytes handed out."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.offset = 0

    def read(self, n: int) -> bytes:
        data = self._raw.read(n)
        self.offset += len(data)
        return data


def _skip_padding(data: bytes, raw: _Counting, piece: int) -> bytes:
    """After a complete stream: drop zero padding (xz stream padding, gzip's tolerated NULs)
    and return the next non-zero bytes (b"" at end of file)."""
    while True:
        data = data.lstrip(b"\0")
        if data:
            return data
        data = raw.read(piece)
        if not data:
            return b""


def _truncated(kind: str, raw: _Counting) -> DamagedInput:
    return DamagedInput(
        "truncated_file",
        kind,
        raw.offset,
        raw.offset,
        f"{kind} file is truncated: it ends at compressed byte {raw.offset:,} inside a stream",
    )


def _corrupt(kind: str, start: int, raw: _Counting, exc: BaseException | str) -> DamagedInput:
    return DamagedInput(
        "corrupt_file",
        kind,
        start,
        raw.offset,
        f"{kind} data is corrupt in compressed bytes {start:,}..{raw.offset:,}: {exc}",
    )


_STDLIB_ERRORS = (lzma.LZMAError, OSError, EOFError, zlib.error, ValueError)


def _new_stdlib_decompressor(kind: str):
    if kind == "xz":
        return lzma.LZMADecompressor()
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(wbits=31)  # gzip header and trailer, one member


def _stdlib_chunks(raw: _Counting, kind: str) -> Iterator[bytes]:
    """xz (multi-stream), bz2 (multi-stream, as pbzip2 writes) and gzip (multi-member)."""
    magic = {"xz": XZ_MAGIC, "bz2": BZ2_MAGIC, "gzip": GZIP_MAGIC}[kind]
    piece, out_max = PIECE, OUT_MAX
    data = raw.read(piece)
    while data:
        if not data.startswith(magic[: len(data)]):
            raise _corrupt(
                kind,
                raw.offset - len(data),
                raw,
                f"{len(data):,}+ bytes that are not a {kind} stream",
            )
        dec = _new_stdlib_decompressor(kind)
        is_zlib = kind == "gzip"
        start = raw.offset - len(data)
        while True:
            try:
                out = dec.decompress(data, out_max)
            except _STDLIB_ERRORS as exc:
                raise _corrupt(kind, start, raw, exc) from exc
            if out:
                yield out
            if dec.eof:
                break
            if is_zlib:
                # zlib keeps the input it had no room to decode; it may also hold output.
                data = dec.unconsumed_tail
                if data or len(out) == out_max:
                    continue
            elif not dec.needs_input:
                data = b""
                continue
            data = raw.read(piece)
            start = raw.offset - len(data)
            if not data:
                raise _truncated(kind, raw)
        data = _skip_padding(dec.unused_data, raw, piece)


def _zstd_chunks(raw: _Counting) -> Iterator[bytes]:
    # zstandard's stream_reader silently stops at a truncated frame; decompressobj tells us.
    # Frames are read one by one (a new decompressobj on the previous one's unused_data).
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    piece = ZSTD_PIECE
    data = raw.read(piece)
    while data:
        dobj = dctx.decompressobj(write_size=ZSTD_WRITE_SIZE)
        while True:
            start = raw.offset - len(data)
            try:
                out = dobj.decompress(data)
            except zstandard.ZstdError as exc:
                raise _corrupt("zstd", start, raw, exc) from exc
            if out:
                yield out
            if dobj.eof:
                break
            data = raw.read(piece)
            if not data:
                raise _truncated("zstd", raw)
        data = dobj.unused_data or raw.read(piece)


def _plain_chunks(raw: _Counting) -> Iterator[bytes]:
    while chunk := raw.read(PIECE):
        yield chunk


def decompressed_chunks(raw: BinaryIO, kind: str) -> Iterator[bytes]:
    """The decompressed bytes of ``raw``, in pieces as soon as they are decoded.

    Raises :class:`DamagedInput` (after yielding everything decoded before it) when the
    stream is truncated or corrupt.
    """
    counting = raw if isinstance(raw, _Counting) else _Counting(raw)
    if kind == "zstd":
        return _zstd_chunks(counting)
    if kind == "plain":
        return _plain_chunks(counting)
    return _stdlib_chunks(counting, kind)


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


def _too_long(source: str, number: int) -> ReadProblem:
    return ReadProblem(
        source,
        "line_too_long",
        f"line {number}: longer than {MAX_LINE_BYTES:,} bytes, skipped",
    )


def iter_lines(raw: BinaryIO, source: str) -> Iterator[Line | ReadProblem]:
    """Yield each non-empty line of a (possibly compressed) dump, or a problem.

    A line longer than :data:`MAX_LINE_BYTES` (newline excluded) is skipped and reported as
    ``line_too_long``; it still takes a line number. The last item for a truncated or corrupt
    file is one ReadProblem (``truncated_file`` / ``corrupt_file``) naming the compressed byte
    offset; every complete line decoded before it has already been yielded.
    """
    head = raw.read(8)
    kind = sniff_compression(head)
    stream = _Counting(_Peekable(raw, head))  # type: ignore[arg-type]
    max_line = MAX_LINE_BYTES
    number = 0  # complete (newline-terminated) lines so far
    parts: list[bytes] = []  # the unfinished line, when it spans chunks
    part_len = 0
    skipping_long = False  # the current line is over max_line and already reported
    bytes_out = 0
    try:
        for chunk in decompressed_chunks(stream, kind):  # type: ignore[arg-type]
            bytes_out += len(chunk)
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    break
                number += 1
                if skipping_long:
                    skipping_long = False
                elif part_len + nl - start > max_line:
                    yield _too_long(source, number)
                else:
                    line = b"".join((*parts, chunk[start:nl])) if parts else chunk[start:nl]
                    line = line.strip()
                    if line:
                        yield Line(source, number, line)
                parts, part_len = [], 0
                start = nl + 1
            if start < len(chunk) and not skipping_long:
                part_len += len(chunk) - start
                if part_len > max_line:
                    yield _too_long(source, number + 1)
                    skipping_long = True
                    parts, part_len = [], 0
                else:
                    parts.append(chunk[start:] if start else chunk)
    except DamagedInput as exc:
        unfinished = part_len > 0 or skipping_long
        lost = f"the unfinished line {number + 1} and the rest" if unfinished else "the rest"
        yield ReadProblem(
            source,
            exc.reason,
            f"{exc.what}; read stopped at compressed byte {exc.offset:,} after {bytes_out:,} "
            f"decompressed bytes and {number:,} complete lines; {lost} of the file is lost",
            offset=exc.offset,
            bytes_out=bytes_out,
            lines_before=number,
        )
        return
    if skipping_long or not parts:
        return
    number += 1
    tail = b"".join(parts).strip()
    if tail:
        yield Line(source, number, tail)
