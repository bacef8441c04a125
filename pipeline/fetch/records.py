"""Fetch outcomes -> rows of the pages/ schema (pipeline.schemas.PAGES)."""

from __future__ import annotations

from typing import Any

from pipeline.fetch.client import FetchOutcome
from pipeline.fetch.content import compress_body

LINK_METADATA_FIELDS = ("max_score", "total_score", "num_posts", "subreddits", "first_seen_utc")
SOURCES = ("live", "warc")


def page_row(
    link: dict[str, Any], outcome: FetchOutcome, *, source: str, fetched_utc: int
) -> dict[str, Any]:
    """One pages/ row for a link (a LINKS row) and what fetching it gave."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    ok = outcome.error is None and outcome.body is not None
    row: dict[str, Any] = {
        "link_id": link["link_id"],
        "url": link["url"],
        "domain": link["domain"],
        "final_url": outcome.final_url,
        "status": int(outcome.status),
        "content_type": outcome.content_type,
        "charset": outcome.charset if ok else None,
        "headers": dict(outcome.headers),
        "body": compress_body(outcome.body) if ok and outcome.body is not None else None,
        "body_bytes": len(outcome.body) if ok and outcome.body is not None else 0,
        "error": None if ok else (outcome.error or "no_body"),
        "elapsed_ms": int(outcome.elapsed_ms),
        "redirects": int(outcome.redirects),
        "retries": int(outcome.retries),
        "source": source,
        "fetched_utc": int(fetched_utc),
    }
    for name in LINK_METADATA_FIELDS:
        row[name] = link[name]
    return row


def choose_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """When a link was fetched twice (a retried Beam bundle wrote its ledger file twice),
    keep one row, chosen by content so every rerun picks the same: a usable page over an
    error, then the earliest fetch."""
    return min(
        rows,
        key=lambda r: (
            r["error"] is not None,
            r["fetched_utc"],
            r["elapsed_ms"],
            r["final_url"],
            r["status"],
        ),
    )
