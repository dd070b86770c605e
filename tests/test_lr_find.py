"""The learning-rate range test: geometric rates, smoothing, stopping, suggestions, the course."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import gdlab
from gdlab import datasets, executor, preprocessing
from gdlab.diagnostic_plots import plot_lr_find
from gdlab.errors import ConfigError, DataError
from gdlab.lr_find import (
    HOW_TO_READ,
    growth_factor,
    learning_rates,
    lr_find,
    median_curve,
    smooth,
    stop_curves,
    suggest,
)
from gdlab.pitfalls import BatchLargerThanData

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def separable() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.int64)
    return x, y


def test_learning_rates_grow_geometrically_from_min_to_max() -> None:
    lrs = learning_rates(1e-4, 10.0, 51)
    assert lrs.shape == (51,)
    assert lrs[0] == 1e-4
    np.testing.assert_allclose(lrs[-1], 10.0, rtol=1e-12)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, growth_factor(1e-4, 10.0, 51), rtol=1e-12)
    np.testing.assert_allclose(growth_factor(1e-4, 10.0, 51), 10 ** (5 / 50), rtol=1e-12)


def test_the_engine_trains_with_those_learning_rates(separable) -> None:
    """Full batches: update t is plain gradient descent with min_lr * growth**t."""
    x, y = separable
    n = x.shape[0]
    with pytest.warns(BatchLargerThanData):  # one full-batch update per epoch, on purpose
        test = lr_find((x, y), "sgd", min_lr=0.01, max_lr=10.0, steps=6, batch_size=n,
                       seeds=[3], smoothing=0.0)
    cfg = test.configs[0]
    assert (cfg.batch_size, cfg.epochs, test.n_steps) == (n, 6, 6)
    init = executor.initial_params([cfg], [3], executor.training_data((x, y)))[0]
    w = np.asarray(init[0]["kernel"], np.float64)[0]
    b = np.asarray(init[0]["bias"], np.float64)[0]
    xs, ys = x.astype(np.float64), y.astype(np.float64)[:, None]
    expected = []
    for lr in test.learning_rates:  # the batch loss is taken before each update
        z = xs @ w + b
        expected.append(np.mean(np.maximum(z, 0) - z * ys + np.log1p(np.exp(-np.abs(z)))))
        p = 1 / (1 + np.exp(-z))
        w, b = w - lr * xs.T @ (p - ys) / n, b - lr * (p - ys).mean(0)
    np.testing.assert_allclose(test.loss[:, 0, 0], expected, rtol=2e-5)
    np.testing.assert_allclose(test.smoothed[:, 0, 0], expected, rtol=2e-5)  # beta 0: raw


def test_smoothing_is_a_bias_corrected_moving_average() -> None:
    losses = np.array([[1.0, 2.0], [0.5, 2.0], [0.25, np.nan], [0.2, 1.0]])
    out = smooth(losses, 0.9)
    avg, expected = 0.0, []
    for t, v in enumerate(losses[:, 0]):
        avg = 0.9 * avg + 0.1 * v
        expected.append(avg / (1 - 0.9 ** (t + 1)))
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-12)
    assert out[0, 0] == 1.0  # bias correction: the first value is the first loss
    # After a non-finite loss a curve stays NaN, even when later losses are finite.
    np.testing.assert_array_equal(out[:, 1], [2.0, 2.0, np.nan, np.nan])


def test_a_curve_stops_after_its_loss_exceeds_a_multiple_of_its_best() -> None:
    s = np.array([[1.0], [0.8], [0.5], [0.4], [0.9], [1.5], [0.1]])
    cut, stopped = stop_curves(s, diverge=4.0)
    assert stopped.tolist() == [-1]  # 1.5 < 4 x 0.4
    np.testing.assert_array_equal(cut, s)
    cut, stopped = stop_curves(s, diverge=3.0)
    assert stopped.tolist() == [5]  # 1.5 > 3 x 0.4; the stopping point is kept
    np.testing.assert_array_equal(cut[:, 0], [1.0, 0.8, 0.5, 0.4, 0.9, 1.5, np.nan])
    with pytest.raises(ConfigError, match=r"`diverge` must be a factor > 1, got 1.0"):
        stop_curves(s, diverge=1.0)


def test_real_curves_stop_once_the_loss_blows_up() -> None:
    """Least squares with SGD diverges beyond lr = 2 / largest eigenvalue."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x @ np.array([1.0, 2.0, -1.0, 0.5]) + 0.1 * rng.normal(size=96)).astype(np.float32)
    test = lr_find({"x_train": x, "y_train": y[:, None], "task": "regression"}, "sgd",
                   min_lr=1e-3, max_lr=1e3, steps=60, batch_size=32, seeds=3)
    assert (test.stopped >= 0).all()
    for s in range(3):
        t = int(test.stopped[s, 0])
        curve = test.smoothed[:, s, 0]
        assert np.isnan(curve[t + 1:]).all() and np.isfinite(curve[:t]).all()
        assert not curve[t] <= 4.0 * np.min(curve[:t])  # above 4x the best, or not finite
        assert test.learning_rates[t] > 0.1  # well past the rates where descent works
    row = test.suggestions().iloc[0]
    assert row.seeds_stopped == 3
    assert row.suggested_lr < row.stopped_lr
    assert "3 of 3 seeds stopped (loss above 4x its best) near lr" in row.reason
    tidy = test.tidy()
    after = tidy[(tidy.seed == 0) & (tidy.step > test.stopped[0, 0])]
    assert after.stopped.all() and after.smoothed_loss.isna().all()


