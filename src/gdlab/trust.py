"""What to trust in a sweep's results: paired comparisons over seeds, and result warnings.

Under common random numbers, two settings trained with the same seed share
their batch order and (where shapes allow) their initial weights, so their
final metrics are *paired*: the difference seed by seed removes much of the
seed-to-seed noise. :func:`paired_comparison` compares every setting with the
best one by a paired t-interval over seeds:

.. math::
    d_s = m_{c,s} - m_{best,s}, \\quad
    \\bar d \\pm t_{n-1,\\,0.975}\\, \\mathrm{sd}(d) / \\sqrt{n}

A setting is *distinguishable* from the best when the interval excludes zero,
*indistinguishable* when it covers zero; with one seed no verdict is drawn.

:func:`check_result` raises the warnings a finished sweep can show: a single
seed ranking settings, runs that predict one class, losses that rise early.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from gdlab.pitfalls import (
    MAJORITY_CLASS,
    RISING_LOSS,
    SINGLE_SEED,
    MajorityClass,
    RisingLoss,
    SingleSeed,
)
from gdlab.results import is_accuracy

VERDICTS = ("best", "distinguishable", "indistinguishable", "no verdict")


def main_metric(result: Any) -> str:
    """The metric settings are compared on: the sweep's first metric (accuracy, or
    regression's MAE, ...) on held-out rows if measured, else a loss."""
    first = result.first_metric or "accuracy"
    for m in (f"test_{first}", f"val_{first}", first, "test_loss", "val_loss", "loss"):
        if m in result.history:
            return m
    raise ValueError("the result has no metrics")


def default_goal(result: Any) -> str:
    """A target for steps and epochs to target: 95 % of the best final mean of the main metric.

    For a loss, 5 % above the best final mean. (Shallue et al. 2019 measure steps
    to a fixed target the same way.)
    """
    metric = main_metric(result)
    means = np.array([_mean(v) for v in final_values(result, metric)])
    if not np.isfinite(means).any():
        return f"{metric}>=1" if is_accuracy(metric) else f"{metric}<=0"
    if is_accuracy(metric):
        return f"{metric}>={0.95 * np.nanmax(means):.3f}"
    return f"{metric}<={1.05 * np.nanmin(means):.4g}"


