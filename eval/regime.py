"""Name the training regime from the loss curves, the way a reader of Figure 4 would.

* underfitting: the held-out loss is still falling at the last evaluations and sits close to the
  train loss (more steps or a bigger model help);
* overfitting: the held-out loss rises over the last evaluations while the train loss falls (the
  model memorises its data: more steps hurt);
* converged: neither curve moves by more than the noise of the last evaluations;
* unstable: both rise (a learning rate too high, not a question of data).

Thresholds, stated once: a curve "moves" when its change over the last three evaluations exceeds
``MOVE`` (2%) of its value; held-out is "close" to train when the gap is under ``CLOSE`` (10%)
of the held-out loss. Fewer than three held-out points cannot tell a trend from noise.
"""

from __future__ import annotations

from collections.abc import Sequence

MOVE = 0.02
CLOSE = 0.10
WINDOW = 3

Curve = Sequence[tuple[int, float]]  # (step, loss), in step order


def _trend(curve: Curve) -> float:
    """Relative change over the last WINDOW points: (last - first) / first."""
    first, last = curve[-WINDOW][1], curve[-1][1]
    return (last - first) / abs(first) if first else 0.0


def _train_at(train: Curve, step: int) -> float:
    """The train loss at the logged step nearest to ``step``."""
    return min(train, key=lambda point: abs(point[0] - step))[1]


def describe_regime(train: Curve, val: Curve) -> tuple[str, str]:
    """(regime, one sentence with the numbers it rests on) for the report's section 4."""
    if len(val) < WINDOW or len(train) < 2:
        return (
            "too few points",
            f"{len(val)} held-out evaluation(s): too few to tell a trend from noise "
            f"(at least {WINDOW} are needed).",
        )
    val_trend = _trend(val)
    step, val_last = val[-1]
    train_window = [p for p in train if p[0] >= val[-WINDOW][0]] or list(train[-2:])
    train_first, train_last = train_window[0][1], train_window[-1][1]
    train_trend = (train_last - train_first) / abs(train_first) if train_first else 0.0
    gap = val_last - _train_at(train, step)
    numbers = (
        f"held-out {val[-WINDOW][1]:.3f} -> {val_last:.3f} over steps {val[-WINDOW][0]}-{step}, "
        f"train {train_first:.3f} -> {train_last:.3f}, gap {gap:.3f}"
    )
    if val_trend > MOVE and train_trend > MOVE:
        return (
            "unstable",
            f"Unstable: both losses rise ({numbers}); the learning rate may be too high.",
        )
    if val_trend > MOVE:
        return (
            "overfitting",
            f"Overfitting: the held-out loss rises while the train loss "
            f"{'falls' if train_trend < -MOVE else 'stays flat'} ({numbers}); "
            "more steps on this data make the model worse on text it has not seen.",
        )
    if val_trend < -MOVE:
        close = gap < CLOSE * val_last
        return (
            "underfitting",
            f"Underfitting: the held-out loss is still falling ({numbers})"
            + ("; it tracks the train loss, so more steps or a bigger model should help."
               if close else "; the gap to train is wide, so watch it for overfitting."),
        )  # fmt: skip
    return (
        "converged",
        f"Converged: neither loss moves by more than {MOVE:.0%} over the last "
        f"{WINDOW} evaluations ({numbers}).",
    )
