"""Figures of the diagnostics: the range test, the noise scale beside a batch-size sweep.

Like :mod:`gdlab.plots`, every function returns a ``matplotlib.figure.Figure``
(Agg backend) and draws nothing on screen; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


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

    reached = steps[steps.reached > 0]
    if reached.empty:
        right.text(0.5, 0.5, f"No configuration reached {steps.attrs['goal']}.",
                   ha="center", va="center", transform=right.transAxes)
    else:
        b = reached.batch_size.to_numpy(np.float64)
        med = reached.steps_median.to_numpy()
        err = np.vstack([med - reached.steps_min.to_numpy(), reached.steps_max.to_numpy() - med])
        right.errorbar(b, med, yerr=err, fmt="o", color="black", capsize=3,
                       label="measured (median, range over seeds)")
        if np.isfinite(pred.s_min):
            all_b = steps.batch_size.to_numpy(np.float64)
            lo = min(all_b.min(), pred.noise_scale) / 2
            hi = max(all_b.max(), pred.noise_scale) * 2
            grid = np.geomspace(lo, hi, 200)
            right.plot(grid, pred.steps(grid), color=colors[0],
                       label=f"S_min(1 + B/b): S_min = {pred.s_min:.3g}, B = "
                             f"{pred.noise_scale:.3g}")
            right.axvline(pred.noise_scale, color=colors[0], linestyle="--", linewidth=1)
        from matplotlib.ticker import ScalarFormatter

        right.set_xscale("log", base=2)
        right.xaxis.set_major_formatter(ScalarFormatter())
        right.set_yscale("log")
        right.legend(fontsize="small")
    right.set_xlabel("Batch size")
    right.set_ylabel("Optimizer updates to the goal")
    right.set_title(f"Updates to {steps.attrs['goal']} against the noise-scale prediction")
    right.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


__all__ = ["plot_lr_find", "plot_noise_scale"]
