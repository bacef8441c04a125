"""Dump readers: every compression the dumps use, streamed; damage reported with position."""

from __future__ import annotations

import io
import os

import pytest
import zstandard

from pipeline.dumps import Line, ReadProblem, iter_lines
from tests.helpers import COMPRESSORS, zstd_long_window

LINES = [b'{"id": "%d", "url": "http://example.com/%d"}' % (i, i) for i in range(5000)]
DATA = b"\n".join(LINES) + b"\n"


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_each_compression_is_read_line_by_line(kind: str) -> None:
    items = list(iter_lines(io.BytesIO(COMPRESSORS[kind](DATA)), f"dump.{kind}"))
    assert [i.data for i in items] == LINES
    assert [i.number for i in items] == list(range(1, 5001))


def test_zstd_with_2gib_window_needs_the_long_window_decoder() -> None:
    blob = zstd_long_window(DATA)
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    assert len(list(iter_lines(io.BytesIO(blob), "RS.zst"))) == 5000


def test_compression_is_sniffed_not_taken_from_the_name() -> None:
    blob = COMPRESSORS["xz"](DATA)
    assert len(list(iter_lines(io.BytesIO(blob), "misnamed.jsonl"))) == 5000


def test_multiple_zstd_frames_are_read_across() -> None:
    c = zstandard.ZstdCompressor()
    blob = c.compress(b"a\nb\n") + c.compress(b"c\n")
    assert [i.data for i in iter_lines(io.BytesIO(blob), "x")] == [b"a", b"b", b"c"]


def _incompressible_lines(n: int) -> list[bytes]:
    import random

    rng = random.Random(3)
    return [b'{"id": "%d", "title": "%032x"}' % (i, rng.getrandbits(128)) for i in range(n)]


@pytest.mark.parametrize("kind", ["zst", "xz", "bz2", "gz"])
def test_truncated_file_yields_every_complete_line_then_a_problem(kind: str) -> None:
    lines_in = _incompressible_lines(60000)
    blob = COMPRESSORS[kind](b"\n".join(lines_in) + b"\n")
    items = list(iter_lines(io.BytesIO(blob[: len(blob) * 2 // 3]), f"cut.{kind}"))
    lines = [i for i in items if isinstance(i, Line)]
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert len(problems) == 1 and problems[0].reason == "truncated_file"
    assert "cut." in problems[0].message() and "truncated" in problems[0].message()
    assert isinstance(items[-1], ReadProblem)
    assert 0 < len(lines) < 60000
    assert [x.data for x in lines] == lines_in[: len(lines)]  # nothing decodable lost or altered


def test_random_bytes_with_a_zstd_header_are_reported_as_corrupt() -> None:
    rng = os.urandom  # content does not matter: any non-frame bytes
    items = list(iter_lines(io.BytesIO(b"\x28\xb5\x2f\xfd" + rng(4096)), "junk.zst"))
    assert len(items) == 1 and items[0].reason in {"corrupt_file", "truncated_file"}


def test_random_bytes_as_plain_text_become_lines_for_the_json_parser() -> None:
    import random

    blob = bytes(random.Random(7).randrange(256) for _ in range(20000))
    items = list(iter_lines(io.BytesIO(blob), "junk.jsonl"))
    # Whatever the bytes, the reader finishes; the JSON parser will reject these lines.
    assert all(isinstance(i, (Line, ReadProblem)) for i in items)


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
@pytest.mark.parametrize("piece", [7, 1000, 1 << 16])
def test_line_length_rule_is_exact_at_the_boundary(
    monkeypatch: pytest.MonkeyPatch, kind: str, piece: int
) -> None:
    """More than MAX_LINE_BYTES bytes (newline excluded) is skipped and reported; exactly
    MAX_LINE_BYTES is kept, whatever the compression and however the bytes are cut up."""
    import pipeline.dumps as dumps

    monkeypatch.setattr(dumps, "MAX_LINE_BYTES", 1000)
    for name in ("PIECE", "OUT_MAX", "ZSTD_PIECE"):
        monkeypatch.setattr(dumps, name, piece)
    at, over = b"a" * 1000, b"b" * 1001
    data = b"first\n" + at + b"\n" + over + b"\n" + b"c" * 5000 + b"\nlast\n" + over
    items = list(dumps.iter_lines(io.BytesIO(COMPRESSORS[kind](data)), "big.jsonl"))
    lines = [i for i in items if isinstance(i, Line)]
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert [(i.number, i.data) for i in lines] == [(1, b"first"), (2, at), (5, b"last")]
    assert [p.reason for p in problems] == ["line_too_long"] * 3
    assert [p.detail.split(":")[0] for p in problems] == ["line 3", "line 4", "line 6"]
    assert all("1,000 bytes" in p.detail for p in problems)
    # An unterminated last line of exactly the limit is kept too.
    items = list(dumps.iter_lines(io.BytesIO(COMPRESSORS[kind](b"x\n" + at)), "end.jsonl"))
    assert [(i.number, i.data) for i in items] == [(1, b"x"), (2, at)]


def test_missing_final_newline_and_blank_lines() -> None:
    items = list(iter_lines(io.BytesIO(b"a\n\n  \nb"), "x"))
    assert [(i.number, i.data) for i in items] == [(1, b"a"), (4, b"b")]
