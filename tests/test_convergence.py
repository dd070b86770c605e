"""Convergence and stability: goals, epochs to a target, the per-configuration table."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gdlab import convergence as conv
from gdlab.errors import ConfigError, ShapeError
from gdlab.results import SweepResult
from gdlab.specs import sweep_spec

NAN = np.nan


def test_goals_are_parsed_not_evaluated() -> None:
    g = conv.parse_goal("val_accuracy>=1.0")
    assert (g.metric, g.op, g.threshold) == ("val_accuracy", ">=", 1.0)
    assert str(g) == "val_accuracy >= 1" and g.higher_is_better
    g = conv.parse_goal("  loss < 0.25 ")
    assert (g.metric, g.op, g.threshold, g.higher_is_better) == ("loss", "<", 0.25, False)
    assert conv.parse_goal("test_accuracy>9e-1").threshold == 0.9


@pytest.mark.parametrize("text, message", [
    ("val_accuracy=1.0", "Unknown comparison '=' in the goal 'val_accuracy=1.0': use one of "
                         ">=, >, <=, < (e.g. 'val_accuracy>=1.0')."),
    ("val_loss==0.1", "(e.g. 'val_loss<=0.1')"),
    ("val_acc>=1", "Unknown metric 'val_acc'. Did you mean 'val_accuracy'?"),
    ("val_accuracy>=high", "The threshold 'high' of the goal 'val_accuracy>=high' is not a "
                           "number."),
    ("val_accuracy>=nan", "must be finite"),
    ("__import__('os').system('x')>=1", "Cannot read the goal"),
    ("accuracy 0.9", "write a metric, a comparison and a number"),
])
def test_bad_goals_say_how_to_write_them(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        conv.parse_goal(text)
    assert message in str(info.value)


def test_float32_metrics_meet_a_threshold_they_equal() -> None:
    acc = np.float32(24 / 25)  # stored as 0.95999998
    assert float(acc) < 0.96  # in float64, as results are compared
    assert conv.Goal("val_accuracy", ">=", 0.96).met(acc)
    assert not conv.Goal("val_accuracy", ">", 0.96).met(acc)
    assert conv.Goal("loss", "<=", 0.96).met(acc)
    assert not conv.Goal("loss", "<", 0.96).met(acc)
    assert conv.Goal("val_accuracy", ">=", 0.5).met([0.4, 0.6, NAN]).tolist() == [
        False, True, False]


def history() -> np.ndarray:
    """[epochs=5, seeds=3, configs=2] of val_accuracy."""
    h = np.full((5, 3, 2), 0.5)
    h[:, 0, 0] = [0.5, 0.9, 1.0, 1.0, 1.0]    # reaches after 3 epochs, holds
    h[:, 1, 0] = [1.0, 0.96, 1.0, 0.96, 1.0]  # reaches after 1, holds only from epoch 5
    h[:, 2, 0] = [0.5, 0.6, 0.7, 0.8, 0.9]    # never
    h[:, 0, 1] = [0.5, 1.0, NAN, NAN, NAN]    # reaches after 2, then stops (shorter run)
    h[:, 1, 1] = [0.5, 0.5, 0.5, 0.5, 1.0]    # reaches after 5
    h[:, 2, 1] = [1.0, NAN, NAN, NAN, NAN]    # after 1
    return h


def test_epochs_to_target_on_a_synthetic_history() -> None:
    e = conv.epochs_to_target(history(), "val_accuracy>=1.0")
    np.testing.assert_array_equal(e, [[3, 2], [1, 5], [NAN, 1]])
    e = conv.epochs_to_target(history(), "val_accuracy>=1.0", within=4)
    np.testing.assert_array_equal(e, [[3, 2], [1, NAN], [NAN, 1]])
    held = conv.epochs_to_target(history(), "val_accuracy>=1.0", hold=True)
    np.testing.assert_array_equal(held, [[3, 2], [5, 5], [NAN, 1]])
    # any metric name goes for a bare array; a loss goal counts downwards
    loss = np.array([[0.9], [0.4], [0.2]])
    np.testing.assert_array_equal(conv.epochs_to_target(loss, "my_loss<0.3"), [3])
    with pytest.raises(ConfigError, match="`within` must be a number of epochs >= 1, got 0"):
        conv.epochs_to_target(history(), "val_accuracy>=1", within=0)
    with pytest.raises(ShapeError, match="at least one epoch"):
        conv.epochs_to_target(np.zeros((0, 3)), "val_accuracy>=1")


def synthetic(h: np.ndarray, diverged: np.ndarray | None = None) -> SweepResult:
    n_e, n_s, n_c = h.shape
    spec = sweep_spec("lr", base={"optimizer": "sgd", "epochs": n_e},
                      grid={"learning_rate": [0.01, 0.1][:n_c]}, seeds=n_s)
    hist = {"loss": np.ones_like(h, dtype=np.float32),
            "val_accuracy": h.astype(np.float32)}
    div = np.full((n_s, n_c), -1, np.int32) if diverged is None else diverged
    return SweepResult(spec, hist, div, {"data": {"n_train": 100}})


def test_convergence_table_counts_speed_and_spread() -> None:
    h = history()
    h[2:, 0, 1] = 1.0  # every run of config 1 lasts 5 epochs here
    h[1:, 2, 1] = 0.92
    result = synthetic(h)
    t = conv.convergence_table(result, "val_accuracy>=1.0")
    assert t["setting"].tolist() == ["0.01", "0.1"]
    assert t["learning_rate"].tolist() == [0.01, 0.1]
    assert t["reached"].tolist() == [2, 3] and t["seeds"].tolist() == [3, 3]
    np.testing.assert_allclose(t["reached_fraction"], [2 / 3, 1.0])
    assert t["epochs_median"].tolist() == [2.0, 2.0]
    assert t[["epochs_min", "epochs_max"]].to_numpy().tolist() == [[1, 3], [1, 5]]
    final = np.array([1.0, 1.0, 0.92], np.float32).astype(float)
    half = stats.t.ppf(0.975, 2) * final.std(ddof=1) / np.sqrt(3)
    row = t.iloc[1]
    assert row.final_mean == pytest.approx(final.mean())
    assert row.final_std == pytest.approx(final.std(ddof=1))
    assert row.final_ci_low == pytest.approx(final.mean() - half)
    assert row.final_ci_high == 1.0  # an accuracy's interval is clipped to [0, 1]
    assert row.spread == pytest.approx(0.08) and row.verdict == "unstable"
    assert t.iloc[0].verdict == "unstable"  # final 1.0, 1.0, 0.9
    loose = conv.convergence_table(result, "val_accuracy>=1.0", tolerance=0.1)
    assert loose["verdict"].tolist() == ["stable", "stable"]
    assert t.attrs["goal"] == "val_accuracy >= 1"


def test_diverged_runs_are_counted_and_left_out_of_the_final_statistics() -> None:
    h = np.full((3, 4, 1), 0.9)
    h[2, 3, 0] = NAN
    div = np.array([[-1], [-1], [-1], [2]], np.int32)
    t = conv.convergence_table(synthetic(h, div), "val_accuracy>=0.9")
    row = t.iloc[0]
    assert (row.diverged, row.reached, row.verdict) == (1, 4, "diverged")
    assert row.final_mean == pytest.approx(0.9) and row.final_std == pytest.approx(0.0)
    held = conv.epochs_to_target(synthetic(h, div), "val_accuracy>=0.9", hold=True)
    np.testing.assert_array_equal(held[:, 0], [1, 1, 1, NAN])


def test_a_goal_on_a_missing_metric_says_what_to_add() -> None:
    spec = sweep_spec("s", base={"epochs": 2}, seeds=2)
    result = SweepResult(spec, {"loss": np.ones((2, 2, 1), np.float32)},
                         np.full((2, 1), -1, np.int32))
    with pytest.raises(ConfigError) as info:
        conv.convergence_table(result, "val_accuracy>=1")
    assert str(info.value) == (
        "The goal needs 'val_accuracy', but this sweep recorded loss. Give the data a "
        "validation part (prepare(..., validation_split=0.2)).")


@pytest.mark.parametrize("values, diverged, verdict", [
    ([0.96, 0.96, 0.97], 0, "stable"),
    ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.96], 0, "mostly stable"),
    ([1.0, 0.8, 0.9], 0, "unstable"),
    ([1.0, 1.0], 1, "diverged"),
    ([1.0, NAN], 0, "too few seeds"),
])
def test_stability_verdicts(values, diverged, verdict) -> None:
    assert conv.stability_verdict(values, diverged=diverged) == verdict
