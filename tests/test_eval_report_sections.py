"""The report's sections on the demo run's report (every number cell holds a number, the header
names the inputs, empty samples are flagged) and its small parts on hand-made data."""

from __future__ import annotations

import json
import re

from eval.report import _numeric_columns, is_number_cell
from eval.report_sections import EMPTY_SAMPLE, _bucket_reading, _memorization_tables


def _report(trained_root):
    return json.loads((trained_root / "report" / "report.json").read_text())


def _section(trained_root, sid):
    return next(s for s in _report(trained_root)["sections"] if s["id"] == sid)


def test_every_number_cell_holds_a_number(trained_root):
    data = _report(trained_root)
    assert data["not_built"] == {}
    for s in data["sections"]:
        for t in s["tables"]:
            if t["columns"][:2] == ["#", "sample"]:
                continue  # the samples' table: '-' marks an empty sample (tested below)
            for j, col in enumerate(zip(*t["rows"], strict=True)):
                assert not any(str(v) == "-" or str(v).startswith("- ") for v in col), (
                    s["id"], t["columns"][j], col)  # fmt: skip
            assert all(_numeric_columns(t)[2:]) or s["id"] != "metrics_by_overlap"


def test_metrics_by_overlap_has_every_bucket_and_states_definitions(trained_root):
    sec = _section(trained_root, "metrics_by_overlap")
    table = sec["tables"][0]
    assert "accuracy" not in table["columns"]  # no set has accuracy
    assert not any(r[1] == "excluding overlapping" for r in table["rows"])  # merged into none
    notes = " ".join(table["notes"])
    for bucket in ("none:", "(0, 15%]:", "> 15%:", "all:"):
        assert bucket in notes
    for name in ("heldout", "contaminated"):
        assert sec["numbers"][name]["none"]["examples"] >= 3
    assert "(every example overlaps)" not in sec["figures"][0]["reading"]
    assert re.search(r"examples with no overlap have perplexity \d", sec["figures"][0]["reading"])


def test_section4_names_the_regime(trained_root):
    sec = _section(trained_root, "train_vs_heldout")
    assert "underfitting or overfitting" in sec["title"]
    assert sec["numbers"]["regime"] in {
        "underfitting", "overfitting", "converged", "too few points", "unstable"}  # fmt: skip


def test_memorization_counts_empty_samples(trained_root):
    sec = _section(trained_root, "memorization")
    n = sec["numbers"]
    assert n["samples"]["texts"] + n["empty_samples"] == n["num_samples"]
    assert n["held-out"]["texts"] == n["samples"]["texts"]
    assert len(n["empty_sample_numbers"]) == n["empty_samples"]
    assert "median" in sec["figures"][0]["reading"] and "median" in sec["figures"][0]["alt"]


def test_empty_samples_are_flagged_and_excluded():
    stats = {
        k: {"texts": 2, "words_mean": 9.0, "percent_8grams_in_train": 5.0,
            "longest_match_words": {"median": 4.0, "max": 5.0},
            "longest_match_per_text": [3, 5]}
        for k in ("samples", "held-out")
    }  # fmt: skip
    summary, first = _memorization_tables(stats, ["one two", "  ", "three four"], [1])
    assert first["rows"][1] == [2, EMPTY_SAMPLE, "-"]
    assert first["rows"][0][2] == 3 and first["rows"][2][2] == 5
    assert "1 of 3 samples were empty" in summary["notes"][0]
    assert _memorization_tables(stats, ["a", "b"], [])[0]["notes"] == []


def test_bucket_reading_when_no_example_is_overlap_free():
    def m(n, ppl, loss=1.0):
        return {"examples": n, "ppl_per_word": ppl, "loss_per_token": loss}

    text = _bucket_reading("heldout", "word", {"all": m(3, 54.8), "none": m(0, None),
                                               "> 15%": m(0, None)})  # fmt: skip
    assert "Every one of the 3 heldout examples" in text and " - " not in text
    text = _bucket_reading("c", "word", {"all": m(9, 10.0), "none": m(3, 60.0, 3.0),
                                         "> 15%": m(4, 2.9, 0.9)})  # fmt: skip
    assert "the 3 examples with no overlap have perplexity 60.00" in text
    assert "overlap helps the model" in text


def test_number_cells():
    assert all(
        is_number_cell(v)
        for v in (3, 1.5, "54.80 /word", "1.18e+11 /word", "11.99%", "159,872", "-")
    )
    assert not any(is_number_cell(v) for v in ("heldout", "(0, 15%]", "> 15%", "a 1"))


def test_blank_cells_keep_a_number_column_right_aligned():
    table = {"columns": ["rank", "domain", "documents", "WebText count"],
             "rows": [[1, "nytimes", "12", "333,160"], [2, "", "", "321,622"]]}  # fmt: skip
    assert _numeric_columns(table) == [True, False, True, True]
    assert _numeric_columns({"columns": ["a"], "rows": [[""], ["-"]]}) == [False]


def test_figures_follow_the_table_they_draw():
    from eval.report import layout

    t0, t1 = {"caption": "a"}, {"caption": "b"}
    f0, f1, f2 = {"name": "x", "after_table": 0}, {"name": "y"}, {"name": "z", "after_table": 1}
    sec = {"tables": [t0, t1], "figures": [f0, f1, f2]}
    assert [item for _, item in layout(sec)] == [t0, f0, t1, f2, f1]


def test_header_names_inputs_date_and_versions(trained_root):
    data = _report(trained_root)
    built = data["built"]
    assert built["run_step"] is not None and built["torch_version"] and built["webtext_version"]
    page = (trained_root / "report" / "index.html").read_text()
    header = page.split("<header>")[1].split("</header>")[0]
    for d in ("runs/demo", "corpus", "overlap", "eval"):
        assert str(trained_root / d) in header
    assert f"step {built['run_step']}" in header and "torch" in header and "UTC" in header
    alts = re.findall(r"alt='([^']*)'", page)
    figures = sum(len(s["figures"]) for s in data["sections"])
    assert len(alts) == figures >= 9 and not any(a.endswith(".png") for a in alts)
    md = (trained_root / "report" / "report.md").read_text()
    assert str(trained_root / "runs" / "demo") in md
