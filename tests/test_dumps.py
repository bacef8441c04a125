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


def test_overlong_line_is_skipped_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.dumps as dumps

    monkeypatch.setattr(dumps, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(dumps, "CHUNK", 256)
    blob = b"first\n" + b"x" * 5000 + b"\nlast\n"
    items = list(dumps.iter_lines(io.BytesIO(blob), "big.jsonl"))
    assert [i.data for i in items if isinstance(i, Line)] == [b"first", b"last"]
    assert [i.reason for i in items if isinstance(i, ReadProblem)] == ["line_too_long"]
    assert [i.number for i in items if isinstance(i, Line)] == [1, 3]


def test_missing_final_newline_and_blank_lines() -> None:
    items = list(iter_lines(io.BytesIO(b"a\n\n  \nb"), "x"))
    assert [(i.number, i.data) for i in items] == [(1, b"a"), (4, b"b")]
