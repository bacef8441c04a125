"""Fetch outcomes -> rows of the pages/ schema (pipeline.io.schemas.PAGES)."""

from __future__ import annotations

from typing import Any

from pipeline.fetch.client import FetchOutcome
from pipeline.fetch.content import compress_body

LINK_METADATA_FIELDS = ("max_score", "total_score", "num_posts", "subreddits", "first_seen_utc")
SOURCES = ("live", "cc", "wayback", "warc")


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
        "capture_time": outcome.capture_time,
        "archive_record": outcome.archive_record or None,
        "attempts": list(outcome.attempts) or [attempt_label(source, outcome)],
    }
    for name in LINK_METADATA_FIELDS:
        row[name] = link[name]
    return row


def attempt_label(source: str, outcome: FetchOutcome) -> str:
    """``source:page`` or ``source:<error class>``: one entry of a row's ``attempts``."""
    ok = outcome.error is None and outcome.body is not None
    return f"{source}:{'page' if ok else (outcome.error or 'no_body')}"


def choose_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The one row that stands for a link fetched more than once (a retried Beam bundle wrote
    its ledger file twice, or ``--retry-errors`` fetched an error again). A usable page wins
    over any error; among pages the earliest fetch; among errors the latest fetch (the newest
    attempt says what the link is now). Remaining ties are broken by content, so every rerun
    over the same ledger picks the same row. ``fetched_utc`` has one-second resolution: two
    errors of one link within the same second are told apart by content only."""
    pages = [r for r in rows if r["error"] is None]
    if pages:
        return min(
            pages,
            key=lambda r: (r["fetched_utc"], r["elapsed_ms"], r["final_url"], r["status"]),
        )
    if not rows:
        raise ValueError("choose_row needs at least one row")
    return min(
        rows,
        key=lambda r: (-r["fetched_utc"], r["error"], r["elapsed_ms"], r["final_url"], r["status"]),
    )


def was_retried(rows: list[dict[str, Any]]) -> bool:
    """True when a link's ledger rows show it fetched again after an error: more than one row
    and at least one of them an error. Counted over the whole ledger, so the figure is the same
    whichever run (or killed run and its resume) did the retrying."""
    return len(rows) > 1 and any(r["error"] is not None for r in rows)
