"""HTML fragments that trafilatura's loader refuses are parsed by the extract stage; bodies that
are not HTML markup (JSON, CSV, plain text, markdown served as text/html) are dropped as
'not_html_markup' and counted."""

from __future__ import annotations

import csv
import io
import json
import logging
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_extract_quality import ARTICLE, cleaneval_page, f1, page, wrap
from trafilatura.utils import load_html

from beam_jobs.extract_job import ExtractJobConfig, run_extract
from pipeline.extract import ExtractConfig, extract_document, load_page_tree
from pipeline.fetch.content import detect_charset
from pipeline.html_markup import first_element_name, looks_like_html_markup
from pipeline.io import schemas, shards

ANY_LENGTH = ExtractConfig(min_tokens=0)


@pytest.fixture(autouse=True)
def quiet_trafilatura():
    """load_html logs an error for every body it refuses; these tests refuse many on purpose."""
    logger = logging.getLogger("trafilatura.utils")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def test_cleaneval_page_49_a_fragment_from_its_first_table_yields_its_text(shared_file):
    raw, gold = cleaneval_page(shared_file("extraction", "cleaneval-dev"), "49")
    html = raw.decode(detect_charset(raw), "replace")
    assert load_html(html) is None  # trafilatura alone refuses it (the reason for this path)
    assert first_element_name(html) == "table" and looks_like_html_markup(html)
    doc, reason = extract_document(page(raw, charset=detect_charset(raw)), ANY_LENGTH)
    assert reason is None
    for phrase in ("Green Saver Plan", "non-profit environmental organizations", "Green Alerts"):
        assert phrase in doc["text"]
    assert f1(doc["text"], gold) > 0.7


FRAGMENT_WORDS = st.lists(
    st.sampled_from(["bridge", "wind", "steel", "cable", "tower", "river", "load", "span"]),
    min_size=3,
    max_size=40,
).map(" ".join)


@given(
    tag=st.sampled_from(["div", "p", "table", "section", "ul", "center", "font"]),
    words=st.lists(FRAGMENT_WORDS, min_size=1, max_size=6),
    prologue=st.sampled_from(["", "\ufeff", "\n  ", "<!-- saved page -->\n", "<!DOCTYPE x>"]),
    tail=st.sampled_from(["", "</body></html>", "</td></tr></table>"]),
)
@settings(deadline=None, max_examples=60)
def test_fragments_opening_with_an_element_are_html(tag, words, prologue, tail):
    inner = {
        "table": "".join(f"<tr><td>{w}</td></tr>" for w in words),
        "ul": "".join(f"<li>{w}</li>" for w in words),
    }.get(tag, "".join(f"<b>{w}</b> " for w in words))
    html = f"{prologue}<{tag} class='x'>{inner}</{tag}>{tail}"
    assert looks_like_html_markup(html)
    tree, reason = load_page_tree(html)
    assert reason is None and tree is not None
    doc, reason = extract_document(page(html), ANY_LENGTH)
    assert reason is None
    # The fragment's text comes out (trafilatura may leave out a table row it judges a header,
    # e.g. a short first row: "bridge bridge wind" above "cable bridge bridge bridge").
    extracted = {w for w in doc["text"].split() if w.isalnum()}  # not table/list markers
    assert extracted and extracted <= set(" ".join(words).split())


