"""Aggregation of posts into links, and the karma rule.

A URL posted many times is one link. Every post's score is kept so both rules are available:
``max`` (the GPT-2 paper: some post received at least 3 karma) and ``sum`` (OpenWebText2).
The functions here are the pure core of the Beam ``CombineFn`` in beam_jobs/links_job.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.io.stats import StageStats
from pipeline.submissions import UNKNOWN_TIME, Post
from pipeline.urls import url_id

SCORE_RULES = ("max", "sum")


@dataclass
class LinkAggregate:
    url_key: str = ""
    url: str = ""  # the earliest post's normalised URL (deterministic choice among variants)
    domain: str = ""
    post_scores: dict[str, int] = field(default_factory=dict)  # post id -> score
    posts_seen: int = 0  # including repeats of the same post id (dump overlaps)
    subreddits: set[str] = field(default_factory=set)
    # Order key of the post that names the link: the earliest known time, then the post id;
    # posts of unknown time come after every dated one. None until the first post.
    first: tuple[bool, int, str] | None = None
    first_title: str = ""

    def add(self, post: Post) -> LinkAggregate:
        self.posts_seen += 1
        previous = self.post_scores.get(post.post_id)
        if previous is None or post.score > previous:
            self.post_scores[post.post_id] = post.score
        if post.subreddit:
            self.subreddits.add(post.subreddit)
        order = first_key(post)
        if self.first is None or order < self.first:
            self.first = order
            self.url_key = post.url_key
            self.url = post.url
            self.domain = post.domain
            self.first_title = post.title
        return self

    def merge(self, other: LinkAggregate) -> LinkAggregate:
        self.posts_seen += other.posts_seen
        for post_id, score in other.post_scores.items():
            previous = self.post_scores.get(post_id)
            if previous is None or score > previous:
                self.post_scores[post_id] = score
        self.subreddits |= other.subreddits
        if other.first is not None and (self.first is None or other.first < self.first):
            self.first = other.first
            self.url_key, self.url, self.domain = other.url_key, other.url, other.domain
            self.first_title = other.first_title
        return self

    @property
    def first_seen_utc(self) -> int:
        return self.first[1] if self.first is not None else UNKNOWN_TIME

    @property
    def max_score(self) -> int:
        return max(self.post_scores.values(), default=0)

    @property
    def total_score(self) -> int:
        return sum(self.post_scores.values())

    @property
    def num_posts(self) -> int:
        return len(self.post_scores)


def first_key(post: Post) -> tuple[bool, int, str]:
    """Sort key of a post among the posts of one URL: dated posts first, earliest first."""
    return (post.created_utc == UNKNOWN_TIME, post.created_utc, post.post_id)


def aggregate(posts: Iterable[Post]) -> dict[str, LinkAggregate]:
    """Group posts by URL key (the in-memory twin of the Beam CombinePerKey)."""
    links: dict[str, LinkAggregate] = {}
    for post in posts:
        links.setdefault(post.url_key, LinkAggregate()).add(post)
    return links


def passes_score_rule(link: LinkAggregate, min_score: int, rule: str) -> bool:
    if rule == "max":
        return link.max_score >= min_score
    if rule == "sum":
        return link.total_score >= min_score
    raise ValueError(f"unknown score rule {rule!r}; expected one of {SCORE_RULES}")


def select_link(
    link: LinkAggregate, min_score: int, rule: str
) -> tuple[dict[str, Any] | None, StageStats]:
    """Apply the karma rule. Returns the output row (or None) and the accounting of its posts.

    Every post that reached aggregation is accounted for: one becomes the link, the other
    posts of the same URL are ``merged_same_url``, repeats of a post id are ``duplicate_post``.
    """
    stats = StageStats()
    repeats = link.posts_seen - link.num_posts
    if repeats:
        stats.drop("duplicate_post", repeats)
    if not passes_score_rule(link, min_score, rule):
        stats.drop("score_below_min", link.num_posts)
        return None, stats
    if link.num_posts > 1:
        stats.drop("merged_same_url", link.num_posts - 1)
    stats.records_out = 1
    row = {
        "link_id": url_id(link.url_key),
        "url": link.url,
        "url_key": link.url_key,
        "domain": link.domain,
        "max_score": link.max_score,
        "total_score": link.total_score,
        "num_posts": link.num_posts,
        "post_ids": sorted(link.post_scores),
        "subreddits": sorted(link.subreddits),
        "first_seen_utc": link.first_seen_utc,
        "first_title": link.first_title,
    }
    return row, stats
