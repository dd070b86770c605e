"""The gradient noise scale table, updates to a goal, and the prediction beside them."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import gdlab
from gdlab import noise
from gdlab.diagnostic_plots import plot_noise_scale
from gdlab.errors import ConfigError
from gdlab.results import SweepResult
from gdlab.specs import sweep_spec

matplotlib.use("Agg")

ROWS = 20


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -1.0, 0.5]) + 0.5 * rng.normal(size=64) > 0).astype(np.int64)
    return x, y


@pytest.fixture(scope="module")
def measured(data) -> SweepResult:
    return gdlab.sweep(data, grid={"batch_size": [8, 16]}, hidden=3, activation="tanh",
                       optimizer="SGD(learning_rate=0.1)", epochs=2, seeds=2, noise_rows=ROWS,
                       progress=False)


def _brute_force(params, x, y) -> tuple[float, float, float]:
    """Per-example gradients one row at a time, of an independently written loss."""

    def loss(p, xi, yi):
        h = jnp.tanh(xi @ p[0]["kernel"] + p[0]["bias"])
        z = (h @ p[1]["kernel"] + p[1]["bias"])[0]
        return jnp.maximum(z, 0) - z * yi + jnp.log1p(jnp.exp(-jnp.abs(z)))

    grads = []
    for i in range(x.shape[0]):
        g = jax.grad(loss)(params, x[i], float(y[i]))
        grads.append(np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(g)]))
    grads = np.array(grads, np.float64)
    mean = grads.mean(0)
    trace = float(np.trace(np.cov(grads, rowvar=False)))  # (k - 1) in the denominator
    return trace / float(mean @ mean), float(mean @ mean), trace


def test_table_equals_a_brute_force_computation(data, measured) -> None:
    x, y = data
    table = noise.noise_table(measured, rows=ROWS)
    assert list(table.columns) == ["sweep", "config", "setting", "batch_size", "seed", "epoch",
                                   "noise_scale", "grad_sq_norm", "grad_var_trace",
                                   "noise_scale_unbiased"]
    assert len(table) == 2 * 2 * 2  # configs x seeds x epochs
    last = table[table.epoch == 1]
    for c in range(2):
        for s, seed in enumerate(measured.spec.seeds):
            params = jax.tree.map(lambda a, s=s: jnp.asarray(a[s]), measured.params[c])
            b, sq, trace = _brute_force(params, x[:ROWS], y[:ROWS])
            row = last[(last.config == c) & (last.seed == seed)].iloc[0]
            assert row.batch_size == [8, 16][c]
            np.testing.assert_allclose(row.grad_var_trace, trace, rtol=1e-4)
            np.testing.assert_allclose(row.grad_sq_norm, sq, rtol=1e-4)
            np.testing.assert_allclose(row.noise_scale, b, rtol=1e-4)
            corrected = trace / (sq - trace * (1 / ROWS - 1 / 64))
            np.testing.assert_allclose(row.noise_scale_unbiased, corrected, rtol=1e-4)


def test_table_keeps_chosen_epochs_and_needs_rows_for_the_correction(measured) -> None:
    table = noise.noise_table(measured, epochs=[0])
    assert set(table.epoch) == {0}
    assert "noise_scale_unbiased" in table  # the sweep recorded k (meta["noise_rows"])
    import dataclasses

    unknown = dataclasses.replace(measured, meta={k: v for k, v in measured.meta.items()
                                                  if k != "noise_rows"})
    assert "noise_scale_unbiased" not in noise.noise_table(unknown, epochs=[0])  # k unknown
    with pytest.raises(ConfigError, match=r"`epochs` must be epoch indices 0..1, got \[2\]"):
        noise.noise_table(measured, epochs=[2])


def test_every_row_of_the_data_needs_no_correction() -> None:
    b = noise.unbiased_noise_scale(2.0, 3.0, rows=50, n_train=50)
    assert b == pytest.approx(1.5)  # the exact gradient: tr / |G|^2
    assert noise.unbiased_noise_scale(2.0, 3.0, rows=10) == pytest.approx(3.0 / 1.7)
    assert np.isnan(noise.unbiased_noise_scale(0.1, 3.0, rows=10))  # signal below the noise


def test_noise_scale_is_larger_for_noisier_labels() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    clean = (x @ np.array([1.0, -1.0, 2.0, 0.5]) > 0).astype(np.int64)
    flip = rng.random(512) < 0.3
    noisy = np.where(flip, 1 - clean, clean)
    scales = []
    for y in (clean, noisy):
        r = gdlab.sweep((x, y), optimizer="SGD(learning_rate=0.1)", batch_size=32, epochs=1,
                        seeds=4, noise_rows=512, progress=False)
        scales.append(noise.noise_table(r).noise_scale.to_numpy())
    clean_b, noisy_b = scales
    assert noisy_b.min() > 2 * clean_b.max()


def _fake(history: dict[str, np.ndarray], batch_sizes: list[int], n_train: int = 100
          ) -> SweepResult:
    spec = sweep_spec("batch", base={"epochs": history["loss"].shape[0]},
                      grid={"batch_size": batch_sizes}, seeds=history["loss"].shape[1])
    diverged = np.full(history["loss"].shape[1:], -1, np.int32)
    return SweepResult(spec, history, diverged, {"data": {"n_train": n_train}})


def test_steps_to_target_counts_updates_at_epoch_ends() -> None:
    # 3 epochs, 2 seeds, batch sizes 10, 30, 40: 10, 4 and 3 updates per epoch.
    loss = np.array([[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
                     [[0.1, 0.5, 0.5], [0.5, 0.1, 0.5]],
                     [[0.1, 0.1, 0.5], [0.1, 0.1, 0.5]]])
    ns = np.full_like(loss, 50.0)
    r = _fake({"loss": loss, "noise_scale": ns, "grad_sq_norm": ns, "grad_var_trace": ns},
              [10, 30, 40])
    np.testing.assert_array_equal(noise.updates_per_epoch(r), [10, 4, 3])
    np.testing.assert_array_equal(noise.steps_to_target(r, "loss<=0.1"),
                                  [[20, 12, np.nan], [30, 8, np.nan]])
    table = noise.steps_table(r, "loss<=0.1")
    assert table.reached.tolist() == [2, 2, 0]
    assert table.steps_median.tolist()[:2] == [25.0, 10.0]
    assert (table.steps_min.tolist()[:2], table.steps_max.tolist()[:2]) == ([20, 8], [30, 12])
    assert table.noise_scale.tolist()[:2] == [50.0, 50.0]
    # B = 50 (every run), S_min fitted in log space through the two medians.
    pred = noise.prediction(r, "loss<=0.1")
    expected = math.exp((math.log(25 / (1 + 50 / 10)) + math.log(10 / (1 + 50 / 30))) / 2)
    assert pred.noise_scale == 50.0 and pred.s_min == pytest.approx(expected)
    np.testing.assert_allclose(table.predicted_steps, expected * (1 + 50 / np.array([10, 30, 40])))
    assert "median over the 4 runs that met loss <= 0.1" in pred.how


def test_prediction_uses_the_noise_scale_where_the_goal_was_met() -> None:
    loss = np.array([[[0.5]], [[0.1]], [[0.1]]])
    ns = np.array([[[10.0]], [[70.0]], [[900.0]]])
    r = _fake({"loss": loss, "noise_scale": ns, "grad_sq_norm": ns, "grad_var_trace": ns}, [10])
    assert noise.prediction(r, "loss<=0.1").noise_scale == 70.0  # epoch 1, not the last
    assert noise.prediction(r, "loss<=0.1", noise_scale=5.0).how == "given"
    never = noise.prediction(r, "loss<=0.01")
    assert np.isnan(never.s_min) and never.how == "no run met loss <= 0.01"


def test_a_sweep_without_noise_scale_says_how_to_get_it(data) -> None:
    r = gdlab.sweep(data, epochs=1, seeds=1, progress=False)
    with pytest.raises(ConfigError, match=r"did not measure the gradient noise scale .*"
                                          r"run it with noise_rows=k"):
        noise.noise_table(r)


def test_figure_shows_noise_and_the_prediction(measured) -> None:
    fig = plot_noise_scale(measured, "loss<=0.9", rows=ROWS)
    left, right = fig.axes
    assert left.get_yscale() == "log" and len(left.get_lines()) == 2
    labels = [t.get_text() for t in right.get_legend().get_texts()]
    assert labels[0].startswith("S_min(1 + B/b): S_min = ")
    assert labels[1] == "measured (median, range over seeds)"
    pred = noise.prediction(measured, "loss<=0.9", rows=ROWS)
    curve = next(line for line in right.get_lines() if line.get_label().startswith("S_min"))
    np.testing.assert_allclose(curve.get_ydata(), pred.steps(curve.get_xdata()))
    assert len(noise.HOW_TO_READ.splitlines()) == 2
