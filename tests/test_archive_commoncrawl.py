"""Common Crawl on 127.0.0.1: a CDX index server and WARC files served by Range, written by
the test (tests/archive_servers.py); the columnar index written from the same WARCs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.archive.cache import IndexCache
from pipeline.archive.capture import timestamp_seconds
from pipeline.archive.columnar import (
    attach,
    capture_of,
    captures,
    join_index,
    join_positions,
    links_table,
    position_table,
)
from pipeline.archive.commoncrawl import ColumnarCommonCrawlSource, CommonCrawlSource
from pipeline.archive.politeness import Politeness
from pipeline.archive.resolve import ArchiveFetcher
from pipeline.archive.sources import ArchiveOutcome
from tests.archive_servers import Capture, CommonCrawlServer, write_index_table, write_warc

CRAWL = "CC-MAIN-2017-51"
STORY = "http://www.news.example.com/cgi-bin/getarticle.pl5?nn20050703a2.htm"
FAST = Politeness(concurrency=4, rate=0, max_retries=2, backoff_s=0.05, max_retry_after_s=5)


def page(text: str) -> bytes:
    return f"<html><head><title>{text}</title></head><body><p>{text}</p></body></html>".encode()


CAPTURES = [
    Capture(STORY, "20150301000000", page("story 2015")),
    Capture(STORY, "20171115000000", page("story november 2017")),
    Capture(STORY, "20190601000000", page("story 2019")),
    Capture("http://old.example.com/a", "20171110000000", status=301,
            location="http://new.example.com/a"),
    Capture("http://new.example.com/a", "20171110000005", page("moved story")),
    Capture("http://gone.example.com/w", "20171020000000", status=302,
            location="https://en.wikipedia.org/wiki/Example"),
    Capture("https://en.wikipedia.org/wiki/Example", "20171020000001", page("wikipedia")),
    Capture("http://img.example.com/", "20171105000000", page("not html"), mime="image/png"),
    Capture("http://same.example.com/", "20160101000000", page("unchanged since 2016")),
    Capture("http://same.example.com/", "20171130000000", revisit_of="20160101000000"),
]  # fmt: skip


@pytest.fixture(scope="module")
def cc(tmp_path_factory):
    root = tmp_path_factory.mktemp("cc")
    data = root / "data"
    data.mkdir()
    entries = write_warc(data / "CC-MAIN-a.warc.gz", CAPTURES)
    # An uncompressed record whose body is altered after writing: the digest no longer holds.
    bad = write_warc(data / "CC-MAIN-b.warc", [Capture("http://bad.example.com/", "20171101000000",
                                                        page("original words"))], gzip=False)  # fmt: skip
    raw = (data / "CC-MAIN-b.warc").read_bytes()
    (data / "CC-MAIN-b.warc").write_bytes(raw.replace(b"original words", b"altered words!"))
    # A gzip member with a byte flipped in the middle: not a readable record any more.
    broken = write_warc(data / "CC-MAIN-c.warc.gz", [Capture("http://broken.example.com/",
                                                              "20171101000000", page("x" * 400))])  # fmt: skip
    raw = bytearray((data / "CC-MAIN-c.warc.gz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (data / "CC-MAIN-c.warc.gz").write_bytes(bytes(raw))
    all_entries = {CRAWL: entries + bad + broken}
    server = CommonCrawlServer(data, all_entries).start()
    server.index_table = write_index_table(root / "index.parquet", all_entries)
    yield server
    server.stop()


def fetch(server: CommonCrawlServer, urls, cache_dir: Path | None = None, **kw):
    async def run() -> tuple[list[ArchiveOutcome], ArchiveFetcher, CommonCrawlSource]:
        source = CommonCrawlSource(
            server.url, server.url + "/data", (CRAWL,), politeness=FAST,
            cache=IndexCache(cache_dir),
        )  # fmt: skip
        async with source:
            fetcher = ArchiveFetcher(source, **kw)
            outs = await asyncio.gather(*(fetcher.get(u) for u in urls))
        return list(outs), fetcher, source

    return asyncio.run(run())


def test_the_capture_closest_to_the_scrape_is_read_by_range(cc) -> None:
    (out,), fetcher, _ = fetch(cc, [STORY])
    assert out.error is None, out.message
    assert b"story november 2017" in out.body
    assert out.capture_time == timestamp_seconds("20171115000000")
    assert out.archive_record.startswith(f"{CRAWL}:CC-MAIN-a.warc.gz:")
    assert out.digest_ok is True and out.source == "cc"
    assert fetcher.counts == {"page": 1}


def test_post_mode_takes_the_first_capture_after_the_post(cc) -> None:
    async def run():
        source = CommonCrawlSource(cc.url, cc.url + "/data", (CRAWL,), politeness=FAST)
        async with source:
            fetcher = ArchiveFetcher(source, near="post", window_s=10 * 365 * 86400)
            return await fetcher.get(STORY, post_time=timestamp_seconds("20050703000000"))

    out = asyncio.run(run())
    assert b"story 2015" in out.body


def test_redirect_followed_inside_the_archive(cc) -> None:
    (out,), _, _ = fetch(cc, ["http://old.example.com/a"])
    assert out.error is None, out.message
    assert out.final_url == "http://new.example.com/a" and out.redirects == 1
    assert out.hops == [("http://old.example.com/a", 301, "http://new.example.com/a")]
    assert b"moved story" in out.body


def test_a_redirect_to_wikipedia_ends_as_redirect_wikipedia(cc) -> None:
    (out,), fetcher, _ = fetch(cc, ["http://gone.example.com/w"])
    assert out.error == "redirect_wikipedia"
    assert out.final_url == "https://en.wikipedia.org/wiki/Example" and out.body is None
    assert fetcher.counts == {"redirect_wikipedia": 1}


def test_digest_mismatch_is_archive_corrupt(cc) -> None:
    (out,), fetcher, _ = fetch(cc, ["http://bad.example.com/"])
    assert out.error == "archive_corrupt"
    assert "digest mismatch" in out.message
    assert fetcher.counts == {"archive_corrupt": 1}


def test_a_damaged_gzip_member_is_archive_corrupt(cc) -> None:
    (out,), _, _ = fetch(cc, ["http://broken.example.com/"])
    assert out.error == "archive_corrupt"


def test_a_revisit_is_read_from_the_record_it_points_at(cc) -> None:
    (out,), _, _ = fetch(cc, ["http://same.example.com/"])
    assert out.error is None, out.message
    assert b"unchanged since 2016" in out.body
    assert out.capture_time == timestamp_seconds("20171130000000")  # seen then
    assert out.digest_ok is True


def test_unknown_url_and_non_html_are_no_capture(cc) -> None:
    outs, fetcher, _ = fetch(cc, ["http://never.example.com/", "http://img.example.com/"])
    assert [o.error for o in outs] == ["no_capture", "no_capture"]
    assert fetcher.counts == {"no_capture": 2}


def test_429_with_retry_after_pauses_and_retries(cc) -> None:
    cc.requests.clear()
    cc.fail["index"] = [(429, {"Retry-After": "1"})]
    (out,), _, source = fetch(cc, [STORY])
    assert out.error is None, out.message
    assert source.http.gate.waits == 1 and source.http.retries == 1
    assert cc.requests["index"] == 2  # the 429, then the answer


def test_an_archive_that_keeps_failing_is_archive_unavailable(cc) -> None:
    cc.fail["index"] = [(503, {})] * 3
    (out,), fetcher, _ = fetch(cc, [STORY])
    assert out.error == "archive_unavailable" and "HTTP 503" in out.message
    assert fetcher.counts == {"archive_unavailable": 1}
    cc.fail.clear()


def test_a_retry_after_beyond_the_cap_gives_up_at_once(cc) -> None:
    cc.requests.clear()
    cc.fail["index"] = [(429, {"Retry-After": "3600"})]
    (out,), _, _ = fetch(cc, [STORY])
    assert out.error == "archive_unavailable"
    assert cc.requests["index"] == 1
    cc.fail.clear()


def test_a_rerun_asks_the_index_nothing(cc, tmp_path) -> None:
    urls = [STORY, "http://old.example.com/a", "http://never.example.com/"]
    cc.requests.clear()
    first, _, _ = fetch(cc, urls, cache_dir=tmp_path)
    asked = cc.requests["index"]
    assert asked == 4  # story, old, its target new, never (a 404 is an answer too)
    cc.requests.clear()
    second, _, source = fetch(cc, urls, cache_dir=tmp_path)
    assert cc.requests["index"] == 0
    assert source.cache.hits == 4
    assert [o.body for o in second] == [o.body for o in first]


def test_columnar_index_join_then_range_fetch(cc) -> None:
    links = links_table(
        [("s", STORY, timestamp_seconds("20171201000000")),
         ("o", "http://old.example.com/a", timestamp_seconds("20171201000000")),
         ("n", "http://never.example.com/", timestamp_seconds("20171201000000"))]
    )  # fmt: skip
    chosen = captures(join_index(links, str(cc.index_table), crawls=(CRAWL,)))
    assert set(chosen) == {"s", "o"}
    assert chosen["s"].time == timestamp_seconds("20171115000000")
    assert chosen["o"].row.status == 301 and chosen["o"].row.redirect == "http://new.example.com/a"

    async def run():
        source = CommonCrawlSource(cc.url, cc.url + "/data", (CRAWL,), politeness=FAST)
        async with source:
            return await source.fetch(chosen["s"])

    response = asyncio.run(run())
    assert response.status == 200 and b"story november 2017" in response.body
    assert response.digest_ok is True


def test_an_index_answer_that_is_not_cdx_is_archive_bad_index(cc) -> None:
    cc.fail["index"] = [(200, {})]  # a 200 whose body is a sentence, not CDX lines
    (out,), fetcher, _ = fetch(cc, [STORY])
    assert out.error == "archive_bad_index" and "not JSON" in out.message
    cc.fail.clear()


def test_the_index_is_asked_for_the_url_as_submitted(cc) -> None:
    from pipeline.urls import normalize_url

    submitted = "http://www.nacsonline.com/N.asp?NRORIGINALURL=%2fNACS%2fNews&amp;cookie%5Ftest=1"
    url = normalize_url(submitted).url
    assert url == "http://www.nacsonline.com/N.asp?NRORIGINALURL=%2fNACS%2fNews&cookie%5Ftest=1"
    cc.asked.clear()
    (out,), _, _ = fetch(cc, [url])
    assert out.error == "no_capture"
    assert cc.asked == [url]  # not requoted on the way (%2f and %5F kept)


def test_a_shards_join_streams_captures_in_row_order(cc) -> None:
    """The fetch job's per-shard join: positions, not ids, so rows in any order get theirs."""
    when = timestamp_seconds("20171201000000")
    urls = ["http://never.example.com/", STORY, "not a url", "http://old.example.com/a"]
    positions = position_table((u, when) for u in urls)
    joined = list(join_positions(positions, str(cc.index_table), crawls=(CRAWL,), batch_rows=1))
    assert [p for p, _ in joined] == [1, 3]
    rows = list(attach(({"url": u} for u in urls), iter(joined), "cap"))
    assert [r["cap"] is not None for r in rows] == [False, True, False, True]
    story = capture_of(rows[1]["cap"])
    assert story.time == timestamp_seconds("20171115000000") and story.row.filename
    assert capture_of(rows[3]["cap"]).row.redirect == "http://new.example.com/a"
    # Another crawl's window: nothing.
    assert not list(join_positions(positions, str(cc.index_table), crawls=("CC-MAIN-2099-01",)))


