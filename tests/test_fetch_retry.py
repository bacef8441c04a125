"""`webtext fetch --retry-errors`: links whose recorded outcome is a transient error are fetched
again on a rerun, against a real loopback server whose endpoints fail first and work later.
Real Beam DirectRunner, real Parquet ledger and shards."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter
from pathlib import Path

import aiohttp
import pyarrow.parquet as pq
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from beam_jobs.fetch_job import LEDGER_DIR, FetchJobConfig, run_fetch
from pipeline.cli import main as cli_main
from pipeline.fetch.client import RETRY_STATUSES, FetchConfig, classify_exception
from pipeline.fetch.content import decompress_body
from pipeline.fetch.records import choose_row, was_retried
from pipeline.fetch.retry import (
    PERMANENT_ERRORS,
    TRANSIENT_ERRORS,
    describe_classes,
    parse_retry_classes,
    retry_summary,
)
from pipeline.io import schemas, shards
from pipeline.webserver import LoopbackServer
from tests.helpers import link_row, write_links

HOST = "www.flaky.test"
HITS = web.AppKey("hits", Counter)
TRANSIENT = frozenset(TRANSIENT_ERRORS)


def page_html(name: str) -> bytes:
    paragraph = f"<p>Paragraph about {name}: words that make the page real HTML text.</p>"
    return f"<html><head><title>{name}</title></head><body>{paragraph * 8}</body></html>".encode()


def flaky_app() -> web.Application:
    """/real/X: 200 always. /flaky/X: 503 on the first request, 200 afterwards. /hang-once/X:
    silent past the client's timeout the first time, 200 afterwards. /gone/X: 404 always.
    Every request is counted per path in app[HITS]; the state lives in the server."""
    hits: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.StreamResponse:
        hits[request.path] += 1
        kind, _, name = request.path.strip("/").partition("/")
        first = hits[request.path] == 1
        if kind == "flaky" and first:
            return web.Response(status=503, text="overloaded, try later")
        if kind == "hang-once" and first:
            await asyncio.sleep(3.0)
        if kind in ("real", "flaky", "hang-once"):
            return web.Response(body=page_html(name), headers={"Content-Type": "text/html"})
        return web.Response(status=404, text="gone")

    app = web.Application()
    app[HITS] = hits
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


def write_paths(directory: Path, paths: list[str]) -> list[dict]:
    """links/ holding the test server's ``paths``."""
    return write_links(directory, [f"http://{HOST}{p}" for p in paths])


@pytest.fixture
def server():
    """A fresh server per test: the flaky endpoints' state starts over."""
    with LoopbackServer(flaky_app()) as srv:
        yield srv


def job_config(
    tmp_path: Path, port: int, retry: frozenset[str] = frozenset(), **kw
) -> FetchJobConfig:
    fetch = FetchConfig(
        allow_private=True,
        resolve=(f"{HOST}:80:127.0.0.1:{port}",),
        host_delay_s=0.0,
        per_host=8,
        total_timeout_s=1.0,
        max_retries=0,  # the client's own 5xx retries would hide the ledger retry under test
    )
    return FetchJobConfig(
        str(tmp_path / "links"),
        str(tmp_path / "pages"),
        fetch=fetch,
        batch_size=kw.pop("batch_size", 4),
        num_shards=3,
        retry_errors=retry,
        **kw,
    )


