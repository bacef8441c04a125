"""`webtext fetch --source cc,wayback,live` end to end: the whole command (Beam DirectRunner)
against real archive software on 127.0.0.1 (pywb for the Wayback Machine, a Common Crawl
layout with a CDX server and WARC files served by Range) and a live loopback site."""

from __future__ import annotations

import json
import os
from collections import Counter

import pyarrow.parquet as pq
import pytest
from aiohttp import web

from beam_jobs.fetch_job import LEDGER_DIR
from pipeline.archive.capture import timestamp_seconds
from pipeline.cli import main as cli_main
from pipeline.fetch.content import decompress_body
from pipeline.io import schemas, shards
from pipeline.webserver import LoopbackServer
from tests.archive_servers import (
    Capture,
    CommonCrawlServer,
    PywbServer,
    write_index_table,
    write_warc,
)
from tests.helpers import link_row

CRAWL = "CC-MAIN-2017-51"
LIVE = "www.live.test"
HITS = web.AppKey("hits", Counter)


def page(text: str) -> bytes:
    words = " ".join(f"{text} sentence number {i} has enough words to be kept." for i in range(30))
    return f"<html><head><title>{text}</title></head><body><p>{words}</p></body></html>".encode()


def url(name: str) -> str:
    return link_row(f"http://{name}")["url"]


DATED = url("dated.example.com/story")  # cc: 2015, 2017-11, 2019 -> 2017-11
BOTH = url("both.example.com/x")  # cc and wayback: cc comes first in --source
WB_ONLY = url(f"{LIVE}/dead")  # dead live, only in wayback
MOVED = url("old.example.com/a")  # cc: 301 -> new.example.com/a (then a 200)
SAME = url("same.example.com/")  # cc: a revisit of an earlier capture
BAD = url(f"{LIVE}/bad")  # cc: digest mismatch; wayback nothing; live 404
WIKI = url("gone.example.com/w")  # cc: 302 to Wikipedia -> dropped, no other source asked
NOWHERE = url(f"{LIVE}/nowhere")  # no capture anywhere, live 404
ALIVE = url(f"{LIVE}/alive")  # only live

CC_CAPTURES = [
    Capture(DATED, "20150301000000", page("dated 2015")),
    Capture(DATED, "20171115000000", page("dated november 2017")),
    Capture(DATED, "20190601000000", page("dated 2019")),
    Capture(BOTH, "20171101000000", page("both from common crawl")),
    Capture(MOVED, "20171110000000", status=301, location="http://new.example.com/a"),
    Capture("http://new.example.com/a", "20171110000005", page("moved story")),
    Capture(WIKI, "20171020000000", status=302, location="https://en.wikipedia.org/wiki/Example"),
    Capture("https://en.wikipedia.org/wiki/Example", "20171020000001", page("wikipedia")),
    Capture(SAME, "20160101000000", page("unchanged since 2016")),
    Capture(SAME, "20171130000000", revisit_of="20160101000000"),
]  # fmt: skip
WB_CAPTURES = [
    Capture(BOTH, "20171101000000", page("both from wayback")),
    Capture(WB_ONLY, "20171201120000", page("dead page from wayback")),
]


def site_app() -> web.Application:
    hits: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        hits[request.path] += 1
        if request.path == "/alive":
            return web.Response(body=page("alive today"), content_type="text/html")
        return web.Response(status=404, text="gone")

    app = web.Application()
    app[HITS] = hits
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("archives")
    data = root / "data"
    data.mkdir()
    entries = write_warc(data / "CC-MAIN-a.warc.gz", CC_CAPTURES)
    bad = write_warc(data / "CC-MAIN-b.warc", [Capture(BAD, "20171101000000", page("original"))],
                     gzip=False)  # fmt: skip
    raw = (data / "CC-MAIN-b.warc").read_bytes()
    (data / "CC-MAIN-b.warc").write_bytes(raw.replace(b"original", b"altered!"))
    cc = CommonCrawlServer(data, {CRAWL: entries + bad}).start()
    cc.index_table = write_index_table(root / "cc-index.parquet", {CRAWL: entries + bad})
    (root / "wb").mkdir()
    write_warc(root / "wb" / "wayback.warc.gz", WB_CAPTURES)
    pywb = PywbServer(root / "wb", [root / "wb" / "wayback.warc.gz"])
    with LoopbackServer(site_app()) as live:
        yield cc, pywb, live
    pywb.stop()
    cc.stop()


