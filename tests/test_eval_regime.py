"""Section 4's regime sentence follows the curves' numbers (issue 16)."""

from __future__ import annotations

import json

import pytest

from eval.regime import compare_sizes, describe_regime, epochs_seen, move_threshold, smooth_train


def _curve(values: list[float], every: int = 100) -> list[tuple[int, float]]:
    return [(every * (i + 1), v) for i, v in enumerate(values)]


def _steps(values: list[float], per_eval: int = 10, every: int = 100) -> list[tuple[int, float]]:
    """A train curve logged every step: each eval interval's value, +-0.3 noise that cancels."""
    noise = [0.3, -0.3] * (per_eval // 2)
    step = every // per_eval
    return [
        (every * i + step * (j + 1), v + noise[j])
        for i, v in enumerate(values)
        for j in range(per_eval)
    ]


# The study's run as committed before issue 16's fix: ten evaluations, the held-out loss still
# falling slowly at the end (0.8% over the last three), the train loss noisy step to step, 5% of
# one epoch seen. A single-step reading called it "converged".
STUDY_VAL = [10.5, 7.9, 7.3, 7.0, 6.85, 6.72, 6.65, 6.600, 6.567, 6.547]
STUDY_TRAIN = [10.6, 8.0, 7.4, 7.1, 6.95, 6.83, 6.76, 6.71, 6.69, 6.68]


@pytest.mark.parametrize(
    ("train", "val", "epochs", "regime"),
    [
        # the demo's run: train 0.588 and falling, held-out rising from 2.836 to 3.071
        ([3.0, 2.0, 1.2, 0.9, 0.7, 0.588], [3.2, 2.836, 2.95, 3.071], 40.0, "overfitting"),
        ([5.0, 4.5, 4.1, 3.8, 3.6], [5.1, 4.6, 4.2, 3.9], 0.5, "underfitting"),
        # flat after three epochs, wobbling by less than its own noise
        (
            [4.0, 3.4, 3.2, 3.15, 3.14, 3.14, 3.14, 3.14],
            [4.1, 3.5, 3.3, 3.15, 3.1, 3.092, 3.095, 3.091],
            3.0,
            "converged",
        ),
        ([3.0, 3.5, 4.5, 6.0], [3.1, 3.6, 4.8], 1.0, "unstable"),
        ([3.0, 2.5], [3.1, 2.9], 1.0, "too few points"),
        (STUDY_TRAIN, STUDY_VAL, 0.05, "underfitting"),
    ],
    ids=["overfits", "underfits", "converges", "unstable", "too-few", "study-shaped"],
)
def test_the_regime_is_named_from_the_numbers(train, val, epochs, regime):
    name, sentence = describe_regime(_steps(train), _curve(val), epochs=epochs)
    assert name == regime
    assert sentence.lower().startswith(regime.split()[0]) or regime == "too few points"
    if regime != "too few points":
        assert f"{val[-1]:.3f}" in sentence  # the numbers it rests on are in the sentence
        assert f"{epochs:.2f} epochs of the train split seen" in sentence


def test_the_study_shaped_run_is_still_falling_by_more_than_its_noise():
    threshold, how = move_threshold(_curve(STUDY_VAL))
    assert threshold < 6.600 - 6.547  # 0.8% is more than the estimate's noise
    assert "quadratic fit to the last 6 evaluations" in how
    _, sentence = describe_regime(_steps(STUDY_TRAIN), _curve(STUDY_VAL), epochs=0.05)
    assert "still falling by more than its noise" in sentence and "-0.8%" in sentence


def test_never_converged_before_one_epoch():
    train = [4.0, 3.4, 3.2, 3.15, 3.14, 3.14, 3.14, 3.14]
    val = [4.1, 3.5, 3.3, 3.15, 3.1, 3.092, 3.095, 3.091]
    name, sentence = describe_regime(_steps(train), _curve(val), epochs=0.4)
    assert name == "underfitting" and "less than one epoch" in sentence
    assert "0.40 epochs" in sentence
    name, sentence = describe_regime(_steps(train), _curve(val), epochs=None)
    assert name == "converged" and "epochs seen unknown" in sentence


def test_a_wobbling_curve_is_not_read_as_a_trend():
    # held-out wobbles by +-0.05 around 3.1; the last three fall by 0.04, inside the noise
    val = [3.6, 3.3, 3.15, 3.05, 3.15, 3.05, 3.15, 3.11]
    train = [3.5, 3.2, 3.1, 3.1, 3.1, 3.1, 3.1, 3.1]
    threshold, _ = move_threshold(_curve(val))
    assert threshold > 0.04
    assert describe_regime(_steps(train), _curve(val), epochs=5.0)[0] == "converged"


def test_the_train_loss_is_the_mean_between_evaluations_not_one_step():
    train = [(1, 5.0), (2, 3.0), (3, 4.0), (4, 2.0), (5, 9.0)]  # step 5: one noisy batch
    assert smooth_train(train, [2, 5]) == [(2, 4.0), (5, 5.0)]
    # an evaluation with no logged step since the previous one takes the nearest step
    assert smooth_train([(10, 3.0)], [4, 10]) == [(4, 3.0), (10, 3.0)]


def test_underfitting_with_a_wide_gap_says_to_watch_for_overfitting():
    _, sentence = describe_regime(_curve([2.0, 1.5, 1.0, 0.6]), _curve([4.0, 3.8, 3.6]))
    assert "watch it for overfitting" in sentence
    _, close = describe_regime(_curve([4.2, 4.0, 3.8, 3.6]), _curve([4.1, 3.9, 3.7]))
    assert "should help" in close


def test_epochs_seen_from_the_runs_metrics_and_its_tokens_directory(tmp_path):
    tokens, run = tmp_path / "tokens", tmp_path / "run"
    tokens.mkdir()
    run.mkdir()
    (tokens / "_stats.json").write_text(json.dumps({"tokens_per_split": {"train": 4000}}))
    (run / "train_config.json").write_text(json.dumps({"tokens_dir": str(tokens)}))
    lines = [{"step": s, "loss": 3.0, "tokens": s * 100} for s in range(1, 11)]
    lines.append({"step": 10, "val_loss": 3.1})
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert epochs_seen(run) == pytest.approx(0.25)
    (tokens / "_stats.json").unlink()
    assert epochs_seen(run) is None  # not computable: the sentence says so


def test_figure_4_reading_across_sizes():
    both = compare_sizes([("mini", 7, 6.7, 6.5), ("tiny", 3, 6.9, 6.8), ("midi", 17, 6.6, 6.4)])
    assert both is not None and both.startswith("Each larger size is better on both")
    assert both.index("tiny -> mini") < both.index("mini -> midi")
    worse = compare_sizes([("tiny", 3, 6.9, 6.8), ("midi", 17, 6.95, 6.7)])
    assert worse is not None and worse.startswith("No larger size is better on both")
    assert compare_sizes([("tiny", 3, 6.9, 6.8)]) is None
