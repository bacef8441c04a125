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