def test_a_single_table_fragment_goes_through_the_new_path():
    html = "<table><tr><td>" + ARTICLE + "</td></tr></table>"
    assert load_html(html) is None
    doc, reason = extract_document(page(html), ExtractConfig())
    assert reason is None and "engineers who study them" in doc["text"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def assert_not_treated_as_html(body: str) -> None:
    """The stage's own parse never takes it; trafilatura's refusal is counted as not markup."""
    assert not looks_like_html_markup(body)
    trafilatura_tree = load_html(body)
    tree, reason = load_page_tree(body)
    if trafilatura_tree is None:
        assert (tree, reason) == (None, "not_html_markup")
        assert extract_document(page(body), ANY_LENGTH) == (None, "not_html_markup")


@given(
    st.one_of(st.lists(JSON_VALUES), st.dictionaries(st.text(), JSON_VALUES)),
    st.booleans(),
    st.sampled_from(["", "\ufeff", "\n "]),
)
@settings(deadline=None, max_examples=60)
def test_json_bodies_are_never_html(value, indent, prologue):
    body = prologue + json.dumps(value, indent=2 if indent else None)
    assert_not_treated_as_html(body)
    assert load_page_tree(body) == (None, "not_html_markup")  # whatever trafilatura thinks


def test_json_that_mentions_html_early_is_dropped_though_trafilatura_takes_it():
    body = json.dumps({"html": "<div><p>" + ARTICLE + "</p></div>", "next": None})
    assert load_html(body) is not None  # trafilatura's own guard lets it through
    assert extract_document(page(body), ExtractConfig()) == (None, "not_html_markup")


CELL = st.text(alphabet=string.ascii_letters + string.digits + " ,;\"'<>/=.-", max_size=20)


@given(
    header=st.lists(
        st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=10), min_size=1
    ),
    rows=st.lists(st.lists(CELL, min_size=1, max_size=6), max_size=20),
)
@settings(deadline=None, max_examples=80)
def test_csv_bodies_are_never_html(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    assert_not_treated_as_html(buffer.getvalue())


PROSE_WORD = st.sampled_from(
    ["the", "river", "Use", "a", "<div>", "tag,", "or", "<b>bold</b>", "3 < 4", "&amp;", "x>y"]
)


@given(
    first=st.text(alphabet=string.ascii_letters + string.digits, min_size=1),
    rest=st.lists(PROSE_WORD, max_size=200),
    newline_every=st.integers(1, 30),
)
@settings(deadline=None, max_examples=80)
def test_plain_text_is_never_html_even_when_it_mentions_tags(first, rest, newline_every):
    words = [first, *rest]
    body = "\n".join(
        " ".join(words[i : i + newline_every]) for i in range(0, len(words), newline_every)
    )
    assert_not_treated_as_html(body)


@given(st.text())
@settings(max_examples=200)
def test_text_that_opens_with_no_html_element_is_never_html(text):
    if first_element_name(text) is None:
        assert not looks_like_html_markup(text)


@given(
    badges=st.integers(0, 3),
    sections=st.lists(
        st.tuples(
            st.sampled_from(["Install", "Usage", "Licence"]),
            st.lists(FRAGMENT_WORDS, min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=4,
    ),
    opener=st.sampled_from(['<p align="center">', '<div align="center">', "<h1>", ""]),
)
@settings(deadline=None, max_examples=80)
def test_readme_markdown_is_never_html_even_under_an_html_banner(badges, sections, opener):
    banner = ""
    if opener:
        close = "</" + opener[1:].split()[0].strip(">") + ">"
        images = "".join(f'<img src="badge{i}.svg">' for i in range(badges))
        banner = f"{opener}{images}{close}\n\n"
    lines = [banner + "# project", ""]
    for title, paragraphs in sections:
        lines += [f"## {title}", ""]
        lines += [f"- {p}" if i % 2 else p for i, p in enumerate(paragraphs)]
        lines += ["", "See [the docs](https://docs.example/).", ""]
    assert_not_treated_as_html("\n".join(lines))


def test_an_html_article_is_unaffected_and_an_empty_document_keeps_its_reason():
    doc, reason = extract_document(page(wrap(ARTICLE)), ExtractConfig())
    assert reason is None and "engineers" in doc["text"]
    assert extract_document(page("<html><body></body></html>"), ExtractConfig()) == (
        None,
        "no_main_text",
    )


def test_extract_job_counts_non_markup_bodies_and_balances(tmp_path, shared_file):
    raw49, _ = cleaneval_page(shared_file("extraction", "cleaneval-dev"), "49")
    bodies = {
        "http://a.example/article": wrap(ARTICLE).encode(),
        "http://b.example/fragment": raw49,
        "http://c.example/api": json.dumps({"items": [1, 2], "next": None}).encode(),
        "http://d.example/data.csv": b"name,score\nada,3\nbob,4\n",
        "http://e.example/notes": b"Plain notes about rivers and bridges, with no markup.",
        "http://f.example/readme": b"# Project\n\n- one\n- two\n\nSee [docs](http://x/).\n",
    }
    rows = [page(body, url=url, charset=detect_charset(body)) for url, body in bodies.items()]
    pages_dir = str(tmp_path / "pages")
    shards.write_shard(pages_dir, shards.shard_name(0, 1), rows, schemas.PAGES)
    shards.finish_output(pages_dir, {"records_out": len(rows)})
    config = ExtractJobConfig(pages_dir, str(tmp_path / "docs"), ANY_LENGTH, num_shards=1)
    assert run_extract(config) == "ran"
    stats = shards.read_stats(str(tmp_path / "docs"))
    assert stats["records_in"] == 6 and stats["records_out"] == 2
    assert stats["dropped"] == {"not_html_markup": 4}
    assert stats["records_out"] + stats["dropped_total"] == stats["records_in"]
    docs = shards.read_rows(str(tmp_path / "docs"), schemas.DOCS)
    assert sorted(d["url"] for d in docs) == [
        "http://a.example/article",
        "http://b.example/fragment",
    ]


@pytest.mark.parametrize(
    "body",
    [
        "<b>Note:</b> " + ARTICLE,  # one bold label over plain text: under 1% markup
        "<br>" + ARTICLE[:200],  # a single tag: nothing to parse as a document
        "<notatag>" + ARTICLE + "</notatag>",  # not an HTML element
        "<!-- unterminated comment " + ARTICLE,
    ],
)
def test_text_under_a_token_tag_is_not_html(body):
    assert_not_treated_as_html(body)
