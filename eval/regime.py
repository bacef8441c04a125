"""Name the training regime from the loss curves, the way a reader of Figure 4 would.

* underfitting: the held-out loss is still falling at the last evaluations, or the model has not
  yet seen one epoch of its training data (a flat curve before then is the learning-rate schedule
  or the model's size, not the data running out): more steps or a bigger model help;
* overfitting: the held-out loss rises over the last evaluations while the train loss does not
  (the model memorises its data: more steps hurt);
* converged: after at least one epoch, neither curve moves by more than the noise of the
  estimate over the last evaluations;
* unstable: both rise (a learning rate too high, not a question of data).

The rule, stated once:

* the train loss is smoothed: at each evaluation, the mean of the logged steps since the
  previous one (one step's loss is the loss of one batch, far noisier than an evaluation);
* a curve "moves" when its change over the last ``WINDOW`` evaluations exceeds the noise
  threshold: ``Z`` (2) standard deviations of the difference of two evaluations. The noise of
  one evaluation is derived from the held-out curve itself: the residual standard deviation of
  a quadratic in the step fitted to its last ``FIT`` points (the curve's wobble around its own
  smooth trend). With fewer than ``MIN_FIT`` (5) points the residual is not measurable, and the threshold
  is ``FLOOR`` (0.2% of the loss, about 0.01 nats at the losses these runs reach: a change a
  reader would not act on). The threshold is never below ``FLOOR`` either: the evaluation reuses
  the same held-out windows every time, so a perfectly smooth curve has no measured wobble;
* held-out is "close" to train when the gap is under ``CLOSE`` (10%) of the held-out loss.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CLOSE = 0.10
WINDOW = 3
FIT = 6
MIN_FIT = 5
Z = 2.0
FLOOR = 0.002

Curve = Sequence[tuple[int, float]]  # (step, loss), in step order


def smooth_train(train: Curve, steps: Sequence[int]) -> list[tuple[int, float]]:
    """At each step of ``steps`` (the evaluations), the mean train loss of the logged steps since
    the previous one; an evaluation with no logged step since takes the nearest logged one."""
    out: list[tuple[int, float]] = []
    previous = -math.inf
    for step in steps:
        window = [v for s, v in train if previous < s <= step]
        if not window and train:
            window = [min(train, key=lambda p: abs(p[0] - step))[1]]
        if window:
            out.append((step, float(np.mean(window))))
        previous = step
    return out


def heldout_noise(val: Curve) -> tuple[float | None, str]:
    """(standard deviation of one held-out evaluation, how it was derived); None with fewer
    than ``MIN_FIT`` points (a quadratic through them leaves too few residuals to measure)."""
    tail = list(val[-FIT:])
    if len(tail) < MIN_FIT:
        return None, f"{len(tail)} evaluations are too few to measure the noise"
    x = np.array([s for s, _ in tail], dtype=np.float64)
    y = np.array([v for _, v in tail], dtype=np.float64)
    x = (x - x.mean()) / (x.std() or 1.0)
    resid = y - np.polyval(np.polyfit(x, y, 2), x)
    sigma = float(np.sqrt(np.sum(resid**2) / (len(tail) - 3)))
    return (
        sigma,
        f"residual s.d. {sigma:.4f} of a quadratic fit to the last {len(tail)} evaluations",
    )


def move_threshold(val: Curve) -> tuple[float, str]:
    """(the change over the last WINDOW evaluations that counts as a move, how it was set)."""
    sigma, how = heldout_noise(val)
    floor = FLOOR * abs(val[-1][1])
    if sigma is None or Z * math.sqrt(2) * sigma < floor:
        return floor, f"{how}; floor {FLOOR:.1%} of the loss"
    return Z * math.sqrt(2) * sigma, f"{Z:g} s.d. of a difference; {how}"


def epochs_seen(run_dir: Path) -> float | None:
    """Passes over the train split the run's last step amounts to: tokens seen (``metrics.jsonl``)
    over the train split's tokens (``_stats.json`` of the run's ``tokens_dir``); None when either
    cannot be read."""
    try:
        config = json.loads((run_dir / "train_config.json").read_text(encoding="utf-8"))
        stats = json.loads((Path(config["tokens_dir"]) / "_stats.json").read_text(encoding="utf-8"))
        train_tokens = int(stats["tokens_per_split"]["train"])
        seen = 0
        for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen = max(seen, int(json.loads(line).get("tokens") or 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return seen / train_tokens if train_tokens > 0 and seen > 0 else None


def _epochs_text(epochs: float | None) -> str:
    if epochs is None:
        return "epochs seen unknown (the run's tokens directory or metrics cannot be read)"
    return f"{epochs:.2f} epochs of the train split seen"


def describe_regime(train: Curve, val: Curve, *, epochs: float | None = None) -> tuple[str, str]:
    """(regime, one sentence with the numbers it rests on) for the report's section 4.

    ``epochs``: passes over the train split (:func:`epochs_seen`); under 1 the run cannot be
    "converged". None: unknown, said so in the sentence."""
    if len(val) < WINDOW or len(train) < 2:
        return (
            "too few points",
            f"{len(val)} held-out evaluation(s): too few to tell a trend from noise "
            f"(at least {WINDOW} are needed).",
        )
    smooth = smooth_train(train, [s for s, _ in val])
    threshold, how = move_threshold(val)
    (first_step, val_first), (step, val_last) = val[-WINDOW], val[-1]
    val_change = val_last - val_first
    train_first, train_last = smooth[-WINDOW][1], smooth[-1][1]
    train_change = train_last - train_first
    gap = val_last - train_last
    numbers = (
        f"held-out {val_first:.3f} -> {val_last:.3f} over steps {first_step}-{step} "
        f"({val_change / val_first:+.1%}), train (mean between evaluations) {train_first:.3f} "
        f"-> {train_last:.3f}, gap {gap:.3f}; noise threshold {threshold:.3f} ({how}); "
        f"{_epochs_text(epochs)}"
    )
    if val_change > threshold and train_change > threshold:
        return (
            "unstable",
            f"Unstable: both losses rise ({numbers}); the learning rate may be too high.",
        )
    if val_change > threshold:
        return (
            "overfitting",
            f"Overfitting: the held-out loss rises while the train loss "
            f"{'falls' if train_change < -threshold else 'stays flat'} ({numbers}); "
            "more steps on this data make the model worse on text it has not seen.",
        )
    if val_change < -threshold:
        close = gap < CLOSE * val_last
        return (
            "underfitting",
            f"Underfitting: the held-out loss is still falling by more than its noise ({numbers})"
            + ("; it tracks the train loss, so more steps or a bigger model should help."
               if close else "; the gap to train is wide, so watch it for overfitting."),
        )  # fmt: skip
    if epochs is not None and epochs < 1:
        return (
            "underfitting",
            f"Underfitting: the curves have flattened, but the model has seen less than one "
            f"epoch ({numbers}); a curve that flattens before the data runs out is held back "
            "by the learning-rate schedule or the model's size, not by the data: more steps "
            "on unseen text should help.",
        )
    return (
        "converged",
        f"Converged: neither loss moves by more than the noise over the last {WINDOW} "
        f"evaluations ({numbers}).",
    )


def compare_sizes(sizes: Sequence[tuple[str, int, float | None, float | None]]) -> str | None:
    """Figure 4's reading across runs of different sizes: (label, parameters, final train loss,
    final held-out loss) -> whether the larger model is better on both. None for one run."""
    known = sorted(
        (s for s in sizes if s[1] and s[2] is not None and s[3] is not None), key=lambda s: s[1]
    )
    if len(known) < 2:
        return None
    steps = list(zip(known, known[1:], strict=False))
    both = [b[2] < a[2] and b[3] < a[3] for a, b in steps]
    detail = "; ".join(
        f"{a[0]} -> {b[0]}: train {a[2]:.3f} -> {b[2]:.3f}, held-out {a[3]:.3f} -> {b[3]:.3f}"
        for a, b in steps
    )
    if all(both):
        verdict = (
            "Each larger size is better on both train and held-out loss (Figure 4's reading: "
            "train and held-out improve together as the model grows, so the smaller ones "
            "underfit)"
        )
    elif not any(both):
        verdict = (
            "No larger size is better on both train and held-out loss (not Figure 4's reading)"
        )
    else:
        verdict = "Only some larger sizes are better on both train and held-out loss"
    return f"{verdict}: {detail}."
