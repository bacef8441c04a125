"""Every value a dump line can hold, in range or not: the line is kept or dropped by name, and
no output row is empty, duplicated or unwritable (issue 12, items 1 and 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from beam_jobs.links_job import LinksConfig, run_links
from pipeline.io import schemas, shards
from pipeline.io.stats import StageStats
from pipeline.links import aggregate, select_link
from pipeline.submissions import CREATED_UTC_RANGE, SCORE_RANGE, UNKNOWN_TIME, parse_line

# Written as raw JSON text: Python's json module would not produce some of these spellings.
OUT_OF_RANGE_TIMES = ["1e30", "1000000000000000000000000000000", '"99999999999999999999"', "1e300"]
OUT_OF_RANGE_SCORES = ["1000000000000000000000000000000", "9223372036854775808", '"1e30"',
                       "1e300", "Infinity", "-Infinity", "NaN"]  # fmt: skip


def _line(post_id: str, url: str, score: str = "5", created: str = "1500000000") -> str:
    return (
        f'{{"id": "{post_id}", "url": "{url}", "score": {score}, "created_utc": {created}, '
        f'"subreddit": "news", "title": "t", "is_self": false, "over_18": false}}'
    )


def test_out_of_range_values_neither_corrupt_rows_nor_kill_the_job(tmp_path: Path) -> None:
    lines = [_line(f"t{i}", f"http://time{i}.example.com/a", created=v)
             for i, v in enumerate(OUT_OF_RANGE_TIMES)]  # fmt: skip
    lines += [_line(f"s{i}", f"http://score{i}.example.com/a", score=v)
              for i, v in enumerate(OUT_OF_RANGE_SCORES)]  # fmt: skip
    # The same URL dated by one post and undated by another: the dated post names the link.
    lines += [_line("u1", "http://both.example.com/a", created="1e30"),
              _line("u2", "http://both.example.com/a", created="1200000000")]  # fmt: skip
    (tmp_path / "odd.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "links"
    run_links(LinksConfig(inputs=[str(tmp_path / "odd.jsonl")], out_dir=str(out)))

    rows = {r["url"]: r for r in shards.read_rows(str(out), schemas.LINKS)}
    stats = shards.read_stats(str(out))
    # Undated posts keep their link, with the time unknown (0).
    for i in range(len(OUT_OF_RANGE_TIMES)):
        row = rows[f"http://time{i}.example.com/a"]
        assert row["first_seen_utc"] == UNKNOWN_TIME and row["max_score"] == 5
    assert rows["http://both.example.com/a"]["first_seen_utc"] == 1200000000
    # An untrusted score counts as 0: below the karma rule, dropped by name.
    assert not any(u.startswith("http://score") for u in rows)
    assert stats["dropped"]["score_below_min"] == len(OUT_OF_RANGE_SCORES)
    repaired = stats["repaired"]
    assert repaired["created_utc_out_of_range"] == len(OUT_OF_RANGE_TIMES) + 1  # and u1
    assert repaired["score_out_of_range"] == 4 and repaired["score_unparsable"] == 3
    assert all(r["url"] and r["url_key"] and r["domain"] for r in rows.values())
    assert len({r["link_id"] for r in rows.values()}) == len(rows)
    assert stats["records_in"] == len(lines)
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())


# The keys of a real Pushshift submission (RS_v2_2005-07), plus the id alias of API records.
PUSHSHIFT_KEYS = [
    "archived",
    "author",
    "author_flair_background_color",
    "author_flair_css_class",
    "author_flair_richtext",
    "author_flair_text",
    "author_flair_text_color",
    "author_flair_type",
    "brand_safe",
    "can_gild",
    "contest_mode",
    "created_utc",
    "distinguished",
    "domain",
    "edited",
    "gilded",
    "hidden",
    "hide_score",
    "id",
    "is_crosspostable",
    "is_reddit_media_domain",
    "is_self",
    "is_video",
    "link_flair_css_class",
    "link_flair_richtext",
    "link_flair_text",
    "link_flair_text_color",
    "link_flair_type",
    "locked",
    "media",
    "media_embed",
    "no_follow",
    "num_comments",
    "num_crossposts",
    "over_18",
    "parent_whitelist_status",
    "permalink",
    "rte_mode",
    "score",
    "secure_media",
    "secure_media_embed",
    "selftext",
    "send_replies",
    "spoiler",
    "stickied",
    "subreddit",
    "subreddit_id",
    "subreddit_name_prefixed",
    "subreddit_type",
    "suggested_sort",
    "thumbnail",
    "thumbnail_height",
    "thumbnail_width",
    "title",
    "url",
    "whitelist_status",
    "name",
]
assert len(PUSHSHIFT_KEYS) == 57

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)  # lone surrogates included
    | st.sampled_from(["http://example.com/x", "https://www.news.example.org/a?utm_source=r",
                       "1500000000", "99999999999999999999", "1e30", "t3_abc", " 7 ", "Infinity"])
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_records = st.dictionaries(st.sampled_from(PUSHSHIFT_KEYS), _values, max_size=len(PUSHSHIFT_KEYS))
# Records that reach the link rules: a plausible id and URL, the other keys anything.
_linkish = st.tuples(
    _records,
    st.sampled_from(["a1", "a2", "b7", "t3_zz", 12345]),
    st.sampled_from(
        ["http://example.com/x", "http://EXAMPLE.com/x/", "https://news.example.org/a"]
    ),
).map(lambda t: t[0] | {"id": t[1], "url": t[2], "is_self": False, "over_18": False})


def _encode(record: dict) -> bytes:
    return json.dumps(record, allow_nan=True, ensure_ascii=True).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_records, _linkish), max_size=12))
def test_fuzzed_dump_lines_are_kept_or_dropped_by_name(records: list[dict]) -> None:
    stats = StageStats()
    posts = []
    for i, record in enumerate(records):
        post = parse_line(_encode(record), f"fuzz.jsonl: line {i + 1}", stats)
        if post is not None:
            assert post.url and post.url_key and post.domain and post.post_id
            assert SCORE_RANGE[0] <= post.score <= SCORE_RANGE[1]
            assert post.created_utc == UNKNOWN_TIME or (
                CREATED_UTC_RANGE[0] <= post.created_utc <= CREATED_UTC_RANGE[1]
            )
            posts.append(post)
    assert stats.records_in == len(records) == len(posts) + sum(stats.dropped.values())

    rows, out = [], StageStats()
    for link in aggregate(posts).values():
        row, link_stats = select_link(link, 3, "max")
        out.merge(link_stats)
        if row is not None:
            rows.append(row)
    assert len(posts) == out.records_out + sum(out.dropped.values())
    assert all(r["url"] and r["url_key"] and r["domain"] for r in rows)
    assert len({r["link_id"] for r in rows}) == len(rows)
    pa.Table.from_pylist(rows, schema=schemas.LINKS)  # every value fits its column
