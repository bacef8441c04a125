"""Stage 3 logic: a fetched page -> its main text, or the counted reason it is dropped.

The body is parsed by trafilatura's loader. An HTML fragment that loader refuses (no "html"
near the start, one top-level element: a page saved from its first <table> on) is parsed here
instead, when pipeline/html_markup.py finds it is markup. Bodies that are not markup (JSON,
plain text, CSV, markdown served as text/html) are dropped as 'not_html_markup'.
trafilatura finds the main text in its balanced mode with user comments left out (the GPT-2
paper's Dragnet extracted article content, not comments). trafilatura sometimes keeps only one
part of a page whose content is split into several blocks (a blog front page with several posts):
when its baseline extractor, run on the page with comment sections removed, finds more than
``fallback_ratio`` times as much text, that text is taken instead. Every setting is exposed
(precision or recall mode, comments, tables, the fallback). Measured against plain trafilatura
on Dragnet and CleanEval in bench/extract.py. Quality filters then drop what is not an article: pages
whose final URL breaks the link rules (Wikipedia after a redirect), bot and cookie walls, texts
under a minimum length (OpenWebText: 128 tokens) and, optionally, other languages (py3langid,
which ships its model: nothing is downloaded at run time).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from pipeline.extract_config import ExtractConfig
from pipeline.fetch.content import decode_html, decompress_body
from pipeline.fetch.records import LINK_METADATA_FIELDS
from pipeline.html_markup import is_json_document, looks_like_html_markup, parse_html_document
from pipeline.link_rules import check_url

# Phrases of interstitials that stand in for the page. Matched on short texts only, so an
# article that discusses CAPTCHAs or cookies is kept.
BOT_WALL_PHRASES = (
    "verify you are human",
    "verify that you are human",
    "are you a robot",
    "are you a human",
    "checking your browser",
    "enable javascript",
    "javascript is disabled",
    "javascript is required",
    "requires javascript",
    "please enable js",
    "unusual traffic from your computer",
    "complete the security check",
    "ddos protection by",
    "attention required!",
    "access denied",
    "captcha",
)
COOKIE_WALL_PHRASES = (
    "accept cookies",
    "accept all cookies",
    "we use cookies",
    "this site uses cookies",
    "this website uses cookies",
    "consent to the use of cookies",
    "manage cookie",
    "cookie settings",
    "cookie preferences",
)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Containers of user comments (WordPress, Blogger, Disqus, ...), removed before the baseline
# fallback so that it recovers article text the main extractor missed, not the discussion.
_COMMENT_CONTAINERS = etree.XPath(
    ".//*[self::div or self::section or self::ol or self::ul or self::aside or self::article]"
    "[re:test(@id, 'comment|disqus|respond', 'i') or re:test(@class, 'comment|disqus', 'i')]",
    namespaces={"re": "http://exslt.org/regular-expressions"},
)
_VISIBLE_TEXT = etree.XPath("//body//text()[not(ancestor::script or ancestor::style)]")


def count_tokens(text: str) -> int:
    """Words and punctuation marks: close to GPT-2 BPE counts for English prose (BPE splits
    rare words further), cheap, and tokenizer-free."""
    return len(_TOKEN.findall(text))


def wall_reason(text: str, n_tokens: int, config: ExtractConfig) -> str | None:
    """'bot_wall' or 'cookie_wall' when a short text is an interstitial, else None."""
    if n_tokens >= config.wall_max_tokens:
        return None
    lowered = text.lower()
    if any(p in lowered for p in BOT_WALL_PHRASES):
        return "bot_wall"
    if any(p in lowered for p in COOKIE_WALL_PHRASES):
        return "cookie_wall"
    return None


def detect_language(text: str) -> str:
    import py3langid

    lang, _ = py3langid.classify(text[:5000])
    return str(lang)


def visible_text_length(tree: Any) -> int:
    """Characters of body text outside scripts and styles: an upper bound on what any
    extractor can take from the page's markup."""
    return sum(len(t.strip()) for t in _VISIBLE_TEXT(tree))


