"""The corpus card (the report's first section) on a real demo tree: its numbers are those of the
stages' _stats.json and shards; the domain mix beside a reference list, with and without domains
in common; the archive part only where pages/ has archive columns."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import pytest

from eval import domains as dom
from eval.corpus_columns import AGE_BINS, karma_bin_labels, karma_bins, time_bins
from eval.corpus_funnel import funnel_rows
from eval.report_sections import SECTIONS, ReportInputs, SectionUnavailable
from pipeline.io import schemas, shards

CARD = next(s for s in SECTIONS if s.id == "corpus_card")


def _card(root: Path, **kwargs) -> dict:
    inputs = ReportInputs(run_dir=root / "runs" / "demo", corpus_dir=root / "corpus", **kwargs)
    return CARD.build(inputs)


def _stats(root: Path, stage: str) -> dict:
    return shards.read_stats(str(root / stage))


def _no_nan(obj) -> bool:
    text = json.dumps(obj)
    return "NaN" not in text and "nan" not in text.lower().split()


def test_card_is_the_reports_first_section():
    assert SECTIONS[0].id == "corpus_card"


def test_card_numbers_are_the_stages_stats(demo_root: Path) -> None:
    sec = _card(demo_root)
    n = sec["numbers"]
    corpus, tokens = _stats(demo_root, "corpus"), _stats(demo_root, "tokens")
    assert n["documents"] == corpus["records_out"]
    assert n["tokens"] == sum(tokens["tokens_per_split"].values())
    for split, count in tokens["docs_per_split"].items():
        assert n["splits"][split]["documents"] == count
        assert n["splits"][split]["tokens"] == tokens["tokens_per_split"][split]
    # the funnel: one row per stage, in pipeline order, each the stage's own counts
    assert [r["stage"] for r in n["funnel"]] == ["links", "pages", "docs", "corpus"]
    for row in n["funnel"]:
        raw = _stats(demo_root, row["stage"])
        assert (row["in"], row["out"]) == (raw["records_in"], raw["records_out"])
        assert row["dropped"] == raw["dropped"]
        assert row["in"] == row["out"] + sum(row["dropped"].values())
    # hand-offs match in a demo tree: no note says a stage was built from another run
    funnel = next(t for t in sec["tables"] if t["caption"].startswith("the funnel"))
    assert not any("another" in note for note in funnel["notes"])
    links_top = min(_stats(demo_root, "links")["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))
    assert f"{links_top[0]} {links_top[1]}" in funnel["rows"][0][-1]
    # karma and post time of the links and the documents, from their columns
    links = shards.read_rows(str(demo_root / "links"), schemas.LINKS, columns=["max_score"])
    reddit = n["reddit"]
    assert reddit["links"]["count"] == len(links)
    assert reddit["links"]["karma_max"] == max(r["max_score"] for r in links)
    assert reddit["corpus documents"]["count"] == n["documents"]
    # every table cell meant to hold a number holds one; no NaN anywhere
    split_table = sec["tables"][0]
    assert all(c != "-" for row in split_table["rows"] for c in row)
    assert _no_nan(n) and _no_nan(sec["tables"])
    names = [f["name"] for f in sec["figures"]]
    assert names == ["corpus_funnel.png", "corpus_karma.png", "corpus_post_time.png",
                     "corpus_domains.png"]  # fmt: skip
    assert all(
        f["png"].startswith(b"\x89PNG") and f["reading"] and f["alt"] for f in sec["figures"]
    )
    assert "archive" not in n  # a live fetch: no archive part


def test_funnel_reading_names_the_biggest_cut(demo_root: Path) -> None:
    sec = _card(demo_root)
    first, last = sec["numbers"]["funnel"][0], sec["numbers"]["funnel"][-1]
    reading = sec["figures"][0]["reading"]
    assert reading.startswith(f"{last['out']} of the {first['in']} submissions read")
    assert "the biggest cut is at links" in reading


def test_without_reference_the_card_says_how_to_add_it(demo_root: Path) -> None:
    sec = _card(demo_root)
    table = next(t for t in sec["tables"] if t["caption"].startswith("the domain mix"))
    assert table["columns"] == ["rank", "corpus domain", "documents", "% of corpus"]
    assert any("--reference-domains PATH" in note for note in table["notes"])
    assert "spearman_rho" not in sec["numbers"]["domains"]
    assert "--reference-domains PATH" in sec["figures"][-1]["reading"]


def test_reference_with_no_domain_in_common_says_undefined_plainly(
    demo_root: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "domains.txt"
    ref.write_text("333160 nytimes\n311917 bbc\n20068\n", encoding="utf-8")
    sec = _card(demo_root, reference_domains=ref)
    d = sec["numbers"]["domains"]
    assert d["domains_in_both"] == 0 and d["spearman_rho"] is None
    assert d["rho_reason"].startswith("undefined: none of the corpus's")
    table = next(t for t in sec["tables"] if t["caption"].startswith("the domain mix"))
    assert table["rows"][0][5:] == ["nytimes", "333,160", f"{100 * 333160 / 665145:.1f}%"]
    assert table["rows"][0][4] == "not listed"
    assert any("is undefined: none of" in note for note in table["notes"])
    assert "rank correlation is undefined, as none" in sec["figures"][-1]["reading"]
    assert _no_nan(sec["numbers"]) and _no_nan(sec["tables"])


def test_real_webtext_domain_list(demo_root: Path, shared_file) -> None:
    """OpenAI's list (1,000 lines, one with a count and no name) beside the demo's invented
    news sites: read whole, no domain in common, correlation undefined in words."""
    path = shared_file("webtext", "domains.txt")
    reference = dom.read_reference_domains(path)
    assert len(reference) == 1000 and reference[0] == ("google", 1542261)
    assert dom.EMPTY_LABEL in dict(reference)
    sec = _card(demo_root, reference_domains=path)
    d = sec["numbers"]["domains"]
    assert d["reference_domains"] == 1000 and d["spearman_rho"] is None
    assert [x[0] for x in d["reference_top"][:3]] == ["google", "archive", "blogspot"]
    assert _no_nan(d)


def test_reference_in_common_gives_spearman(demo_root: Path, tmp_path: Path) -> None:
    corpus = shards.read_rows(str(demo_root / "corpus"), schemas.CORPUS, columns=["domain"])
    counts = Counter(dom.domain_label(r["domain"]) for r in corpus)
    labels = sorted(counts)
    # the reference ranks the corpus's labels in reverse name order, plus one it lacks
    lines = [f"{1000 - 10 * i} {label}" for i, label in enumerate(reversed(labels))]
    ref = tmp_path / "domains.txt"
    ref.write_text("5000 elsewhere\n" + "\n".join(lines) + "\n", encoding="utf-8")
    sec = _card(demo_root, reference_domains=ref)
    d = sec["numbers"]["domains"]
    ref_counts = {label: 1000 - 10 * i for i, label in enumerate(reversed(labels))}
    expected = dom.spearman([counts[x] for x in labels], [ref_counts[x] for x in labels])
    assert d["domains_in_both"] == len(labels) and d["share_of_corpus_in_listed_domains"] == 1.0
    assert d["spearman_rho"] == pytest.approx(expected) and not math.isnan(d["spearman_rho"])
    table = next(t for t in sec["tables"] if t["caption"].startswith("the domain mix"))
    assert table["rows"][0][5] == "elsewhere"  # WebText's side: its own top, side by side
    assert all(row[4] != "not listed" for row in table["rows"] if row[1])
    assert f"rank correlation is {expected:.2f}" in sec["figures"][-1]["reading"]


def _archive_tree(demo_root: Path, tmp_path: Path) -> Path:
    """A copy of the demo's stage directories whose pages/ has the archive columns: source
    (cc, wayback, live) and capture_time (epoch seconds as fetch writes them; null for the
    live pages)."""
    root = tmp_path / "tree"
    for stage in ("links", "pages", "docs", "corpus", "tokens"):
        shutil.copytree(demo_root / stage, root / stage)
    rows = shards.read_rows(str(demo_root / "pages"), schemas.PAGES)
    kinds = ["cc", "wayback", "live"]
    offsets = [-2, 0, 10, 100, 400, 1000, 2000, 4000]  # days after the post
    for i, row in enumerate(rows):
        row["source"] = kinds[i % 3]
        posted = row["first_seen_utc"]
        row["capture_time"] = (
            None if row["source"] == "live" else posted + offsets[i % len(offsets)] * 86400 + 5
        )
    schema = schemas.PAGES
    pages = root / "pages"
    shutil.rmtree(pages)
    shards.write_shard(str(pages), "part-00000-of-00001.parquet", rows, schema)
    stats = _stats(demo_root, "pages")
    stats.pop("shard_files", None)
    stats["shards"] = {"part-00000-of-00001.parquet": len(rows)}
    shards.finish_output(str(pages), stats)
    return root


def test_archive_sources_and_capture_age(demo_root: Path, tmp_path: Path) -> None:
    root = _archive_tree(demo_root, tmp_path)
    rows = shards.read_rows(str(root / "pages"), schemas.PAGES, columns=["source"])
    sources = Counter(r["source"] for r in rows)
    sec = CARD.build(ReportInputs(run_dir=root / "runs", stages_dir=root))
    a = sec["numbers"]["archive"]
    assert a["pages_per_source"] == dict(sorted(sources.items()))
    captured = sources["cc"] + sources["wayback"]
    assert a["pages_with_capture_time"] == captured
    assert a["pages_without_capture_time"] == sources["live"]
    assert sum(a["capture_age_bins"].values()) == captured
    assert a["capture_age_bins"]["before the post"] == sum(
        1 for i, r in enumerate(rows) if r["source"] != "live" and i % 8 == 0
    )
    assert a["capture_age_days_min"] == -2
    table = next(t for t in sec["tables"] if t["caption"] == "pages per source")
    assert sorted(r[0] for r in table["rows"]) == sorted(sources)
    fig = next(f for f in sec["figures"] if f["name"] == "corpus_capture_age.png")
    assert f"captured {a['capture_age_days_median']:,} day(s) after" in fig["reading"]
    assert "captured before the post" in fig["reading"]
    assert fig["after_table"] == sec["tables"].index(table)


def test_documents_without_reddit_metadata_get_one_line_not_zero_histograms(
    demo_root: Path, tmp_path: Path
) -> None:
    """The study's documents (books, gold texts): domain holds the source name, karma and post
    time are 0 on every one."""
    corpus = tmp_path / "corpus"
    rows = shards.read_rows(str(demo_root / "corpus"), schemas.CORPUS)
    for i, row in enumerate(rows):
        row["domain"] = ("gutenberg", "dragnet", "webtext-valid")[i % 3]
        row["max_score"], row["first_seen_utc"] = 0, 0
    shards.write_shard(str(corpus), "part-00000-of-00001.parquet", rows, schemas.CORPUS)
    stats = _stats(demo_root, "corpus")
    stats.pop("shard_files", None)
    stats["shards"] = {"part-00000-of-00001.parquet": len(rows)}
    shards.finish_output(str(corpus), stats)
    sec = CARD.build(ReportInputs(run_dir=tmp_path, corpus_dir=corpus))
    assert sec["numbers"]["reddit_metadata"] is False
    names = {f["name"] for f in sec["figures"]}
    assert not names & {"corpus_karma.png", "corpus_post_time.png"}
    assert not any(t["caption"].startswith("Reddit metadata") for t in sec["tables"])
    line = [n for n in sec["tables"][0]["notes"] if n.startswith("No Reddit metadata")]
    assert line == [
        f"No Reddit metadata: all {len(rows):,} corpus documents have karma 0 and no post time "
        "(they were not collected from Reddit links), so there is no karma or post-time figure."
    ]
    # the demo's own corpus has Reddit metadata: its figures, and no such line
    demo = _card(demo_root)
    assert "reddit_metadata" not in demo["numbers"]
    assert "corpus_karma.png" in {f["name"] for f in demo["figures"]}


def test_stages_found_by_the_stage_their_stats_record(demo_root: Path, tmp_path: Path) -> None:
    """--stages DIR with directories not named after their stage; no --corpus."""
    root = tmp_path / "tree"
    for stage, name in (("links", "l"), ("pages", "p"), ("docs", "d"), ("corpus", "c")):
        shutil.copytree(demo_root / stage, root / name)
    sec = CARD.build(ReportInputs(run_dir=root, stages_dir=root))
    assert [r["stage"] for r in sec["numbers"]["funnel"]] == ["links", "pages", "docs", "corpus"]
    assert sec["numbers"]["tokens"] is None  # no tokens/: said, not guessed
    assert sec["tables"][0]["rows"][-1][3] == "-"
    assert any("no tokens/" in note for note in sec["tables"][0]["notes"])


def test_card_without_a_corpus_is_not_built(tmp_path: Path) -> None:
    with pytest.raises(SectionUnavailable, match="--corpus DIR"):
        CARD.build(ReportInputs(run_dir=tmp_path))
    with pytest.raises(SectionUnavailable, match="does not exist"):
        CARD.build(ReportInputs(run_dir=tmp_path, stages_dir=tmp_path / "nope"))


def test_report_command_refuses_a_bad_reference_in_one_line(tmp_path: Path, capsys) -> None:
    from pipeline.cli import main

    bad = tmp_path / "domains.txt"
    bad.write_text("333160 nytimes\nnot a count\n", encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out), "--reference-domains", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad} line 2: expected '<count> <domain>'" in err and "Traceback" not in err
    assert not (out / "report.json").exists()
    missing = tmp_path / "absent.txt"
    assert main(["report", str(run), "--out", str(out), "--reference-domains", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- the pure parts ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host,label",
    [
        ("www.nytimes.com", "nytimes"),
        ("nytimes.com", "nytimes"),
        ("foo.blogspot.com", "blogspot"),
        ("news.bbc.co.uk", "bbc"),
        ("bbc.co.uk", "bbc"),
        ("abc.net.au", "abc"),
        ("en.wikipedia.org", "wikipedia"),
        ("abcnews.go.com", "go"),
        ("goo.gl", "goo"),
        ("Example.COM.", "example"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("github.io", "github"),
    ],
)
def test_domain_label(host: str, label: str) -> None:
    assert dom.domain_label(host) == label


def test_spearman() -> None:
    assert dom.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert dom.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties take the mean rank: ranks x (1.5, 1.5, 3), y (1, 2, 3) -> rho = 0.866...
    assert dom.spearman([5, 5, 9], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert dom.spearman([1], [2]) is None
    assert dom.spearman([2, 2, 2], [1, 2, 3]) is None


def test_compare_says_why_the_correlation_is_undefined() -> None:
    ref = [("nytimes", 10), ("bbc", 8), ("cnn", 5)]
    one = dom.compare(Counter({"nytimes": 3, "mine": 4}), ref, "WebText's list")
    assert one["spearman_rho"] is None and "only one domain (nytimes)" in one["rho_reason"]
    tied = dom.compare(Counter({"nytimes": 2, "bbc": 2}), ref)
    assert tied["spearman_rho"] is None and "same count in the corpus" in tied["rho_reason"]
    ok = dom.compare(Counter({"nytimes": 5, "bbc": 3, "cnn": 1, "x": 9}), ref)
    assert ok["spearman_rho"] == pytest.approx(1.0) and ok["rho_reason"] is None
    assert ok["share_of_corpus_in_listed_domains"] == pytest.approx(9 / 18)


def test_reference_file_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("# comment\n10 a\n\n5 b c\n", encoding="utf-8")
    with pytest.raises(dom.ReferenceDomainsError, match=r"d.txt line 4: expected"):
        dom.read_reference_domains(path)
    path.write_text("\n# nothing\n", encoding="utf-8")
    with pytest.raises(dom.ReferenceDomainsError, match="holds no"):
        dom.read_reference_domains(path)
    path.write_text("3 b\n10 A\n7 a\n", encoding="utf-8")
    assert dom.read_reference_domains(path) == [("a", 10), ("b", 3)]


def test_funnel_notes_a_stage_built_from_another_run() -> None:
    stats = {
        "links": {"records_in": 10, "records_out": 6, "dropped": {"nsfw": 4}},
        "pages": {"records_in": 7, "records_out": 7, "dropped": {}},
    }
    rows, notes = funnel_rows(stats)
    assert [r["kept"] for r in rows] == [0.6, 1.0]
    assert any("links wrote 6 records but pages read 7" in n for n in notes)
    assert any("docs/, corpus/" in n for n in notes)


def test_bins() -> None:
    labels = karma_bin_labels()
    counts = karma_bins(Counter({2: 1, 3: 2, 4: 1, 5: 1, 10_000: 3}))
    assert dict(zip(labels, counts, strict=True))["< 3"] == 1
    assert dict(zip(labels, counts, strict=True))["3-4"] == 3
    assert dict(zip(labels, counts, strict=True))["10,000+"] == 3
    months, series = time_bins([Counter({"2005-06": 1, "2005-08": 2})])
    assert months == ["2005-06", "2005-07", "2005-08"] and series == [[1, 0, 2]]
    years, series = time_bins([Counter({"2005-06": 1}), Counter({"2017-12": 4})])
    assert years[0] == "2005" and years[-1] == "2017" and series[1][-1] == 4
    assert [b for b, _, _ in AGE_BINS][0] == "before the post"
