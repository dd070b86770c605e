"""Figures: the course's curves with seed bands, and final metric against the setting."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gdlab import plots  # noqa: E402
from gdlab.errors import ConfigError  # noqa: E402
from gdlab.results import SweepResult  # noqa: E402
from gdlab.specs import sweep_spec  # noqa: E402


def synthetic(seeds=3, epochs=4) -> SweepResult:
    spec = sweep_spec("batch", base={"optimizer": "sgd", "epochs": epochs},
                      grid={"batch_size": [16, 64]}, seeds=seeds)
    rng = np.random.default_rng(0)
    hist = {m: rng.uniform(0.2, 0.9, size=(epochs, seeds, 2)).astype(np.float32)
            for m in ("loss", "accuracy", "test_accuracy")}
    return SweepResult(spec, hist, np.full((seeds, 2), -1, np.int32),
                       {"data": {"n_train": 100}})


def test_curves_have_a_line_and_a_band_per_setting() -> None:
    r = synthetic()
    fig = plots.plot_curves(r)
    top, bottom = fig.axes
    assert top.get_title() == "Loss" and bottom.get_title() == "Accuracy"
    assert [line.get_label() for line in top.get_lines()] == ["16", "64"]
    assert len(top.collections) == 2  # one band per setting
    y = top.get_lines()[1].get_ydata()
    np.testing.assert_allclose(y, r.history["loss"][:, :, 1].mean(axis=1), rtol=1e-6)
    band = top.collections[0].get_paths()[0].vertices[:, 1]
    sd = r.history["loss"][:, :, 0].std(axis=1, ddof=1)
    mean = r.history["loss"][:, :, 0].mean(axis=1)
    assert band.max() == pytest.approx((mean + sd).max(), rel=1e-5)


@pytest.mark.parametrize("x", ["epochs", "updates", "examples"])
def test_three_x_axes_end_where_they_should(x: str) -> None:
    r = synthetic()
    fig = plots.plot_curves(r, x=x)
    lines = fig.axes[0].get_lines()
    expected = {"epochs": [4, 4], "updates": [4 * math.ceil(100 / 16), 4 * math.ceil(100 / 64)],
                "examples": [400, 400]}[x]
    assert [line.get_xdata()[-1] for line in lines] == expected


def test_single_seed_draws_no_band_and_final_plot_has_error_bars() -> None:
    assert len(plots.plot_curves(synthetic(seeds=1)).axes[0].collections) == 0
    fig = plots.plot_final(synthetic(), "test_accuracy")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "batch_size"
    assert ax.get_xscale() == "linear"
    with pytest.raises(ConfigError, match="No metric 'val_loss'"):
        plots.plot_final(synthetic(), "val_loss")
    with pytest.raises(ConfigError, match="Unknown x axis"):
        plots.plot_curves(synthetic(), x="steps")
