"""`webtext study`: the recipe end to end at the tiny preset on the real shared data (slow),
and its pieces (sources, test-set subsets, presets, errors) fast."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.testsets import TestSetSpec, read_test_set
from pipeline.cli import main
from pipeline.study.presets import PRESETS
from pipeline.study.sources import decode_gold, gold_text, study_documents
from pipeline.study.testsets import TEST_SETS, first_documents

NUMBER = re.compile(r"^-?[\d,]*\.?\d+(e[-+]?\d+)?%?( /\w+)?$")


def _has_number(cell: object) -> bool:
    return isinstance(cell, (int, float)) or (isinstance(cell, str) and bool(NUMBER.match(cell)))


@pytest.fixture(scope="module")
def tiny_study(shared_data, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("study") / "study_out"
    argv = ["study", "--preset", "tiny", "--out", str(out), "--shared", str(shared_data)]
    assert main(argv) == 0
    return out, str(shared_data)


@pytest.mark.slow
def test_tiny_study_runs_every_stage_and_compares_the_sizes(tiny_study):
    out, _ = tiny_study
    for d in ("docs", "corpus", "tokens", "overlap"):
        assert (out / d / "_SUCCESS").exists(), d
    models = PRESETS["tiny"].models
    for m in models:
        assert (out / "runs" / m / "checkpoint.pt").exists()
        sets = {
            s["test_set"]
            for s in json.loads((out / "eval" / m / "summary.json").read_text())["sets"]
        }
        assert sets == {t.name for t in TEST_SETS}
    report = json.loads((out / "report" / "report.json").read_text())
    assert (out / "report" / "index.html").exists()
    sizes_md = (out / "sizes.md").read_text()
    assert all(f"| {m} |" in sizes_md for m in models)
    assert not report["not_built"]
    for section in report["sections"]:
        assert section["status"] == "ok", section["id"]
        for table in section["tables"]:
            assert table["rows"], (section["id"], table["caption"])
            assert any(_has_number(c) for row in table["rows"] for c in row[1:]), section["id"]
    sizes = next(s for s in report["sections"] if s["id"] == "train_vs_heldout")["numbers"]
    assert set(models) <= set(sizes)  # every size is on the Figure 4 curves
    assert all(sizes[m]["final_heldout_loss"] is not None for m in models)
    docs = json.loads((out / "docs" / "_stats.json").read_text())
    assert set(docs["documents_per_source"]) == {"gutenberg", "dragnet", "webtext-valid"}


@pytest.mark.slow
def test_a_rerun_skips_every_complete_step(tiny_study, capsys):
    out, shared = tiny_study
    assert main(["study", "--preset", "tiny", "--out", str(out), "--shared", shared]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("[study] step ")]
    assert lines and all(x.endswith("complete, skipped") for x in lines)


@pytest.mark.slow
def test_other_settings_in_the_same_out_are_refused(tiny_study, capsys):
    out, shared = tiny_study
    argv = ["study", "--preset", "tiny", "--train-tokens", "4096", "--out", str(out)]
    assert main([*argv, "--shared", shared]) == 2
    assert "other settings (eval_interval, steps, train_tokens differ)" in capsys.readouterr().err


def test_a_missing_shared_folder_is_one_line(tmp_path, capsys):
    assert main(["study", "--out", str(tmp_path / "o"), "--shared", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert (
        f"shared data folder {tmp_path / 'nope'} not found; give its path with --shared" in err[0]
    )
    assert not (tmp_path / "o").exists()


def test_a_shared_folder_without_the_files_names_them(tmp_path, capsys):
    (tmp_path / "shared").mkdir()
    assert main(["study", "--out", str(tmp_path / "o"), "--shared", str(tmp_path / "shared")]) == 2
    err = capsys.readouterr().err
    assert "nltk_gutenberg_17books.tar.xz" in err and "webtext.test.jsonl" in err


def test_gold_files_in_utf16_and_with_markers_read_as_text():
    raw = "Title line\n\n<p>First   para\ncontinued\n\n!@#$%^&*()  COMMENTS\nspam"
    assert gold_text(decode_gold(raw.encode("utf-16"))) == "Title line\n\nFirst para continued"
    assert decode_gold(("\ufeff" + raw).encode("utf-8")).startswith("Title")  # BOM dropped


def test_books_become_documents_of_about_the_asked_size(shared_file):
    shared = shared_file("prose").parent
    docs = [d for d in study_documents(shared, 300, max_per_source=20) if d.source == "gutenberg"]
    assert len(docs) == 20
    assert all(200 <= len(d.text.split()) < 450 for d in docs[:-1])
    # about 300 tokens of NLTK's tokenized lines ("Emma Woodhouse , handsome"), de-tokenized
    assert " , " not in docs[0].text and ", handsome" in docs[0].text


@pytest.mark.parametrize("test", TEST_SETS, ids=lambda t: t.name)
def test_an_eval_subset_keeps_the_first_documents_and_their_indices(test, shared_data, tmp_path):
    source = shared_data / test.path
    subset = tmp_path / test.path.name
    subset.write_text(first_documents(test, source, 3), encoding="utf-8")
    full = read_test_set(TestSetSpec(test.name, str(source), test.fmt))
    part = read_test_set(TestSetSpec(test.name, str(subset), test.fmt))
    assert [d.text for d in part] == [d.text for d in full[:3]]


def test_presets_train_every_size_on_one_budget():
    cpu = PRESETS["cpu"]
    assert cpu.steps * cpu.batch_tokens == cpu.train_tokens
    assert cpu.models == ("tiny", "mini", "midi")  # three sizes, smallest first (Figure 4)
    assert cpu.with_overrides(train_tokens=4096, device=None).steps == 4
    assert PRESETS["gpu"].device == "cuda" and "gpt2" in PRESETS["gpu"].models
    with pytest.raises(ValueError, match="less than one batch"):
        cpu.with_overrides(train_tokens=10)
