"""The Wayback source against pywb (from PyPI) on 127.0.0.1: a collection built with
``wb-manager`` from WARC files the test writes, served by pywb's own ``wayback`` server. Its
CDX endpoint and ``id_`` replay stand in for the Wayback Machine."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.archive.cache import IndexCache
from pipeline.archive.capture import timestamp_seconds
from pipeline.archive.politeness import Politeness
from pipeline.archive.resolve import ArchiveFetcher
from pipeline.archive.wayback import (
    WaybackSource,
    archived_location,
    wayback_endpoints,
)
from pipeline.fetch.client import FetchOutcome
from pipeline.fetch.warc import warc_bytes
from tests.archive_servers import Capture, PywbServer, write_warc

NYT = "http://www.nytimes.com/2005/07/01/business/01cnd-soft.html?hp&ex=1120276800&partner=homepage"
FAST = Politeness(concurrency=4, rate=0, max_retries=1, backoff_s=0.05)


def page(text: str) -> bytes:
    return f"<html><head><title>{text}</title></head><body><p>{text}</p></body></html>".encode()


CAPTURES = [
    Capture(NYT, "20050701120000", page("nyt on the day")),
    Capture(NYT, "20171128000000", page("nyt late 2017")),
    Capture(NYT, "20210101000000", page("nyt 2021")),
    Capture("http://a.example.com/1", "20171101000000", status=301,
            location="http://b.example.com/2"),
    Capture("http://b.example.com/2", "20171101000001", status=302, location="/3"),
    Capture("http://b.example.com/3", "20171101000002", page("end of the chain")),
    Capture("http://same.example.com/", "20160101000000", page("unchanged page")),
    Capture("http://same.example.com/", "20171130000000", revisit_of="20160101000000"),
    Capture("http://wiki.example.com/x", "20171111000000", status=301,
            location="https://en.wikipedia.org/wiki/X"),
    Capture("https://en.wikipedia.org/wiki/X", "20171111000001", page("wikipedia X")),
]  # fmt: skip


@pytest.fixture(scope="module")
def pywb(tmp_path_factory):
    root = tmp_path_factory.mktemp("pywb")
    warcs = [root / "dated.warc.gz"]
    write_warc(warcs[0], CAPTURES)
    # and one written by the project's own --write-warc code (captured "now")
    live = FetchOutcome(url="http://live.example.com/", final_url="http://live.example.com/",
                        status=200, headers={"content-type": "text/html"}, body=page("live"))  # fmt: skip
    (root / "project.warc.gz").write_bytes(warc_bytes([live]))
    warcs.append(root / "project.warc.gz")
    server = PywbServer(root, warcs)
    yield server
    server.stop()


def run(pywb, urls, *, cache=None, **kw):
    async def go():
        source = WaybackSource(pywb.base_url, politeness=FAST, cache=cache)
        async with source:
            fetcher = ArchiveFetcher(source, **kw)
            outs = await asyncio.gather(*(fetcher.get(u, p) for u, p in urls))
        return list(outs), fetcher, source

    return asyncio.run(go())


def test_endpoints_of_both_shapes() -> None:
    assert wayback_endpoints("https://web.archive.org") == (
        "https://web.archive.org/cdx/search/cdx",
        "https://web.archive.org/web",
    )
    assert wayback_endpoints("http://127.0.0.1:8080/coll/") == (
        "http://127.0.0.1:8080/coll/cdx",
        "http://127.0.0.1:8080/coll",
    )
    assert archived_location("/web/20171101000000id_/http://b.example.com/2") == (
        "20171101000000",
        "http://b.example.com/2",
    )
    with pytest.raises(ValueError, match="--wayback-url 'web.archive.org'"):
        wayback_endpoints("web.archive.org")


def test_nearest_capture_to_the_scrape_and_first_after_the_post(pywb) -> None:
    (near,), _, _ = run(pywb, [(NYT, None)])
    assert near.error is None, near.message
    assert near.body == page("nyt late 2017")  # raw capture (id_), not a rewritten replay
    assert near.capture_time == timestamp_seconds("20171128000000")
    assert near.archive_record == "20171128000000" and near.source == "wayback"
    assert near.digest_ok is True  # the raw capture's SHA-1 is the CDX digest
    log = (pywb.root / "pywb.log").read_text(errors="replace")
    assert f"GET /webtext/20171128000000id_/{NYT} " in log  # the submitted URL, byte for byte
    post = timestamp_seconds("20050701000000")
    (first,), _, _ = run(pywb, [(NYT, post)], near="post", window_s=20 * 365 * 86400)
    assert first.body == page("nyt on the day")


def test_redirect_chain_and_revisit_and_wikipedia(pywb) -> None:
    urls = [("http://a.example.com/1", None), ("http://same.example.com/", None),
            ("http://wiki.example.com/x", None), ("http://never.example.com/", None)]  # fmt: skip
    (chain, revisit, wiki, never), fetcher, _ = run(pywb, urls)
    assert chain.error is None, chain.message
    assert chain.body == page("end of the chain") and chain.redirects == 2
    assert [h[2] for h in chain.hops] == ["http://b.example.com/2", "http://b.example.com/3"]
    assert revisit.error is None and revisit.body == page("unchanged page")
    assert revisit.capture_time == timestamp_seconds("20171130000000")
    assert wiki.error == "redirect_wikipedia"
    assert never.error == "no_capture"
    assert fetcher.counts == {"page": 2, "redirect_wikipedia": 1, "no_capture": 1}


def test_a_rerun_answers_lookups_from_the_cache(pywb, tmp_path) -> None:
    urls = [(NYT, None), ("http://never.example.com/", None)]
    first, _, source = run(pywb, urls, cache=IndexCache(tmp_path))
    asked = source.http.gate.requests
    assert asked == 3  # two CDX questions, one capture
    second, _, source = run(pywb, urls, cache=IndexCache(tmp_path))
    assert source.cache.hits == 2 and source.http.gate.requests == 1  # the capture only
    assert [o.body for o in second] == [o.body for o in first]


def test_a_page_the_project_archived_itself_is_served_back(pywb) -> None:
    import time

    yesterday = int(time.time()) - 86400
    (out,), _, _ = run(pywb, [("http://live.example.com/", yesterday)], near="post")
    assert out.error is None, out.message
    assert out.body == page("live")
