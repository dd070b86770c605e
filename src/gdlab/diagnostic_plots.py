"""Figures of the diagnostics: the range test, the noise scale beside a batch-size sweep,
loss-landscape lines and planes.

Like :mod:`gdlab.plots`, every function returns a ``matplotlib.figure.Figure``
(Agg backend) and draws nothing on screen; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab.errors import ConfigError


def _pyplot() -> Any:
    from gdlab.plots import _pyplot as pyplot

    return pyplot()


def _colors(plt: Any) -> list[str]:
    return plt.rcParams["axes.prop_cycle"].by_key()["color"]


# ------------------------------------------------------------------ range test


def plot_lr_find(test: Any, *, band: bool = True, figsize: tuple[float, float] = (8, 5),
                 title: str | None = None) -> Any:
    """Smoothed loss against the learning rate (log axis), one line per optimizer.

    Lines are medians over seeds, the band the middle half (25th to 75th
    percentile) of the seeds still running; a circle marks the steepest descent
    (the suggestion), a triangle a tenth of the minimum. The legend gives both.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=figsize)
    colors = _colors(plt)
    lrs = test.learning_rates
    curves = [test.curve(c, band="quartiles") for c in range(len(test.labels))]
    table = test.suggestions()
    starts = []
    for c, label in enumerate(test.labels):
        color = colors[c % len(colors)]
        med, low, high = curves[c]
        row = table.iloc[c]
        text = f"{label}: {_fmt(row['suggested_lr'])} (steepest)"
        if np.isfinite(row["below_minimum_lr"]):
            text += f", {_fmt(row['below_minimum_lr'])} (min/10)"
        ax.plot(lrs, med, color=color, label=text)
        if band and len(test.seeds) > 1:
            ax.fill_between(lrs, low, high, color=color, alpha=0.15, linewidth=0)
        for lr, marker in ((row["suggested_lr"], "o"), (row["below_minimum_lr"], "v")):
            if np.isfinite(lr):
                i = int(np.argmin(np.abs(np.log(lrs) - np.log(lr))))
                if np.isfinite(med[i]):
                    ax.plot([lrs[i]], [med[i]], marker=marker, color=color, markersize=9,
                            markeredgecolor="black", linestyle="none")
        finite = med[np.isfinite(med)]
        if finite.size:
            starts.append(float(np.max(finite[: max(1, finite.size // 10)])))
    ax.set_xscale("log")
    lows = [np.nanmin(low) for _, low, _ in curves if np.isfinite(low).any()]
    if starts and lows:
        # Above the starting loss lies only the blow-up; keep the descent readable.
        top, bottom = 1.25 * max(starts), min(lows)
        ax.set_ylim(max(0.0, bottom - 0.05 * (top - bottom)), top)
    ax.set_xlabel("Learning rate (grows every update)")
    ax.set_ylabel("Smoothed training loss")
    s = test.settings
    seeds = len(test.seeds)
    ax.set_title(title or f"Learning-rate range test: {s['steps']} updates of batch "
                          f"{s['batch_size']}, {seeds} seed{'s' if seeds > 1 else ''}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", title="suggested learning rate"
              + (" (band: middle half of the seeds)" if band and seeds > 1 else ""),
              title_fontsize="small")
    fig.tight_layout()
    return fig


def _fmt(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else "none"


# ------------------------------------------------------------------ noise scale


def plot_noise_scale(result: Any, goal: Any, within: int | None = None, *,
                     rows: int | None = None, noise_scale: float | None = None,
                     figsize: tuple[float, float] = (13, 5)) -> Any:
    """The noise scale over training beside the batch-size sweep's updates to ``goal``.

    Left: each configuration's noise scale at each epoch end (median over
    seeds, band min-max; bias-corrected when the number of rows is known).
    Right: updates to the goal against batch size (median, bars: range over
    seeds; log axes) with the prediction ``S_min (1 + B / b)`` and ``B`` dashed.
    """
    from gdlab import noise

    plt = _pyplot()
    table = noise.noise_table(result, rows=rows)
    steps = noise.steps_table(result, goal, within, rows=rows)
    pred = noise.prediction(result, goal, within, rows=rows, noise_scale=noise_scale)
    column = "noise_scale_unbiased" if "noise_scale_unbiased" in table else "noise_scale"
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
    colors = _colors(plt)
    for c, name in enumerate(result.setting_names):
        part = table[table.config == c]
        if part.empty:
            continue
        by_epoch = part.groupby("epoch")[column]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = by_epoch.median()
            low, high = by_epoch.min(), by_epoch.max()
        x = med.index.to_numpy() + 1
        color = colors[c % len(colors)]
        left.plot(x, med.to_numpy(), color=color, label=name)
        if len(result.spec.seeds) > 1:
            left.fill_between(x, low.to_numpy(), high.to_numpy(), color=color, alpha=0.15,
                              linewidth=0)
    left.set_yscale("log")
    left.set_xlabel("Epochs")
    left.set_ylabel("Gradient noise scale B" + (" (bias-corrected)"
                                                if column != "noise_scale" else ""))
    left.set_title("Noise scale during training")
    left.grid(alpha=0.3, which="both")
    axes_names = result.spec.axes
    left.legend(fontsize="small", title=axes_names[0] if len(axes_names) == 1 else None)

    _steps_panel(right, steps.batch_size.to_numpy(np.float64), steps.steps_median.to_numpy(),
                 steps.steps_min.to_numpy(), steps.steps_max.to_numpy(), steps.attrs["goal"],
                 colors, pred)
    right.set_title(f"Updates to {steps.attrs['goal']} against the noise-scale prediction")
    fig.tight_layout()
    return fig


def _steps_panel(ax: Any, batch: np.ndarray, median: np.ndarray, low: np.ndarray,
                 high: np.ndarray, goal: str, colors: list[str], pred: Any = None) -> None:
    """Updates to the goal against batch size (log axes), with the prediction if given."""
    reached = np.isfinite(median)
    if not reached.any():
        ax.text(0.5, 0.5, f"No configuration reached {goal}.", ha="center", va="center",
                transform=ax.transAxes)
    else:
        b, med = batch[reached], median[reached]
        err = np.vstack([med - low[reached], high[reached] - med])
        ax.errorbar(b, med, yerr=err, fmt="o", color="black", capsize=3,
                    label="measured (median, range over seeds)")
        if pred is not None and np.isfinite(pred.s_min):
            lo = min(batch.min(), pred.noise_scale) / 2
            hi = max(batch.max(), pred.noise_scale) * 2
            grid = np.geomspace(lo, hi, 200)
            ax.plot(grid, pred.steps(grid), color=colors[0],
                    label=f"S_min(1 + B/b): S_min = {pred.s_min:.3g}, B = "
                          f"{pred.noise_scale:.3g}")
            ax.axvline(pred.noise_scale, color=colors[0], linestyle="--", linewidth=1)
        from matplotlib.ticker import ScalarFormatter

        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_yscale("log")
        ax.legend(fontsize="small")
    ax.set_xlabel("Batch size")
    ax.set_ylabel("Optimizer updates to the goal")
    ax.grid(alpha=0.3, which="both")


def plot_steps_to_target(result: Any, goal: Any, within: int | None = None, *,
                         figsize: tuple[float, float] = (7, 4.5)) -> Any:
    """Updates each batch size needs to reach ``goal``: median and range over seeds, log axes.

    Per epoch, a batch of 128 makes 8 times fewer updates than a batch of 16;
    counting updates (Shallue et al. 2019) compares batch sizes on a fair axis.
    """
    from gdlab import noise

    plt = _pyplot()
    if "batch_size" not in result.spec.axes:
        raise ConfigError(f"Sweep '{result.spec.name}' does not vary batch_size.")
    steps = noise.steps_to_target(result, goal, within)
    goal_text = str(noise._goal(result, goal))
    batch = np.array([c.batch_size for c in result.spec.configs()], np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # configurations never reaching it
        median = np.nanmedian(steps, axis=0)
        low, high = np.nanmin(steps, axis=0), np.nanmax(steps, axis=0)
    fig, ax = plt.subplots(figsize=figsize)
    _steps_panel(ax, batch, median, low, high, goal_text, _colors(plt))
    ax.set_title(f"{result.spec.name}: optimizer updates to {goal_text}", fontsize="medium")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ landscapes


def plot_landscape_line(land: Any, metrics: Sequence[str] | None = None, *, band: bool = True,
                        figsize: tuple[float, float] | None = None) -> Any:
    """The loss (and accuracy) along the line from initial (alpha 0) to final (alpha 1) weights.

    One panel per metric, one line per configuration (median over seeds, band
    min-max); dotted verticals at 0 and 1.
    """
    plt = _pyplot()
    metrics = list(metrics) if metrics is not None else [
        m for m in ("loss", "test_loss", "val_loss") if m in land.line][:2]
    unknown = [m for m in metrics if m not in land.line]
    if unknown or not metrics:
        raise ConfigError(f"No line slice for {unknown or metrics}; this landscape has "
                          f"{', '.join(land.line)}.")
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize or (6.5 * len(metrics), 4.5),
                             squeeze=False)
    colors = _colors(plt)
    for ax, metric in zip(axes[0], metrics, strict=True):
        values = land.line[metric]
        for c, label in enumerate(land.labels):
            color = colors[c % len(colors)]
            v = values[:, :, c]
            ax.plot(land.alphas, np.median(v, axis=1), color=color, label=label)
            if band and v.shape[1] > 1:
                ax.fill_between(land.alphas, v.min(axis=1), v.max(axis=1), color=color,
                                alpha=0.15, linewidth=0)
        for x in (0.0, 1.0):
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
        if "loss" in metric and np.all(values > 0):
            ax.set_yscale("log")
        ax.set_xlabel("α (0: initial weights, 1: final weights)")
        ax.set_title(metric.replace("_", " ").capitalize() + " along the line")
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize="small")
    n_seeds = len(land.seeds)
    if n_seeds > 1:
        fig.suptitle(f"median over {n_seeds} seeds, band: min to max", fontsize="small")
    fig.tight_layout()
    return fig


def plot_landscape_plane(land: Any, metric: str = "loss", *, seed: int | None = None,
                         levels: int = 20, figsize: tuple[float, float] | None = None) -> Any:
    """Contours of ``metric`` on the plane, one panel per configuration, side by side.

    ``seed`` picks a seed value (default: the first). Loss contours are spaced
    logarithmically; every panel shares the same levels and colour scale, so
    basins compare directly. The cross marks the final weights.
    """
    plt = _pyplot()
    from matplotlib import colors as mcolors

    if metric not in land.plane:
        raise ConfigError(f"No plane slice of {metric!r}; this landscape has "
                          f"{', '.join(land.plane) or 'no plane (computed with plane=False)'}.")
    s = land.seeds.index(seed) if seed is not None and seed in land.seeds else 0
    if seed is not None and seed not in land.seeds:
        raise ConfigError(f"Seed {seed} is not in this landscape (seeds {list(land.seeds)}).")
    values = land.plane[metric][:, :, s, :]
    n = len(land.labels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=figsize or (4.6 * cols + 1.2, 4.4 * rows),
                             squeeze=False, layout="constrained")
    finite = values[np.isfinite(values)]
    log = "loss" in metric and finite.size and finite.min() > 0
    if log:
        lv = np.geomspace(finite.min(), finite.max(), levels)
        norm = mcolors.LogNorm(vmin=lv[0], vmax=lv[-1])
    else:
        lv = np.linspace(finite.min(), finite.max(), levels) if finite.size else levels
        norm = None
    grid_a, grid_b = np.meshgrid(land.coords, land.coords)
    mappable = None
    for c, label in enumerate(land.labels):
        ax = axes.ravel()[c]
        mappable = ax.contourf(grid_a, grid_b, values[:, :, c], levels=lv, norm=norm,
                               cmap="viridis", extend="both")
        ax.contour(grid_a, grid_b, values[:, :, c], levels=lv, norm=norm, colors="white",
                   linewidths=0.4, alpha=0.6)
        ax.plot([0], [0], marker="+", color="red", markersize=12, markeredgewidth=2)
        ax.set_title(label, fontsize="medium")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax.set_aspect("equal")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    if mappable is not None:
        from matplotlib.ticker import LogFormatterSciNotation, LogLocator

        extra = {"ticks": LogLocator(), "format": LogFormatterSciNotation()} if log else {}
        fig.colorbar(mappable, ax=axes.ravel().tolist(), shrink=0.85,
                     label=metric.replace("_", " "), **extra)
    fig.suptitle(f"{metric.replace('_', ' ').capitalize()} around the final weights "
                 f"(seed {land.seeds[s]}, filter-normalized directions)")
    return fig


__all__ = ["plot_landscape_line", "plot_landscape_plane", "plot_lr_find", "plot_noise_scale"]