def test_columnar_source_follows_a_hop_in_the_parquet_index(cc, tmp_path) -> None:
    """Columnar mode: the first capture comes with the link, the redirect target is looked up
    in the same Parquet file (cached), and the index server is never asked."""
    when = timestamp_seconds("20171201000000")
    positions = position_table([("http://old.example.com/a", when)])
    ((_, first),) = join_positions(positions, str(cc.index_table), crawls=(CRAWL,))

    async def run(cache: IndexCache) -> tuple[ArchiveOutcome, ColumnarCommonCrawlSource]:
        source = ColumnarCommonCrawlSource(
            str(cc.index_table), cc.url + "/data", (CRAWL,), politeness=FAST, cache=cache
        )
        async with source:
            got = await ArchiveFetcher(source).get(
                "http://old.example.com/a", None, capture_of(first)
            )
        return got, source

    before = cc.requests["index"]
    out, source = asyncio.run(run(IndexCache(tmp_path)))
    assert out.error is None and out.final_url == "http://new.example.com/a"
    assert b"moved story" in out.body and out.redirects == 1
    assert source.lookups.queries == 1
    again, source = asyncio.run(run(IndexCache(tmp_path)))
    assert again.body == out.body and source.lookups.queries == 0  # from the cache
    assert cc.requests["index"] == before
