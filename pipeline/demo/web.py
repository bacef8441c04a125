"""The demo's small web: a loopback HTTP server that answers for the demo's news hosts with
generated, real-looking article pages, and the demo step that fetches and extracts them.

Every page carries the boilerplate extraction must remove (navigation, cookie banner, ads,
"most read" lists, footer). Some pages are special, so later stages have real work:
  * two syndicated near-copies of other articles (dedup must find them);
  * a redirect to Wikipedia (fetch drops it by its final URL);
  * a dead link (404) and a search page too short for the length filter;
  * a slow host (every answer delayed), gzip-encoded pages and a windows-1252 site.
Pages are generated deterministically from their URL: the same demo, the same text.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import random
from pathlib import Path

from aiohttp import web

from beam_jobs.extract_job import ExtractJob, ExtractJobConfig, run_extract
from beam_jobs.fetch_job import FetchJob, FetchJobConfig, run_fetch
from pipeline.demo.data import NEWS_SITES
from pipeline.fetch.client import FetchConfig
from pipeline.io import schemas, shards
from pipeline.webserver import LoopbackServer

SLOW_HOST = "blog.sciencecorner.io"
SLOW_DELAY_S = 0.4
GZIP_HOSTS = frozenset({"techreview.example.net"})
CP1252_HOSTS = frozenset({"citychronicle.co.uk"})
WIKIPEDIA_REDIRECTS = {
    ("citychronicle.co.uk", "/2019/string-time"): "https://en.wikipedia.org/wiki/Printing_press"
}
DEAD = frozenset({("www.dailyplanet-news.com", "/2019/no-subreddit")})
TINY = frozenset({("blog.sciencecorner.io", "/search")})
# (host, path) -> the (host, path) whose article it re-publishes with small edits.
NEAR_COPIES = {
    ("www.worldaffairs-weekly.com", "/2019/11/the-economics-of-coffee.html"): (
        "www.worldaffairs-weekly.com",
        "/2019/05/how-solar-panels-are-recycled.html",
    ),
    ("citychronicle.co.uk", "/2019/12/understanding-compound-interest.html"): (
        "techreview.example.net",
        "/2019/03/open-source-project-reaches-1-0.html",
    ),
}

_SUBJECTS = [
    "the committee",
    "local officials",
    "the research team",
    "residents",
    "engineers",
    "the project's maintainers",
    "economists",
    "the city council",
    "volunteers",
    "analysts",
    "the company",
    "teachers",
    "the organisers",
    "independent experts",
    "the authors",
]
_VERBS = [
    "reviewed",
    "questioned",
    "measured",
    "described",
    "welcomed",
    "criticised",
    "compared",
    "published",
    "studied",
    "defended",
    "documented",
    "challenged",
    "tested",
    "explained",
]
_OBJECTS = [
    "the latest figures",
    "a detailed report",
    "the proposal",
    "several earlier attempts",
    "the long-term costs",
    "data collected over three years",
    "the first results",
    "a set of recommendations",
    "the original plan",
    "public feedback",
    "the new approach",
]
_CLAUSES = [
    "before the final vote in March",
    "after months of careful work",
    "despite concerns raised by critics",
    "according to people familiar with the matter",
    "in a statement released on Tuesday",
    "as part of a wider review",
    "while noting that more work remains",
    "with support from several partners",
    "although the details are still being discussed",
    "in interviews with this newspaper",
]
_QUOTES = [
    "We did not expect the response to be this strong",
    "The numbers tell a clearer story than the headlines",
    "It took a lot of patient work from many people",
    "There is still a great deal we do not understand",
    "This is only the first step, not the last one",
    "People deserve a straight answer about what happens next",
]


def _rng(key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def _topic_words(path: str) -> list[str]:
    slug = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
    words = [w for w in slug.split("-") if len(w) > 3 and not w.isdigit()]
    return words or ["story"]


def headline(path: str) -> str:
    slug = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
    return slug.replace("-", " ").strip().capitalize() or "Untitled"


def article_paragraphs(key: str, path: str, n_paragraphs: int = 7) -> list[str]:
    """Multi-paragraph article text, deterministic in ``key``, about the words of ``path``."""
    rng = _rng(key)
    topic = _topic_words(path)
    paragraphs = []
    for i in range(n_paragraphs):
        sentences = []
        for _ in range(rng.randint(3, 5)):
            word = rng.choice(topic)
            sentence = (
                f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} "
                f"{rng.choice(_OBJECTS)} on the {word} question {rng.choice(_CLAUSES)}."
            )
            sentences.append(sentence)
        if i % 3 == 1:
            sentences.append(
                f'"{rng.choice(_QUOTES)}," one of them said of the {rng.choice(topic)} work.'
            )
        paragraphs.append(" ".join(sentences))
    return paragraphs


def _site_name(host: str) -> str:
    name = host.removeprefix("www.").split(".")[0]
    return name.replace("-", " ").title()


def _chrome(host: str, title: str, main: str) -> str:
    site = html.escape(_site_name(host))
    nav = "".join(
        f'<li><a href="/section/{s.lower()}">{s}</a></li>'
        for s in ("World", "Politics", "Business", "Science", "Technology", "Sport", "Opinion")
    )
    most_read = "".join(
        f'<li><a href="/2019/{i:02d}/popular-{i}.html">{t}</a></li>'
        for i, t in enumerate(
            ["Ten things to know this week", "Markets close higher", "Weather warning issued"], 1
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="{{charset}}"><title>{html.escape(title)} | {site}</title>
<meta property="og:title" content="{html.escape(title)}">
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience and
to show personalised ads. By continuing you accept our cookie policy.</p>
<button>Accept all cookies</button><button>Manage settings</button></div>
<header><a class="logo" href="/">{site}</a><nav><ul>{nav}</ul></nav>
<form action="/search"><input name="q" placeholder="Search"></form></header>
<div class="ad ad-leaderboard">Advertisement</div>
<main>{main}</main>
<aside class="sidebar"><h3>Most read</h3><ol>{most_read}</ol>
<div class="ad ad-mpu">Advertisement</div>
<div class="newsletter">Sign up for our daily newsletter <input type="email"></div></aside>
<footer><p>&copy; 2019 {site} Media Group. All rights reserved.</p>
<ul><li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li>
<li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li></ul>
</footer></body></html>
"""


