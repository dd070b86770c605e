"""Loss-landscape slices: the line's ends, the plane's centre, filter-normalized directions."""

from __future__ import annotations

import jax
import matplotlib
import numpy as np
import pytest

import gdlab
from gdlab import executor
from gdlab.diagnostic_plots import plot_landscape_line, plot_landscape_plane
from gdlab.errors import ConfigError
from gdlab.landscape import (
    HOW_TO_READ_LINE,
    HOW_TO_READ_PLANE,
    Landscape,
    filter_normalized_directions,
    plane_coords,
    sweep_landscape,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] + 0.3 * x[:, 2] > 0).astype(np.int64)
    return {"x_train": x[:70], "y_train": y[:70], "x_test": x[70:], "y_test": y[70:]}


@pytest.fixture(scope="module")
def result(data):
    return gdlab.sweep(data, configs=[{"optimizer": "SGD(learning_rate=0.5)"},
                                      {"optimizer": "Adam(learning_rate=0.05)"}],
                       hidden=4, activation="tanh", batch_size=10, epochs=3, seeds=2,
                       progress=False)


@pytest.fixture(scope="module")
def land(result, data) -> Landscape:
    return sweep_landscape(result, data, points=5, span=0.5)


def _bce(params, x, y) -> float:
    """The network's mean binary cross-entropy, in float64 NumPy."""
    p = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in params]
    h = np.tanh(x @ p[0]["kernel"] + p[0]["bias"])
    z = (h @ p[1]["kernel"] + p[1]["bias"])[:, 0]
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def _seed(tree, s):
    return jax.tree.map(lambda a: np.asarray(a)[s], tree)


def test_line_ends_are_the_initial_and_final_losses(result, data, land) -> None:
    alphas = list(land.alphas)
    i0, i1 = alphas.index(0.0), alphas.index(1.0)
    td = executor.training_data(data)
    init = executor.initial_params(result.spec.configs(), result.spec.seeds, td)
    for c in range(2):
        for s in range(2):
            start = _bce(_seed(init[c], s), data["x_train"], data["y_train"])
            end = _bce(_seed(result.params[c], s), data["x_train"], data["y_train"])
            np.testing.assert_allclose(land.line["loss"][i0, s, c], start, rtol=1e-5)
            np.testing.assert_allclose(land.line["loss"][i1, s, c], end, rtol=1e-5)
    # The sweep scored the final weights on the test rows after its last epoch.
    np.testing.assert_allclose(land.line["test_loss"][i1], result.history["test_loss"][-1],
                               rtol=1e-6)
    np.testing.assert_allclose(land.line["test_accuracy"][i1],
                               result.history["test_accuracy"][-1], rtol=1e-6)
    assert land.metrics == ["loss", "accuracy", "test_loss", "test_accuracy"]


def test_plane_centre_is_the_model_loss(result, land) -> None:
    mid = list(land.coords).index(0.0)
    i1 = list(land.alphas).index(1.0)
    for metric in ("loss", "test_loss", "test_accuracy"):
        np.testing.assert_allclose(land.plane[metric][mid, mid], land.line[metric][i1],
                                   rtol=1e-6)
    np.testing.assert_allclose(land.plane["test_loss"][mid, mid],
                               result.history["test_loss"][-1], rtol=1e-6)


def test_a_plane_point_is_the_loss_of_the_moved_weights(result, data, land) -> None:
    """Rows of the plane are the second direction, columns the first."""
    final = result.params[1]
    d1, d2 = filter_normalized_directions(final, seed=0)
    i, j = 1, 4  # b = coords[1], a = coords[4]
    a, b = land.coords[j], land.coords[i]
    moved = jax.tree.map(lambda w, u, v: np.asarray(w, np.float64) + a * u + b * v,
                         final, d1, d2)
    for s in range(2):
        expected = _bce(_seed(moved, s), data["x_train"], data["y_train"])
        np.testing.assert_allclose(land.plane["loss"][i, j, s, 1], expected, rtol=1e-5)


