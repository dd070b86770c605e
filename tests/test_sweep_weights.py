"""Sweeps with sample weights, class weights and regression metrics, and how results show them."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import gdlab.sweeps as gs
from gdlab import datasets, preprocessing
from gdlab.errors import ConfigError
from gdlab.results import SweepResult, is_accuracy
from gdlab.specs import sweep_spec
from gdlab.trust import default_goal, main_metric, paired_comparison
from gdlab.weighting import balanced


def weighted_table(n: int = 160, regression: bool = False, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    signal = x @ np.array([1.0, -2.0, 0.5])
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["y"] = signal + 0.3 * rng.normal(size=n) if regression else (signal > 0.8).astype(int)
    df["w"] = rng.uniform(0.0, 3.0, n).round(3)
    return df


@pytest.fixture(scope="module")
def weighted_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "weighted.csv"
    weighted_table().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(int)
    return x[:90], y[:90], x[90:], y[90:]


def _same_params(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_weighted_csv_trains_as_the_same_weights_given_as_arrays(weighted_csv) -> None:
    prepared = preprocessing.prepare(datasets.load(weighted_csv, target="y", sample_weight="w"),
                                     validation_split=0.25)
    assert prepared.record()["sample_weight"] == "w" and prepared.n_features == 3
    settings = dict(hidden="4", optimizer="adam", learning_rate=0.05, batch_size=16, epochs=3,
                    seeds=2, progress=False)
    from_file = gs.sweep(prepared, **settings)
    arrays = {k: getattr(prepared, k) for k in (
        "x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "w_train", "w_val",
        "w_test")}
    from_arrays = gs.sweep(arrays, **settings)
    for m in from_file.metrics:
        np.testing.assert_array_equal(from_file.history[m], from_arrays.history[m], err_msg=m)
    _same_params(from_file.params, from_arrays.params)
    assert from_file.meta["data"]["weight_column"] == "w"
    assert from_file.meta["data"]["sample_weight"] == ["train", "val", "test"]
    # ... and the weights are used: the same rows unweighted train other numbers.
    unweighted = gs.sweep({k: v for k, v in arrays.items() if not k.startswith("w_")},
                          **settings)
    assert not np.allclose(from_file.history["loss"], unweighted.history["loss"])


def test_class_weight_axis_trains_in_one_program_and_balanced_is_the_explicit_dict(
        weighted_csv, tmp_path) -> None:
    prepared = preprocessing.prepare(datasets.load(weighted_csv, target="y"))
    counts = np.bincount(prepared.y_train)
    assert counts.min() < 0.8 * counts.max()  # imbalanced, so the schemes differ
    settings = dict(optimizer="sgd", learning_rate=0.1, batch_size=16, epochs=3, seeds=2,
                    progress=False)
    grid = gs.sweep(prepared, grid={"class_weight": [None, "balanced", {"0": 1.0, "1": 3.0}]},
                    **settings)
    assert grid.meta["programs"] == 1
    assert grid.setting_names == ["none", "balanced", "0:1,1:3"]
    # The same program with "balanced" spelled out as scikit-learn's dict: the same bits.
    weights = balanced(prepared.y_train, 2)
    explicit = gs.sweep(prepared, grid={"class_weight": [None, weights, {0: 1.0, 1: 3.0}]},
                        **settings)
    for m in grid.metrics:
        np.testing.assert_array_equal(grid.history[m][:, :, 1], explicit.history[m][:, :, 1])
    _same_params(grid.params[1], explicit.params[1])
    assert not np.allclose(grid.history["loss"][:, :, 0], grid.history["loss"][:, :, 1])
    # Tables, legends and Parquet keep the schemes' names and exact weights.
    assert grid.summary().class_weight.tolist() == ["none", "balanced", "0:1,1:3"]
    assert set(grid.tidy().class_weight) == {"none", "balanced", "0:1,1:3"}
    for result in (grid, explicit):
        loaded = SweepResult.load(result.save(tmp_path / f"{result.spec.name}.parquet"))
        assert loaded.spec == result.spec
        assert loaded.spec.configs() == result.spec.configs()
        assert loaded.setting_names == result.setting_names
        assert SweepResult.load(loaded.save(tmp_path / "again.parquet")).spec == result.spec
    # every digit of the weights survived the round trip
    assert loaded.spec.configs()[1].class_weight == tuple(weights.items())


def test_class_weight_spellings_are_one_scheme() -> None:
    specs = [sweep_spec("cw", configs=[{"class_weight": v}], seeds=1)
             for v in ({0: 1, 1: 3}, {"1": 3.0, "0": 1.0}, "0:1,1:3", ((0, 1.0), (1, 3.0)))]
    assert all(s == specs[0] for s in specs)
    none = [sweep_spec("cw", configs=[{"class_weight": v}], seeds=1) for v in (None, "none")]
    assert none[0] == none[1] and none[0].labels() == [{"class_weight": "none"}]


def _forward(params, x: np.ndarray, seed: int) -> np.ndarray:
    """The network's output in NumPy: ReLU hidden layers, a linear output."""
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["kernel"][seed], np.float64) + np.asarray(
            layer["bias"][seed], np.float64)
        if i < len(params) - 1:
            h = np.maximum(h, 0.0)
    return h