def article_html(host: str, path: str) -> str:
    """The full page of an article URL (near-copies re-publish another article's text)."""
    source = NEAR_COPIES.get((host, path))
    text_key = f"{source[0]}{source[1]}" if source else f"{host}{path}"
    text_path = source[1] if source else path
    paragraphs = article_paragraphs(text_key, text_path)
    title = headline(text_path)
    if source:  # syndicated copy: a line of its own and one paragraph rewritten
        paragraphs[3] = article_paragraphs(f"{host}{path}", path, 4)[3]
        paragraphs.insert(0, f"This article first appeared on {_site_name(source[0])}.")
    rng = _rng(f"byline{host}{path}")
    byline = (
        f"By {rng.choice(['Ana Ruiz', 'Tom Becker', 'Priya Nair', 'Lena Olsen', 'Sam Okafor'])}"
    )
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    main = (
        f'<article><h1>{html.escape(title)}</h1><p class="byline">{byline} &middot; '
        f'<time datetime="2019-06-01">1 June 2019</time></p>\n{body}'
        '<div class="share">Share this article: Facebook Twitter Email</div></article>'
        '<section class="related"><h3>Related</h3><ul>'
        '<li><a href="/2019/01/more.html">More from this section</a></li></ul></section>'
    )
    return _chrome(host, title, main)


def tiny_html(host: str) -> str:
    return _chrome(host, "Search", "<h1>Search results</h1><p>2 results for frogs.</p>")


def demo_web_app() -> web.Application:
    """The aiohttp application answering for every demo host (by the Host header)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        host = (request.host or "").split(":")[0].lower()
        path = request.path
        if host == SLOW_HOST:
            await asyncio.sleep(SLOW_DELAY_S)
        if path == "/robots.txt":
            return web.Response(text="User-agent: *\nDisallow: /admin/\n")
        if host not in NEWS_SITES:
            return web.Response(status=404, text="unknown host")
        if (host, path) in WIKIPEDIA_REDIRECTS:
            raise web.HTTPMovedPermanently(WIKIPEDIA_REDIRECTS[(host, path)])
        if (host, path) in DEAD:
            return web.Response(
                status=404, text="<h1>Page not found</h1>", content_type="text/html"
            )
        if (host, path) in TINY:
            page = tiny_html(host)
        elif path.startswith("/20") and path.endswith(".html"):
            page = article_html(host, path)
        else:
            return web.Response(
                status=404, text="<h1>Page not found</h1>", content_type="text/html"
            )
        charset = "windows-1252" if host in CP1252_HOSTS else "utf-8"
        body = page.replace("{charset}", charset).encode(charset, errors="xmlcharrefreplace")
        headers = {"Content-Type": f"text/html; charset={charset}"}
        if host in GZIP_HOSTS:
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


def demo_resolve_rules(port: int) -> tuple[str, ...]:
    """--resolve rules sending the demo hosts (HTTP, port 80) to the loopback server."""
    return tuple(f"{host}:80:127.0.0.1:{port}" for host in NEWS_SITES)


def fetch_extract_step(root: Path, beam_args: list[str]) -> None:
    """The demo's fetch + extract: root/links -> root/pages -> root/docs, offline."""
    root = Path(root)
    links_dir, pages_dir, docs_dir = (str(root / n) for n in ("links", "pages", "docs"))
    with LoopbackServer(demo_web_app()) as server:
        print(f"[demo] demo web serving {len(NEWS_SITES)} news hosts on 127.0.0.1:{server.port}")
        fetch = FetchConfig(
            allow_private=True,
            resolve=demo_resolve_rules(server.port),
            host_delay_s=0.05,
            per_host=4,
            total_timeout_s=10.0,
            max_retries=1,
        )
        fetch_config = FetchJobConfig(links_dir, pages_dir, fetch=fetch, num_shards=2)
        run_fetch(fetch_config, beam_args)
    print(FetchJob(fetch_config).summary(prefix="[demo] "))
    extract_config = ExtractJobConfig(pages_dir, docs_dir, num_shards=2)
    run_extract(extract_config, beam_args)
    print(ExtractJob(extract_config).summary(prefix="[demo] "))
    docs = shards.read_rows(docs_dir, schemas.DOCS)
    print(f"[demo] {len(docs)} documents:")
    for doc in sorted(docs, key=lambda d: d["url"]):
        print(f"  {doc['n_chars']:>6} chars  {doc['title']!s:<45.45}  {doc['url']}")