def test_directions_are_filter_normalized_and_orthogonal(result) -> None:
    final = result.params[0]
    d1, d2 = filter_normalized_directions(final, seed=7)
    for layer, one, two in zip(final, d1, d2, strict=True):
        w = np.asarray(layer["kernel"], np.float64)  # [seeds, fan_in, units]
        for d in (one["kernel"], two["kernel"]):
            np.testing.assert_allclose(np.linalg.norm(d, axis=-2), np.linalg.norm(w, axis=-2),
                                       rtol=1e-5)
        if w.shape[-2] >= 2:  # within each filter, d2 is orthogonal to d1
            np.testing.assert_allclose(np.sum(one["kernel"] * two["kernel"], axis=-2), 0,
                                       atol=1e-5)
        assert not one["bias"].any() and not two["bias"].any()
    again, _ = filter_normalized_directions(final, seed=7)
    np.testing.assert_array_equal(again[0]["kernel"], d1[0]["kernel"])
    other, _ = filter_normalized_directions(final, seed=8)
    assert not np.allclose(other[0]["kernel"], d1[0]["kernel"])


def test_summary_measures_the_barrier_on_the_line() -> None:
    alphas = np.array([-0.5, 0.0, 0.5, 1.0, 1.5])
    loss = np.array([2.0, 1.0, 1.4, 0.2, 3.0])[:, None, None]  # a bump at 0.5
    land = Landscape(("bumpy",), (0,), alphas, {"loss": loss}, np.zeros(0))
    row = land.summary().iloc[0]
    assert (row.initial_loss, row.final_loss) == (1.0, 0.2)
    assert row.barrier == pytest.approx(0.4) and not row.monotonic
    tidy = land.tidy()
    assert tidy.alpha.tolist() == alphas.tolist() and set(tidy.slice) == {"line"}


def test_tidy_table_has_every_point(land) -> None:
    tidy = land.tidy()
    n_line = len(land.alphas) * 2 * 2 * 4  # points x seeds x configs x metrics
    n_plane = 5 * 5 * 2 * 2 * 4
    assert len(tidy) == n_line + n_plane
    centre = tidy[(tidy.slice == "plane") & (tidy.a == 0) & (tidy.b == 0)
                  & (tidy.metric == "loss") & (tidy.config == 1) & (tidy.seed == 1)]
    assert centre.value.tolist() == [float(land.plane["loss"][2, 2, 1, 1])]


def test_plane_coords_and_errors(result, data) -> None:
    np.testing.assert_array_equal(plane_coords(1.0, 5), [-1.0, -0.5, 0.0, 0.5, 1.0])
    with pytest.raises(ConfigError, match=r"`points` must be an integer >= 3, got 2"):
        plane_coords(1.0, 2)
    with pytest.raises(ConfigError, match=r"`seeds` must be seeds of the sweep \(\[0, 1\]\), "
                                          r"got \[5\]"):
        sweep_landscape(result, data, seeds=[5])
    with pytest.raises(ConfigError, match=r"`configs` must be configuration indices 0..1"):
        sweep_landscape(result, data, configs=[2])
    bare = gdlab.sweep(data, epochs=1, seeds=1, progress=False, keep_params=False)
    with pytest.raises(ConfigError, match=r"has no final weights .* keep_params=True"):
        sweep_landscape(bare, data)


def test_line_only_and_a_seed_subset(result, data, land) -> None:
    one = sweep_landscape(result, data, configs=[1], seeds=[1], plane=False)
    assert one.plane == {} and one.labels == ("Adam(learning_rate=0.05)",)
    np.testing.assert_allclose(one.line["loss"][:, 0, 0], land.line["loss"][:, 1, 1], rtol=1e-6)


def test_figures_show_one_panel_per_configuration(land) -> None:
    fig = plot_landscape_line(land)
    assert [ax.get_title() for ax in fig.axes] == ["Loss along the line",
                                                   "Test loss along the line"]
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), np.median(land.line["loss"][:, :, 0], 1))
    fig = plot_landscape_plane(land, seed=1)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["SGD(learning_rate=0.5)", "Adam(learning_rate=0.05)"]
    assert "seed 1" in fig._suptitle.get_text()
    with pytest.raises(ConfigError, match=r"Seed 9 is not in this landscape"):
        plot_landscape_plane(land, seed=9)
    assert len(HOW_TO_READ_LINE.splitlines()) == len(HOW_TO_READ_PLANE.splitlines()) == 2
