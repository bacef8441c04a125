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

from pipeline.io import schemas, shards
from pipeline.urls import normalize_url, url_id


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


def link_row(url: str, score: int = 5) -> dict[str, Any]:
    """A row of the links/ schema for ``url`` (normalised as the links stage does)."""
    norm = normalize_url(url)
    return {
        "link_id": url_id(norm.key),
        "url": norm.url,
        "url_key": norm.key,
        "domain": norm.domain,
        "max_score": score,
        "total_score": score + 1,
        "num_posts": 2,
        "post_ids": ["a", "b"],
        "subreddits": ["news"],
        "first_seen_utc": 1_120_000_000,
        "first_title": "t",
    }


def write_links(directory: Path, urls: list[str]) -> list[dict[str, Any]]:
    """A complete links/ directory (one shard) holding ``urls``; returns its rows."""
    rows = [link_row(u, score=i + 3) for i, u in enumerate(urls)]
    shards.write_shard(str(directory), shards.shard_name(0, 1), rows, schemas.LINKS)
    shards.finish_output(str(directory), {"records_in": len(rows), "records_out": len(rows)})
    return rows


def write_prose_corpus(directory: Path, texts: list[str], n_train: int) -> list[dict[str, Any]]:
    """A complete corpus/ directory in 3 shards: the first ``n_train`` texts in the train
    split, the rest in test; returns the rows in order."""
    rows = [
        doc_record(f"doc{i:04d}", text, host="e.org", subreddits=[], first_seen_utc=0,
                   split="train" if i < n_train else "test")
        for i, text in enumerate(texts)
    ]  # fmt: skip
    for index in range(3):
        shards.write_shard(str(directory), shards.shard_name(index, 3), rows[index::3],
                           schemas.CORPUS)  # fmt: skip
    shards.finish_output(str(directory), {})
    return rows
