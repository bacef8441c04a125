"""Is a decoded response body HTML markup, and if so its parsed tree, fragments included.

trafilatura's ``load_html`` refuses a body that has no "html" in its first 50 characters and
parses to fewer than two top-level elements. That is its guard against JSON, plain text or CSV
served as text/html, but it also refuses real HTML fragments: a page saved from its first
``<table>`` on (CleanEval-dev 49), a server that sends only the body part. For the bodies it
refuses, ``looks_like_html_markup`` decides from the text itself, and ``parse_html_document``
parses those that pass into a whole document tree, which trafilatura then takes as it is.

The test has four parts, each a property of markup rather than of one corpus:

1. Start: after a byte-order mark, whitespace, comments, a doctype and processing instructions,
   the text opens with a tag whose name is an HTML element (``HTML_ELEMENTS``). JSON opens with
   '{' or '[', CSV and plain text with a word, markdown with '#', '*', '[' or text.
2. Tags: the first ``SAMPLE_CHARS`` characters hold at least ``MIN_TAGS`` tags.
3. Share: at least ``MIN_MARKUP_SHARE`` of the sample's non-whitespace characters lie inside
   tags. Plain text with one leading ``<b>`` stays out. The most text-heavy of the 1,439 real
   pages in ../shared/data/extraction has 2.8%.
4. Not markdown: markdown block and link syntax (headings, fences, list items, ``](``, ...)
   outside tags is at most ``MAX_MARKDOWN_PER_TAG`` per tag. README-style markdown that opens
   with ``<p align="center">`` passes parts 1-3. The 1,439 real pages score at most 0.08
   (median 0). Of the 106 markdown and reST package descriptions installed with this project,
   the 15 that open with an HTML element score 0.35 or more.

``is_json_document`` is separate and is checked on every body: trafilatura's loader accepts
JSON that mentions "html" near its start, and a whole JSON document is never a page.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lxml import etree
from lxml.html import HTMLParser, defs, document_fromstring

SAMPLE_CHARS = 65_536
MIN_TAGS = 2
MIN_MARKUP_SHARE = 0.01
MAX_MARKDOWN_PER_TAG = 0.25

# lxml's list of HTML 4/5 element names, plus elements it lacks that pages still open with.
HTML_ELEMENTS = frozenset(defs.tags) | frozenset(
    {
        "dialog",
        "frame",
        "main",
        "nobr",
        "noframes",
        "picture",
        "search",
        "slot",
        "template",
        "xmp",
    }
)
# What may precede the first element: BOM, whitespace, comments, doctype, <?xml ...?>.
_PROLOGUE = re.compile(r"(?:\ufeff|\s+|<!--.*?-->|<![A-Za-z][^>]*>|<\?.*?\?>)*", re.DOTALL)
_LEADING_SPACE = re.compile(r"[\ufeff\s]*")
_START_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]*)[\s/>]")
_TAG = re.compile(r"<[A-Za-z!/?][^<>]*>")
_WHITESPACE = re.compile(r"\s+")
_MARKDOWN = re.compile(
    r"^(?:#{1,6}[ \t]|```|~~~|[=-]{3,}[ \t]*$|[ \t]*[-*+][ \t]+\S|[ \t]*\d+\.[ \t]+\S"
    r"|\.\. |>[ \t])|\]\(|!\[",
    re.MULTILINE,
)
# The options trafilatura parses with: comments and processing instructions dropped.
_PARSER = HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)


def first_element_name(text: str) -> str | None:
    """The lower-cased name of the tag the text opens with after its prologue, else None."""
    start = _PROLOGUE.match(text)
    match = _START_TAG.match(text, start.end() if start else 0)
    return match.group(1).lower() if match else None


def is_json_document(text: str) -> bool:
    """True when the whole text is one JSON array or object. trafilatura's loader takes JSON
    that mentions "html" early (an API reply such as {"html": "<div>..."}) as a page, so this
    is checked on every body; it costs nothing for markup, which opens with '<'."""
    match = _LEADING_SPACE.match(text)
    start = match.end() if match else 0
    if text[start : start + 1] not in ("{", "["):
        return False
    try:
        json.loads(text[start:])
    except ValueError:
        return False
    return True


def looks_like_html_markup(text: str) -> bool:
    """True when ``text`` is HTML markup by the four-part test of the module docstring."""
    if first_element_name(text) not in HTML_ELEMENTS:
        return False
    sample = text[:SAMPLE_CHARS]
    tags = _TAG.findall(sample)
    if len(tags) < MIN_TAGS:
        return False
    inside = sum(len(_WHITESPACE.sub("", tag)) for tag in tags)
    if inside < MIN_MARKUP_SHARE * len(_WHITESPACE.sub("", sample)):
        return False
    markdown = len(_MARKDOWN.findall(_TAG.sub(" ", sample)))
    return markdown <= MAX_MARKDOWN_PER_TAG * len(tags)


def parse_html_document(text: str) -> Any | None:
    """The whole-document lxml tree of HTML markup (a fragment gets <html> and <body> around
    it), or None when lxml finds nothing to parse."""
    try:
        tree = document_fromstring(text.encode("utf-8", "surrogatepass"), parser=_PARSER)
    except etree.ParserError:  # "Document is empty"
        return None
    return tree if len(tree) else None