def test_suggestions_on_a_known_curve() -> None:
    lrs = learning_rates(1e-5, 10.0, 121)
    x = np.log10(lrs)
    curve = 1.0 - 0.8 / (1 + np.exp(-3.0 * (x + 2.0)))  # steepest at lr 1e-2
    curve = curve + 0.3 * np.clip(x, 0, None) ** 2  # turns up after lr 1
    out = suggest(lrs, curve, skip=12)
    np.testing.assert_allclose(out["steepest_lr"], 1e-2, rtol=0.1)
    # The tangent there falls 0.6 per decade; a line fitted over a decade is a bit flatter.
    assert -0.6 < out["slope"] < -0.5
    assert 0.1 < out["minimum_lr"] < 1.0 + 1e-9
    flat = suggest(lrs, np.ones(121))
    assert np.isnan(flat["steepest_lr"]) and flat["minimum_lr"] == lrs[0]


def test_median_counts_stopped_seeds_as_blown_up() -> None:
    curves = np.array([[1.0, 2.0, 3.0], [1.0, np.nan, 3.0], [1.0, np.nan, np.nan]])
    np.testing.assert_array_equal(median_curve(curves), [2.0, 3.0, np.nan])


def test_several_optimizers_at_once_equal_each_alone(separable) -> None:
    x, y = separable
    kw = dict(min_lr=1e-3, max_lr=10.0, steps=20, batch_size=16, seeds=2, hidden=4)
    both = lr_find((x, y), ["sgd", "Adam(beta_1=0.8)"], **kw)
    assert both.labels == ("SGD", "Adam(beta_1=0.8)")
    for c, opt in enumerate(["sgd", "Adam(beta_1=0.8)"]):
        alone = lr_find((x, y), opt, **kw)
        np.testing.assert_allclose(both.loss[:, :, c], alone.loss[:, :, 0], rtol=1e-6)
    again = lr_find((x, y), ["sgd", "Adam(beta_1=0.8)"], **kw)
    np.testing.assert_array_equal(again.loss, both.loss)  # deterministic


def test_suggestion_falls_in_the_range_the_course_sweep_shows_to_work(banknotes_path) -> None:
    """The course's logistic regression with SGD, batch 16, on its split of the banknotes."""
    data = preprocessing.prepare(datasets.load(str(banknotes_path), target="class"))
    sweep = gdlab.sweep(data, grid={"learning_rate": [0.01, 0.05, 0.1, 0.5]}, optimizer="sgd",
                        batch_size=16, epochs=10, seeds=5, progress=False, keep_params=False)
    s = sweep.summary()
    works = s[(s.test_accuracy_mean >= 0.95) & (s.diverged == 0)].learning_rate.tolist()
    assert works == [0.05, 0.1, 0.5]  # 0.01 is too slow for 10 epochs (about 0.90)
    test = lr_find(data, "sgd", batch_size=16)
    row = test.suggestions().iloc[0]
    assert min(works) <= row.suggested_lr <= max(works), row.reason
    assert row.reason.startswith("Steepest descent of the smoothed loss (the median over 10 "
                                 f"seeds) at lr {row.suggested_lr:.3g}, falling ")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"learning_rate": 0.1}, ConfigError,
         r"lr_find sets `learning_rate` itself; pass min_lr= and max_lr= instead\."),
        ({"min_lr": 1.0, "max_lr": 0.1}, ConfigError,
         r"`max_lr` \(0.1\) must be larger than `min_lr` \(1\)\."),
        ({"min_lr": 0.0}, ConfigError, r"`min_lr` must be a finite number > 0, got 0.0\."),
        ({"steps": 3}, ConfigError, r"`steps` must be an integer >= 5 \(updates in the test\)"),
        ({"steps": 20, "epochs": 2}, ConfigError, r"Give either `steps`"),
        ({"batch_size": 500}, DataError, r"`batch_size` 500 is larger than the 120 training"),
        ({"optimizers": ["sgd", "SGD"]}, ConfigError, r"The optimizers repeat: SGD, SGD"),
        ({"smoothing": 1.0}, ConfigError, r"`smoothing` must be in \[0, 1\), got 1.0\."),
    ],
)
def test_errors_say_what_to_change(separable, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        lr_find(separable, **kwargs)


def test_figure_marks_the_suggestions(separable) -> None:
    test = lr_find(separable, ["sgd", "adam"], min_lr=1e-3, max_lr=10.0, steps=40,
                   batch_size=16, seeds=3)
    fig = plot_lr_find(test)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    table = test.suggestions()
    assert texts[0].startswith(f"SGD: {table.suggested_lr[0]:.3g} (steepest)")
    assert texts[1].startswith("Adam: ")
    median_line = ax.get_lines()[0]
    np.testing.assert_allclose(median_line.get_ydata(), test.curve(0)[0])
    assert len(HOW_TO_READ.splitlines()) == 2
