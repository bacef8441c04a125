"""`webtext stats`: the per-stage funnel, on a real demo tree and on damaged directories."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import cli
from pipeline.funnel import (
    COMPLETE,
    IN_PROGRESS,
    NOT_STARTED,
    discover_stage_dirs,
    load_funnel,
    parse_stats,
)
from pipeline.funnel_format import format_count, format_pct
from pipeline.io import shards

REPO_ROOT = Path(__file__).resolve().parent.parent

DEMO_ORDER = ["links", "pages", "docs", "dups", "corpus", "tokens", "overlap", "overlap-documents"]
TRAIN_STEPS = 10  # the short training run of the shared ``trained_root`` (tests/conftest.py)

# demo_root (the demo's stage directories) and trained_root (carried on through train, eval and
# report) are session fixtures in tests/conftest.py, shared with tests/test_readers.py.


@pytest.fixture
def demo_copy(demo_root: Path, tmp_path: Path) -> Path:
    """The demo tree's bookkeeping files (no shards), to damage freely."""
    copy = tmp_path / "run"
    for path in demo_root.rglob("*"):
        if path.is_file() and path.name in (shards.STATS_FILE, shards.JOB_FILE, "_SUCCESS"):
            target = copy / path.relative_to(demo_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return copy


def _stats(root: Path, cli_args: list[str], capsys) -> tuple[int, str]:
    code = cli.main(["stats", *cli_args, *(str(root),)])
    return code, capsys.readouterr().out


def _stage_rows(text: str) -> dict[str, tuple[int, int, int]]:
    """STAGE DIRECTORY STATE IN OUT KEPT DROPPED DROPPED% rows of the text table, by directory."""
    rows = {}
    pattern = re.compile(
        r"^(\S.*?)\s{2,}(\S+)\s{2,}complete\s+([\d,]+)\s+([\d,]+)\s+\S+\s+([\d,]+)\s+\S+$"
    )
    for line in text.splitlines():
        m = pattern.match(line)
        if m:
            rows[m.group(2)] = tuple(int(m.group(i).replace(",", "")) for i in (3, 4, 5))
    return rows


def _markdown_rows(text: str) -> dict[str, tuple[int, int, int]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) >= 8 and cells[2] == COMPLETE and cells[3] != "-":
            rows[cells[1].strip("`")] = tuple(int(cells[i].replace(",", "")) for i in (3, 4, 6))
    return rows


# ---- the real demo tree ----


def test_funnel_lists_the_demo_stages_in_pipeline_order(demo_root: Path) -> None:
    [funnel] = load_funnel([str(demo_root)])
    assert [s.stage for s in funnel.stages] == DEMO_ORDER
    assert all(s.state == COMPLETE for s in funnel.stages)
    assert not funnel.has_error, [(s.relpath, s.notes) for s in funnel.stages]
    assert funnel.notes == []  # every hand-off matches: pages read what links wrote, ...


def test_funnel_numbers_equal_the_stats_files(demo_root: Path) -> None:
    [funnel] = load_funnel([str(demo_root)])
    checked = 0
    for stage in funnel.stages:
        if not shards.exists(shards.join(stage.path, shards.STATS_FILE)):
            assert stage.figures is None  # overlap/ keeps tables, not _stats.json
            continue
        raw = shards.read_stats(stage.path)
        f = stage.figures
        assert (f.records_in, f.records_out) == (raw["records_in"], raw["records_out"])
        assert f.dropped == raw["dropped"] and f.repaired == raw["repaired"]
        assert f.dropped_total == raw["dropped_total"]
        assert f.error_samples == raw["error_samples"]
        checked += 1
    assert checked == 7
    tokens = next(s for s in funnel.stages if s.stage == "tokens").figures
    raw_tokens = shards.read_stats(str(demo_root / "tokens"))
    assert tokens.extras["tokens_per_split"] == raw_tokens["tokens_per_split"]
    pages = next(s for s in funnel.stages if s.stage == "pages").figures
    assert pages.extras["retry"] == shards.read_stats(str(demo_root / "pages"))["retry"]
    links = shards.read_stats(str(demo_root / "links"))
    assert funnel.end_to_end is not None
    assert (funnel.end_to_end.from_stage, funnel.end_to_end.to_stage) == ("links", "tokens")
    assert funnel.end_to_end.records_in == links["records_in"]
    assert funnel.end_to_end.records_out == raw_tokens["records_out"]


def test_text_json_and_markdown_agree(demo_root: Path, capsys) -> None:
    code_text, text = _stats(demo_root, [], capsys)
    code_json, as_json = _stats(demo_root, ["--json"], capsys)
    code_md, markdown = _stats(demo_root, ["--markdown"], capsys)
    assert code_text == code_json == code_md == 0
    [data] = json.loads(as_json)["funnels"]
    from_json = {
        s["directory"]: (
            s["figures"]["records_in"],
            s["figures"]["records_out"],
            s["figures"]["dropped_total"],
        )
        for s in data["stages"]
        if s["figures"] is not None and not s["side_output"]  # dups/: no in/out shown
    }
    from_files = {}
    for d in from_json:
        raw = shards.read_stats(str(demo_root / d))
        from_files[d] = (raw["records_in"], raw["records_out"], raw["dropped_total"])
    assert from_json == from_files
    assert _stage_rows(text) == from_json
    assert _markdown_rows(markdown) == from_json
    e2e = data["end_to_end"]
    kept = format_pct(e2e["records_out"], e2e["records_in"])
    line = f"links in {e2e['records_in']} -> tokens out {e2e['records_out']} ({kept} kept)"
    assert "end to end: " + line in text
    assert "End to end: " + line in markdown
    # The top drop reason of links, with its share of the input, in text and Markdown alike.
    reason = data["stages"][0]["figures"]["dropped"][0]
    share = format_pct(reason["count"], data["stages"][0]["figures"]["records_in"])
    assert re.search(
        rf"^  {reason['reason']}\s+{reason['count']}\s+{re.escape(share)}$", text, re.M
    )
    assert f"{reason['reason']} {reason['count']} ({share})" in markdown
    assert "tokens_per_split: " in text and "tokens_per_split: " in markdown


def test_all_lists_every_reason_and_top_shortens(demo_root: Path, capsys) -> None:
    links = shards.read_stats(str(demo_root / "links"))
    nonzero = [r for r, n in links["dropped"].items() if n > 0]
    assert len(nonzero) > 3
    _, full = _stats(demo_root / "links", ["--all"], capsys)
    for reason in nonzero:
        assert re.search(rf"^  {reason}\s", full, re.M), reason
    assert links["error_samples"][0][:60] in full
    _, short = _stats(demo_root / "links", ["--top", "2"], capsys)
    shown = [r for r in nonzero if re.search(rf"^  {r}\s", short, re.M)]
    assert len(shown) == 2
    rest = sorted(links["dropped"].values(), reverse=True)[2:]
    assert f"({len(nonzero) - 2} more reasons; --all lists them)" in short
    assert re.search(rf"more reasons; --all lists them\)\s+{sum(rest)}\s", short)


def test_stage_directories_given_directly_form_one_funnel(demo_root: Path) -> None:
    funnels = load_funnel([str(demo_root / d) for d in ("tokens", "links", "pages", "overlap")])
    assert len(funnels) == 1
    stages = [s.stage for s in funnels[0].stages]
    assert stages == ["links", "pages", "tokens", "overlap", "overlap-documents"]
    assert [s.relpath for s in funnels[0].stages][-1] == "overlap/documents"
    assert funnels[0].end_to_end.to_stage == "tokens"


def test_dups_is_a_side_output_counted_by_reason(demo_root: Path, capsys) -> None:
    dups = shards.read_stats(str(demo_root / "dups"))
    corpus = shards.read_stats(str(demo_root / "corpus"))
    removed = dups["removed"]
    assert set(removed) == {"exact", "near"}
    assert sum(removed.values()) == dups["records_out"] > 0
    for reason, n in removed.items():  # the documents corpus/ dropped as duplicates
        assert corpus["dropped"].get(f"{reason}_duplicate", 0) == n
    _, text = _stats(demo_root, [], capsys)
    assert re.search(r"^dups \*\s+dups\s+complete\s+-\s+-\s+-\s+-\s+-$", text, re.M)
    noun = "document" if dups["records_out"] == 1 else "documents"
    by_reason = ", ".join(f"{r} {n}" for r, n in removed.items())
    assert f"  removed {dups['records_out']} {noun}: {by_reason}" in text
    _, markdown = _stats(demo_root, ["--markdown"], capsys)
    assert f"removed {dups['records_out']} {noun}: {by_reason} |" in markdown
    assert "dups" not in _stage_rows(text) and "dups" not in _markdown_rows(markdown)


def test_train_eval_and_report_are_in_the_funnel(trained_root: Path, capsys) -> None:
    [funnel] = load_funnel([str(trained_root)])
    assert [s.stage for s in funnel.stages] == [*DEMO_ORDER, "train", "eval", "report"]
    assert all(s.state == COMPLETE for s in funnel.stages)
    assert not funnel.has_error
    code, text = _stats(trained_root, [], capsys)
    assert code == 0
    metrics = [json.loads(x) for x in (trained_root / "runs/demo/metrics.jsonl").open()]
    last = [m for m in metrics if "loss" in m][-1]
    val = [m for m in metrics if "val_loss" in m][-1]["val_loss"]
    assert last["step"] == TRAIN_STEPS
    assert re.search(r"^train \(demo\) \*\s+runs/demo\s+complete\s+-", text, re.M)
    assert (
        f"  steps {TRAIN_STEPS}/{TRAIN_STEPS}, tokens seen {last['tokens']:,}, "
        f"final loss: train {last['loss']:.3f}, val {val:.3f}"
    ) in text
    summary = json.loads((trained_root / "eval" / "summary.json").read_text())
    sets = ", ".join(
        f"{s['test_set']} ({s['examples']} examples, loss/token {s['loss_per_token']:.3f})"
        for s in summary["sets"]
    )
    evaluated = f"{len(summary['sets'])} set(s) evaluated at step {TRAIN_STEPS}: {sets}"
    assert f"  {evaluated}" in text
    report = json.loads((trained_root / "report" / "report.json").read_text())
    index = trained_root / "report" / "index.html"
    assert f"  built: {len(report['sections'])} section(s) -> {index}" in text
    [data] = json.loads(_stats(trained_root, ["--json"], capsys)[1])["funnels"]
    by_stage = {s["stage"]: s for s in data["stages"]}
    assert by_stage["train"]["details"]["steps_done"] == TRAIN_STEPS
    assert by_stage["train"]["details"]["steps_asked"] == TRAIN_STEPS
    assert [s["test_set"] for s in by_stage["eval"]["details"]["sets"]] == [
        s["test_set"] for s in summary["sets"]
    ]
    assert by_stage["dups"]["side_output"] and not by_stage["corpus"]["side_output"]
    markdown = _stats(trained_root, ["--markdown"], capsys)[1]
    assert f"- eval *: {evaluated}" in markdown


def test_train_short_of_its_steps_is_in_progress(trained_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "demo"
    run.mkdir(parents=True)
    for name in ("metrics.jsonl", "checkpoint.pt"):
        shutil.copyfile(trained_root / "runs" / "demo" / name, run / name)
    config = json.loads((trained_root / "runs/demo/train_config.json").read_text())
    (run / "train_config.json").write_text(json.dumps(config | {"steps": 4 * TRAIN_STEPS}))
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 11, "loss": ')  # a record cut short by a kill
    [funnel] = load_funnel([str(tmp_path)])
    [train] = funnel.stages
    assert (train.stage, train.state) == ("train", IN_PROGRESS)
    assert train.details["steps_done"] == TRAIN_STEPS
    assert train.details["steps_asked"] == 4 * TRAIN_STEPS
    assert [n.message for n in train.notes] == [
        f"metrics.jsonl line {len((run / 'metrics.jsonl').read_text().splitlines())} "
        "is not valid JSON"
    ]


# ---- damaged and unfinished directories ----


def test_unreadable_stats_is_a_note_and_the_rest_renders(demo_copy: Path, capsys) -> None:
    (demo_copy / "docs" / shards.STATS_FILE).write_text('{"records_in": 13, "records_out": ')
    raw = json.loads((demo_copy / "corpus" / shards.STATS_FILE).read_text())
    del raw["records_out"]
    (demo_copy / "corpus" / shards.STATS_FILE).write_text(json.dumps(raw))
    code, text = _stats(demo_copy, [], capsys)
    assert code == 1
    assert re.search(r"error: docs \[docs\]: _stats\.json is not valid JSON \(.+ line 1", text)
    assert "error: corpus [corpus]: _stats.json: lacks records_out" in text
    rows = _stage_rows(text)
    assert rows["links"] == (39, 15, 24) and rows["pages"] == (15, 13, 2)
    assert "docs" not in rows and "corpus" not in rows
    assert re.search(r"^docs\s+docs\s+complete\s+-\s+-", text, re.M)


def test_unbalanced_stage_is_flagged(demo_copy: Path) -> None:
    path = demo_copy / "pages" / shards.STATS_FILE
    raw = json.loads(path.read_text())
    raw["records_out"] -= 1  # one page neither kept nor counted as dropped
    path.write_text(json.dumps(raw))
    [funnel] = load_funnel([str(demo_copy)])
    pages = next(s for s in funnel.stages if s.stage == "pages")
    messages = [n.message for n in pages.notes if n.severity == "error"]
    assert any("does not balance" in m and "+1 unaccounted" in m for m in messages)
    assert any("shards hold 13 rows but records_out is 12" in m for m in messages)
    assert funnel.has_error
    # pages now wrote 12, docs read 13: the hand-off does not match either.
    assert any("pages wrote 12 records but docs read 13" in n.message for n in funnel.notes)


def test_in_progress_and_not_started_stages(demo_copy: Path, capsys) -> None:
    corpus = demo_copy / "corpus"
    (corpus / "_SUCCESS").unlink()
    (corpus / shards.STATS_FILE).unlink()
    (corpus / f"{shards.TMP_PREFIX}abc-part-00000-of-00002.parquet").write_bytes(b"partial")
    shutil.rmtree(demo_copy / "tokens")
    [funnel] = load_funnel([str(demo_copy)])
    states = {s.stage: s.state for s in funnel.stages}
    assert states["corpus"] == IN_PROGRESS and states["tokens"] == NOT_STARTED
    assert next(s for s in funnel.stages if s.stage == "corpus").temp_files == 1
    assert funnel.end_to_end.to_stage == "docs"
    assert not funnel.has_error
    code, text = _stats(demo_copy, [], capsys)
    assert code == 0
    assert re.search(r"^corpus\s+corpus\s+in progress\s+-", text, re.M)
    assert re.search(r"^tokens\s+-\s+not started\s+-", text, re.M)
    assert "no stats yet, 1 shard(s) being written" in text


def test_stats_without_success_marker_is_in_progress(demo_copy: Path) -> None:
    (demo_copy / "docs" / "_SUCCESS").unlink()
    [funnel] = load_funnel([str(demo_copy)])
    docs = next(s for s in funnel.stages if s.stage == "docs")
    assert docs.state == IN_PROGRESS and docs.figures is not None
    assert any("no _SUCCESS" in n.message for n in docs.notes)


def test_stale_hand_off_is_a_warning(demo_copy: Path) -> None:
    path = demo_copy / "links" / shards.STATS_FILE
    raw = json.loads(path.read_text())
    raw["records_out"] += 2
    raw["records_in"] += 2
    del raw["shards"]  # (otherwise: shards hold 15 rows, an error of its own)
    path.write_text(json.dumps(raw))
    [funnel] = load_funnel([str(demo_copy)])
    assert [n.message for n in funnel.notes] == [
        "links wrote 17 records but pages read 15: pages was built from another links run "
        "(rebuild it)"
    ]
    assert not funnel.has_error


def test_missing_path_exits_2_with_a_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    for path, message in ((missing, "no such directory"), (empty, "holds no stage directory")):
        result = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "stats", str(path)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )
        assert result.returncode == 2, result.stderr
        assert f"{path}: {message}" in result.stderr
        assert result.stdout == ""


def _write_stage(directory: Path, stats: Any, *, stage: str | None, success: bool = True) -> None:
    directory.mkdir(parents=True)
    if stage is not None:
        shards.write_json_atomic(str(directory / shards.JOB_FILE), {"stage": stage})
    text = stats if isinstance(stats, str) else json.dumps(stats)
    (directory / shards.STATS_FILE).write_text(text)
    if success:
        (directory / "_SUCCESS").write_bytes(b"")


def test_synthetic_tree_names_each_bad_file(tmp_path: Path, capsys) -> None:
    good = {"records_in": 1000, "records_out": 900, "dropped": {"a": 60, "b": 40}}
    _write_stage(tmp_path / "step1", good, stage="links")  # named by _job.json, not the dir
    _write_stage(tmp_path / "b" / "x", {"records_in": "many", "records_out": 5}, stage="fetch")
    _write_stage(tmp_path / "c", [1, 2], stage="extract")
    _write_stage(tmp_path / "d", "", stage="dedup")
    _write_stage(tmp_path / "e", {"records_in": 3, "records_out": 3, "dropped": [1]}, stage=None)
    _write_stage(tmp_path / "f", {"records_in": 2, "records_out": True}, stage="tokenize")
    _write_stage(tmp_path / "_ledger", good, stage="links")  # "_" folders are not entered
    code, text = _stats(tmp_path, [], capsys)
    assert code == 1
    assert "links [step1]" not in text  # a good stage has no note
    assert re.search(
        r"^links\s+step1\s+complete\s+1,000\s+900\s+90\.0%\s+100\s+10\.0%$", text, re.M
    )
    assert "pages (fetch) [b/x]: _stats.json: records_in is 'many', expected a whole number" in text
    assert "docs (extract) [c]: _stats.json: top level is list, expected an object" in text
    assert "corpus (dedup) [d]: _stats.json is empty" in text
    assert "e * [e]: _stats.json: dropped is list, expected an object of counts" in text
    assert (
        "tokens (tokenize) [f]: _stats.json: records_out is True, expected a whole number" in text
    )
    assert "_ledger" not in text


def test_depth_limits_discovery(tmp_path: Path) -> None:
    _write_stage(
        tmp_path / "a" / "b" / "c" / "links", {"records_in": 1, "records_out": 1}, stage="links"
    )
    assert discover_stage_dirs(str(tmp_path), max_depth=3) == []
    assert discover_stage_dirs(str(tmp_path), max_depth=4) == [str(tmp_path / "a/b/c/links")]
    with pytest.raises(ValueError, match="holds no stage directory"):
        load_funnel([str(tmp_path)], max_depth=3)


# ---- pure parts ----


@given(st.integers(min_value=0, max_value=10**15))
def test_format_count_round_trips(n: int) -> None:
    text = format_count(n)
    assert int(text.replace(",", "")) == n
    assert all(len(group) == 3 for group in text.split(",")[1:])


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_format_pct_is_faithful(part: int, whole: int) -> None:
    text = format_pct(part, whole)
    if whole == 0:
        assert text == "-"
        return
    true = 100.0 * part / whole
    if part == 0:
        assert text == "0.0%"
    elif part == whole:
        assert text == "100.0%"
    elif text == "<0.1%":
        assert 0 < true < 0.05
    elif text == ">99.9%":
        assert 99.95 <= true < 100
    elif text == ">100.0%":
        assert 100 < true < 100.05
    else:
        value = float(text.rstrip("%"))
        assert abs(value - true) <= 0.05 + 1e-9
        assert value not in (0.0, 100.0)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["records_in", "records_out", "dropped", "repaired", "x", "shards"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(_json)
def test_parse_stats_never_raises_and_only_returns_valid_counts(data: Any) -> None:
    figures, problems = parse_stats(data)
    assert all(isinstance(p, str) and p for p in problems)
    if figures is not None:
        assert isinstance(figures.records_in, int) and figures.records_in >= 0
        assert isinstance(figures.records_out, int) and figures.records_out >= 0
        assert all(isinstance(n, int) and n >= 0 for n in figures.dropped.values())
    elif isinstance(data, dict) and "records_in" in data and "records_out" in data:
        assert any("records_" in p for p in problems)
