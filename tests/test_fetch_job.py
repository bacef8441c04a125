"""The fetch and extract Beam jobs (DirectRunner) against a real loopback server serving
real pages: accounting, resume after a kill, the WARC paths, the CLI."""

from __future__ import annotations

import gzip
import io
import os
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from beam_jobs.extract_job import ExtractJobConfig, run_extract
from beam_jobs.fetch_job import LEDGER_DIR, FetchJobConfig, run_fetch
from pipeline.cli import main as cli_main
from pipeline.fetch.client import FetchConfig
from pipeline.fetch.content import decompress_body
from pipeline.io import schemas, shards
from pipeline.webserver import LoopbackServer
from tests.helpers import write_links

HOST = "www.realpages.test"
HITS = web.AppKey("hits", Counter)
N_REAL = 12


@pytest.fixture(scope="module")
def real_pages(shared_file) -> dict[str, bytes]:
    folder = shared_file("extraction", "dragnet", "input")
    names = sorted(p.name for p in folder.glob("*.html.gz"))[:N_REAL]
    return {n.removesuffix(".html.gz"): gzip.decompress((folder / n).read_bytes()) for n in names}


def site_app(pages: dict[str, bytes]) -> web.Application:
    hits: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        hits[request.path] += 1
        parts = request.path.strip("/").split("/")
        if parts[0] == "real" and parts[1] in pages:
            return web.Response(body=pages[parts[1]], headers={"Content-Type": "text/html"})
        if parts[0] == "moved" and parts[1] in pages:
            raise web.HTTPFound(f"/real/{parts[1]}")
        if parts[0] == "to-wikipedia":
            raise web.HTTPMovedPermanently("https://en.wikipedia.org/wiki/Main_Page")
        if parts[0] == "image":
            return web.Response(body=b"GIF89a" + b"\0" * 50, content_type="image/gif")
        return web.Response(status=404, text="gone")

    app = web.Application()
    app[HITS] = hits
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