def choose_text(main: str, tree: Any, ratio: float, min_chars: int = 0) -> str:
    """The main extraction, or the baseline text of the page without its comment sections
    when that is more than ``ratio`` times longer (in characters) and the main extraction
    has at least ``min_chars`` characters.

    trafilatura's baseline takes, in order, a JSON-LD article body, <article> elements, all
    paragraphs, else all text. ``tree`` is pruned in place (pass a tree that is not needed
    afterwards). The baseline only runs when the remaining visible text could be long
    enough, so most pages pay just for the pruning."""
    if ratio == 0 or len(main) < min_chars:
        return main
    for element in _COMMENT_CONTAINERS(tree):
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)
    if visible_text_length(tree) <= ratio * len(main):
        return main
    from trafilatura import baseline

    fallback = baseline(tree)[1] or ""
    return fallback if len(fallback) > ratio * len(main) else main


def load_page_tree(html: str) -> tuple[Any | None, str | None]:
    """(tree, None) for an HTML body, or (None, drop reason).

    A body that is one JSON document is never a page: 'not_html_markup' (trafilatura's loader
    would take JSON that mentions "html" early). trafilatura's loader comes next. What it
    refuses (no "html" near the start and fewer than two top-level elements) is parsed here
    when it is HTML markup after all, such as a fragment that opens with <table>
    (pipeline/html_markup.py says how that is decided); the rest (JSON, plain text, CSV,
    markdown served as text/html) is 'not_html_markup'."""
    from trafilatura.utils import load_html

    if is_json_document(html):
        return None, "not_html_markup"
    tree = load_html(html)
    if tree is not None:
        return tree, None
    if not looks_like_html_markup(html):
        return None, "not_html_markup"
    tree = parse_html_document(html)
    return (tree, None) if tree is not None else (None, "no_main_text")


def extract_from_tree(
    tree: Any, url: str | None, config: ExtractConfig
) -> tuple[str | None, str | None]:
    """(title, text) of a parsed page; ``tree`` is pruned (not usable afterwards)."""
    import trafilatura
    from trafilatura.metadata import extract_title

    title = extract_title(tree)
    text = trafilatura.extract(  # works on its own copy of the tree
        tree,
        url=url,
        favor_precision=config.favor_precision,
        favor_recall=config.favor_recall,
        include_comments=config.include_comments,
        include_tables=config.include_tables,
        with_metadata=False,
    )
    text = choose_text(
        text or "", tree, config.fallback_ratio, config.fallback_min_chars
    )  # tree is not used after this
    return (title or None), (text or None)


def extract_document(
    page: dict[str, Any], config: ExtractConfig
) -> tuple[dict[str, Any] | None, str | None]:
    """A pages/ row -> (docs/ row, None) or (None, drop reason)."""
    if page.get("error") is not None or page.get("body") is None:
        return None, page.get("error") or "no_body"
    checked = check_url(page["final_url"])
    if isinstance(checked, str):
        return None, f"final_url_{checked}"
    html = decode_html(decompress_body(page["body"]), page.get("charset"))
    tree, reason = load_page_tree(html)
    if tree is None:
        return None, reason
    title, text = extract_from_tree(tree, page["final_url"], config)
    if text is None:
        return None, "no_main_text"
    n_tokens = count_tokens(text)
    wall = wall_reason(text, n_tokens, config)
    if wall is not None:
        return None, wall
    if n_tokens < config.min_tokens:
        return None, "too_short"
    if config.languages and detect_language(text) not in config.languages:
        return None, "language_other"
    doc: dict[str, Any] = {
        "doc_id": page["link_id"],
        "url": page["url"],
        "final_url": page["final_url"],
        "domain": page["domain"],
        "title": title,
        "text": text,
        "n_chars": len(text),
    }
    for name in LINK_METADATA_FIELDS:
        doc[name] = page[name]
    return doc, None
