"""URL normalisation: variants of one link share a key; the cleaned URL stays fetchable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.urls import InvalidUrl, normalize_url, unescape_entities, url_id


@pytest.mark.parametrize(
    "variant",
    [
        "http://www.example.com/news/story",
        "https://example.com/news/story/",
        "HTTP://WWW.EXAMPLE.COM:80/news/story",
        "https://www.example.com:443/news/story#comments",
        "http://example.com/news/story?utm_source=reddit&utm_medium=social",
        "http://example.com/news/story?fbclid=IwAR0abc",
        "  http://example.com./news/story  ",
    ],
)
def test_variants_of_one_link_share_a_key(variant: str) -> None:
    assert normalize_url(variant).key == "example.com/news/story"


def test_cleaned_url_keeps_what_the_server_needs() -> None:
    norm = normalize_url("HTTPS://www.Example.com:8443/a/b?id=7&utm_campaign=x#frag")
    assert norm.url == "https://www.example.com:8443/a/b?id=7"
    assert norm.host == "www.example.com"
    assert norm.domain == "example.com"
    assert norm.key == "example.com:8443/a/b?id=7"


def test_entities_are_unescaped_even_when_doubled() -> None:
    assert normalize_url("http://a.com/s?q=1&amp;p=2").url == "http://a.com/s?q=1&p=2"
    assert unescape_entities("a&amp;amp;b") == "a&b"


def test_query_order_does_not_make_two_links() -> None:
    assert (
        normalize_url("http://a.com/s?x=1&y=2").key == normalize_url("http://a.com/s?y=2&x=1").key
    )


def test_hashbang_fragment_is_kept() -> None:
    assert normalize_url("http://a.com/#!/page/7").url == "http://a.com/#!/page/7"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "javascript:alert(1)",
        "ftp://files.example.com/x",
        "mailto:someone@example.com",
        "http://",
        "http://localhost/page",
        "http://exa mple.com/",
        "http://example.com/a b",
        "http://example.com:99999/",
        "/r/news/comments/abc",
        "www.example.com/no-scheme",
    ],
)
def test_invalid_urls_are_refused(bad: str) -> None:
    with pytest.raises(InvalidUrl):
        normalize_url(bad)


def test_url_id_is_stable() -> None:
    assert url_id("example.com/news/story") == url_id("example.com/news/story")
    assert len(url_id("x")) == 16


_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(com|org|co\.uk|net)", fullmatch=True)
_segments = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True), max_size=4)
_params = st.lists(
    st.tuples(
        st.from_regex(r"[a-z]{1,5}", fullmatch=True),
        st.from_regex(r"[a-z0-9]{0,5}", fullmatch=True),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    www=st.booleans(),
    host=_hosts,
    segments=_segments,
    params=_params,
    slash=st.booleans(),
)
def test_normalisation_is_idempotent_and_key_ignores_cosmetics(
    scheme: str,
    www: bool,
    host: str,
    segments: list[str],
    params: list[tuple[str, str]],
    slash: bool,
) -> None:
    path = "/" + "/".join(segments) + ("/" if slash and segments else "")
    query = "&".join(f"{k}={v}" for k, v in params)
    raw = f"{scheme}://{'www.' if www else ''}{host}{path}" + (f"?{query}" if query else "")
    norm = normalize_url(raw)
    again = normalize_url(norm.url)
    assert again.url == norm.url
    assert again.key == norm.key
    flipped = f"{'https' if scheme.lower() == 'http' else 'http'}://{host}{path.rstrip('/') or '/'}"
    flipped += f"?{query}" if query else ""
    assert normalize_url(flipped).key == norm.key


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_either_normalises_or_raises_invalid_url(text: str) -> None:
    try:
        norm = normalize_url(text)
    except InvalidUrl:
        return
    assert norm.url.startswith(("http://", "https://"))
    assert " " not in norm.url


# --- url as submitted (issue 15): only the key is re-encoded ---------------------------------


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        (
            "http://www.nytimes.com/2005/x.html?hp&amp;ex=1120017600&amp;partner=homepage",
            "http://www.nytimes.com/2005/x.html?hp&ex=1120017600&partner=homepage",
        ),
        (
            "http://www.japantimes.co.jp/cgi-bin/getarticle.pl5?nn20050703a2.htm",
            "http://www.japantimes.co.jp/cgi-bin/getarticle.pl5?nn20050703a2.htm",
        ),
        (
            "http://www.dnj.com/apps/pbcs.dll/article?AID=/20050702/NEWS01/507020302/1002",
            "http://www.dnj.com/apps/pbcs.dll/article?AID=/20050702/NEWS01/507020302/1002",
        ),
        (
            "http://a.com/p?mod=most%5Fviewed%5Fday&title=Super%20Mario&utm_source=rss#top",
            "http://a.com/p?mod=most%5Fviewed%5Fday&title=Super%20Mario",
        ),
        ("http://a.com/p?utm_source=rss&utm_medium=x", "http://a.com/p"),
        ("http://a.com/caf\u00e9?q=\u00e9", "http://a.com/caf%C3%A9?q=%C3%A9"),
    ],
)
def test_url_keeps_the_query_as_submitted(raw: str, url: str) -> None:
    assert normalize_url(raw).url == url


def _key_before_issue_15(raw: str) -> str:
    """The key exactly as pipeline/urls.py computed it before ``url`` kept the submitted query
    (commit 1064941): links/ written before keep their url_key and link_id."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit

    from pipeline.urls import is_tracking_param

    parts = urlsplit(unescape_entities(raw.strip()))
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").rstrip("."), parts.port
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    pairs = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(k)
    ]
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    domain = host[4:] if host.startswith("www.") else host
    default = {"http": 80, "https": 443}[scheme]
    netloc = domain if port is None or port == default else f"{domain}:{port}"
    query = urlencode(sorted(pairs), doseq=True) if pairs else ""
    key = netloc + path.rstrip("/") + (f"?{query}" if query else "")
    return key + (f"#{fragment}" if fragment else "")