@pytest.fixture
def restore_logging():
    """cli.main reconfigures the root logger onto the test's captured stderr; put it back so
    later tests do not log into a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def server(real_pages):
    with LoopbackServer(site_app(real_pages)) as srv:
        yield srv


EXTRA = {
    "/gone": "http_404",
    "/to-wikipedia": "redirect_wikipedia",
    "/image": "not_html",
}


def site_urls(real_pages) -> list[str]:
    names = sorted(real_pages)
    urls = [f"http://{HOST}/real/{n}" for n in names[:-1]]
    urls.append(f"http://{HOST}/moved/{names[-1]}")
    return urls + [f"http://{HOST}{p}" for p in EXTRA]


def job_config(links: Path, out: Path, port: int, **kw) -> FetchJobConfig:
    fetch = FetchConfig(
        allow_private=True,
        resolve=(f"{HOST}:80:127.0.0.1:{port}",),
        host_delay_s=0.0,
        per_host=8,
        total_timeout_s=5.0,
        max_retries=0,
    )
    return FetchJobConfig(str(links), str(out), fetch=fetch, batch_size=4, num_shards=3, **kw)


def test_fetch_job_accounts_every_link_and_keeps_real_bodies(tmp_path, server, real_pages):
    links = write_links(tmp_path / "links", site_urls(real_pages))
    out = tmp_path / "pages"
    assert run_fetch(job_config(tmp_path / "links", out, server.port)) == "ran"
    stats = shards.read_stats(str(out))
    assert stats["records_in"] == len(links)
    assert stats["records_out"] == N_REAL
    assert stats["dropped"] == {reason: 1 for reason in EXTRA.values()}
    rows = shards.read_rows(str(out), schemas.PAGES)
    assert len({r["link_id"] for r in rows}) == N_REAL
    by_name = {r["final_url"].rsplit("/", 1)[-1]: r for r in rows}
    for name, html in real_pages.items():
        row = by_name[name]
        assert decompress_body(row["body"]) == html and row["body_bytes"] == len(html)
        assert row["error"] is None and row["status"] == 200 and row["source"] == "live"
    moved = [r for r in rows if r["redirects"] == 1]
    assert len(moved) == 1 and "/moved/" in moved[0]["url"] and "/real/" in moved[0]["final_url"]
    # Reddit metadata travels with the page.
    meta = {r["link_id"]: r for r in links}
    for row in rows:
        assert row["max_score"] == meta[row["link_id"]]["max_score"]
        assert row["subreddits"] == ["news"]
    # The ledger holds every link's outcome, errors included.
    ledger = shards.read_rows(str(out / LEDGER_DIR), schemas.PAGES, require_success=False)
    assert len(ledger) == len(links)
    assert Counter(r["error"] for r in ledger if r["error"]) == Counter(EXTRA.values())
    # A finished job is not run again.
    assert run_fetch(job_config(tmp_path / "links", out, server.port)) == "complete"


def test_rerun_after_a_kill_fetches_only_the_missing_links(tmp_path, server, real_pages):
    write_links(tmp_path / "links", site_urls(real_pages))
    out = tmp_path / "pages"
    config = job_config(tmp_path / "links", out, server.port)
    run_fetch(config)
    first = {r["link_id"]: r for r in shards.read_rows(str(out), schemas.PAGES)}
    # Simulate a kill before the end: no _SUCCESS, no shards, one ledger batch lost, and a
    # temporary file left by a writer that died mid-write.
    for name in ("_SUCCESS", shards.STATS_FILE):
        (out / name).unlink()
    for path in shards.list_shards(str(out)):
        os.remove(path)
    ledger_files = shards.list_shards(str(out / LEDGER_DIR))
    lost = shards.read_rows(str(out / LEDGER_DIR), schemas.PAGES, require_success=False)
    lost_file = ledger_files[0]
    import pyarrow.parquet as pq

    lost_ids = set(pq.read_table(lost_file, columns=["link_id"]).column("link_id").to_pylist())
    lost_paths = {r["url"].split(HOST, 1)[1] for r in lost if r["link_id"] in lost_ids}
    os.remove(lost_file)
    (out / LEDGER_DIR / "_tmp-dead-batch.parquet").write_bytes(b"partial")
    hits_before = Counter(server.app[HITS])
    assert run_fetch(config) == "ran"
    fetched_again = Counter(server.app[HITS]) - hits_before
    requested = set(fetched_again)
    # Exactly the lost batch's links were requested again (a redirect adds its target).
    assert lost_paths and lost_paths <= requested
    assert requested <= lost_paths | {p.replace("/moved/", "/real/") for p in lost_paths}
    second = {r["link_id"]: r for r in shards.read_rows(str(out), schemas.PAGES)}
    assert second.keys() == first.keys()
    for link_id, row in second.items():
        assert row["body"] == first[link_id]["body"]
    assert not any(p.name.startswith("_tmp-") for p in (out / LEDGER_DIR).iterdir())
    stats = shards.read_stats(str(out))
    assert stats["records_in"] == len(site_urls(real_pages))


def test_write_warc_then_read_it_back_gives_the_same_pages(tmp_path, server, real_pages):
    write_links(tmp_path / "links", site_urls(real_pages))
    warc_dir = tmp_path / "warc"
    run_fetch(
        job_config(tmp_path / "links", tmp_path / "live", server.port, write_warc_dir=str(warc_dir))
    )
    live = {r["link_id"]: r for r in shards.read_rows(str(tmp_path / "live"), schemas.PAGES)}
    hits_before = sum(server.app[HITS].values())
    config = job_config(
        tmp_path / "links",
        tmp_path / "archived",
        server.port,
        warc_inputs=(str(warc_dir / "*.warc.gz"),),
    )
    run_fetch(config)
    assert sum(server.app[HITS].values()) == hits_before  # nothing fetched from the network
    archived = {
        r["link_id"]: r for r in shards.read_rows(str(tmp_path / "archived"), schemas.PAGES)
    }
    assert archived.keys() == live.keys()
    for link_id, row in archived.items():
        assert row["source"] == "warc"
        assert decompress_body(row["body"]) == decompress_body(live[link_id]["body"])
        assert row["final_url"] == live[link_id]["final_url"]
    stats = shards.read_stats(str(tmp_path / "archived"))
    # Failed live fetches are not archived: they end as warc_missing.
    assert stats["dropped"] == {"warc_missing": len(EXTRA)}


def test_warc_written_with_warcio_by_the_test(tmp_path, real_pages):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    names = sorted(real_pages)[:3]
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)

    def response(url, status, headers, body=b""):
        http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
        )

    for name in names:  # one gzip-encoded, as crawlers store them
        body = real_pages[name]
        if name == names[0]:
            response(
                f"https://archive.test/{name}",
                "200 OK",
                [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                gzip.compress(body),
            )
        else:
            response(
                f"https://archive.test/{name}", "200 OK", [("Content-Type", "text/html")], body
            )
    response("https://archive.test/hop", "301 Moved Permanently", [("Location", f"/{names[1]}")])
    response(
        "https://archive.test/wiki", "302 Found", [("Location", "https://de.wikipedia.org/wiki/X")]
    )
    response(
        "https://archive.test/pic",
        "200 OK",
        [("Content-Type", "image/jpeg")],
        b"\xff\xd8\xff" + b"\0" * 10,
    )
    response("https://archive.test/dead", "404 Not Found", [("Content-Type", "text/html")], b"no")
    warc = tmp_path / "crawl.warc.gz"
    warc.write_bytes(buffer.getvalue())

    urls = [f"https://archive.test/{n}" for n in names] + [
        "https://archive.test/hop",
        "https://archive.test/wiki",
        "https://archive.test/pic",
        "https://archive.test/dead",
        "https://archive.test/never-crawled",
    ]
    write_links(tmp_path / "links", urls)
    config = FetchJobConfig(
        str(tmp_path / "links"), str(tmp_path / "pages"), warc_inputs=(str(warc),), num_shards=2
    )
    run_fetch(config)
    stats = shards.read_stats(str(tmp_path / "pages"))
    assert stats["records_out"] == 4
    assert stats["dropped"] == {
        "redirect_wikipedia": 1,
        "not_html": 1,
        "http_404": 1,
        "warc_missing": 1,
    }
    rows = {r["url"]: r for r in shards.read_rows(str(tmp_path / "pages"), schemas.PAGES)}
    assert decompress_body(rows[f"https://archive.test/{names[0]}"]["body"]) == real_pages[names[0]]
    hop = rows["https://archive.test/hop"]
    assert hop["final_url"] == f"https://archive.test/{names[1]}" and hop["redirects"] == 1
    assert decompress_body(hop["body"]) == real_pages[names[1]]


def test_extract_job_on_fetched_pages(tmp_path, server, real_pages):
    write_links(tmp_path / "links", site_urls(real_pages))
    run_fetch(job_config(tmp_path / "links", tmp_path / "pages", server.port))
    assert (
        run_extract(ExtractJobConfig(str(tmp_path / "pages"), str(tmp_path / "docs"), num_shards=2))
        == "ran"
    )
    stats = shards.read_stats(str(tmp_path / "docs"))
    assert stats["records_in"] == N_REAL
    assert stats["records_out"] + stats["dropped_total"] == N_REAL
    assert stats["records_out"] >= N_REAL // 2
    docs = shards.read_rows(str(tmp_path / "docs"), schemas.DOCS)
    pages = {r["link_id"]: r for r in shards.read_rows(str(tmp_path / "pages"), schemas.PAGES)}
    for doc in docs:
        page = pages[doc["doc_id"]]
        assert doc["url"] == page["url"] and doc["final_url"] == page["final_url"]
        assert doc["n_chars"] == len(doc["text"]) > 0
        assert doc["max_score"] == page["max_score"]


def test_cli_fetch_and_extract(tmp_path, server, real_pages, capsys, restore_logging):
    write_links(tmp_path / "links", site_urls(real_pages)[:3])
    rc = cli_main(
        [
            "fetch",
            str(tmp_path / "links"),
            "--out",
            str(tmp_path / "pages"),
            "--allow-private",
            "--resolve",
            f"{HOST}:80:127.0.0.1:{server.port}",
            "--host-delay",
            "0",
            "--num-shards",
            "1",
        ]
    )
    assert rc == 0
    assert "fetch -> " in capsys.readouterr().out
    assert (
        cli_main(
            [
                "extract",
                str(tmp_path / "pages"),
                "--out",
                str(tmp_path / "docs"),
                "--min-tokens",
                "10",
            ]
        )
        == 0
    )
    assert shards.exists(str(tmp_path / "docs" / "_SUCCESS"))
    # Without --allow-private the loopback answer of the --resolve rule is refused.
    rc = cli_main(
        [
            "fetch",
            str(tmp_path / "links"),
            "--out",
            str(tmp_path / "strict"),
            "--resolve",
            f"{HOST}:80:127.0.0.1:{server.port}",
            "--num-shards",
            "1",
        ]
    )
    assert rc == 0
    assert shards.read_stats(str(tmp_path / "strict"))["dropped"] == {"forbidden_address": 3}


def test_cli_rejects_bad_inputs(tmp_path, capsys, restore_logging):
    (tmp_path / "links").mkdir()
    assert cli_main(["fetch", str(tmp_path / "links"), "--out", str(tmp_path / "p")]) == 2
    assert "_SUCCESS" in capsys.readouterr().err
    bad_rule = ["--resolve", "nonsense"]
    assert (
        cli_main(["fetch", str(tmp_path / "links"), "--out", str(tmp_path / "p"), *bad_rule]) == 2
    )
    assert "--resolve 'nonsense'" in capsys.readouterr().err
    # A stage directory of the wrong kind: its schema check names the missing column.
    write_links(tmp_path / "links2", ["http://a.example/x"])
    assert cli_main(["extract", str(tmp_path / "links2"), "--out", str(tmp_path / "d")]) == 2
    assert "missing column" in capsys.readouterr().err