def representative_seed(result: Any, config: int = 0) -> int:
    """The seed whose final main metric is the median of the configuration's seeds."""
    metric = main_metric(result)
    values = final_values(result, metric)[config]
    finite = np.where(np.isfinite(values))[0]
    if finite.size == 0:
        return int(result.spec.seeds[0])
    order = finite[np.argsort(values[finite])]
    return int(result.spec.seeds[order[(len(order) - 1) // 2]])


def _mean(a: np.ndarray) -> float:
    """Mean of the finite values; NaN (silently) when there are none."""
    a = np.asarray(a, float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def final_values(result: Any, metric: str) -> np.ndarray:
    """Each run's final value of ``metric``: ``[configs, seeds]`` (NaN where it diverged)."""
    final = result.final()
    n_c, n_s = result.spec.n_configs, len(result.spec.seeds)
    out = final[metric].to_numpy(float).reshape(n_c, n_s)
    diverged = final["diverged_epoch"].to_numpy().reshape(n_c, n_s) >= 0
    return np.where(diverged, np.nan, out)


def paired_comparison(result: Any, metric: str | None = None,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Every setting against the best, paired by seed (see the module docstring).

    Columns: ``setting``, ``metric``, ``mean``, ``diff`` (mean paired difference
    to the best), ``ci_low``, ``ci_high``, ``pairs`` and ``verdict``.
    """
    from scipy import stats

    metric = metric or main_metric(result)
    values = final_values(result, metric)
    higher = is_accuracy(metric)
    means = np.array([_mean(v) for v in values])
    if not np.isfinite(means).any():
        best = 0
    else:
        best = int(np.nanargmax(means) if higher else np.nanargmin(means))
    rows = []
    for c, name in enumerate(result.setting_names):
        both = np.isfinite(values[c]) & np.isfinite(values[best])
        d = values[c][both] - values[best][both]
        n = int(both.sum())
        row = {"setting": name, "metric": metric, "mean": means[c], "pairs": n}
        if c == best:
            row.update(diff=0.0, ci_low=0.0, ci_high=0.0, verdict="best")
        elif n < 2:
            row.update(diff=float(d.mean()) if n else np.nan, ci_low=np.nan, ci_high=np.nan,
                       verdict="no verdict")
        else:
            sd = float(d.std(ddof=1))
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n))
            low, high = float(d.mean()) - half, float(d.mean()) + half
            covers = low <= 0.0 <= high
            row.update(diff=float(d.mean()), ci_low=low, ci_high=high,
                       verdict="indistinguishable" if covers else "distinguishable")
        rows.append(row)
    return pd.DataFrame(rows)


def _predicts_one_class(result: Any, c: int, s: int, x: np.ndarray) -> bool | None:
    if result.params is None or result.params[c] is None:
        return None
    from gdlab.network import apply

    cfg = result.spec.configs()[c]
    data = result.meta.get("data", {})
    net = cfg.network(int(data["n_features"]), data["task"], int(data["n_outputs"]))
    params = tuple({k: np.asarray(v)[s] for k, v in layer.items()} for layer in result.params[c])
    _, out, _ = apply(params, x, net)
    out = np.asarray(out)
    labels = (out[:, 0] > 0.5) if out.shape[1] == 1 else out.argmax(axis=1)
    return len(np.unique(labels)) == 1


def check_result(result: Any, eval_sets: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 stacklevel: int = 3) -> None:
    """Warn about what in a finished sweep's results can mislead (see the module docstring)."""
    spec = result.spec
    name = spec.name
    if len(spec.seeds) == 1 and spec.n_configs > 1:
        warnings.warn(SINGLE_SEED.format(sweep=name, n=spec.n_configs), SingleSeed,
                      stacklevel=stacklevel)

    # Runs that predict one class: accuracy equal to some class's share (the majority's,
    # or a minority's when the run predicts the training majority that the held-out rows
    # lack), confirmed on the predictions when the weights are at hand.
    task = result.meta.get("data", {}).get("task")
    for part in ("test", "val"):
        metric = f"{part}_accuracy"
        if task == "regression" or metric not in result.history or not eval_sets or \
                part not in eval_sets:
            continue
        x, y = eval_sets[part]
        shares = np.bincount(np.asarray(y, int)) / len(y)
        shares = shares[shares > 0]
        values = final_values(result, metric)
        flagged, seen = [], set()
        for c, setting in enumerate(result.setting_names):
            hits = [s for s in range(len(spec.seeds)) if np.isfinite(values[c, s])
                    and np.min(np.abs(shares - values[c, s])) < 0.5 / len(y)]
            confirmed = [s for s in hits if _predicts_one_class(result, c, s, x) is not False]
            if confirmed:
                flagged.append(f"'{setting}' in {len(confirmed)} of {len(spec.seeds)} seeds")
                seen |= {float(shares[np.argmin(np.abs(shares - values[c, s]))])
                         for s in confirmed}
        if flagged:
            warnings.warn(MAJORITY_CLASS.format(
                sweep=name, items="; ".join(flagged), part=part,
                share=", ".join(f"{v:.3f}" for v in sorted(seen))), MajorityClass,
                stacklevel=stacklevel)
        break

    # Losses that rise over the first epochs, or diverge.
    loss = result.history.get("loss")
    if loss is not None:
        rising = []
        for c, setting in enumerate(result.setting_names):
            diverged = int((result.diverged_epoch[:, c] >= 0).sum())
            later = min(2, int(result.epochs[c]) - 1)
            first, then = _mean(loss[0, :, c]), _mean(loss[later, :, c])
            if diverged:
                rising.append(f"'{setting}' (diverged in {diverged} of {len(spec.seeds)} seeds)")
            elif later > 0 and np.isfinite(first) and np.isfinite(then) and then > first * 1.01:
                rising.append(f"'{setting}' (loss {first:.3g} at epoch 1, {then:.3g} at epoch "
                              f"{later + 1})")
        if rising:
            warnings.warn(RISING_LOSS.format(sweep=name, items=", ".join(rising)), RisingLoss,
                          stacklevel=stacklevel)
