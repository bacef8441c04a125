"""The five sections of `webtext report`, each built from the run's parts into plain data.

A section is a dict: id, title, status ("ok" or "unavailable"), reason (why not), tables
({"columns", "rows"}), figures ({"name", "png", "reading"}: the reading is the one plain-words
sentence under the figure), numbers (what report.json keeps). A builder raises
:class:`SectionUnavailable` naming the part that is missing; the report renders the rest.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dedup.ngram import overlap_dir as odir
from eval import figures

BUCKETS = ("none", "(0, 15%]", "> 15%")


class SectionUnavailable(Exception):
    """A part of the run the section needs is missing; the message says which and why."""


@dataclass(frozen=True)
class ReportInputs:
    run_dir: Path
    corpus_dir: Path | None = None
    overlap_dir: Path | None = None
    eval_dir: Path | None = None
    compare_runs: tuple[Path, ...] = ()
    num_samples: int = 16
    sample_tokens: int = 128
    seed: int = 0


def _section(sid: str, title: str) -> dict[str, Any]:
    return {"id": sid, "title": title, "status": "ok", "reason": None, "tables": [],
            "figures": [], "numbers": {}}  # fmt: skip


def _need(path: Path | None, what: str, option: str) -> Path:
    if path is None:
        raise SectionUnavailable(f"no {what} given ({option} DIR)")
    if not path.exists():
        raise SectionUnavailable(f"{what} {path} does not exist")
    return path


def _overlap_sets(overlap_dir: Path) -> tuple[list[dict[str, Any]], str]:
    """(per-set results, the corpus reference's name) of a finished overlap directory."""
    if not odir.is_complete(overlap_dir):
        raise SectionUnavailable(f"overlap directory {overlap_dir} is incomplete (no _SUCCESS)")
    return odir.read_sets(overlap_dir), odir.read_reference_name(overlap_dir)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


# -- 1. the overlap table ----------------------------------------------------------------------
def overlap_table(inp: ReportInputs) -> dict[str, Any]:
    sec = _section("overlap_table", "1. Test-set 8-grams found in the training data (Table 6)")
    sets, ref_name = _overlap_sets(_need(inp.overlap_dir, "overlap directory", "--overlap"))
    tests = list(dict.fromkeys(s["test_set"] for s in sets))
    refs = list(dict.fromkeys(s["reference"] for s in sets))
    cell = {(s["reference"], s["test_set"]): s["percent_ngrams_found"] for s in sets}
    sec["tables"].append({
        "caption": "% of each test set's 8-grams found in the reference (rows)",
        "columns": ["reference \\ test", *tests],
        "rows": [[r, *(_pct(cell.get((r, t))) for t in tests)] for r in refs],
    })  # fmt: skip
    main = [cell.get((ref_name, t), 0.0) for t in tests]
    sec["numbers"] = {"percent_found": {f"{r} / {t}": v for (r, t), v in sorted(cell.items())}}
    worst = tests[int(np.argmax(main))]
    sec["figures"].append({
        "name": "overlap_table.png",
        "png": figures.bar_chart(tests, main, "% of 8-grams", f"found in {ref_name}"),
        "reading": f"{worst} shares the most with {ref_name}: {max(main):.2f}% of its 8-grams "
        f"are in the training data (lowest: {min(main):.2f}%).",
    })  # fmt: skip
    return sec


# -- 2. per-example overlap distribution ---------------------------------------------------------
def overlap_distribution(inp: ReportInputs) -> dict[str, Any]:
    sec = _section("overlap_distribution", "2. Per-example overlap distribution")
    overlap_dir = _need(inp.overlap_dir, "overlap directory", "--overlap")
    sets, ref_name = _overlap_sets(overlap_dir)
    docs = odir.read_documents(overlap_dir, ref_name)
    series: dict[str, list[float]] = {}
    for s in sets:
        if s["reference"] == ref_name:
            series[s["test_set"]] = [
                100 * d["fraction"] for d in docs if d["test_set"] == s["test_set"]
            ]
    rows = []
    for name, values in series.items():
        arr = np.asarray(values)
        rows.append([name, len(values), _pct(float(np.median(arr)) if len(arr) else None),
                     _pct(float(arr.mean()) if len(arr) else None),
                     _pct(100 * float((arr > 0).mean()) if len(arr) else None)])  # fmt: skip
        sec["numbers"][name] = {
            "documents": len(values),
            "median_percent": float(np.median(arr)) if len(arr) else None,
            "mean_percent": float(arr.mean()) if len(arr) else None,
            "share_with_any_overlap": float((arr > 0).mean()) if len(arr) else None,
        }
    sec["tables"].append({
        "caption": f"per-document % of 8-grams found in {ref_name}",
        "columns": ["test set", "documents", "median", "mean", "documents with any overlap"],
        "rows": rows,
    })  # fmt: skip
    top = max(sec["numbers"], key=lambda n: sec["numbers"][n]["median_percent"] or 0)
    sec["figures"].append({
        "name": "overlap_distribution.png",
        "png": figures.histograms(series, "% of the document's 8-grams in training data",
                                  "per-document overlap (dashed: median)"),
        "reading": f"The typical {top} document has {sec['numbers'][top]['median_percent']:.1f}% "
        f"of its 8-grams in the training data (the median; dashed line).",
    })  # fmt: skip
    return sec


def bucket_of(fraction: float | None) -> str:
    """none (no 8-gram found, or shorter than one 8-gram), (0, 15%], > 15%."""
    if fraction is None or fraction == 0:
        return "none"
    return "(0, 15%]" if fraction <= 0.15 else "> 15%"


# -- 3. metrics by overlap bucket -----------------------------------------------------------------
def metrics_by_overlap(inp: ReportInputs) -> dict[str, Any]:
    from eval.evaluate import read_examples, read_summary, summarize_rows

    sec = _section("metrics_by_overlap", "3. Metrics by overlap bucket, and excluding overlap")
    eval_dir = _need(inp.eval_dir, "eval directory", "--eval")
    overlap_dir = _need(inp.overlap_dir, "overlap directory", "--overlap")
    summary = {s["test_set"]: s for s in read_summary(eval_dir)["sets"]}
    examples = read_examples(eval_dir)
    _, ref_name = _overlap_sets(overlap_dir)
    frac = {(d["test_set"], d["doc_index"]): d["fraction"]
            for d in odir.read_documents(overlap_dir, ref_name)}  # fmt: skip
    measured = {t for t, _ in frac}
    joined = [t for t in summary if t in measured]
    if not joined:
        raise SectionUnavailable(
            f"no test set is in both {eval_dir} ({', '.join(summary) or 'none'}) and "
            f"{overlap_dir} ({', '.join(sorted(measured)) or 'none'}): evaluate the sets the "
            "overlap stage measured, under the same names"
        )
    rows, chart = [], {b: [] for b in (*BUCKETS, "all")}
    for name in joined:
        unit, fmt = summary[name]["unit"], summary[name]["format"]
        mine = [r for r in examples if r["test_set"] == name]
        groups = {b: [r for r in mine if bucket_of(frac.get((name, r["doc_index"]))) == b]
                  for b in BUCKETS}  # fmt: skip
        groups["all"] = mine
        groups["excluding overlapping"] = groups["none"]
        sec["numbers"][name] = {}
        for label, group in groups.items():
            m = summarize_rows(group, unit, fmt)
            sec["numbers"][name][label] = m
            rows.append([name, label, m["examples"], m["tokens"], _num(m["loss_per_token"]),
                         _num(m[f"ppl_per_{unit}"], 2) + f" /{unit}",
                         _num(m["bits_per_byte"]),
                         _pct(100 * m["accuracy"]) if m.get("accuracy") is not None else "-"])  # fmt: skip
            if label in chart:
                chart[label].append(m["loss_per_token"])
    sec["tables"].append({
        "caption": "pooled metrics of the examples in each bucket of per-example overlap with "
        f"{ref_name} ('excluding overlapping' = no 8-gram found)",
        "columns": ["test set", "bucket", "examples", "tokens", "loss/token", "perplexity",
                    "bits/byte", "accuracy"],
        "rows": rows,
    })  # fmt: skip
    # Read the set where excluding overlap leaves something, else the first.
    pick = next(
        (n for n in joined if sec["numbers"][n]["excluding overlapping"]["examples"]), joined[0]
    )
    unit = summary[pick]["unit"]
    a = sec["numbers"][pick]["all"][f"ppl_per_{unit}"]
    e = sec["numbers"][pick]["excluding overlapping"][f"ppl_per_{unit}"]
    reading = (
        f"On {pick}, leaving out every example with any overlap moves perplexity from "
        f"{_num(a, 2)} to {_num(e, 2)}"
        + (
            "; a lower loss on overlapping buckets would mean the overlap helps the model."
            if e is not None
            else " (every example overlaps)."
        )
    )
    sec["figures"].append({
        "name": "metrics_by_overlap.png",
        "png": figures.grouped_bars(joined, chart, "loss / token", "loss by overlap bucket"),
        "reading": reading,
    })  # fmt: skip
    return sec


# -- 4. train versus held-out loss ----------------------------------------------------------------
def _run_curves(run_dir: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise SectionUnavailable(f"{run_dir} has no metrics.jsonl (not a training run)")
    records = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("val_loss") is not None]
    return train, val


def _param_count(run_dir: Path) -> int | None:
    import torch

    from model.checkpoint import CheckpointError, load_checkpoint
    from model.gpt2 import GPT2, GPT2Config

    try:
        config = GPT2Config.from_dict(load_checkpoint(run_dir)["model_config"])
    except CheckpointError:
        return None
    with torch.device("meta"):
        return GPT2(config).num_params()


def train_vs_heldout(inp: ReportInputs) -> dict[str, Any]:
    sec = _section("train_vs_heldout", "4. Train versus held-out loss (is it still underfitting?)")
    runs = [inp.run_dir, *inp.compare_runs]
    curves: dict[str, tuple[list[int], list[float]]] = {}
    sizes, rows = [], []
    for run in runs:
        train, val = _run_curves(run)
        label = run.name
        if train:
            curves[f"{label} train"] = ([s for s, _ in train], [v for _, v in train])
        if val:
            curves[f"{label} held-out"] = ([s for s, _ in val], [v for _, v in val])
        tail = [v for _, v in train[-max(1, len(train) // 10) :]]
        final_train = float(np.mean(tail)) if tail else None
        final_val = val[-1][1] if val else None
        params = _param_count(run)
        sizes.append((label, params or 0, final_train, final_val))
        sec["numbers"][label] = {"parameters": params, "steps": train[-1][0] if train else 0,
                                 "final_train_loss": final_train, "final_heldout_loss": final_val,
                                 "heldout_curve": [list(p) for p in val]}  # fmt: skip
        rows.append([label, f"{params:,}" if params else "-", train[-1][0] if train else 0,
                     _num(final_train), _num(final_val),
                     _num(final_val - final_train) if final_val is not None and final_train
                     is not None else "-"])  # fmt: skip
    if not curves:
        raise SectionUnavailable(f"{inp.run_dir}/metrics.jsonl holds no losses")
    sec["tables"].append({
        "caption": "final losses (train: mean of the last 10% of steps; held-out: last evaluation)",
        "columns": ["run", "parameters", "steps", "train loss", "held-out loss", "gap"],
        "rows": rows,
    })  # fmt: skip
    main = sec["numbers"][inp.run_dir.name]
    val = main["heldout_curve"]
    if len(val) >= 2:
        falling = val[-1][1] < val[-2][1]
        reading = (
            f"Held-out loss went from {val[0][1]:.3f} to {val[-1][1]:.3f} and was "
            + ("still falling at the last evaluation: the model is still underfitting; "
               "more training should help." if falling else
               "no longer falling at the last evaluation: more steps alone may not help.")
        )  # fmt: skip
    elif val:
        reading = f"One held-out evaluation ({val[0][1]:.3f}): too few points to see a trend."
    else:
        reading = "Only training loss was logged (no held-out split evaluated during training)."
    sec["figures"].append({
        "name": "train_vs_heldout.png",
        "png": figures.loss_curves(curves, sizes, "loss over training steps"),
        "reading": reading,
    })  # fmt: skip
    return sec


# -- 5. memorization of generations ---------------------------------------------------------------
def _corpus_texts(corpus_dir: Path, splits: set[str]) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of the corpus documents in ``splits``, streamed shard by shard: the
    memorization section passes over the training split several times and never holds it."""
    from pipeline.io import schemas, shards

    shards.require_complete(str(corpus_dir))
    for batch in shards.iter_batches(str(corpus_dir), schemas.CORPUS,
                                     columns=["doc_id", "text", "split"]):  # fmt: skip
        for d, t, s in zip(*(batch.column(c).to_pylist() for c in ("doc_id", "text", "split")),
                           strict=True):  # fmt: skip
            if s in splits:
                yield d, t


def memorization(inp: ReportInputs) -> dict[str, Any]:
    from dedup import text as textmod
    from dedup.ngram.partitioned import load_filter
    from eval import memorization as mem
    from model.checkpoint import CheckpointError
    from model.sample import SamplingConfig, generate, load_run_model
    from model.tokenizer import load_tokenizer

    sec = _section("memorization", "5. Memorization of generations")
    corpus = _need(inp.corpus_dir, "corpus directory", "--corpus")

    def train_words() -> Iterator[np.ndarray]:  # one streamed pass over the train split
        return (textmod.word_hashes(t) for _, t in _corpus_texts(corpus, {"train"}))

    # The held-out baseline: the first documents by id (only as many as there are samples).
    held = [t for _, t in heapq.nsmallest(inp.num_samples, _corpus_texts(corpus, {"val", "test"}))]
    if next(train_words(), None) is None:
        raise SectionUnavailable(f"{corpus} has no train split documents")
    if not held:
        raise SectionUnavailable(f"{corpus} has no val/test documents for the held-out baseline")
    try:
        model = load_run_model(inp.run_dir)
    except CheckpointError as exc:
        raise SectionUnavailable(f"no model to sample from: {exc}") from exc
    tok_dir = inp.run_dir / "tokenizer"
    if not tok_dir.is_dir():
        raise SectionUnavailable(f"no tokenizer at {tok_dir}")
    tokenizer = load_tokenizer(tok_dir)
    cfg = SamplingConfig(max_new_tokens=min(inp.sample_tokens, model.config.block_size - 1),
                         temperature=1.0, top_k=40, seed=inp.seed)  # fmt: skip
    rows = generate(model, [], inp.num_samples, cfg, eot_id=tokenizer.eot_id)
    samples = [tokenizer.decode(r) for r in rows]
    sample_words = mem.word_hash_arrays(samples)
    held_words = []
    for i, words in enumerate(sample_words):  # held-out doc i, cut to sample i's length
        held_words.append(textmod.word_hashes(held[i % len(held)])[: max(len(words), 8)])
    # One filter (reference.bloom) or a partitioned one (manifest.json): the same answers.
    bloom_path = odir.find_reference_filter(inp.overlap_dir) if inp.overlap_dir else None
    if bloom_path is not None:
        bloom, bloom_source = load_filter(bloom_path, mmap=True), str(bloom_path)
    else:
        n = sum(max(0, len(w) - 7) for w in train_words())
        bloom, bloom_source = mem.bloom_from_texts(train_words(), n), "built from the corpus"
    longest = mem.longest_matches(sample_words + held_words, train_words)
    stats = {}
    for label, words, lengths in (("samples", sample_words, longest[: len(sample_words)]),
                                  ("held-out", held_words, longest[len(sample_words):])):  # fmt: skip
        counts = [mem.ngram_share(bloom, w) for w in words]
        shares = [100 * f / n for n, f in counts if n]
        total_n = sum(n for n, _ in counts)
        stats[label] = {
            "texts": len(words),
            "words_mean": float(np.mean([len(w) for w in words])) if words else 0.0,
            "percent_8grams_in_train": 100 * sum(f for _, f in counts) / total_n
            if total_n
            else None,
            "per_text_percent": mem.describe(shares),
            "longest_match_words": mem.describe(lengths),
            "longest_match_per_text": [int(x) for x in lengths],
        }
    sec["numbers"] = stats | {"bloom_filter": bloom_source, "num_samples": inp.num_samples,
                              "sample_tokens": cfg.max_new_tokens, "seed": inp.seed,
                              "sampling": "top-k 40, temperature 1, unconditional"}  # fmt: skip
    s, h = stats["samples"], stats["held-out"]
    sec["tables"].append({
        "caption": "8-grams found in the training data, and the longest verbatim run in words",
        "columns": ["texts", "count", "mean words", "% 8-grams in train", "longest match median",
                    "longest match max"],
        "rows": [[k, v["texts"], _num(v["words_mean"], 1), _pct(v["percent_8grams_in_train"]),
                  _num(v["longest_match_words"]["median"], 1),
                  _num(v["longest_match_words"]["max"], 0)] for k, v in stats.items()],
    })  # fmt: skip
    sec["tables"].append({
        "caption": "the first samples (decoded; the same seed gives the same samples)",
        "columns": ["#", "sample", "longest match (words)"],
        "rows": [[i + 1, t.strip()[:300], s["longest_match_per_text"][i]]
                 for i, t in enumerate(samples[:5])],
    })  # fmt: skip
    ratio = (s["percent_8grams_in_train"] or 0) - (h["percent_8grams_in_train"] or 0)
    verdict = (
        "more than held-out text does: a sign of copying" if ratio > 5
        else "about as much as held-out text does: no sign of copying beyond common phrases"
        if ratio > -5 else "less than held-out text does: no sign of copying"
    )  # fmt: skip
    sec["figures"].append({
        "name": "memorization.png",
        "png": figures.paired_points(["samples", "held-out"],
                                     s["longest_match_per_text"], h["longest_match_per_text"],
                                     "longest verbatim match (words)",
                                     "longest match with training data"),
        "reading": f"Samples share {_pct(s['percent_8grams_in_train'])} of their 8-grams with the "
        f"training data against {_pct(h['percent_8grams_in_train'])} for held-out documents, "
        f"{verdict}.",
    })  # fmt: skip
    return sec


BUILDERS = [overlap_table, overlap_distribution, metrics_by_overlap, train_vs_heldout, memorization]
TITLES = {
    "overlap_table": "1. Test-set 8-grams found in the training data (Table 6)",
    "overlap_distribution": "2. Per-example overlap distribution",
    "metrics_by_overlap": "3. Metrics by overlap bucket, and excluding overlap",
    "train_vs_heldout": "4. Train versus held-out loss (is it still underfitting?)",
    "memorization": "5. Memorization of generations",
}
