"""The study's last words: each model size beside the others on every test set (the shape of
Table 3 of the GPT-2 paper) and on the held-out split of the corpus, as Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.evaluate import read_summary
from model.train import read_metrics


def _cell(s: dict[str, Any]) -> str:
    unit = s["unit"]
    out = f"{s[f'ppl_per_{unit}']:,.0f} ppl/{unit}, {s['bits_per_byte']:.3f} bits/byte"
    if s.get("accuracy") is not None:
        out += f", {s['accuracy']:.1%} acc"
    return out


def sizes_table(runs: dict[str, Path], evals: dict[str, Path]) -> str:
    """One row per model size: parameters-free facts read from its run and eval directories
    (final train and held-out loss, then every test set), smallest size first."""
    rows: list[list[str]] = []
    names: list[str] = []
    for model, run in runs.items():
        metrics = read_metrics(run)
        train = [m["loss"] for m in metrics if "loss" in m]
        val = [m["val_loss"] for m in metrics if m.get("val_loss") is not None]
        tail = train[-max(1, len(train) // 10) :]
        sets = read_summary(evals[model])["sets"]
        names = names or [s["test_set"] for s in sets]
        rows.append(
            [
                model,
                f"{sum(tail) / len(tail):.3f}" if tail else "-",
                f"{val[-1]:.3f}" if val else "-",
                *(_cell(s) for s in sets),
            ]
        )
    header = ["model", "train loss", "held-out loss", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
