"""Per-post rules, dump quirks, aggregation and the karma rule (pure functions, no Beam)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.io.stats import StageStats
from pipeline.links import aggregate, passes_score_rule, select_link
from pipeline.submissions import parse_line, post_from_record
from tests.helpers import submission


def _parse(record: dict, keep_nsfw: bool = False) -> tuple[object, StageStats]:
    stats = StageStats()
    post = parse_line(json.dumps(record).encode(), "t.jsonl: line 1", stats, keep_nsfw=keep_nsfw)
    return post, stats


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (submission("a", "https://www.reddit.com/r/x/comments/a/t/", is_self=True), "self_post"),
        (submission("a", "http://example.com/x", domain="self.news"), "self_post"),
        (submission("a", None), "missing_url"),
        (submission("a", "https://www.reddit.com/r/pics/comments/1/x/"), "reddit_link"),
        (submission("a", "https://v.redd.it/abc"), "reddit_link"),
        (submission("a", "https://en.m.wikipedia.org/wiki/X"), "wikipedia"),
        (submission("a", "http://i.imgur.com/x.jpg"), "blocked_domain"),
        (submission("a", "http://example.com/paper.PDF"), "blocked_extension"),
        (submission("a", "http://example.com/x", over_18=True), "nsfw"),
        (submission("a", "javascript:void(0)"), "invalid_url"),
        (submission("", "http://example.com/x"), "missing_id"),
    ],
)
def test_each_rule_drops_with_its_reason(record: dict, reason: str) -> None:
    post, stats = _parse(record)
    assert post is None
    assert stats.dropped == {reason: 1}
    assert stats.records_in == 1


def test_nsfw_can_be_kept() -> None:
    post, _ = _parse(submission("a", "http://example.com/x", over_18=True), keep_nsfw=True)
    assert post is not None


def test_dump_quirks_are_repaired_and_counted() -> None:
    record = submission(
        "b", "http://example.com/a?x=1&amp;y=2", score=None, created_utc="1119999999"
    )
    del record["subreddit"]
    record["brand_new_key"] = {"nested": [1, 2]}
    post, stats = _parse(record)
    assert post is not None
    assert post.score == 0 and post.created_utc == 1119999999 and post.subreddit == ""
    assert post.url == "http://example.com/a?x=1&y=2"
    assert stats.repaired["score_null"] == 1
    assert stats.repaired["created_utc_not_int"] == 1
    assert stats.repaired["subreddit_missing"] == 1
    assert not stats.dropped


def test_malformed_json_names_file_and_line() -> None:
    stats = StageStats()
    assert parse_line(b'{"id": "x", "url": ', "RS_2019-01.zst: line 42", stats) is None
    assert parse_line(b"[1, 2]", "RS_2019-01.zst: line 43", stats) is None
    assert parse_line(b"\xff\xfe\x00", "RS_2019-01.zst: line 44", stats) is None
    assert stats.dropped == {"malformed_json": 3}
    assert stats.error_samples[0].startswith("RS_2019-01.zst: line 42: invalid JSON")


def _posts(*specs: tuple[str, str, int]) -> list:
    stats = StageStats()
    return [post_from_record(submission(pid, url, score), stats) for pid, url, score in specs]


def test_url_variants_aggregate_into_one_link_with_every_score() -> None:
    posts = _posts(
        ("p1", "http://www.site.com/story/", 2),
        ("p2", "https://site.com/story?utm_source=x", 5),
        ("p3", "http://site.com/story", 1),
        ("p1", "http://www.site.com/story/", 2),  # the same post twice (overlapping dumps)
    )
    (link,) = aggregate(posts).values()
    assert (link.max_score, link.total_score, link.num_posts, link.posts_seen) == (5, 8, 3, 4)
    row, stats = select_link(link, 3, "max")
    assert row is not None
    assert row["post_ids"] == ["p1", "p2", "p3"]
    assert row["url"] == "http://www.site.com/story/"  # the earliest post's variant
    assert stats.records_out == 1
    assert stats.dropped == {"merged_same_url": 2, "duplicate_post": 1}


def test_max_and_sum_rules_differ_as_documented() -> None:
    (link,) = aggregate(_posts(("a", "http://s.com/x", 2), ("b", "http://s.com/x", 2))).values()
    assert not passes_score_rule(link, 3, "max")
    assert passes_score_rule(link, 3, "sum")
    row, stats = select_link(link, 3, "max")
    assert row is None and stats.dropped == {"score_below_min": 2}
    with pytest.raises(ValueError, match="unknown score rule"):
        passes_score_rule(link, 3, "median")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(["u1", "u2", "u3"]), st.integers(-5, 10)),
        max_size=40,
    ),
    st.sampled_from(["max", "sum"]),
    st.integers(0, 6),
)
def test_accounting_balances_for_any_posts(specs, rule: str, min_score: int) -> None:
    posts = _posts(*((f"p{i}", f"http://s.com/{u}", s) for i, u, s in specs))
    total = StageStats(records_in=len(posts))
    merged_order = {}
    for key, link in aggregate(posts).items():
        row, stats = select_link(link, min_score, rule)
        total.merge(stats)
        merged_order[key] = row
    total.check_balance()  # every post is a link or a counted drop


def test_merge_is_order_independent() -> None:
    posts = _posts(
        ("a", "http://s.com/x", 1), ("b", "https://s.com/x/", 9), ("c", "http://www.s.com/x", 4)
    )
    from pipeline.links import LinkAggregate

    left = LinkAggregate().add(posts[0]).add(posts[1])
    right = LinkAggregate().add(posts[2])
    a = select_link(LinkAggregate().merge(left).merge(right), 3, "max")[0]
    b = select_link(LinkAggregate().merge(right).merge(left), 3, "max")[0]
    assert a == b


def test_error_samples_are_the_same_whatever_the_bundles() -> None:
    """Each runner splits the input into its own bundles and merges them in its own order:
    the samples kept are the smallest messages, so every split gives the same _stats.json."""
    from pipeline.io.stats import MAX_ERROR_SAMPLES, StageStats

    messages = [f"dump.zst: line {i:03d}: invalid JSON" for i in range(3 * MAX_ERROR_SAMPLES)]
    one = StageStats()
    for m in messages:
        one.error(m)
    for split in (7, 50, 97):
        parts = [StageStats() for _ in range(0, len(messages), split)]
        for i, m in enumerate(reversed(messages)):
            parts[i // split].error(m)
        merged = StageStats()
        for part in reversed(parts):
            merged.merge(part)
        assert merged.error_samples == one.error_samples == sorted(messages)[:MAX_ERROR_SAMPLES]
