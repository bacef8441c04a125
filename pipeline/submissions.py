"""Parse one dump line (or one API submission) into a clean :class:`Post`, or a drop reason.

Real dumps from 2005 to 2026 disagree on types: ``created_utc`` may be a string or float,
``score`` may be null, ``url``/``domain``/``subreddit`` may be null or missing, keys come and
go. Repairs that keep the record are counted in ``StageStats.repaired``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.link_rules import check_url
from pipeline.stats import StageStats


@dataclass(frozen=True)
class Post:
    """One submission that passed the per-post rules."""

    post_id: str
    url: str  # normalised
    url_key: str
    domain: str
    score: int
    created_utc: int
    subreddit: str
    title: str


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value else None  # NaN check
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def post_from_record(
    record: dict[str, Any],
    stats: StageStats,
    *,
    keep_nsfw: bool = False,
) -> Post | None:
    """Apply the per-post rules to a decoded submission. Counts the drop or repairs in stats."""
    url = record.get("url")
    domain = record.get("domain") or ""
    if _truthy(record.get("is_self")) or (isinstance(domain, str) and domain.startswith("self.")):
        stats.drop("self_post")
        return None
    if not url or not isinstance(url, str):
        stats.drop("missing_url")
        return None
    checked = check_url(url)
    if isinstance(checked, str):
        stats.drop(checked)
        return None
    if not keep_nsfw and _truthy(record.get("over_18")):
        stats.drop("nsfw")
        return None

    post_id = record.get("id") or record.get("name") or ""
    if not isinstance(post_id, str):
        post_id = str(post_id)
    if post_id.startswith("t3_"):
        post_id = post_id[3:]
    if not post_id:
        stats.drop("missing_id")
        return None

    raw_score = record.get("score")
    score = _as_int(raw_score)
    if score is None:
        score = 0
        stats.repaired["score_null" if raw_score is None else "score_unparsable"] += 1
    elif not isinstance(raw_score, int):
        stats.repaired["score_not_int"] += 1

    raw_created = record.get("created_utc")
    created = _as_int(raw_created)
    if created is None:
        created = 0
        stats.repaired["created_utc_missing"] += 1
    elif not isinstance(raw_created, int):
        stats.repaired["created_utc_not_int"] += 1

    subreddit = record.get("subreddit")
    if not isinstance(subreddit, str) or not subreddit:
        subreddit = ""
        stats.repaired["subreddit_missing"] += 1
    title = record.get("title")
    if not isinstance(title, str):
        title = ""
    if "&" in url and checked.url != url:
        stats.repaired["url_entities_or_tracking"] += 1
    return Post(
        post_id=post_id,
        url=checked.url,
        url_key=checked.key,
        domain=checked.domain,
        score=score,
        created_utc=created,
        subreddit=subreddit,
        title=title,
    )


def parse_line(
    data: bytes, where: str, stats: StageStats, *, keep_nsfw: bool = False
) -> Post | None:
    """Decode one JSON line. ``where`` names the file and line for error messages."""
    stats.records_in += 1
    try:
        record = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        stats.drop("malformed_json")
        stats.error(f"{where}: invalid JSON ({exc})")
        return None
    if not isinstance(record, dict):
        stats.drop("malformed_json")
        stats.error(f"{where}: a JSON {type(record).__name__}, expected an object")
        return None
    return post_from_record(record, stats, keep_nsfw=keep_nsfw)
