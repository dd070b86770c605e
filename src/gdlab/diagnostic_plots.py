"""Figures of the diagnostics: the learning-rate range test.

Like :mod:`gdlab.plots`, every function returns a ``matplotlib.figure.Figure``
(Agg backend) and draws nothing on screen; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

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


__all__ = ["plot_lr_find"]