_query_piece = st.from_regex(r"[A-Za-z0-9._~!$'()*+,;:@/?%=-]{0,12}", fullmatch=True).filter(
    lambda p: not p.lower().startswith(("utm_", "fbclid", "gclid"))
)
_tracking_piece = st.sampled_from(["utm_source=x", "utm_medium=", "fbclid=IwAR0", "gclid=1"])


@settings(max_examples=400, deadline=None)
@given(
    path=st.from_regex(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,8}){0,3}", fullmatch=True),
    pieces=st.lists(_query_piece, min_size=1, max_size=5),
    tracking=st.lists(st.tuples(st.integers(0, 5), _tracking_piece), max_size=3),
    fragment=st.sampled_from(["", "#top", "#!/page/7"]),
)
def test_untouched_query_bytes_survive_and_the_key_is_unchanged(
    path: str, pieces: list[str], tracking: list[tuple[int, str]], fragment: str
) -> None:
    query_pieces = list(pieces)
    for at, piece in tracking:
        query_pieces.insert(min(at, len(query_pieces)), piece)
    raw = f"http://www.Example.com{path}?{'&'.join(query_pieces)}{fragment}"
    norm = normalize_url(raw)
    url_query = norm.url.split("?", 1)[1].split("#", 1)[0] if "?" in norm.url else ""
    if tracking:  # tracking pieces gone, every other non-empty piece byte for byte, in order
        assert url_query == "&".join(p for p in pieces if p)
    else:  # nothing to remove: the query is exactly as submitted
        assert url_query == "&".join(pieces)
    assert "utm_" not in url_query and "fbclid" not in url_query and "gclid" not in url_query
    assert norm.url.startswith("http://www.example.com" + (path or "/"))
    assert norm.url.endswith("#!/page/7") == (fragment == "#!/page/7")
    assert norm.key == _key_before_issue_15(raw)
    again = normalize_url(norm.url)  # the url is a fixed point and keeps the key
    assert again.url == norm.url
    assert again.key == norm.key


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_key_is_unchanged_for_arbitrary_paths_and_queries(tail: str) -> None:
    raw = "https://news.example.org/" + tail
    try:
        norm = normalize_url(raw)
    except InvalidUrl:
        return
    assert norm.key == _key_before_issue_15(raw)
    assert normalize_url(norm.url).key == norm.key


def test_real_dumps_keep_every_key_and_every_untracked_query() -> None:
    """On the real 2005 dumps: every url_key is what it was, and every query without a
    tracking parameter is kept exactly as submitted (the old code re-encoded 55 of 1,182)."""
    import json
    import lzma
    from pathlib import Path
    from urllib.parse import urlsplit

    from pipeline.urls import is_tracking_param

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "reddit"
    files = sorted(data.glob("RS_v2_2005-0*.xz"))
    if not files:
        pytest.skip(f"no Reddit dumps in {data}")
    total = tracked = 0
    for path in files:
        with lzma.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                raw = json.loads(line).get("url")
                try:
                    norm = normalize_url(raw)
                except InvalidUrl:
                    continue
                total += 1
                assert norm.key == _key_before_issue_15(raw), raw
                submitted = urlsplit(unescape_entities(raw.strip())).query
                names = [p.partition("=")[0] for p in submitted.split("&")]
                if any(is_tracking_param(n) for n in names):
                    tracked += 1
                    continue
                assert urlsplit(norm.url).query == submitted, raw
    assert total > 1000
    assert tracked < 10