def pages_by_path(out: Path) -> dict[str, dict]:
    rows = shards.read_rows(str(out), schemas.PAGES)
    ids = [r["link_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a link appears more than once in pages/"
    return {r["url"].split(HOST, 1)[1]: r for r in rows}


def ledger_files(out: Path) -> dict[str, bytes]:
    return {Path(p).name: Path(p).read_bytes() for p in shards.list_shards(str(out / LEDGER_DIR))}


def hits_during(server: LoopbackServer, action) -> tuple[object, Counter]:
    before = Counter(server.app[HITS])
    result = action()
    return result, Counter(server.app[HITS]) - before


def assert_balanced(stats: dict) -> None:
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
    assert stats["dropped_total"] == sum(stats["dropped"].values())
    assert sum(stats["shards"].values()) == stats["records_out"]


# ---------------------------------------------------------------- the job, end to end


def test_retry_recovers_a_503_and_only_what_was_asked(tmp_path, server, caplog):
    caplog.set_level(logging.INFO, logger="beam_jobs.fetch_job")
    paths = ["/real/a", "/real/b", "/real/c", "/flaky/d", "/gone/e"]
    write_paths(tmp_path / "links", paths)
    out = tmp_path / "pages"

    assert run_fetch(job_config(tmp_path, server.port)) == "ran"
    first = shards.read_stats(str(out))
    assert first["records_out"] == 3
    assert first["dropped"] == {"http_503": 1, "http_404": 1}
    assert first["retry"] == {"retried": 0, "recovered": 0}
    assert "/flaky/d" not in pages_by_path(out)
    old_ledger = ledger_files(out)

    # A complete output rerun without the flag is a no-op: no request reaches the server.
    state, hits = hits_during(server, lambda: run_fetch(job_config(tmp_path, server.port)))
    assert state == "complete" and not hits

    caplog.clear()
    state, hits = hits_during(
        server, lambda: run_fetch(job_config(tmp_path, server.port, TRANSIENT))
    )
    assert state == "ran"
    assert hits == Counter({"/flaky/d": 1})  # the 404 is not transient: not asked again
    assert "retrying 1 link with transient errors (http_503 1)" in caplog.messages
    pages = pages_by_path(out)
    assert sorted(pages) == ["/flaky/d", "/real/a", "/real/b", "/real/c"]
    recovered = pages["/flaky/d"]
    assert recovered["error"] is None and recovered["status"] == 200
    assert decompress_body(recovered["body"]) == page_html("d")
    stats = shards.read_stats(str(out))
    assert_balanced(stats)
    assert stats["records_in"] == 5 and stats["records_out"] == 4
    assert stats["dropped"] == {"http_404": 1}
    assert stats["retry"] == {"retried": 1, "recovered": 1}
    assert shards.exists(str(out / "_SUCCESS"))
    # The old ledger files are untouched; the retry added a file with the one new row.
    now = ledger_files(out)
    assert {name: now[name] for name in old_ledger} == old_ledger
    added = sorted(set(now) - set(old_ledger))
    assert len(added) == 1
    assert pq.read_table(out / LEDGER_DIR / added[0]).num_rows == 1

    # Nothing transient is left: a second retry fetches nothing and changes nothing.
    caplog.clear()
    before_shards = {Path(p).name: Path(p).read_bytes() for p in shards.list_shards(str(out))}
    state, hits = hits_during(
        server, lambda: run_fetch(job_config(tmp_path, server.port, TRANSIENT))
    )
    assert state == "ran" and not hits
    assert "retrying 0 links: none has transient errors" in caplog.messages
    assert {Path(p).name: Path(p).read_bytes() for p in shards.list_shards(str(out))} == (
        before_shards
    )
    assert shards.read_stats(str(out)) == stats

    # Named explicitly, the 404 is fetched again (and is still a 404).
    state, hits = hits_during(
        server, lambda: run_fetch(job_config(tmp_path, server.port, frozenset({"http_404"})))
    )
    assert state == "ran" and hits == Counter({"/gone/e": 1})
    stats = shards.read_stats(str(out))
    assert_balanced(stats)
    assert stats["dropped"] == {"http_404": 1}
    assert stats["retry"] == {"retried": 2, "recovered": 1}
    assert len(pages_by_path(out)) == 4
    ledger = shards.read_rows(str(out / LEDGER_DIR), schemas.PAGES, require_success=False)
    assert len(ledger) == 5 + 1 + 1


def test_summary_names_each_retried_class(tmp_path, server, caplog):
    caplog.set_level(logging.INFO, logger="beam_jobs.fetch_job")
    write_paths(tmp_path / "links", ["/flaky/a", "/flaky/b", "/hang-once/c", "/gone/d"])
    out = tmp_path / "pages"
    run_fetch(job_config(tmp_path, server.port))
    assert shards.read_stats(str(out))["dropped"] == {"http_503": 2, "timeout": 1, "http_404": 1}
    caplog.clear()
    state, hits = hits_during(
        server,
        lambda: run_fetch(job_config(tmp_path, server.port, TRANSIENT | {"http_404"})),
    )
    assert hits == Counter({"/flaky/a": 1, "/flaky/b": 1, "/hang-once/c": 1, "/gone/d": 1})
    line = "retrying 4 links with transient errors and http_404 (http_503 2, http_404 1, timeout 1)"
    assert line in caplog.messages
    stats = shards.read_stats(str(out))
    assert_balanced(stats)
    assert stats["records_out"] == 3 and stats["dropped"] == {"http_404": 1}
    assert stats["retry"] == {"retried": 4, "recovered": 3}


@pytest.mark.slow
def test_retry_killed_midway_then_rerun_loses_and_duplicates_nothing(tmp_path, server):
    flaky = [f"/flaky/f{i}" for i in range(6)]
    paths = ["/real/a", "/real/b", *flaky, "/gone/g"]
    write_paths(tmp_path / "links", paths)
    out = tmp_path / "pages"
    run_fetch(job_config(tmp_path, server.port, batch_size=2))
    assert shards.read_stats(str(out))["dropped"] == {"http_503": 6, "http_404": 1}
    old_ledger = ledger_files(out)

    run_fetch(job_config(tmp_path, server.port, TRANSIENT, batch_size=2))
    # Simulate a kill of that retry run before its end: it had removed _SUCCESS, _stats.json
    # and the shards first; one of its ledger batches was still in flight (lost), and a writer
    # died mid-write leaving a temporary file.
    for name in ("_SUCCESS", shards.STATS_FILE):
        (out / name).unlink()
    for path in shards.list_shards(str(out)):
        os.remove(path)
    new_files = sorted(set(ledger_files(out)) - set(old_ledger))
    assert len(new_files) == 3  # 6 retried links in batches of 2
    lost = out / LEDGER_DIR / new_files[0]
    lost_ids = set(pq.read_table(lost, columns=["link_id"]).column("link_id").to_pylist())
    os.remove(lost)
    (out / LEDGER_DIR / "_tmp-dead-batch.parquet").write_bytes(b"partial")
    lost_paths = {p for p in flaky if link_row(f"http://{HOST}{p}")["link_id"] in lost_ids}
    assert len(lost_paths) == 2

    # A plain rerun resumes from the ledger as it is: fetches nothing, the lost batch's links
    # are still their recorded 503s, the others are recovered.
    state, hits = hits_during(server, lambda: run_fetch(job_config(tmp_path, server.port)))
    assert state == "ran" and not hits
    stats = shards.read_stats(str(out))
    assert_balanced(stats)
    assert stats["dropped"] == {"http_503": 2, "http_404": 1}
    assert stats["retry"] == {"retried": 4, "recovered": 4}

    # The retry rerun fetches exactly the lost batch's links again and recovers them.
    state, hits = hits_during(
        server, lambda: run_fetch(job_config(tmp_path, server.port, TRANSIENT, batch_size=2))
    )
    assert state == "ran" and set(hits) == lost_paths and set(hits.values()) == {1}
    pages = pages_by_path(out)
    assert sorted(pages) == sorted(["/real/a", "/real/b", *flaky])
    for path in flaky:
        assert decompress_body(pages[path]["body"]) == page_html(path.rsplit("/", 1)[1])
    stats = shards.read_stats(str(out))
    assert_balanced(stats)
    assert stats["records_in"] == len(paths) and stats["records_out"] == 8
    assert stats["dropped"] == {"http_404": 1}
    assert stats["retry"] == {"retried": 6, "recovered": 6}
    assert not any(p.name.startswith("_tmp-") for p in (out / LEDGER_DIR).iterdir())
    now = ledger_files(out)
    assert {name: now[name] for name in old_ledger} == old_ledger


@pytest.mark.slow
def test_retry_on_an_unfinished_first_run_fetches_missing_and_failed(tmp_path, server):
    paths = ["/real/a", "/real/b", "/flaky/c", "/flaky/d"]
    write_paths(tmp_path / "links", paths)
    out = tmp_path / "pages"
    run_fetch(job_config(tmp_path, server.port, batch_size=1))
    for name in ("_SUCCESS", shards.STATS_FILE):
        (out / name).unlink()
    # Lose the ledger file of one real page: that link is missing, the two 503s are recorded.
    real_a = link_row(f"http://{HOST}/real/a")["link_id"]
    for path in shards.list_shards(str(out / LEDGER_DIR)):
        if pq.read_table(path, columns=["link_id"]).column("link_id").to_pylist() == [real_a]:
            os.remove(path)
    state, hits = hits_during(
        server, lambda: run_fetch(job_config(tmp_path, server.port, TRANSIENT))
    )
    assert state == "ran"
    assert hits == Counter({"/real/a": 1, "/flaky/c": 1, "/flaky/d": 1})
    assert sorted(pages_by_path(out)) == sorted(paths)
    stats = shards.read_stats(str(out))
    assert_balanced(stats)
    assert stats["records_out"] == 4 and stats["retry"] == {"retried": 2, "recovered": 2}


def test_cli_retry_errors(tmp_path, server, capsys, restore_logging):
    write_paths(tmp_path / "links", ["/real/a", "/flaky/b"])
    base = [
        "fetch",
        str(tmp_path / "links"),
        "--out",
        str(tmp_path / "pages"),
        "--allow-private",
        "--resolve",
        f"{HOST}:80:127.0.0.1:{server.port}",
        "--host-delay",
        "0",
        "--retries",
        "0",
        "--num-shards",
        "1",
    ]
    assert cli_main(base) == 0
    assert "retry:" not in capsys.readouterr().out
    assert cli_main([*base, "--retry-errors"]) == 0
    captured = capsys.readouterr()
    assert "fetch -> " in captured.out and "2 in -> 2 out" in captured.out
    assert "retry: 1 links fetched again after an error, 1 of them now with a page" in (
        captured.out
    )
    assert "retrying 1 link with transient errors (http_503 1)" in captured.err
    assert cli_main([*base, "--retry-errors", "timeout,bogus_class"]) == 2
    assert "'bogus_class' is not a fetch error class" in capsys.readouterr().err
    warc = [*base[:4], "--warc", str(tmp_path / "x.warc.gz"), "--retry-errors"]
    (tmp_path / "x.warc.gz").write_bytes(b"")
    assert cli_main(warc) == 2
    assert "--retry-errors fetches failed links again" in capsys.readouterr().err


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# ---------------------------------------------------------------- the pure parts


def test_transient_set_holds_what_comes_back_and_nothing_that_does_not():
    # What the client's own retry loop treats as worth waiting for is transient here too.
    assert {f"http_{s}" for s in RETRY_STATUSES} <= TRANSIENT
    # The classes the client gives network failures are transient...
    for exc in (
        TimeoutError(),
        ConnectionResetError(),
        ConnectionRefusedError(),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("cut"),
    ):
        assert classify_exception(exc) in TRANSIENT, exc
    # ...and what describes the page or our rules is not.
    for permanent in (
        "http_404",
        "http_410",
        "too_large",
        "decompression_bomb",
        "not_html",
        "unsupported_encoding",
        "forbidden_address",
        "redirect_wikipedia",
        "redirect_blocked_domain",
        "robots_disallowed",
        "too_many_redirects",
    ):
        assert permanent not in TRANSIENT
    assert not TRANSIENT & PERMANENT_ERRORS
    assert all(reason.strip() for reason in TRANSIENT_ERRORS.values())


def test_parse_retry_classes():
    assert parse_retry_classes("transient") == TRANSIENT
    assert parse_retry_classes("transient, http_404") == TRANSIENT | {"http_404"}
    assert parse_retry_classes("timeout,HTTP_503") == {"timeout", "http_503"}
    assert parse_retry_classes("redirect_wikipedia,too_large") == {
        "redirect_wikipedia",
        "too_large",
    }
    for bad in ("bogus", "http_5033", "timeout,404", "http_999"):
        with pytest.raises(ValueError, match="is not a fetch error class"):
            parse_retry_classes(bad)
    with pytest.raises(ValueError, match="no error class"):
        parse_retry_classes(" , ")


def test_summary_and_description():
    assert describe_classes(TRANSIENT) == "transient errors"
    assert describe_classes({"http_404", "timeout"}) == "errors http_404, timeout"
    line = retry_summary([("http_503", 17), ("timeout", 20), ("dns_error", 0)], TRANSIENT)
    assert line == "retrying 37 links with transient errors (timeout 20, http_503 17)"
    assert retry_summary([], {"http_404"}) == "retrying 0 links: none has errors http_404"


def row(error: str | None, fetched: int, elapsed: int = 5, final: str = "u") -> dict:
    return {
        "error": error,
        "fetched_utc": fetched,
        "elapsed_ms": elapsed,
        "final_url": final,
        "status": 200 if error is None else 503,
    }


def test_choose_row_prefers_a_page_then_the_latest_error():
    old_page, new_page = row(None, 100), row(None, 200)
    old_error, new_error = row("timeout", 100), row("http_404", 300)
    assert choose_row([new_error, new_page, old_error]) is new_page
    assert choose_row([new_page, old_page]) is old_page  # pages: the earliest fetch
    assert choose_row([old_error, new_error]) is new_error  # errors: the newest attempt
    with pytest.raises(ValueError):
        choose_row([])
    assert not was_retried([old_error]) and not was_retried([old_page, new_page])
    assert was_retried([old_error, new_page]) and was_retried([old_error, new_error])


@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "timeout", "http_503", "http_404"]),
            st.integers(0, 3),
            st.integers(0, 3),
            st.sampled_from(["a", "b"]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_choose_row_depends_on_content_not_order(spec, rnd: random.Random):
    rows = [row(*s) for s in spec]
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert choose_row(shuffled) == choose_row(rows)
    chosen = choose_row(rows)
    if any(r["error"] is None for r in rows):
        assert chosen["error"] is None
    else:
        assert chosen["fetched_utc"] == max(r["fetched_utc"] for r in rows)


def test_reopen_output_keeps_job_and_subdirectories(tmp_path):
    out = tmp_path / "stage"
    shards.prepare_output(str(out), shards.JobSpec("pages", {}, []))
    shards.write_shard(str(out), shards.shard_name(0, 2), [], schemas.PAGES)
    shards.write_shard(str(out), shards.shard_name(1, 2), [], schemas.PAGES)
    shards.write_shard(str(out / LEDGER_DIR), "batch-x.parquet", [], schemas.PAGES)
    shards.finish_output(str(out), {"records_in": 0})
    assert shards.reopen_output(str(out)) == 2
    assert sorted(p.name for p in out.iterdir()) == ["_fetched", "_job.json"]
    assert shards.list_shards(str(out / LEDGER_DIR))
    assert shards.prepare_output(str(out), shards.JobSpec("pages", {}, [])) == "resume"
    assert shards.reopen_output(str(out)) == 0  # idempotent
