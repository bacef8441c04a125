"""Which submissions are outbound links worth fetching. Each rule returns a drop reason."""

from __future__ import annotations

from pipeline.blocklists import (
    BLOCKED_DOMAINS,
    BLOCKED_EXTENSIONS,
    REDDIT_HOSTS,
    WIKIPEDIA_EXTRA_HOSTS,
)
from pipeline.urls import InvalidUrl, NormalizedUrl, normalize_url


def host_matches(host: str, entries: frozenset[str]) -> bool:
    """True when host is an entry or a subdomain of one (label boundaries respected)."""
    if host in entries:
        return True
    dot = host.find(".")
    while dot >= 0:
        if host[dot + 1 :] in entries:
            return True
        dot = host.find(".", dot + 1)
    return False


def is_reddit_host(host: str) -> bool:
    return host_matches(host, REDDIT_HOSTS)


def is_wikipedia_host(host: str) -> bool:
    """Every language edition and mobile host (en.m.wikipedia.org), and known mirrors."""
    labels = host.split(".")
    return "wikipedia" in labels[:-1] or host_matches(host, WIKIPEDIA_EXTRA_HOSTS)


def path_extension(path: str) -> str:
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return ""
    return last.rsplit(".", 1)[-1].lower()


def url_drop_reason(norm: NormalizedUrl) -> str | None:
    """The first rule a normalised URL breaks, or None if it may be fetched."""
    if is_reddit_host(norm.host):
        return "reddit_link"
    if is_wikipedia_host(norm.host):
        return "wikipedia"
    if host_matches(norm.host, BLOCKED_DOMAINS):
        return "blocked_domain"
    if path_extension(norm.path) in BLOCKED_EXTENSIONS:
        return "blocked_extension"
    return None


def check_url(raw: str) -> NormalizedUrl | str:
    """Normalise and apply the URL rules: a NormalizedUrl, or the reason it is dropped."""
    try:
        norm = normalize_url(raw)
    except InvalidUrl as exc:
        return exc.reason
    return url_drop_reason(norm) or norm