def test_regression_sweep_reports_its_metrics_as_numpy_computes_them(tmp_path) -> None:
    path = tmp_path / "houses.csv"
    weighted_table(regression=True).to_csv(path, index=False)
    prepared = preprocessing.prepare(datasets.load(path, target="y", sample_weight="w"),
                                     validation_split=0.2)
    r = gs.sweep(prepared, grid={"learning_rate": [0.01, 0.05]}, hidden="4", optimizer="sgd",
                 batch_size=16, epochs=4, seeds=2, metrics=["mae", "rmse"], progress=False)
    assert r.metrics == ["loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse",
                         "test_loss", "test_mae", "test_rmse"]
    assert r.meta["metrics"] == ["mae", "rmse"] and r.first_metric == "mae"
    y, w = prepared.y_test.astype(np.float64), prepared.w_test.astype(np.float64)
    for c in range(2):
        for s in range(2):
            error = _forward(r.params[c], prepared.x_test, s)[:, 0] - y
            last = r.history["test_mae"][-1, s, c]
            np.testing.assert_allclose(last, np.abs(error).mean(), rtol=1e-5)
            np.testing.assert_allclose(r.history["test_rmse"][-1, s, c],
                                       np.sqrt((error ** 2).mean()), rtol=1e-5)
            # the loss is Keras's: weighted by the rows' sample weights, over the rows
            np.testing.assert_allclose(r.history["test_loss"][-1, s, c],
                                       (w * error ** 2).sum() / len(y), rtol=1e-5)
    # The comparison and the default goal use the held-out MAE, lower being better.
    assert main_metric(r) == "test_mae" and default_goal(r).startswith("test_mae<=")
    compare = paired_comparison(r)
    means = r.summary().test_mae_mean.to_numpy()
    assert compare.verdict.tolist()[int(np.argmin(means))] == "best"


def test_regression_sweeps_report_mae_by_default_and_classification_accuracy(data) -> None:
    x_tr, y_tr, x_te, y_te = data
    reg = gs.sweep({"x_train": x_tr, "y_train": y_tr.astype(np.float32) + x_tr[:, 0],
                    "x_test": x_te, "y_test": y_te.astype(np.float32) + x_te[:, 0],
                    "task": "regression"}, epochs=2, seeds=1, progress=False)
    assert reg.metrics == ["loss", "mae", "test_loss", "test_mae"]
    assert reg.meta["metrics"] == ["mae"]
    cls = gs.sweep(data, epochs=2, seeds=1, progress=False)
    assert cls.metrics == ["loss", "accuracy", "test_loss", "test_accuracy"]
    assert cls.meta["metrics"] == ["accuracy"] and main_metric(cls) == "test_accuracy"
    none = gs.sweep(data, epochs=2, seeds=1, progress=False, metrics=[])
    assert none.metrics == ["loss", "test_loss"] and none.first_metric is None
    assert main_metric(none) == "test_loss"


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (["maee"], r"Unknown metric 'maee'\. Did you mean 'mae'\?.*Valid metrics: .*rmse"),
        ("mae", r"`metrics` must be a list of metric names"),
        (["mae", "mae"], r"names a metric twice"),
    ],
)
def test_bad_metrics_fail_before_training(data, metrics, message) -> None:
    with pytest.raises(ConfigError, match=message):
        gs.sweep(data, epochs=1, seeds=1, progress=False, metrics=metrics)


def test_accuracy_of_a_regression_and_class_weights_of_a_regression_are_errors(data) -> None:
    x_tr, y_tr, _, _ = data
    reg = {"x_train": x_tr, "y_train": x_tr[:, 0], "task": "regression"}
    with pytest.raises(ConfigError, match=r"Metric 'accuracy' needs classes"):
        gs.sweep(reg, epochs=1, seeds=1, progress=False, metrics=["accuracy"])
    with pytest.raises(ConfigError, match=r"class_weight weighs rows by their class"):
        gs.sweep(reg, epochs=1, seeds=1, progress=False, class_weight="balanced")


def _synthetic(metrics: dict[str, np.ndarray], meta: dict | None = None) -> SweepResult:
    spec = sweep_spec("s", base={"epochs": 2}, grid={"learning_rate": [0.1, 0.2]}, seeds=3)
    return SweepResult(spec, metrics, np.full((3, 2), -1, np.int32), meta or {})


def test_order_and_intervals_of_regression_metrics() -> None:
    from scipy import stats

    values = np.array([0.2, 0.9, 1.9], np.float32)  # a wide spread: a low end below 0
    hist = {m: np.tile(values[None, :, None], (2, 1, 2))
            for m in ("test_rmse", "rmse", "noise_scale", "val_loss", "loss", "mae",
                      "test_acc", "acc")}
    r = _synthetic(hist, {"metrics": ["rmse", "mae"]})
    assert r.metrics == ["loss", "acc", "mae", "rmse", "val_loss", "test_acc", "test_rmse",
                         "noise_scale"]
    assert r.first_metric == "rmse" and is_accuracy("test_acc") and not is_accuracy("mae")
    s = r.summary().iloc[0]
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert s.rmse_ci_low == pytest.approx(values.mean() - half) and s.rmse_ci_low < 0
    assert s.rmse_ci_high == pytest.approx(values.mean() + half) and s.rmse_ci_high > 1
    assert s.acc_ci_low == 0.0 and s.acc_ci_high == 1.0  # a proportion stays in [0, 1]
    assert main_metric(r) == "test_rmse"
    # Without a record of the sweep's metrics: accuracy if there, else the first metric.
    assert _synthetic({"loss": hist["loss"], "mse": hist["mae"]}).first_metric == "mse"