LINKS = [DATED, BOTH, WB_ONLY, MOVED, SAME, BAD, WIKI, NOWHERE, ALIVE]


def write_links(directory, urls):
    rows = [link_row(u) for u in urls]
    shards.write_shard(str(directory), shards.shard_name(0, 1), rows, schemas.LINKS)
    shards.finish_output(str(directory), {"records_in": len(rows), "records_out": len(rows)})
    return rows


def fetch_args(links, out, archives, source="cc,wayback,live", *extra):
    cc, pywb, live = archives
    return [
        "fetch", str(links), "--out", str(out), "--source", source,
        "--cc-index", cc.url, "--cc-data-url", f"{cc.url}/data", "--cc-crawls", CRAWL,
        "--wayback-url", pywb.base_url, "--archive-rate", "0", "--batch-size", "3",
        "--allow-private", "--resolve", f"{LIVE}:80:127.0.0.1:{live.port}",
        "--host-delay", "0", "--num-shards", "1", *extra,
    ]  # fmt: skip


def by_url(rows):
    return {r["url"]: r for r in rows}


@pytest.fixture
def restore_logging():
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.slow
def test_fetch_from_archives_then_resume_then_extract(tmp_path, archives, restore_logging, capsys):
    cc, pywb, live = archives
    write_links(tmp_path / "links", LINKS)
    out = tmp_path / "pages"
    # The index server first answers 429 with Retry-After: 1: the whole source waits (one
    # request in flight per archive, so no request was under way when the 429 came).
    cc.fail["index"] = [(429, {"Retry-After": "1"})]
    one = ("--archive-concurrency", "1")
    assert cli_main(fetch_args(tmp_path / "links", out, archives, "cc,wayback,live", *one)) == 0
    ledger = by_url(shards.read_rows(str(out / LEDGER_DIR), schemas.PAGES, require_success=False))
    assert ledger.keys() == set(LINKS)
    pages = by_url(shards.read_rows(str(out), schemas.PAGES))

    # Captures chosen by date: the one nearest 2017-12-01, with its WARC location.
    dated = pages[DATED]
    assert dated["source"] == "cc" and dated["attempts"] == ["cc:page"]
    assert b"dated november 2017" in decompress_body(dated["body"])
    assert dated["capture_time"] == timestamp_seconds("20171115000000")
    assert dated["archive_record"].startswith(f"{CRAWL}:CC-MAIN-a.warc.gz:")
    # The order of --source: cc before wayback.
    assert pages[BOTH]["source"] == "cc"
    assert b"from common crawl" in decompress_body(pages[BOTH]["body"])
    # A dead live link is read from the Wayback Machine (pywb), its timestamp recorded.
    dead = pages[WB_ONLY]
    assert dead["source"] == "wayback" and dead["attempts"] == ["cc:no_capture", "wayback:page"]
    assert dead["archive_record"] == "20171201120000"
    # A redirect chain inside the archive; a revisit resolved to its original.
    assert pages[MOVED]["final_url"] == "http://new.example.com/a"
    assert pages[MOVED]["redirects"] == 1
    assert b"unchanged since 2016" in decompress_body(pages[SAME]["body"])
    assert pages[SAME]["capture_time"] == timestamp_seconds("20171130000000")
    # Live pages carry no capture.
    assert pages[ALIVE]["source"] == "live" and pages[ALIVE]["capture_time"] is None
    assert pages[ALIVE]["attempts"] == ["cc:no_capture", "wayback:no_capture", "live:page"]
    # Errors: every attempt in the ledger; a Wikipedia capture ends the chain as today.
    assert ledger[BAD]["attempts"] == ["cc:archive_corrupt", "wayback:no_capture", "live:http_404"]
    assert ledger[BAD]["error"] == "http_404"
    assert ledger[WIKI]["error"] == "redirect_wikipedia"
    assert ledger[WIKI]["attempts"] == ["cc:redirect_wikipedia"]
    assert ledger[NOWHERE]["attempts"][-1] == "live:http_404"
    # Retry-After honoured: nothing reached the index within a second of the 429.
    first_429 = next(t for t, kind, status in cc.log if status == 429)
    later = [t for t, kind, status in cc.log if t > first_429]
    assert later and min(later) - first_429 >= 0.9

    stats = shards.read_stats(str(out))
    assert stats["pages_by_source"] == {"cc": 4, "wayback": 1, "live": 1}
    assert stats["attempts"]["cc:archive_corrupt"] == 1
    assert stats["attempts"]["cc:no_capture"] == 3
    assert sum(stats["capture_age"].values()) == 5  # archived pages only
    assert stats["dropped"] == {"http_404": 2, "redirect_wikipedia": 1}

    # `webtext stats` shows pages per source and the capture-age histogram.
    capsys.readouterr()
    assert cli_main(["stats", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "pages per source: cc 4, live 1, wayback 1" in shown and "capture age" in shown

    # Resume after a kill: no _SUCCESS, no shards, one ledger file lost.
    for name in ("_SUCCESS", shards.STATS_FILE):
        (out / name).unlink()
    for path in shards.list_shards(str(out)):
        os.remove(path)
    ledger_files = shards.list_shards(str(out / LEDGER_DIR))
    assert len(ledger_files) >= 3
    lost = set(pq.read_table(ledger_files[0], columns=["url"]).column("url").to_pylist())
    os.remove(ledger_files[0])
    index_before, data_before = cc.requests["index"], cc.requests["data"]
    live_before = Counter(live.app[HITS])
    assert cli_main(fetch_args(tmp_path / "links", out, archives)) == 0
    # Nothing in the ledger is asked again; the lost links' index answers come from the cache.
    assert cc.requests["index"] == index_before
    # A lost link asks the data host again only where its cc attempt reached a record (a page,
    # or a corrupt range); which ledger file is lost depends on the order links finished in.
    cc_ranges_lost = sum(
        1
        for u in lost
        if any(a.startswith("cc:") and a != "cc:no_capture" for a in ledger[u]["attempts"])
    )
    assert cc.requests["data"] - data_before <= 2 * cc_ranges_lost
    asked_live = set(Counter(live.app[HITS]) - live_before)
    assert asked_live <= {u.split(LIVE, 1)[1] for u in lost if LIVE in u}
    again = by_url(shards.read_rows(str(out), schemas.PAGES))
    assert again.keys() == pages.keys()
    for u, row in again.items():
        assert row["body"] == pages[u]["body"] and row["source"] == pages[u]["source"]

    # The pages go through extraction.
    assert (
        cli_main(["extract", str(out), "--out", str(tmp_path / "docs"), "--min-tokens", "10"]) == 0
    )
    docs = shards.read_rows(str(tmp_path / "docs"), schemas.DOCS)
    assert {d["url"] for d in docs} <= set(pages) and len(docs) >= 4


@pytest.mark.slow
def test_order_of_sources_and_old_outputs(tmp_path, archives, restore_logging, capsys):
    write_links(tmp_path / "links", [BOTH, ALIVE])
    out = tmp_path / "pages"
    assert cli_main(fetch_args(tmp_path / "links", out, archives, "wayback,live")) == 0
    pages = by_url(shards.read_rows(str(out), schemas.PAGES))
    assert pages[BOTH]["source"] == "wayback"
    assert b"from wayback" in decompress_body(pages[BOTH]["body"])
    assert pages[ALIVE]["attempts"] == ["wayback:no_capture", "live:page"]
    # An output of the previous pages schema is refused on resume, in one line.
    job = json.loads((out / "_job.json").read_text())
    del job["params"]["pages_schema_version"]
    (out / "_job.json").write_text(json.dumps(job))
    (out / "_SUCCESS").unlink()
    assert cli_main(fetch_args(tmp_path / "links", out, archives, "wayback,live")) == 2
    assert "older webtext (pages schema 1" in capsys.readouterr().err


def test_source_flags_are_checked(tmp_path, restore_logging, capsys):
    write_links(tmp_path / "links", [ALIVE])
    base = ["fetch", str(tmp_path / "links"), "--out", str(tmp_path / "p")]
    assert cli_main([*base, "--source", "cc,ftp"]) == 2
    assert "--source 'cc,ftp'" in capsys.readouterr().err
    assert cli_main([*base, "--source", "warc"]) == 2
    assert "--warc FILE" in capsys.readouterr().err
    assert cli_main([*base, "--source", "cc", "--cc-index", str(tmp_path / "index")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    not_index = tmp_path / "links" / shards.shard_name(0, 1)  # Parquet, not a cc-index table
    assert cli_main([*base, "--source", "cc", "--cc-index", str(not_index)]) == 2
    assert "not a cc-index table" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


# Fields that differ between two fetches of the same captures: when and how long.
UNSTABLE = ("elapsed_ms", "fetched_utc")


@pytest.mark.slow
def test_columnar_index_gives_the_cdx_servers_pages(tmp_path, archives, restore_logging):
    """`--cc-index PATH.parquet`: each links/ shard joined once with the cc-index table; the
    same pages as through the CDX server, read by Range with no index-server request; a
    redirect hop is looked up in the same Parquet index."""
    cc, _, _ = archives
    write_links(tmp_path / "links", LINKS)
    cdx_out, col_out = tmp_path / "cdx", tmp_path / "columnar"
    data_start = cc.requests["data"]
    assert cli_main(fetch_args(tmp_path / "links", cdx_out, archives, "cc")) == 0
    index_before, data_before = cc.requests["index"], cc.requests["data"]
    args = fetch_args(tmp_path / "links", col_out, archives, "cc")
    args[args.index("--cc-index") + 1] = str(cc.index_table)
    assert cli_main(args) == 0
    assert cc.requests["index"] == index_before  # no index-server request at all
    cdx = by_url(shards.read_rows(str(cdx_out / LEDGER_DIR), schemas.PAGES, require_success=False))
    col = by_url(shards.read_rows(str(col_out / LEDGER_DIR), schemas.PAGES, require_success=False))
    assert col.keys() == cdx.keys() == set(LINKS)
    for u in LINKS:
        a = {k: v for k, v in cdx[u].items() if k not in UNSTABLE}
        b = {k: v for k, v in col[u].items() if k not in UNSTABLE}
        if u == SAME:
            # cc-index-table holds response records only, not revisits: the page is the
            # same record (the original), timed at the original rather than at the revisit.
            assert a.pop("capture_time") == timestamp_seconds("20171130000000")
            assert b.pop("capture_time") == timestamp_seconds("20160101000000")
        assert b == a, u
    assert col[MOVED]["final_url"] == "http://new.example.com/a" and col[MOVED]["error"] is None
    assert col[WIKI]["error"] == "redirect_wikipedia"
    assert col[BAD]["error"] == "archive_corrupt"
    assert col[NOWHERE]["attempts"] == ["cc:no_capture"]
    # One Range request per record read: the same records as the CDX path read.
    assert cc.requests["data"] - data_before == data_before - data_start
    assert shards.read_stats(str(col_out))["pages_by_source"] == {"cc": 4}
