"""Section 4's regime sentence follows the curves' numbers (issue 16)."""

from __future__ import annotations

import pytest

from eval.regime import describe_regime


def _curve(values: list[float], every: int = 100) -> list[tuple[int, float]]:
    return [(every * (i + 1), v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("train", "val", "regime"),
    [
        # the demo's run: train 0.588 and falling, held-out rising from 2.836 to 3.071
        ([3.0, 2.0, 1.2, 0.9, 0.7, 0.588], [3.2, 2.836, 2.95, 3.071], "overfitting"),
        ([5.0, 4.5, 4.1, 3.8, 3.6], [5.1, 4.6, 4.2, 3.9], "underfitting"),
        ([3.0, 3.0, 2.99, 2.99], [3.1, 3.1, 3.09], "converged"),
        ([3.0, 3.5, 4.5, 6.0], [3.1, 3.6, 4.8], "unstable"),
        ([3.0, 2.5], [3.1, 2.9], "too few points"),
    ],
)
def test_the_regime_is_named_from_the_numbers(train, val, regime):
    name, sentence = describe_regime(_curve(train), _curve(val))
    assert name == regime
    assert sentence.lower().startswith(regime.split()[0]) or regime == "too few points"
    if regime != "too few points":
        assert f"{val[-1]:.3f}" in sentence  # the numbers it rests on are in the sentence


def test_underfitting_with_a_wide_gap_says_to_watch_for_overfitting():
    _, sentence = describe_regime(_curve([2.0, 1.5, 1.0, 0.6]), _curve([4.0, 3.8, 3.6]))
    assert "watch it for overfitting" in sentence
    _, close = describe_regime(_curve([4.2, 4.0, 3.8, 3.6]), _curve([4.1, 3.9, 3.7]))
    assert "should help" in close
