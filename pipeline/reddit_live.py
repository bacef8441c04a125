"""Submissions from the live Reddit API through praw.

An input of the form ``reddit:SUB[+SUB...][?listing=new|top|hot|rising|controversial
&time=all|year|month|week|day|hour&limit=N]`` reads a subreddit listing. Credentials come from
praw's usual places (``praw_client_id`` / ``praw_client_secret`` environment variables or a
``praw.ini`` site chosen with ``--reddit-site``) and are never logged.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

LISTINGS = ("new", "top", "hot", "rising", "controversial")
TIME_FILTERS = ("all", "year", "month", "week", "day", "hour")
PREFIX = "reddit:"
DEFAULT_USER_AGENT = "webtext-links/0.1 (corpus research; +https://pypi.org/project/praw/)"


class RedditSpecError(ValueError):
    pass


@dataclass(frozen=True)
class ListingSpec:
    subreddits: str  # "python+programming"
    listing: str = "new"
    time_filter: str = "all"
    limit: int | None = 1000

    def describe(self) -> str:
        return (
            f"reddit:{self.subreddits}?listing={self.listing}&time={self.time_filter}"
            f"&limit={self.limit if self.limit is not None else 'none'}"
        )


def is_reddit_spec(text: str) -> bool:
    return text.startswith(PREFIX)


def parse_spec(text: str) -> ListingSpec:
    """Parse ``reddit:SUBS?listing=...&time=...&limit=...``; errors name the bad part."""
    if not is_reddit_spec(text):
        raise RedditSpecError(f"{text!r}: a live Reddit input starts with {PREFIX!r}")
    body = text[len(PREFIX) :]
    subs, _, query = body.partition("?")
    subs = subs.strip().removeprefix("r/")
    if not subs or any(not part.replace("_", "").isalnum() for part in subs.split("+")):
        raise RedditSpecError(f"{text!r}: expected subreddit names joined by '+', got {subs!r}")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(params) - {"listing", "time", "limit"}
    if unknown:
        raise RedditSpecError(f"{text!r}: unknown parameter(s) {sorted(unknown)}")
    listing = params.get("listing", "new")
    if listing not in LISTINGS:
        raise RedditSpecError(f"{text!r}: listing {listing!r} is not one of {LISTINGS}")
    time_filter = params.get("time", "all")
    if time_filter not in TIME_FILTERS:
        raise RedditSpecError(f"{text!r}: time {time_filter!r} is not one of {TIME_FILTERS}")
    raw_limit = params.get("limit", "1000")
    if raw_limit.lower() == "none":
        limit = None
    else:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise RedditSpecError(f"{text!r}: limit {raw_limit!r} is not a number") from None
        if limit <= 0:
            raise RedditSpecError(f"{text!r}: limit must be positive")
    return ListingSpec(subs, listing, time_filter, limit)


def make_reddit(site: str | None = None, **overrides: Any) -> Any:
    """A read-only praw.Reddit. ``overrides`` may set oauth_url/reddit_url (tests, proxies)."""
    import praw  # imported here: the dump path does not need it

    kwargs: dict[str, Any] = {"check_for_async": False}
    if not os.environ.get("praw_user_agent"):  # noqa: SIM112 (praw reads lower-case names)
        kwargs["user_agent"] = DEFAULT_USER_AGENT
    kwargs.update(overrides)
    try:
        reddit = praw.Reddit(site or "DEFAULT", **kwargs)
    except configparser.NoSectionError:
        raise RedditSpecError(
            f"praw.ini has no site [{site}] (looked in the working directory, the user config "
            "folder and praw's package)"
        ) from None
    reddit.read_only = True
    return reddit


def submission_record(submission: Any) -> dict[str, Any]:
    """A praw Submission as a dict in the dump schema (the fields the link rules read).

    Reads the attributes the listing already delivered (``vars``): touching a missing one
    through praw would trigger a separate API request per submission.
    """
    data = vars(submission)
    subreddit = data.get("subreddit")
    return {
        "id": data.get("id"),
        "url": data.get("url"),
        "domain": data.get("domain"),
        "score": data.get("score"),
        "is_self": data.get("is_self"),
        "over_18": data.get("over_18"),
        "created_utc": data.get("created_utc"),
        "subreddit": getattr(subreddit, "display_name", subreddit),
        "title": data.get("title"),
        "permalink": data.get("permalink"),
    }


def iter_listing(reddit: Any, spec: ListingSpec) -> Iterator[dict[str, Any]]:
    """Stream submissions of one listing as dump-schema dicts (praw pages through it)."""
    subreddit = reddit.subreddit(spec.subreddits)
    if spec.listing in ("top", "controversial"):
        items = getattr(subreddit, spec.listing)(time_filter=spec.time_filter, limit=spec.limit)
    else:
        items = getattr(subreddit, spec.listing)(limit=spec.limit)
    for submission in items:
        yield submission_record(submission)
