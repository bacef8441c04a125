"""The fetch client against a real HTTP server on 127.0.0.1: real pages and adversarial
endpoints, each ending as one counted outcome."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections import Counter

import pytest
from aiohttp import web

from pipeline.fetch.client import FetchConfig, fetch_urls
from pipeline.webserver import LoopbackServer

COUNTS = web.AppKey("counts", Counter)
PAGE = (
    b"<html><head><title>T</title></head><body><article>"
    + b"<p>Real words in a paragraph of an article.</p>" * 20
    + b"</article></body></html>"
)


def adversarial_app(real_pages: dict[str, bytes]) -> web.Application:
    counts: Counter[str] = Counter()

    async def real(request: web.Request) -> web.Response:
        return web.Response(body=real_pages[request.match_info["name"]], content_type="text/html")

    async def slow_drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        for _ in range(10_000):
            await resp.write(b"<p>x")
            await asyncio.sleep(0.05)
        return resp

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        chunk = b"<p>" + b"a" * 65533
        while True:
            await resp.write(chunk)

    async def length_lie(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html", "Content-Length": "100000"})
        await resp.prepare(request)
        await resp.write(PAGE[:500])
        request.transport.close()  # the promised bytes never come
        return resp

    # 32 MiB of zeros -> ~32 KiB of gzip (built once: the server loop must not block).
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = compressor.compress(b"<html>" + b"\0" * (32 * 1024 * 1024)) + compressor.flush()

    async def gzip_bomb(request: web.Request) -> web.Response:
        blob = bomb
        return web.Response(
            body=blob, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
        )

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(PAGE),
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"},
        )

    async def loop_a(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop-b")

    async def loop_b(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop-a")

    async def to_wikipedia(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("https://en.wikipedia.org/wiki/Printing_press")

    async def to_image(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://i.imgur.com/funny.gif")

    async def redirect_ok(request: web.Request) -> web.Response:
        raise web.HTTPFound("/real/" + next(iter(real_pages)))

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no")

    async def retry_then_ok(request: web.Request) -> web.Response:
        counts["retry"] += 1
        if counts["retry"] == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.Response(body=PAGE, content_type="text/html")

    async def always_429(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "0"})

    async def retry_after_too_long(request: web.Request) -> web.Response:
        counts["patience"] += 1
        return web.Response(status=503, headers={"Retry-After": "3600"})

    async def binary(request: web.Request) -> web.Response:
        data = bytes(range(256)) * 40
        return web.Response(body=data, headers={"Content-Type": "text/html"})

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + b"\x01" * 100, content_type="image/png")

    async def latin1(request: web.Request) -> web.Response:
        text = "<html><body><p>Café crème, naïve façade, Ærøskøbing.</p></body></html>"
        return web.Response(body=text.encode("cp1252"), headers={"Content-Type": "text/html"})

    async def sjis_meta(request: web.Request) -> web.Response:
        text = '<html><head><meta charset="shift_jis"></head><body><p>日本語のページです。</p></body></html>'
        return web.Response(body=text.encode("shift_jis"), headers={"Content-Type": "text/html"})

    async def robots(request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private/\n")

    app = web.Application()
    app.router.add_get("/real/{name}", real)
    app.router.add_get("/private/page", real)
    app.router.add_get("/robots.txt", robots)
    for path, handler in [
        ("/slow-drip", slow_drip),
        ("/endless", endless),
        ("/length-lie", length_lie),
        ("/gzip-bomb", gzip_bomb),
        ("/gzipped", gzipped),
        ("/loop-a", loop_a),
        ("/loop-b", loop_b),
        ("/to-wikipedia", to_wikipedia),
        ("/to-image", to_image),
        ("/redirect-ok", redirect_ok),
        ("/status/{code}", status),
        ("/retry-then-ok", retry_then_ok),
        ("/always-429", always_429),
        ("/retry-after-too-long", retry_after_too_long),
        ("/binary", binary),
        ("/png", png),
        ("/latin1", latin1),
        ("/sjis", sjis_meta),
    ]:
        app.router.add_get(path, handler)
    app[COUNTS] = counts
    return app


@pytest.fixture(scope="module")
def real_pages(shared_file) -> dict[str, bytes]:
    folder = shared_file("extraction", "dragnet", "input")
    names = sorted(p.name for p in folder.glob("*.html.gz"))[:5]
    return {n[: -len(".gz")]: gzip.decompress((folder / n).read_bytes()) for n in names}


@pytest.fixture(scope="module")
def server(real_pages):
    with LoopbackServer(adversarial_app(real_pages)) as srv:
        yield srv


def make_config(**overrides) -> FetchConfig:
    base = dict(
        allow_private=True,
        host_delay_s=0.0,
        per_host=16,
        total_timeout_s=2.0,
        read_timeout_s=1.0,
        connect_timeout_s=1.0,
        backoff_s=0.1,
        max_retry_after_s=5.0,
        max_body_bytes=1024 * 1024,
    )
    base.update(overrides)
    return FetchConfig(**base)


EXPECTED = {
    "/slow-drip": "timeout",
    "/endless": "too_large",
    "/length-lie": "truncated_body",
    "/gzip-bomb": "decompression_bomb",
    "/loop-a": "redirect_loop",
    "/to-wikipedia": "redirect_wikipedia",
    "/to-image": "redirect_blocked_domain",
    "/status/404": "http_404",
    "/status/500": "http_500",
    "/always-429": "http_429",
    "/retry-after-too-long": "http_503",
    "/binary": "binary_body",
    "/png": "not_html",
}


def test_adversarial_endpoints_each_end_as_their_error_class(server):
    paths = list(EXPECTED)
    outcomes = fetch_urls([server.url(p) for p in paths], make_config())
    got = {p: o.error for p, o in zip(paths, outcomes, strict=True)}
    assert got == EXPECTED
    for outcome in outcomes:
        assert outcome.body is None
        assert outcome.elapsed_ms < 10_000


def test_retries_and_redirects_and_charsets(server, real_pages):
    paths = ["/retry-then-ok", "/redirect-ok", "/gzipped", "/latin1", "/sjis"]
    outcomes = dict(
        zip(paths, fetch_urls([server.url(p) for p in paths], make_config()), strict=True)
    )
    for path, outcome in outcomes.items():
        assert outcome.error is None, (path, outcome.message)
    assert outcomes["/retry-then-ok"].retries == 1
    assert outcomes["/retry-then-ok"].elapsed_ms >= 950  # waited for Retry-After: 1
    redirected = outcomes["/redirect-ok"]
    assert redirected.redirects == 1 and redirected.final_url.endswith(
        "/real/" + next(iter(real_pages))
    )
    assert redirected.body == real_pages[next(iter(real_pages))]
    assert outcomes["/gzipped"].body == PAGE
    latin = outcomes["/latin1"]
    assert "Ærøskøbing" in latin.body.decode(latin.charset)
    sjis = outcomes["/sjis"]
    assert sjis.charset == "shift_jis" and "日本語" in sjis.body.decode(sjis.charset)


def test_retry_after_beyond_patience_gives_up_without_waiting(server):
    before = server.app[COUNTS]["patience"]
    (outcome,) = fetch_urls([server.url("/retry-after-too-long")], make_config())
    assert outcome.error == "http_503" and outcome.retries == 0
    assert server.app[COUNTS]["patience"] - before == 1


def test_loopback_refused_without_allow_private(server):
    outcomes = fetch_urls(
        [server.url("/real/x"), f"http://localhost:{server.port}/real/x"],
        make_config(allow_private=False),
    )
    assert [o.error for o in outcomes] == ["forbidden_address"] * 2


def test_resolve_rule_routes_a_public_name_to_the_server(server, real_pages):
    name = next(iter(real_pages))
    config = make_config(resolve=(f"www.dailyplanet-news.com:80:127.0.0.1:{server.port}",))
    (outcome,) = fetch_urls([f"http://www.dailyplanet-news.com/real/{name}"], config)
    assert outcome.error is None and outcome.body == real_pages[name]
    # The rule does not lift the safety check: a private answer is still refused.
    strict = make_config(resolve=config.resolve, allow_private=False)
    (refused,) = fetch_urls([f"http://www.dailyplanet-news.com/real/{name}"], strict)
    assert refused.error == "forbidden_address"


def test_robots_txt_respected_when_asked(server):
    urls = [server.url("/private/page"), server.url("/gzipped")]
    outcomes = fetch_urls(urls, make_config(respect_robots=True))
    assert [o.error for o in outcomes] == ["robots_disallowed", None]
    assert fetch_urls(urls[:1], make_config())[0].error != "robots_disallowed"


def test_per_host_delay_spaces_requests(server):
    urls = [server.url("/gzipped")] * 4
    outcomes = fetch_urls(urls, make_config(per_host=4, host_delay_s=0.3))
    assert all(o.error is None for o in outcomes)
    # Four request starts 0.3 s apart: the last one waits 0.9 s (a lower bound set by the
    # gate's sleeps, with a margin for clock granularity; not a speed measurement).
    assert max(o.elapsed_ms for o in outcomes) >= 850


def test_memory_stays_bounded_under_endless_bodies_and_bombs(server):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    paths = ["/endless", "/gzip-bomb"] * 8
    outcomes = fetch_urls([server.url(p) for p in paths], make_config(total_timeout_s=5.0))
    assert {o.error for o in outcomes} == {"too_large", "decompression_bomb"}
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    # 16 concurrent responses under a 1 MiB cap; unbounded reads would take gigabytes.
    assert grown_mib < 200, grown_mib
