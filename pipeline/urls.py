"""URL validity and normalisation for link aggregation.

Two forms come out of :func:`normalize_url`:
  * ``url``: the URL as submitted, made fetchable and nothing more: entities unescaped,
    lower-case scheme and host, no default port, no fragment (but ``#!``), no tracking
    parameters. The rest of the query is kept byte for byte (``?hp&ex=1``, ``?AID=/2005/x``,
    ``?nn2005.htm`` stay as they are: old CGI servers and archive indexes saw exactly that);
    only characters that may not appear in a URL at all (non-ASCII, ``"``, ``<``, ``>``, and
    in the path also backtick, braces, ...) are percent-encoded, as a browser does.
  * ``key``: the identity of the link, insensitive to http/https, a leading ``www.``, a
    trailing slash, query-parameter order and query encoding, so those variants aggregate as
    one link. Only the key is re-encoded (``parse_qsl`` + ``urlencode``).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

from pipeline.blocklists import TRACKING_PARAMS, TRACKING_PREFIXES

_DEFAULT_PORTS = {"http": 80, "https": 443}
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_HOST_OK = re.compile(r"^[a-z0-9_\-.\u00a0-\uffff]+$")
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
# Printable ASCII a browser sends as typed in a query: all but space, '"', '#', '<', '>'
# (WHATWG's query percent-encode set). '%' is kept, so an escape is never escaped twice.
_SAFE_QUERY = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"#<>')


class InvalidUrl(ValueError):
    """The string is not an http(s) URL with a host. ``reason`` names the rule broken."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"{reason}: {url!r}")
        self.reason = reason


@dataclass(frozen=True)
class NormalizedUrl:
    url: str
    key: str
    host: str  # lower-case, no port, no trailing dot
    domain: str  # host without a leading "www."
    path: str


def unescape_entities(text: str) -> str:
    """Undo HTML entity escaping, also when applied more than once (``&amp;amp;``)."""
    for _ in range(3):
        if "&" not in text:
            break
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return text


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def normalize_url(raw: str) -> NormalizedUrl:
    """Clean a submitted URL; raise :class:`InvalidUrl` when it cannot be an outbound link."""
    if not isinstance(raw, str):
        raise InvalidUrl("invalid_url", repr(raw))
    text = unescape_entities(raw.strip())
    if not text:
        raise InvalidUrl("invalid_url", raw)
    if _WHITESPACE_OR_CONTROL.search(text):
        raise InvalidUrl("invalid_url", raw)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # bad port, bad IPv6 literal
        raise InvalidUrl("invalid_url", raw) from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidUrl("invalid_url", raw)
    host = (parts.hostname or "").rstrip(".")
    if not host or "." not in host.strip("[]") and not host.startswith("["):
        raise InvalidUrl("invalid_url", raw)
    if not host.startswith("[") and not _HOST_OK.match(host):
        raise InvalidUrl("invalid_url", raw)
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = quote(parts.path or "/", safe=_SAFE_PATH)
    query_pairs = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(k)
    ]
    # "#!" fragments carry the page on old AJAX sites; every other fragment is dropped.
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    url = urlunsplit(
        (scheme, netloc, submitted_path(parts.path), submitted_query(parts.query), fragment)
    )

    domain = host[4:] if host.startswith("www.") else host
    key_netloc = domain if port is None or port == _DEFAULT_PORTS[scheme] else f"{domain}:{port}"
    key_path = path.rstrip("/")
    key_query = urlencode(sorted(query_pairs), doseq=True) if query_pairs else ""
    key = key_netloc + key_path + (f"?{key_query}" if key_query else "")
    if fragment:
        key += f"#{fragment}"
    return NormalizedUrl(url=url, key=key, host=host, domain=domain, path=path)


def submitted_path(path: str) -> str:
    """The path as submitted; only characters never allowed in a URL path are encoded."""
    if not path:
        return "/"
    if path.isascii() and not _PATH_UNSAFE.search(path):
        return path
    return quote(path, safe=_SAFE_PATH_SUBMITTED)


_PATH_UNSAFE = re.compile(r'["<>`{}\x00-\x20\x7f]')
# Printable ASCII but the WHATWG path percent-encode set ('"', '#', '<', '>', '?', '`', '{',
# '}'; '#' and '?' cannot be in a split path anyway).
_SAFE_PATH_SUBMITTED = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"#<>?`{}')


def submitted_query(query: str) -> str:
    """The query as submitted, less its tracking parameters: every other piece is kept byte
    for byte (no ``=`` added, no ``/`` escaped, order kept). Without a tracking parameter the
    query is unchanged; with one, the remaining non-empty pieces are joined by ``&``."""
    if not query:
        return ""
    pieces = query.split("&")
    kept = [p for p in pieces if not is_tracking_param(unquote_plus(p.partition("=")[0]))]
    if len(kept) != len(pieces):
        kept = [p for p in kept if p]
    text = "&".join(kept)
    if text.isascii() and '"' not in text and "<" not in text and ">" not in text:
        return text
    return quote(text, safe=_SAFE_QUERY)


def url_id(key: str) -> str:
    """Stable id of a link or document, derived from its URL key (16 hex characters)."""
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
