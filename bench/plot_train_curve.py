"""Plot a run's training and validation loss against tokens seen (the loss-sanity figure).

    python bench/plot_train_curve.py RUN_DIR/metrics.jsonl docs/figures/gpt2_small_curve.png

Prints the figures the plot shows: first and last train loss (mean of 20-step windows), the
lowest validation loss and where it was reached, and the last validation loss.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read(path: Path) -> tuple[list[dict], list[dict]]:
    records = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    train = [r for r in records if "loss" in r]
    val = [r for r in records if "val_loss" in r]
    if not train:
        raise SystemExit(f"{path}: no training records (lines with 'loss')")
    return train, val


def summary(train: list[dict], val: list[dict], window: int = 20) -> dict[str, float | int]:
    losses = np.array([r["loss"] for r in train])
    w = min(window, len(losses))
    out: dict[str, float | int] = {
        "steps": int(train[-1]["step"]),
        "tokens": int(train[-1]["tokens"]),
        "train_first": float(losses[:w].mean()),
        "train_last": float(losses[-w:].mean()),
    }
    if val:
        best = min(val, key=lambda r: r["val_loss"])
        out |= {
            "val_first": float(val[0]["val_loss"]),
            "val_best": float(best["val_loss"]),
            "val_best_step": int(best["step"]),
            "val_last": float(val[-1]["val_loss"]),
        }
    return out


def plot(train: list[dict], val: list[dict], title: str, out: Path) -> None:
    per_step = train[-1]["tokens"] / train[-1]["step"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot([r["tokens"] / 1e6 for r in train], [r["loss"] for r in train], lw=0.8, label="train")
    if val:
        ax.plot(
            [r["step"] * per_step / 1e6 for r in val],
            [r["val_loss"] for r in val],
            "o-",
            ms=3,
            label="validation (held-out WebText)",
        )
    ax.set_xlabel("tokens seen (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("metrics", type=Path, help="a run's metrics.jsonl")
    p.add_argument("out", type=Path, help="PNG to write")
    p.add_argument("--title", default="GPT-2 small on real text")
    args = p.parse_args(argv)
    train, val = read(args.metrics)
    plot(train, val, args.title, args.out)
    print(json.dumps(summary(train, val)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
