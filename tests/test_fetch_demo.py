"""The demo web and the demo's fetch + extract step, end to end and offline."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.demo.web import NEAR_COPIES, article_html, fetch_extract_step
from pipeline.io import schemas, shards


def words(text: str) -> set[str]:
    return set(text.lower().split())


def test_articles_are_deterministic_and_near_copies_are_near():
    assert article_html("www.gazette-herald.org", "/2019/02/x.html") == article_html(
        "www.gazette-herald.org", "/2019/02/x.html"
    )
    (copy_host, copy_path), (src_host, src_path) = next(iter(NEAR_COPIES.items()))
    copy, source = (
        words(article_html(copy_host, copy_path)),
        words(article_html(src_host, src_path)),
    )
    assert len(copy & source) / len(copy | source) > 0.7
    other = words(
        article_html("www.gazette-herald.org", "/2019/08/why-bridges-sway-in-the-wind.html")
    )
    assert len(copy & source) > len(copy & other)


@pytest.mark.slow
def test_demo_step_fetches_and_extracts_offline(tmp_path, capsys):
    from pipeline.demo import run_demo

    run_demo(str(tmp_path), [])
    fetch_extract_step(tmp_path, [])
    out = capsys.readouterr().out
    assert "[demo] fetch ->" in out and "[demo] extract ->" in out
    pages = shards.read_stats(str(tmp_path / "pages"))
    assert pages["dropped"] == {"http_404": 1, "redirect_wikipedia": 1}
    assert pages["records_in"] == pages["records_out"] + 2
    docs_stats = shards.read_stats(str(tmp_path / "docs"))
    # The search page: trafilatura's balanced mode falls back to the page text, whose longest
    # part is the cookie banner, so the wall filter drops it.
    assert docs_stats["dropped"] == {"cookie_wall": 1}
    docs = shards.read_rows(str(tmp_path / "docs"), schemas.DOCS)
    assert len(docs) == docs_stats["records_out"] >= 10
    for doc in docs:
        assert "cookie" not in doc["text"].lower() and "Advertisement" not in doc["text"]
        assert doc["n_chars"] > 1000
    titles = Counter(doc["title"] for doc in docs)
    assert sum(1 for n in titles.values() if n > 1) == len(NEAR_COPIES)
    # The windows-1252 and gzip hosts came through decoded.
    assert any(d["domain"] == "citychronicle.co.uk" for d in docs)
    assert any(d["domain"] == "techreview.example.net" for d in docs)
