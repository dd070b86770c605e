"""Figures of sweep results (matplotlib): the course's curves with seed bands, final metrics.

Every function returns a ``matplotlib.figure.Figure`` and draws nothing on
screen; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab.errors import ConfigError
from gdlab.results import SweepResult

X_AXES = ("epochs", "updates", "examples")


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in {"agg", "module://matplotlib_inline.backend_inline"}:
        try:
            matplotlib.use("Agg")
        except Exception:  # pragma: no cover - an interactive backend already in use
            pass
    import matplotlib.pyplot as plt

    return plt


def x_values(result: SweepResult, config: int, x: str = "epochs") -> np.ndarray:
    """The x coordinate of each epoch's end: epochs done (1..E), optimizer updates or examples."""
    if x not in X_AXES:
        raise ConfigError(f"Unknown x axis {x!r}; choose one of {', '.join(X_AXES)}.")
    epochs = np.arange(1, result.n_epochs + 1)
    if x == "epochs":
        return epochs
    n_train = result.meta.get("data", {}).get("n_train")
    if n_train is None:
        raise ConfigError("This result does not record the number of training rows.")
    if x == "examples":
        return epochs * n_train
    batch = result.spec.configs()[config].batch_size
    return epochs * math.ceil(n_train / batch)


def _band(values: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and band edges over seeds (axis 1) of ``[epochs, seeds]``."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=1)
            if band == "sd":
                sd = np.nanstd(values, axis=1, ddof=1) if values.shape[1] > 1 else 0 * mean
                return mean, mean - sd, mean + sd
            if band == "range":
                return mean, np.nanmin(values, axis=1), np.nanmax(values, axis=1)
    raise ConfigError(f"Unknown band {band!r}; choose 'sd' or 'range'.")


def plot_curves(result: SweepResult, metrics: Sequence[str] = ("loss", "accuracy"), *,
                x: str = "epochs", band: str = "sd", title: str | None = None,
                figsize: tuple[float, float] = (12, 8), ylim: tuple[float, float] | None = (0, 1)
                ) -> Any:
    """The course's figure: one panel per metric (loss above accuracy), a line per setting.

    Lines are means over seeds; the shaded band is ±1 standard deviation
    (``band="sd"``) or the min-max range (``band="range"``).
    """
    plt = _pyplot()
    metrics = [m for m in metrics if m in result.history]
    if not metrics:
        raise ConfigError(f"None of the metrics is in this result ({', '.join(result.metrics)}).")
    fig, axes = plt.subplots(len(metrics), 1, figsize=figsize, squeeze=False)
    n_seeds = len(result.spec.seeds)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        for c, name in enumerate(result.setting_names):
            xs = x_values(result, c, x)
            mean, low, high = _band(result.history[metric][:, :, c], band)
            color = colors[c % len(colors)]
            ax.plot(xs, mean, label=name, color=color)
            if n_seeds > 1:
                ax.fill_between(xs, low, high, color=color, alpha=0.15, linewidth=0)
        ax.set_title(metric.replace("_", " ").capitalize())
        if ylim is not None and ("accuracy" in metric or "loss" in metric):
            top = np.nanmax(result.history[metric])
            ax.set_ylim(ylim[0], max(ylim[1], float(top) if np.isfinite(top) else ylim[1]))
        if x != "epochs":
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(title=result.spec.axes[0] if len(result.spec.axes) == 1 else None,
                      fontsize="small")
    band_text = "±1 sd" if band == "sd" else "min-max"
    axes[-1, 0].set_xlabel(
        {"epochs": "Epochs", "updates": "Optimizer updates", "examples": "Examples seen"}[x]
        + (f"   (mean over {n_seeds} seeds, band {band_text})" if n_seeds > 1 else "")
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_final(result: SweepResult, metric: str | None = None, *, axis: str | None = None,
               confidence: float = 0.95, figsize: tuple[float, float] = (7, 4.5)) -> Any:
    """The final value of ``metric`` against the swept setting, with confidence-interval bars.

    Numeric settings are placed on a numeric axis (logarithmic for learning
    rates); others are categories.
    """
    plt = _pyplot()
    if metric is None:
        metric = next(m for m in ("test_accuracy", "val_accuracy", "accuracy", "test_loss",
                                   "val_loss", "loss") if m in result.history)
    if metric not in result.history:
        raise ConfigError(f"No metric {metric!r}; this result has {', '.join(result.metrics)}.")
    summary = result.summary(confidence)
    axis = axis or (result.spec.axes[0] if result.spec.axes else "setting")
    mean = summary[f"{metric}_mean"].to_numpy()
    low = mean - summary[f"{metric}_ci_low"].to_numpy()
    high = summary[f"{metric}_ci_high"].to_numpy() - mean
    err = np.nan_to_num(np.vstack([low, high]))
    fig, ax = plt.subplots(figsize=figsize)
    values = summary[axis] if axis in summary else summary["setting"]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    xs = np.asarray(values, float) if numeric else np.arange(len(values))
    ax.errorbar(xs, mean, yerr=err, fmt="o-" if numeric else "o", capsize=4)
    if numeric:
        if axis == "learning_rate" or (xs.min() > 0 and xs.max() / xs.min() >= 20):
            ax.set_xscale("log")
    else:
        ax.set_xticks(xs)
        ax.set_xticklabels([str(v) for v in values], rotation=20, ha="right")
    ax.set_xlabel(axis)
    ax.set_ylabel(f"final {metric.replace('_', ' ')}")
    ax.set_title(f"{result.spec.name}: final {metric} (mean, {confidence:.0%} CI over "
                 f"{len(result.spec.seeds)} seeds)", fontsize="medium")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
