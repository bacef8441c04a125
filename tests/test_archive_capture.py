"""Which capture stands for a link (pure rule), CDX answers of both shapes, the options,
and the columnar join choosing exactly what the rule chooses."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.archive.capture import (
    NO_CAPTURE,
    SCRAPE_TIME,
    Capture,
    CdxRow,
    Miss,
    parse_window,
    seconds_timestamp,
    select_capture,
    target_time,
    timestamp_seconds,
)
from pipeline.archive.cdx import CdxFormatError, parse_cdx_json
from pipeline.archive.columnar import captures, join_index, links_table
from pipeline.archive.config import ArchiveConfig
from pipeline.archive.keys import surt_key

YEAR = 365 * 86400
URL = "http://news.example.com/story?hp&ex=1"


def row(ts: str, status: int = 200, mime: str = "text/html", **kw) -> CdxRow:
    return CdxRow(url=kw.pop("url", URL), timestamp=ts, status=status, mime=mime, **kw)


def chosen(rows: list[CdxRow], **kw) -> str:
    pick = select_capture(rows, **({"target": SCRAPE_TIME} | kw))
    assert isinstance(pick, Capture), pick
    return pick.row.timestamp


def test_scrape_picks_the_capture_closest_to_december_2017() -> None:
    rows = [row("20150101000000"), row("20171120000000"), row("20180301000000")]
    assert chosen(rows) == "20171120000000"


def test_post_picks_the_first_capture_after_the_post() -> None:
    post = timestamp_seconds("20160601000000")
    rows = [row("20150101000000"), row("20171120000000"), row("20160701000000")]
    assert chosen(rows, target=target_time("post", post), near="post") == "20160701000000"
    assert target_time("post", None) == SCRAPE_TIME  # unknown post time: the scrape


def test_only_html_200s_and_redirects_count() -> None:
    rows = [
        row("20171201000000", status=404),
        row("20171201000001", mime="application/pdf"),
        row("20171101000000", status=302, redirect="http://news.example.com/b"),
        row("20170101000000"),
    ]
    assert chosen(rows) == "20171101000000"


def test_outside_the_window_is_no_capture() -> None:
    pick = select_capture([row("20120101000000")], target=SCRAPE_TIME, window_s=2 * YEAR)
    assert isinstance(pick, Miss) and pick.reason == NO_CAPTURE
    assert chosen([row("20120101000000")], window_s=6 * YEAR) == "20120101000000"


def test_revisit_resolves_to_the_capture_of_the_same_payload() -> None:
    rows = [
        row("20160101000000", digest="AAA"),
        row("20170101000000", digest="BBB"),
        row("20171201000000", status=0, mime="warc/revisit", digest="AAA"),
    ]
    pick = select_capture(rows, target=SCRAPE_TIME)
    assert isinstance(pick, Capture)
    assert pick.row.timestamp == "20160101000000"  # what is fetched
    assert pick.time == timestamp_seconds("20171201000000")  # when it was seen
    assert pick.revisit_of == "20160101000000"


def test_ties_go_to_the_earlier_capture() -> None:
    before = seconds_timestamp(SCRAPE_TIME - 3600)
    after = seconds_timestamp(SCRAPE_TIME + 3600)
    assert chosen([row(after), row(before)]) == before


@pytest.mark.parametrize(
    ("text", "seconds"), [("2y", 2 * YEAR), ("90d", 90 * 86400), ("12h", 43200), ("60", 60)]
)
def test_window_durations(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="--capture-window 'soon' is not a duration"):
        ArchiveConfig(capture_window="soon")
    with pytest.raises(ValueError, match="--source 'cc,ftp'"):
        ArchiveConfig(source="cc,ftp")
    with pytest.raises(ValueError, match="--capture-near"):
        ArchiveConfig(capture_near="today")
    assert ArchiveConfig(source="cc,wayback,live").sources() == ("cc", "wayback", "live")
    assert ArchiveConfig(cc_index="s3://commoncrawl/cc-index/table/").columnar_index()
    assert not ArchiveConfig().columnar_index()


def test_options_become_flags() -> None:
    import argparse

    from pipeline.io.options import add_options, config_from_args

    parser = argparse.ArgumentParser()
    add_options(parser, ArchiveConfig)
    args = parser.parse_args(
        ["--source", "cc,wayback", "--wayback-url", "http://h:1/c", "--capture-near", "post"]
    )
    config = config_from_args(ArchiveConfig, args)
    assert config.sources() == ("cc", "wayback") and config.capture_near == "post"


def test_cdx_json_of_both_shapes() -> None:
    wayback = (
        '[["urlkey","timestamp","original","mimetype","statuscode","digest","length"],'
        '["com,example)/","20171101000000","http://example.com/","text/html","200","X","10"],'
        '["com,example)/","20171102000000","http://example.com/","warc/revisit","-","X","9"]]'
    )
    rows = parse_cdx_json(wayback)
    assert [(r.timestamp, r.status, r.mime) for r in rows] == [
        ("20171101000000", 200, "text/html"),
        ("20171102000000", 0, "warc/revisit"),
    ]
    lines = (
        '{"urlkey": "com,example)/", "timestamp": "20171101000000", "url": "http://example.com/",'
        ' "mime": "text/html", "mime-detected": "text/html", "status": "301", "redirect": '
        '"http://example.com/b", "filename": "f.warc.gz", "offset": "7", "length": "5"}\n'
    )
    (r,) = parse_cdx_json(lines, crawl="CC-MAIN-2017-51")
    assert (r.status, r.redirect, r.filename, r.offset, r.length) == (
        301, "http://example.com/b", "f.warc.gz", 7, 5
    )  # fmt: skip
    assert parse_cdx_json("") == [] and parse_cdx_json("[]") == []
    with pytest.raises(CdxFormatError, match="line 1 is not JSON"):
        parse_cdx_json("<html>busy</html>")


def test_surt_key_of_the_submitted_url() -> None:
    assert surt_key("http://www.Example.com/a?hp&ex=1") == "com,example)/a?ex=1&hp"


# --- the columnar join chooses what select_capture chooses -----------------------------------

_times = st.integers(SCRAPE_TIME - 4 * YEAR, SCRAPE_TIME + 4 * YEAR)
_rows = st.lists(
    st.tuples(
        st.integers(0, 4),  # which URL
        _times,
        st.sampled_from([200, 200, 200, 301, 404]),
        st.sampled_from(["text/html", "application/pdf", "application/xhtml+xml"]),
    ),
    max_size=25,
)


@settings(max_examples=30, deadline=None)
@given(rows=_rows, near=st.sampled_from(["scrape", "post"]), post=_times)
def test_columnar_join_agrees_with_the_rule(tmp_path_factory, rows, near, post) -> None:
    import pyarrow.parquet as pq

    urls = [f"http://site{i}.example.org/page?id={i}" for i in range(5)]
    index = pa.table(
        {
            "url_surtkey": pa.array([surt_key(urls[u]) for u, *_ in rows], pa.string()),
            "url": pa.array([urls[u] for u, *_ in rows], pa.string()),
            "fetch_time": pa.array([t * 1_000_000 for _, t, _, _ in rows], pa.timestamp("us")),
            "fetch_status": pa.array([s for _, _, s, _ in rows], pa.int16()),
            "content_mime_detected": pa.array([m for *_, m in rows], pa.string()),
            "warc_filename": pa.array([f"f{n}.warc.gz" for n in range(len(rows))], pa.string()),
            "warc_record_offset": pa.array(range(len(rows)), pa.int64()),
            "warc_record_length": pa.array([100] * len(rows), pa.int64()),
            "crawl": pa.array(["CC-MAIN-2017-51"] * len(rows), pa.string()),
        }
    )
    path = tmp_path_factory.mktemp("idx") / "index.parquet"
    pq.write_table(index, path)
    target = target_time(near, post)
    links = links_table((f"L{i}", u, target) for i, u in enumerate(urls))
    joined = captures(join_index(links, str(path), near=near, window_s=2 * YEAR))
    for i, url in enumerate(urls):
        cdx = [
            CdxRow(url, seconds_timestamp(t), s, m, redirect="x" if s == 301 else "")
            for u, t, s, m in rows
            if u == i
        ]
        expected = select_capture(cdx, target=target, near=near, window_s=2 * YEAR)
        if isinstance(expected, Miss):
            assert f"L{i}" not in joined
        else:
            got = joined[f"L{i}"]
            assert (got.time, got.row.status) == (expected.time, expected.row.status)


def test_sources_built_from_the_options(tmp_path) -> None:
    from pipeline.archive.factory import build_sources

    config = ArchiveConfig(source="cc,wayback,live", wayback_url="http://127.0.0.1:9/coll")
    sources = build_sources(config, str(tmp_path))
    assert list(sources) == ["cc", "wayback"]
    assert sources["wayback"].cdx_endpoint == "http://127.0.0.1:9/coll/cdx"
    assert sources["cc"].crawls == ("CC-MAIN-2017-47", "CC-MAIN-2017-51", "CC-MAIN-2018-05")
    assert sources["cc"].cache.directory == tmp_path / "_archive_cache"
    assert sources["cc"].politeness.rate == 4.0
