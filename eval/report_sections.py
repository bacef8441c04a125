"""The sections of `webtext report`, each built from the run's parts into plain data: the corpus
card (eval/corpus_card.py), then the five numbered sections of the study.

:data:`SECTIONS` lists them in report order, each a :class:`Section` (id, title, builder). A
built section is a dict: id, title, status ("ok" or "unavailable"), reason (why not), tables
({"columns", "rows"}), figures ({"name", "png", "reading"}: the reading is the one plain-words
sentence under the figure), numbers (what report.json keeps). A builder raises
:class:`SectionUnavailable` naming the part that is missing; the report renders the rest.
A builder takes the inputs and the section's dict (id, title and status already filled) and adds
its tables, figures and numbers.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dedup.ngram import overlap_dir as odir
from dedup.ngram.bloom import NgramFilter
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
    # The corpus card: the folder holding links/ pages/ docs/ corpus/ tokens/ (default: the
    # folder holding corpus_dir) and WebText's domain list to set beside the corpus's (none:
    # not shown).
    stages_dir: Path | None = None
    reference_domains: Path | None = None


Builder = Callable[[ReportInputs, dict[str, Any]], None]


@dataclass(frozen=True)
class Section:
    """One section of the report: ``id`` (the HTML anchor and report.json's key), ``title``
    (the heading) and ``builder``, which fills the section's tables, figures and numbers."""

    id: str
    title: str
    builder: Builder

    def blank(self, status: str = "ok", reason: str | None = None) -> dict[str, Any]:
        """The section's dict with nothing in it yet."""
        return {
            "id": self.id,
            "title": self.title,
            "status": status,
            "reason": reason,
            "tables": [],
            "figures": [],
            "numbers": {},
        }

    def build(self, inp: ReportInputs) -> dict[str, Any]:
        """The built section; raises SectionUnavailable (or a missing file's error)."""
        sec = self.blank()
        self.builder(inp, sec)
        return sec

    def unavailable(self, reason: str) -> dict[str, Any]:
        """The section as not built, with the reason."""
        return self.blank("unavailable", reason)


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
    """The number with ``digits`` decimals ('-' when undefined; 3 significant digits in
    scientific notation from a million up, e.g. the perplexity of text far from the corpus)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.3g}" if abs(x) >= 1e6 else f"{x:.{digits}f}"


# -- 1. the overlap table ----------------------------------------------------------------------
def overlap_table(inp: ReportInputs, sec: dict[str, Any]) -> None:
    sets, ref_name = _overlap_sets(_need(inp.overlap_dir, "overlap directory", "--overlap"))
    tests = list(dict.fromkeys(s["test_set"] for s in sets))
    refs = list(dict.fromkeys(s["reference"] for s in sets))
    cell = {(s["reference"], s["test_set"]): s["percent_ngrams_found"] for s in sets}
    sec["tables"].append(
        {
            "caption": "% of each test set's 8-grams found in the reference (rows)",
            "columns": ["reference \\ test", *tests],
            "rows": [[r, *(_pct(cell.get((r, t))) for t in tests)] for r in refs],
        }
    )
    main = [cell.get((ref_name, t), 0.0) for t in tests]
    sec["numbers"] = {"percent_found": {f"{r} / {t}": v for (r, t), v in sorted(cell.items())}}
    worst = tests[int(np.argmax(main))]
    sec["figures"].append(
        {
            "name": "overlap_table.png",
            "png": figures.bar_chart(tests, main, "% of 8-grams", f"found in {ref_name}"),
            "alt": f"Bar chart: % of each test set's 8-grams found in {ref_name}, one bar per "
            "test set.",
            "reading": f"{worst} shares the most with {ref_name}: {max(main):.2f}% of its 8-grams "
            f"are in the training data (lowest: {min(main):.2f}%).",
        }
    )


# -- 2. per-example overlap distribution ---------------------------------------------------------
def overlap_distribution(inp: ReportInputs, sec: dict[str, Any]) -> None:
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
        rows.append(
            [
                name,
                len(values),
                _pct(float(np.median(arr)) if len(arr) else None),
                _pct(float(arr.mean()) if len(arr) else None),
                _pct(100 * float((arr > 0).mean()) if len(arr) else None),
            ]
        )
        sec["numbers"][name] = {
            "documents": len(values),
            "median_percent": float(np.median(arr)) if len(arr) else None,
            "mean_percent": float(arr.mean()) if len(arr) else None,
            "share_with_any_overlap": float((arr > 0).mean()) if len(arr) else None,
        }
    sec["tables"].append(
        {
            "caption": f"per-document % of 8-grams found in {ref_name}",
            "columns": ["test set", "documents", "median", "mean", "documents with any overlap"],
            "rows": rows,
        }
    )
    top = max(sec["numbers"], key=lambda n: sec["numbers"][n]["median_percent"] or 0)
    sec["figures"].append(
        {
            "name": "overlap_distribution.png",
            "png": figures.histograms(
                series,
                "% of the document's 8-grams in training data",
                "per-document overlap (dashed: median)",
            ),
            "alt": "Histograms: per-document % of 8-grams found in the training data, one per "
            "test set, with a dashed line at each median.",
            "reading": f"The typical {top} document has {sec['numbers'][top]['median_percent']:.1f}% "
            f"of its 8-grams in the training data (the median; dashed line).",
        }
    )


def bucket_of(fraction: float | None) -> str:
    """none (no 8-gram found, or shorter than one 8-gram), (0, 15%], > 15%."""
    if fraction is None or fraction == 0:
        return "none"
    return "(0, 15%]" if fraction <= 0.15 else "> 15%"


# What each row of section 3 means, said once under its table.
BUCKET_NOTES = (
    "none: no 8-gram of the example is in the training data (or the example is shorter than "
    "one 8-gram); these are the examples left when every overlapping one is excluded.",
    "(0, 15%]: some, at most 15%, of the example's 8-grams are in the training data.",
    "> 15%: more than 15% of its 8-grams are in the training data.",
    "all: every example of the set, whatever its overlap.",
    "Metrics are pooled over the bucket's examples (total loss / total tokens); perplexity is "
    "per word (or the set's unit), so it explodes on text far from the training data.",
)


def _metric_columns(cells: list[dict[str, Any]]) -> list[tuple[str, Callable[[dict], str]]]:
    """(header, getter) of the metric columns that some row defines."""
    cols = [
        ("loss/token", lambda m: _num(m["loss_per_token"])),
        ("perplexity", lambda m: _num(m[f"ppl_per_{m['unit']}"], 2) + f" /{m['unit']}"
         if m[f"ppl_per_{m['unit']}"] is not None else "-"),
        ("bits/byte", lambda m: _num(m["bits_per_byte"])),
        ("accuracy", lambda m: _pct(100 * m["accuracy"]) if m.get("accuracy") is not None else "-"),
    ]  # fmt: skip
    keys = {"bits/byte": "bits_per_byte", "accuracy": "accuracy"}
    return [
        (h, get)
        for h, get in cols
        if h not in keys or any(m.get(keys[h]) is not None for m in cells)
    ]


def _bucket_reading(pick: str, unit: str, by: dict[str, dict[str, Any]]) -> str:
    """One true sentence on set ``pick``: overlap-free versus all, and the high-overlap bucket."""
    key = f"ppl_per_{unit}"
    a, none, high = by["all"], by["none"], by["> 15%"]
    if not none["examples"]:
        return (
            f"Every one of the {a['examples']} {pick} examples has some 8-gram in the training "
            f"data, so no overlap-free perplexity exists for it (all examples: "
            f"{_num(a[key], 2)} per {unit})."
        )
    out = (
        f"On {pick}, the {none['examples']} examples with no overlap have perplexity "
        f"{_num(none[key], 2)} per {unit}, against {_num(a[key], 2)} for all "
        f"{a['examples']} examples"
    )
    if high["examples"]:
        lower = high["loss_per_token"] < none["loss_per_token"]
        out += f"; the {high['examples']} examples with > 15% overlap have {_num(high[key], 2)}" + (
            ": a lower loss where the overlap is high, so the overlap helps the model"
            if lower
            else ": no lower loss where the overlap is high"
        )
    return out + "."


# -- 3. metrics by overlap bucket -----------------------------------------------------------------
def metrics_by_overlap(inp: ReportInputs, sec: dict[str, Any]) -> None:
    from eval.evaluate import read_examples, read_summary, summarize_rows

    eval_dir = _need(inp.eval_dir, "eval directory", "--eval")
    overlap_dir = _need(inp.overlap_dir, "overlap directory", "--overlap")
    summary = {s["test_set"]: s for s in read_summary(eval_dir)["sets"]}
    examples = read_examples(eval_dir)
    _, ref_name = _overlap_sets(overlap_dir)
    frac = {
        (d["test_set"], d["doc_index"]): d["fraction"]
        for d in odir.read_documents(overlap_dir, ref_name)
    }
    measured = {t for t, _ in frac}
    joined = [t for t in summary if t in measured]
    if not joined:
        raise SectionUnavailable(
            f"no test set is in both {eval_dir} ({', '.join(summary) or 'none'}) and "
            f"{overlap_dir} ({', '.join(sorted(measured)) or 'none'}): evaluate the sets the "
            "overlap stage measured, under the same names"
        )
    labels = (*BUCKETS, "all")
    members: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for name in joined:
        unit, fmt = summary[name]["unit"], summary[name]["format"]
        mine = [r for r in examples if r["test_set"] == name]
        groups = {
            b: [r for r in mine if bucket_of(frac.get((name, r["doc_index"]))) == b]
            for b in BUCKETS
        }
        groups["all"] = mine
        sec["numbers"][name] = {b: summarize_rows(groups[b], unit, fmt) for b in labels}
        for b in labels:
            members[(name, b)] = sorted((r["n_tokens"], round(r["nll"], 6)) for r in groups[b])
    cells = [sec["numbers"][n][b] for n in joined for b in labels]
    metric_cols = _metric_columns(cells)
    rows = [
        [
            name,
            b + (" (= excluding overlapping)" if b == "none" else ""),
            sec["numbers"][name][b]["examples"],
            sec["numbers"][name][b]["tokens"],
            *(get(sec["numbers"][name][b]) for _, get in metric_cols),
        ]
        for name in joined
        for b in labels
        if sec["numbers"][name][b]["examples"]
    ]
    notes = list(BUCKET_NOTES)
    empty = [f"{n} {b}" for n in joined for b in BUCKETS if not sec["numbers"][n][b]["examples"]]
    if empty:
        notes.append(f"No examples (row left out): {', '.join(empty)}.")
    # Rows of different sets that hold the very same examples (e.g. a test file that repeats
    # another set's documents) give the same numbers: say so rather than leave it unexplained.
    seen: dict[tuple, tuple[str, str]] = {}
    for name in joined:
        for b in BUCKETS:
            key = tuple(members[(name, b)])
            if key and key in seen and seen[key][0] != name:
                notes.append(
                    f"{name} {b} repeats {seen[key][0]} {seen[key][1]}: the same examples "
                    "(same token counts and losses), so the same numbers."
                )
            seen.setdefault(key, (name, b))
    sec["tables"].append(
        {
            "caption": "pooled metrics of the examples in each bucket of per-example overlap with "
            f"{ref_name}",
            "columns": ["test set", "bucket", "examples", "tokens", *(h for h, _ in metric_cols)],
            "rows": rows,
            "notes": notes,
        }
    )
    # Read the set where the overlap-free bucket and the > 15% one both have examples, else
    # one where the overlap-free bucket has some, else the first.
    nums = sec["numbers"]
    pick = next(
        (n for n in joined if nums[n]["none"]["examples"] and nums[n]["> 15%"]["examples"]),
        next((n for n in joined if nums[n]["none"]["examples"]), joined[0]),
    )
    chart = {
        b: [sec["numbers"][n][b]["loss_per_token"] for n in joined]
        for b in labels
        if any(sec["numbers"][n][b]["examples"] for n in joined)
    }
    sec["figures"].append(
        {
            "name": "metrics_by_overlap.png",
            "png": figures.grouped_bars(joined, chart, "loss / token", "loss by overlap bucket"),
            "reading": _bucket_reading(pick, summary[pick]["unit"], sec["numbers"][pick]),
            "alt": "Bar chart: loss per token of each test set's examples, one bar per overlap "
            f"bucket ({', '.join(chart)}).",
        }
    )


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


def train_vs_heldout(inp: ReportInputs, sec: dict[str, Any]) -> None:
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
        sec["numbers"][label] = {
            "parameters": params,
            "steps": train[-1][0] if train else 0,
            "final_train_loss": final_train,
            "final_heldout_loss": final_val,
            "heldout_curve": [list(p) for p in val],
        }
        rows.append(
            [
                label,
                f"{params:,}" if params else "-",
                train[-1][0] if train else 0,
                _num(final_train),
                _num(final_val),
                _num(final_val - final_train)
                if final_val is not None and final_train is not None
                else "-",
            ]
        )
    if not curves:
        raise SectionUnavailable(f"{inp.run_dir}/metrics.jsonl holds no losses")
    sec["tables"].append(
        {
            "caption": "final losses (train: mean of the last 10% of steps; held-out: last evaluation)",
            "columns": ["run", "parameters", "steps", "train loss", "held-out loss", "gap"],
            "rows": rows,
        }
    )
    from eval.regime import compare_sizes, describe_regime, epochs_seen

    train, val = _run_curves(inp.run_dir)
    if val:
        regime, reading = describe_regime(train, val, epochs=epochs_seen(inp.run_dir))
    else:
        regime = "too few points"
        reading = "Only training loss was logged (no held-out split evaluated during training)."
    reading = " ".join(filter(None, [reading, compare_sizes(sizes)]))
    sec["numbers"]["regime"] = regime
    sec["figures"].append(
        {
            "name": "train_vs_heldout.png",
            "png": figures.loss_curves(  # sizes by parameter count: the line runs small to large
                curves, sorted(sizes, key=lambda s: s[1]), "loss over training steps"
            ),
            "reading": reading,
            "alt": "Line chart: train and held-out loss (nats per token) against training step"
            + (", and final loss against parameter count" if len(sizes) > 1 else "")
            + ".",
        }
    )


# -- 5. memorization of generations ---------------------------------------------------------------
def _corpus_texts(corpus_dir: Path, splits: set[str]) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of the corpus documents in ``splits``, streamed shard by shard: the
    memorization section passes over the training split several times and never holds it."""
    from pipeline.io import schemas, shards

    shards.require_complete(str(corpus_dir))
    for batch in shards.iter_batches(
        str(corpus_dir), schemas.CORPUS, columns=["doc_id", "text", "split"]
    ):
        for d, t, s in zip(
            *(batch.column(c).to_pylist() for c in ("doc_id", "text", "split")), strict=True
        ):
            if s in splits:
                yield d, t


def _train_words(corpus: Path) -> Callable[[], Iterator[np.ndarray]]:
    """A function that streams the train split's word hashes afresh on every call (one pass)."""
    from dedup import text as textmod

    def train_words() -> Iterator[np.ndarray]:
        return (textmod.word_hashes(t) for _, t in _corpus_texts(corpus, {"train"}))

    return train_words


def _heldout_texts(corpus: Path, count: int) -> list[str]:
    """The held-out baseline: the first ``count`` val/test documents by id."""
    return [t for _, t in heapq.nsmallest(count, _corpus_texts(corpus, {"val", "test"}))]


def _sample(inp: ReportInputs) -> tuple[list[str], int]:
    """(decoded unconditional samples of the run's model, tokens generated per sample)."""
    from model.checkpoint import CheckpointError
    from model.sample import SamplingConfig, generate, load_run_model
    from model.tokenizer import load_tokenizer

    try:
        model = load_run_model(inp.run_dir)
    except CheckpointError as exc:
        raise SectionUnavailable(f"no model to sample from: {exc}") from exc
    tok_dir = inp.run_dir / "tokenizer"
    if not tok_dir.is_dir():
        raise SectionUnavailable(f"no tokenizer at {tok_dir}")
    tokenizer = load_tokenizer(tok_dir)
    cfg = SamplingConfig(
        max_new_tokens=min(inp.sample_tokens, model.config.block_size - 1),
        temperature=1.0,
        top_k=40,
        seed=inp.seed,
    )
    rows = generate(model, [], inp.num_samples, cfg, eot_id=tokenizer.eot_id)
    return [tokenizer.decode(r) for r in rows], cfg.max_new_tokens


def _heldout_words(held: list[str], sample_words: list[np.ndarray]) -> list[np.ndarray]:
    """Held-out document i (cycling) cut to sample i's word count (at least one 8-gram)."""
    from dedup import text as textmod

    return [
        textmod.word_hashes(held[i % len(held)])[: max(len(words), 8)]
        for i, words in enumerate(sample_words)
    ]


def _train_filter(
    overlap_dir: Path | None, train_words: Callable[[], Iterator[np.ndarray]]
) -> tuple[NgramFilter, str]:
    """(the train split's 8-gram filter, where it came from): the overlap stage's (one filter or
    a partitioned one: the same answers), else one built here from the corpus."""
    from dedup.ngram.partitioned import load_filter
    from eval import memorization as mem

    bloom_path = odir.find_reference_filter(overlap_dir) if overlap_dir else None
    if bloom_path is not None:
        return load_filter(bloom_path, mmap=True), str(bloom_path)
    n = sum(max(0, len(w) - 7) for w in train_words())
    return mem.bloom_from_texts(train_words(), n), "built from the corpus"


def _text_stats(bloom: NgramFilter, words: list[np.ndarray], lengths: list[int]) -> dict[str, Any]:
    """The numbers of one group of texts (samples or held-out): their share of 8-grams in the
    filter, and their longest verbatim matches (``lengths``)."""
    from eval import memorization as mem

    counts = [mem.ngram_share(bloom, w) for w in words]
    shares = [100 * f / n for n, f in counts if n]
    total_n = sum(n for n, _ in counts)
    return {
        "texts": len(words),
        "words_mean": float(np.mean([len(w) for w in words])) if words else 0.0,
        "percent_8grams_in_train": 100 * sum(f for _, f in counts) / total_n if total_n else None,
        "per_text_percent": mem.describe(shares),
        "longest_match_words": mem.describe(lengths),
        "longest_match_per_text": [int(x) for x in lengths],
    }


def _copying_verdict(samples_percent: float | None, heldout_percent: float | None) -> str:
    ratio = (samples_percent or 0) - (heldout_percent or 0)
    if ratio > 5:
        return "more than held-out text does: a sign of copying"
    if ratio > -5:
        return "about as much as held-out text does: no sign of copying beyond common phrases"
    return "less than held-out text does: no sign of copying"


EMPTY_SAMPLE = "(empty sample: no words; excluded from the statistics)"


def _memorization_tables(
    stats: dict[str, dict[str, Any]], samples: list[str], empty: list[int]
) -> list[dict[str, Any]]:
    longest = iter(stats["samples"]["longest_match_per_text"])
    per_sample = [None if i in empty else next(longest) for i in range(len(samples))]
    return [
        {
            "caption": "8-grams found in the training data, and the longest verbatim run in words "
            "(empty samples excluded)",
            "columns": [
                "texts",
                "count",
                "mean words",
                "% 8-grams in train",
                "longest match median",
                "longest match max",
            ],
            "rows": [
                [
                    k,
                    v["texts"],
                    _num(v["words_mean"], 1),
                    _pct(v["percent_8grams_in_train"]),
                    _num(v["longest_match_words"]["median"], 1),
                    _num(v["longest_match_words"]["max"], 0),
                ]
                for k, v in stats.items()
            ],
            "notes": [
                f"{len(empty)} of {len(samples)} samples were empty (the model ended them at "
                "once) and are left out of every number here; each held-out text is cut to the "
                "word count of one non-empty sample."
            ]
            if empty
            else [],
        },
        {
            "caption": "the first samples (decoded; the same seed gives the same samples)",
            "columns": ["#", "sample", "longest match (words)"],
            "rows": [
                [
                    i + 1,
                    t.strip()[:300] if i not in empty else EMPTY_SAMPLE,
                    "-" if per_sample[i] is None else per_sample[i],
                ]
                for i, t in enumerate(samples[:5])
            ],  # fmt: skip
        },
    ]


def _memorization_figure(stats: dict[str, dict[str, Any]], empty: int) -> dict[str, Any]:
    s, h = stats["samples"], stats["held-out"]
    verdict = _copying_verdict(s["percent_8grams_in_train"], h["percent_8grams_in_train"])
    left_out = f" ({empty} empty sample(s) left out)" if empty else ""
    return {
        "name": "memorization.png",
        "png": figures.paired_points(
            ["samples", "held-out"],
            s["longest_match_per_text"],
            h["longest_match_per_text"],
            "longest verbatim match (words)",
            "longest match with training data",
        ),
        "reading": f"Samples share {_pct(s['percent_8grams_in_train'])} of their 8-grams with the "
        f"training data against {_pct(h['percent_8grams_in_train'])} for held-out documents, "
        f"{verdict}{left_out}; median longest match {_num(s['longest_match_words']['median'], 1)} "
        f"against {_num(h['longest_match_words']['median'], 1)} words (black bars).",
        "alt": "Strip plot: the longest verbatim match with the training data, in words, of each "
        "non-empty sample and each held-out text, with a black bar at each group's median.",
    }


def memorization(inp: ReportInputs, sec: dict[str, Any]) -> None:
    from eval import memorization as mem

    corpus = _need(inp.corpus_dir, "corpus directory", "--corpus")
    train_words = _train_words(corpus)
    held = _heldout_texts(corpus, inp.num_samples)  # only as many as there are samples
    if next(train_words(), None) is None:
        raise SectionUnavailable(f"{corpus} has no train split documents")
    if not held:
        raise SectionUnavailable(f"{corpus} has no val/test documents for the held-out baseline")
    samples, sample_tokens = _sample(inp)
    all_words = mem.word_hash_arrays(samples)
    empty = [i for i, w in enumerate(all_words) if len(w) == 0]
    sample_words = [w for w in all_words if len(w)]
    if not sample_words:
        raise SectionUnavailable(f"all {len(samples)} samples are empty (no words)")
    held_words = _heldout_words(held, sample_words)
    bloom, bloom_source = _train_filter(inp.overlap_dir, train_words)
    longest = mem.longest_matches(sample_words + held_words, train_words)
    stats = {
        "samples": _text_stats(bloom, sample_words, longest[: len(sample_words)]),
        "held-out": _text_stats(bloom, held_words, longest[len(sample_words) :]),
    }
    sec["numbers"] = stats | {
        "empty_samples": len(empty),
        "empty_sample_numbers": [i + 1 for i in empty],
        "bloom_filter": bloom_source,
        "num_samples": inp.num_samples,
        "sample_tokens": sample_tokens,
        "seed": inp.seed,
        "sampling": "top-k 40, temperature 1, unconditional",
    }
    sec["tables"] += _memorization_tables(stats, samples, empty)
    sec["figures"].append(_memorization_figure(stats, len(empty)))


def corpus_card(inp: ReportInputs, sec: dict[str, Any]) -> None:
    from eval.corpus_card import build_corpus_card

    build_corpus_card(inp, sec)


# The report's sections, in order.
SECTIONS: Sequence[Section] = (
    Section(id="corpus_card", title="Corpus card", builder=corpus_card),
    Section(
        id="overlap_table",
        title="1. Test-set 8-grams found in the training data (Table 6)",
        builder=overlap_table,
    ),
    Section(
        id="overlap_distribution",
        title="2. Per-example overlap distribution",
        builder=overlap_distribution,
    ),
    Section(
        id="metrics_by_overlap",
        title="3. Metrics by overlap bucket, and excluding overlap",
        builder=metrics_by_overlap,
    ),
    Section(
        id="train_vs_heldout",
        title="4. Train versus held-out loss: underfitting or overfitting?",
        builder=train_vs_heldout,
    ),
    Section(
        id="memorization",
        title="5. Memorization of generations",
        builder=memorization,
    ),
)
