"""Every list entry is well-formed and has the effect it is there for (one public list lost two
entries to a missing comma: string concatenation would show up here as a malformed entry)."""

from __future__ import annotations

import re

import pytest

from pipeline.blocklists import (
    BLOCKED_DOMAINS,
    BLOCKED_EXTENSIONS,
    REDDIT_HOSTS,
    TRACKING_PARAMS,
    WIKIPEDIA_EXTRA_HOSTS,
)
from pipeline.link_rules import check_url, is_wikipedia_host

HOST = re.compile(r"^(?!-)[a-z0-9-]+(\.[a-z0-9-]+)+$")


@pytest.mark.parametrize("domain", sorted(BLOCKED_DOMAINS))
def test_each_blocked_domain_blocks_itself_and_subdomains(domain: str) -> None:
    assert HOST.match(domain), domain
    assert check_url(f"http://{domain}/some/page") == "blocked_domain"
    assert check_url(f"https://sub.{domain}/x") == "blocked_domain"
    assert check_url(f"http://not{domain}/x") != "blocked_domain"


@pytest.mark.parametrize("host", sorted(REDDIT_HOSTS))
def test_each_reddit_host_is_not_outbound(host: str) -> None:
    assert HOST.match(host), host
    assert check_url(f"https://{host}/r/x/comments/1") == "reddit_link"
    assert check_url(f"https://old.{host}/r/x") == "reddit_link"


@pytest.mark.parametrize("host", sorted(WIKIPEDIA_EXTRA_HOSTS))
def test_each_wikipedia_mirror_is_dropped(host: str) -> None:
    assert HOST.match(host), host
    assert check_url(f"https://{host}/Some_Article") == "wikipedia"


@pytest.mark.parametrize(
    "host",
    [
        "en.wikipedia.org",
        "de.m.wikipedia.org",
        "wikipedia.org",
        "simple.wikipedia.org",
        "zh-yue.wikipedia.org",
    ],
)
def test_every_wikipedia_edition_is_dropped(host: str) -> None:
    assert is_wikipedia_host(host)
    assert check_url(f"http://{host}/wiki/X") == "wikipedia"


@pytest.mark.parametrize("ext", sorted(BLOCKED_EXTENSIONS))
def test_each_blocked_extension(ext: str) -> None:
    assert re.fullmatch(r"[a-z0-9]{1,8}", ext), ext
    assert check_url(f"http://example.com/files/thing.{ext}") == "blocked_extension"
    assert check_url(f"http://example.com/files/thing.{ext.upper()}?x=1") == "blocked_extension"
    assert check_url(f"http://example.com/{ext}/index") != "blocked_extension"


@pytest.mark.parametrize("param", sorted(TRACKING_PARAMS))
def test_each_tracking_param_is_dropped(param: str) -> None:
    assert re.fullmatch(r"[a-z_.]+", param), param
    result = check_url(f"http://example.com/a?id=3&{param}=zzz")
    assert not isinstance(result, str)
    assert result.url == "http://example.com/a?id=3"


@pytest.mark.parametrize(
    "url",
    [
        # WebText kept these (see ../shared/data/webtext/domains.txt) although OpenWebText's
        # lists drop some of them: the link rules must keep them.
        "https://github.com/openai/gpt-2",
        "https://www.google.com/search?q=x",
        "https://web.archive.org/web/2005/http://example.com/",
        "https://pastebin.com/abc",
        "https://www.nytimes.com/2019/01/01/story.html",
        "https://medium.com/@someone/post",
        "https://en.wikia.com/wiki/Page",
    ],
)
def test_webtext_domains_are_kept(url: str) -> None:
    assert not isinstance(check_url(url), str)


# WebText's frequent domain labels that our lists touch on purpose: media/social/file hosts,
# and labels (google, apple, live) of which only specific subdomains are blocked.
DELIBERATE = {
    "live",
    "prnt",
    "last",
    "mixcloud",
    "postimg",
    "linkedin",
    "pinterest",
    "t",
    "ibb",
    "flic",
    "mediafire",
    "vid",
    "apple",
    "google",
}


def test_webtext_top_domains_are_kept_except_deliberate_blocks(shared_file) -> None:
    """Any newly blocked label among WebText's 1,000 most frequent domains must be a choice."""
    pairs = [
        line.split() for line in shared_file("webtext", "domains.txt").read_text().splitlines()
    ]
    labels = {p[1] for p in pairs if len(p) == 2}
    assert len(labels) > 900
    blocked_labels = {d.split(".")[-2] for d in BLOCKED_DOMAINS}
    assert labels & blocked_labels <= DELIBERATE
    for label in ("google", "apple"):  # only subdomains of these are blocked
        assert not isinstance(check_url(f"https://www.{label}.com/about"), str)
