"""Small builders shared by tests (no fixtures here, plain functions)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from pathlib import Path
from typing import Any

import zstandard


def submission(
    post_id: str, url: str | None, score: int | None = 10, **extra: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": post_id,
        "url": url,
        "domain": (url.split("/")[2] if url and "://" in url else None),
        "score": score,
        "is_self": False,
        "over_18": False,
        "created_utc": 1_500_000_000 + int(post_id, 36) if post_id.isalnum() else 0,
        "subreddit": "news",
        "title": f"title {post_id}",
    }
    record.update(extra)
    return record


def zstd_long_window(data: bytes) -> bytes:
    """Compress like the Pushshift dumps: window_log=31 declared in the frame header."""
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    buf = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(buf, closefd=False) as w:
        w.write(data)
    return buf.getvalue()


COMPRESSORS = {
    "zst": zstd_long_window,
    "xz": lzma.compress,
    "bz2": bz2.compress,
    "gz": gzip.compress,
    "jsonl": lambda data: data,
}


def write_dump(path: Path, lines: list[dict[str, Any] | str], kind: str | None = None) -> Path:
    """Write records (dicts become JSON, strings are written verbatim) compressed by suffix."""
    raw = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines).encode()
    kind = kind or path.suffix.lstrip(".")
    path.write_bytes(COMPRESSORS[kind](raw))
    return path


def doc_record(
    doc_id: str, text: str, *, host: str = "example.org", path: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A row of the docs/ schema (add ``split=`` for corpus/); ``fields`` override defaults."""
    url = f"https://{host}/{path if path is not None else doc_id}"
    row: dict[str, Any] = {
        "doc_id": doc_id,
        "url": url,
        "final_url": url,
        "domain": host,
        "title": None,
        "text": text,
        "n_chars": len(text),
        "max_score": 3,
        "total_score": 3,
        "num_posts": 1,
        "subreddits": ["news"],
        "first_seen_utc": 1_120_000_000,
    }
    row.update(fields)
    return row
