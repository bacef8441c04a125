"""Damaged dumps keep every line decodable before the damage, then one problem record.

Each dump is several MB of generated submission-like JSON lines (random words and hex, so it
compresses only ~3x and the damage lies MBs deep in the stream, past any 1 MiB read). What is
recoverable is computed independently of pipeline/dumps.py: a fresh decompressor fed the
intact prefix in one call and then the rest one byte at a time, stopped where its output
stops matching the original. The complete original lines inside that matching output are the
"intact leading lines"; the reader must yield all of them, byte-identical and in order.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import random
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
import zstandard

import pipeline.dumps as dumps
from pipeline.dumps import Line, ReadProblem, iter_lines
from tests.helpers import COMPRESSORS

KINDS = ["zst", "xz", "bz2", "gz"]
FLIPPED = 64


def _submission_lines(n_bytes: int, seed: int = 5) -> list[bytes]:
    rng = random.Random(seed)
    letters = b"abcdefghijklmnopqrstuvwxyz"
    words = [bytes(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(3000)]
    lines: list[bytes] = []
    size = 0
    while size < n_bytes:
        title = b" ".join(rng.choices(words, k=rng.randint(4, 30)))
        line = (
            b'{"id": "%x", "url": "https://%s.example.com/%x", "score": %d, "title": "%s", '
            b'"nonce": "%032x"}'
            % (
                len(lines) * 7919,
                rng.choice(words),
                rng.getrandbits(48),
                rng.randint(0, 5000),
                title,
                rng.getrandbits(128),
            )
        )
        lines.append(line)
        size += len(line) + 1
    return lines


@pytest.fixture(scope="module")
def lines_in() -> list[bytes]:
    return _submission_lines(5 << 20)


@pytest.fixture(scope="module")
def original(lines_in: list[bytes]) -> bytes:
    return b"\n".join(lines_in) + b"\n"


@pytest.fixture(scope="module")
def blobs(original: bytes) -> dict[str, bytes]:
    return {kind: COMPRESSORS[kind](original) for kind in KINDS}


def _fresh_decompressor(kind: str):
    if kind == "zst":
        return zstandard.ZstdDecompressor(max_window_size=2**31).decompressobj()
    if kind == "xz":
        return lzma.LZMADecompressor()
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return zlib.decompressobj(wbits=31)


def _intact_prefix(kind: str, blob: bytes, intact_until: int, original: bytes) -> int:
    """How many leading bytes of ``original`` a decompressor fed byte by byte reproduces."""
    dec = _fresh_decompressor(kind)
    out = bytearray(dec.decompress(blob[:intact_until]))  # undamaged input: cannot fail
    assert original.startswith(out)
    for i in range(intact_until, len(blob)):
        try:
            piece = dec.decompress(blob[i : i + 1])
        except (zstandard.ZstdError, lzma.LZMAError, OSError, EOFError, zlib.error):
            break
        if not original.startswith(piece, len(out)):
            # Output diverged (undetected damage): the common prefix ends inside this piece.
            same = len(os.path.commonprefix([piece, original[len(out) : len(out) + len(piece)]]))
            return len(out) + same
        out += piece
    return len(out)


def _split(items: list[Line | ReadProblem]) -> tuple[list[Line], ReadProblem]:
    assert items, "the reader yielded nothing"
    *lines, last = items
    assert all(isinstance(x, Line) for x in lines), [x for x in lines if not isinstance(x, Line)]
    assert isinstance(last, ReadProblem), "a damaged file must end with one problem record"
    return lines, last  # type: ignore[return-value]


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_at_half_keeps_every_decodable_line(
    kind: str, blobs: dict[str, bytes], lines_in: list[bytes], original: bytes
) -> None:
    blob = blobs[kind]
    cut = len(blob) // 2
    damaged = blob[:cut]
    decodable = _intact_prefix(kind, damaged, max(0, cut - (64 << 10)), original)
    recoverable = original[:decodable].count(b"\n")
    assert recoverable > len(lines_in) // 4  # the cut is MBs deep in the stream

    lines, problem = _split(list(iter_lines(io.BytesIO(damaged), f"cut.{kind}")))
    assert [x.data for x in lines] == lines_in[:recoverable]  # all of them, nothing else
    assert [x.number for x in lines] == list(range(1, recoverable + 1))
    assert problem.reason == "truncated_file"
    assert problem.source == f"cut.{kind}" and f"cut.{kind}:" in problem.message()
    assert problem.offset == cut and f"{cut:,}" in problem.detail
    assert (
        problem.lines_before == recoverable and f"{recoverable:,} complete lines" in problem.detail
    )
    assert problem.bytes_out == decodable  # every decodable byte went through the reader


@pytest.mark.parametrize("kind", KINDS)
def test_flipped_bytes_mid_file_keep_every_intact_leading_line(
    kind: str, blobs: dict[str, bytes], lines_in: list[bytes], original: bytes
) -> None:
    blob = blobs[kind]
    damage = len(blob) // 2
    damaged = bytearray(blob)
    rng = random.Random(11)
    for i in range(damage, damage + FLIPPED):
        damaged[i] ^= rng.randrange(1, 256)
    damaged = bytes(damaged)
    intact = original[: _intact_prefix(kind, damaged, damage, original)].count(b"\n")
    assert intact > len(lines_in) // 4

    lines, problem = _split(list(iter_lines(io.BytesIO(damaged), f"flip.{kind}")))
    # By design the reader may lose up to dumps.OUT_MAX decoded bytes before the point where
    # the decoder notices the damage; here xz notices 2.6 KB after it, so nothing is lost.
    assert [x.data for x in lines[:intact]] == lines_in[:intact]
    # Lines after those are what the decoder produced between the damage and the point it
    # noticed (xz, gzip: garbage up to a check); the JSON parser rejects and counts them.
    assert problem.reason == "corrupt_file"
    assert problem.source == f"flip.{kind}" and f"flip.{kind}:" in problem.message()
    assert problem.offset is not None and damage <= problem.offset <= len(damaged)
    assert f"{problem.offset:,}" in problem.detail
    assert problem.lines_before == len(lines) >= intact


def test_real_dump_cut_in_half_keeps_what_xz_recovers(shared_file, tmp_path: Path) -> None:
    blob = shared_file("reddit", "RS_v2_2005-07.xz").read_bytes()
    half = tmp_path / "RS_v2_2005-07-half.xz"
    half.write_bytes(blob[: len(blob) // 2])
    if shutil.which("xz"):
        run = subprocess.run(["xz", "-dc", str(half)], capture_output=True, check=False)
        assert run.returncode != 0  # xz says it is truncated, after writing what it could
        recovered = run.stdout
    else:
        dec = lzma.LZMADecompressor()
        recovered = b"".join(
            dec.decompress(half.read_bytes()[i : i + 1]) for i in range(len(blob) // 2)
        )
    expected = [x.strip() for x in recovered.split(b"\n")[:-1] if x.strip()]
    assert len(expected) == 486  # measured with xz 5.x on this file

    with half.open("rb") as f:
        lines, problem = _split(list(iter_lines(f, str(half))))
    assert [x.data for x in lines] == expected
    assert problem.reason == "truncated_file" and str(half) in problem.message()
    assert problem.offset == half.stat().st_size and problem.lines_before == 486


@pytest.mark.parametrize("kind", ["xz", "bz2", "gz"])
def test_concatenated_streams_and_padding_are_read_across(kind: str) -> None:
    blob = COMPRESSORS[kind](b"a\nb\n") + b"\0" * 8 + COMPRESSORS[kind](b"c\n")
    assert [x.data for x in iter_lines(io.BytesIO(blob), "multi")] == [b"a", b"b", b"c"]


@pytest.mark.parametrize("kind", KINDS)
def test_trailing_garbage_is_reported_after_all_lines(kind: str) -> None:
    blob = COMPRESSORS[kind](b"a\nb\n")
    items = list(iter_lines(io.BytesIO(blob + b"not a stream"), f"tail.{kind}"))
    lines, problem = _split(items)
    assert [x.data for x in lines] == [b"a", b"b"]
    assert problem.reason == "corrupt_file" and problem.lines_before == 2


@pytest.mark.parametrize("kind", ["xz", "bz2", "gz"])
def test_decompression_bomb_comes_out_in_bounded_pieces(kind: str) -> None:
    bomb = COMPRESSORS[kind](b"\0" * (32 << 20))
    assert len(bomb) < 64 << 10
    sizes = [
        len(c) for c in dumps.decompressed_chunks(io.BytesIO(bomb), dumps.sniff_compression(bomb))
    ]
    assert sum(sizes) == 32 << 20 and max(sizes) <= dumps.OUT_MAX


def test_zstd_bomb_comes_out_in_bounded_pieces() -> None:
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (256 << 20))
    sizes = [len(c) for c in dumps.decompressed_chunks(io.BytesIO(bomb), "zstd")]
    # A zstd block is >= 4 compressed bytes for <= 128 KiB of output.
    assert sum(sizes) == 256 << 20 and max(sizes) <= dumps.ZSTD_PIECE // 4 * (128 << 10)
