"""The report's figures: matplotlib (Agg, no display) to PNG bytes.

PNG metadata (matplotlib's version string) is dropped so the same numbers give the same
bytes, which keeps regenerated reports comparable file by file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "svg.hashsalt": "webtext"})


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def bar_chart(labels: Sequence[str], values: Sequence[float], ylabel: str, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(len(values)), values, color="#4c72b0")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.annotate(f"{v:.2f}", (i, v), ha="center", va="bottom", fontsize=8)
    return _png(fig)


def histograms(series: dict[str, Sequence[float]], xlabel: str, title: str) -> bytes:
    """Overlaid histograms over [0, 100] with a dashed line at each series' median."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3))
    bins = np.linspace(0, 100, 21)
    for i, (name, values) in enumerate(series.items()):
        color = f"C{i}"
        ax.hist(values, bins=bins, alpha=0.5, label=f"{name} (n={len(values)})", color=color)
        if len(values):
            ax.axvline(float(np.median(values)), color=color, linestyle="--", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("documents")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def grouped_bars(
    groups: Sequence[str], series: dict[str, Sequence[float | None]], ylabel: str, title: str
) -> bytes:
    """One group of bars per test set, one bar per bucket (missing buckets left empty; a bucket
    with no bar anywhere gets no legend entry)."""
    series = {k: v for k, v in series.items() if any(x is not None for x in v)}
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / max(1, len(series))
    for j, (name, values) in enumerate(series.items()):
        xs = [i + j * width for i, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        ax.bar(xs, ys, width=width, label=name, color=f"C{j}")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def loss_curves(
    curves: dict[str, tuple[Sequence[int], Sequence[float]]],
    sizes: list[tuple[str, int, float | None, float | None]],
    title: str,
) -> bytes:
    """Left: loss over steps per curve. Right (when several runs): final train / held-out
    loss against parameter count."""
    two = len(sizes) > 1
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(9 if two else 6, 3))
    ax = axes[0] if two else axes
    for name, (steps, values) in curves.items():
        style = "o-" if len(steps) < 40 else "-"
        ax.plot(steps, values, style, label=name, markersize=3, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if two:
        ax2 = axes[1]
        params = [s[1] for s in sizes]
        for k, label in ((2, "train"), (3, "held-out")):
            pts = [(p, s[k]) for p, s in zip(params, sizes, strict=True) if s[k] is not None]
            if pts:
                ax2.plot([p for p, _ in pts], [v for _, v in pts], "o-", label=label)
        ax2.set_xscale("log")
        ax2.set_xlabel("parameters")
        ax2.set_ylabel("final loss")
        ax2.set_title("by model size")
        ax2.legend(fontsize=8)
    return _png(fig)


def paired_points(
    labels: Sequence[str],
    samples: Sequence[float],
    heldout: Sequence[float],
    ylabel: str,
    title: str,
) -> bytes:
    """Two strips of points (samples, held-out) per metric, a black bar at each one's median
    (the statistic the report's table gives)."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(4, 3))
    for x, values in enumerate((samples, heldout)):
        jitter = np.linspace(-0.15, 0.15, max(1, len(values)))
        ax.scatter(x + jitter[: len(values)], values, s=12, alpha=0.7, color=f"C{x}")
        if len(values):
            ax.hlines(
                float(np.median(values)), x - 0.25, x + 0.25, color="black",
                label="median" if x == 0 else None,
            )  # fmt: skip
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    if any(len(v) for v in (samples, heldout)):
        ax.legend(fontsize=8, loc="lower right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _png(fig)


def funnel_bars(labels: Sequence[str], values: Sequence[int], title: str) -> bytes:
    """Horizontal bars, first stage on top, each with its count and its share of the first."""
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(values) + 1))
    ys = list(range(len(values)))[::-1]
    ax.barh(ys, values, color="#4c72b0")
    ax.set_yticks(ys, labels)
    top = max(values) if values and max(values) > 0 else 1
    for y, v in zip(ys, values, strict=True):
        ax.annotate(f" {v:,} ({100 * v / top:.1f}%)", (v, y), va="center", fontsize=8)
    ax.set_xlim(0, top * 1.3)
    ax.set_xlabel("records")
    ax.set_title(title)
    return _png(fig)


def share_bars(
    labels: Sequence[str], series: dict[str, Sequence[int]], xlabel: str, title: str
) -> bytes:
    """Grouped vertical bars: each series' counts as % of its own total, one bar per label."""
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / max(1, len(series))
    for j, (name, counts) in enumerate(series.items()):
        total = sum(counts) or 1
        xs = [i + j * width for i in range(len(counts))]
        ax.bar(xs, [100 * c / total for c in counts], width=width, color=f"C{j}",
               label=f"{name} (n={sum(counts):,})")  # fmt: skip
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels,
                  rotation=30 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel("% of each group")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def domain_bars(
    labels: Sequence[str], series: dict[str, Sequence[float | None]], title: str
) -> bytes:
    """Horizontal grouped bars, first label on top: % of documents per domain for each series
    (None: the domain is not in that series; no bar; a series with no bar has no legend)."""
    series = {k: v for k, v in series.items() if any(x is not None for x in v)}
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(labels) + 1.2))
    height = 0.8 / max(1, len(series))
    n = len(labels)
    for j, (name, values) in enumerate(series.items()):
        ys = [n - 1 - i - j * height for i, v in enumerate(values) if v is not None]
        xs = [v for v in values if v is not None]
        ax.barh(ys, xs, height=height, color=f"C{j}", label=name)
    ax.set_yticks([n - 1 - i - 0.4 + height / 2 for i in range(n)], labels)
    ax.set_xlabel("% of documents")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)
