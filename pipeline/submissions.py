"""Parse one dump line (or one API submission) into a clean :class:`Post`, or a drop reason.

Real dumps from 2005 to 2026 disagree on types: ``created_utc`` may be a string or float,
``score`` may be null, ``url``/``domain``/``subreddit`` may be null or missing, keys come and
go. Repairs that keep the record are counted in ``StageStats.repaired``.

Numbers are checked against ranges before they go anywhere: a score must fit the range Reddit
itself uses (int32; the highest scores ever seen are under a million) and a creation time must
lie between Reddit's founding and the year 9999. A value outside (``1e30``, ``Infinity``, a
20-digit string) is not trusted: the score counts as 0, the time as unknown, and the repair is
counted by name. Strings holding lone UTF-16 surrogates (valid JSON escapes, not valid UTF-8) have
them replaced so every later writer can encode them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pipeline.io.stats import StageStats
from pipeline.link_rules import check_url


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


SCORE_RANGE = (-(2**31), 2**31 - 1)
# 2005-01-01 (Reddit opened in June 2005; a little slack for clock skew) to 9999-12-31.
CREATED_UTC_RANGE = (1_104_537_600, 253_402_300_799)
UNKNOWN_TIME = 0  # created_utc of a post whose time is missing or out of range


def _as_int(value: Any) -> int | None:
    """An integer from a JSON value of any type, or None when it is none (NaN, inf, text)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)  # exact for long digit strings, which float() would round
        except ValueError:
            pass
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    return None


def _in_range(value: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value <= bounds[1]


def clean_text(value: str) -> str:
    """``value`` with lone surrogates (from JSON ``\\ud800`` escapes) replaced by U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


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
    checked = check_url(clean_text(url))
    if isinstance(checked, str):
        stats.drop(checked)
        return None
    if not keep_nsfw and _truthy(record.get("over_18")):
        stats.drop("nsfw")
        return None

    post_id = record.get("id") or record.get("name") or ""
    if isinstance(post_id, int) and not isinstance(post_id, bool):
        post_id = str(post_id)
    if not isinstance(post_id, str):
        post_id = ""  # a list, an object, a float: no usable id
    post_id = clean_text(post_id.strip())
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
    elif not _in_range(score, SCORE_RANGE):
        score = 0
        stats.repaired["score_out_of_range"] += 1
    elif not isinstance(raw_score, int) or isinstance(raw_score, bool):
        stats.repaired["score_not_int"] += 1

    raw_created = record.get("created_utc")
    created = _as_int(raw_created)
    if created is None:
        created = UNKNOWN_TIME
        stats.repaired[
            "created_utc_missing" if raw_created is None else "created_utc_unparsable"
        ] += 1
    elif not _in_range(created, CREATED_UTC_RANGE):
        created = UNKNOWN_TIME
        stats.repaired["created_utc_out_of_range"] += 1
    elif not isinstance(raw_created, int) or isinstance(raw_created, bool):
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
        subreddit=clean_text(subreddit),
        title=clean_text(title),
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
