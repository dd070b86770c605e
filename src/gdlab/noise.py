"""The gradient noise scale (McCandlish et al. 2018) beside a batch-size sweep.

A sweep run with ``noise_rows=k`` measures, at every epoch end and for every
configuration x seed, per-example gradients :math:`g_i` on the first ``k``
training rows (:func:`gdlab.engine.noise_scale`) and records

.. math::  B_{simple} = \\operatorname{tr}\\Sigma / \\lVert G \\rVert^2,

with :math:`G` the mean gradient and :math:`\\operatorname{tr}\\Sigma` the
per-example covariance trace. It estimates the *critical batch size*: below it
a larger batch divides the updates needed almost proportionally, above it
larger batches mostly waste examples. The paper's model of the trade-off,

.. math::  S(B) = S_{min} (1 + B_{noise} / B),

says how many updates ``S`` a batch size ``B`` needs to reach a target; this
module measures ``S`` (updates to a goal, over seeds) and draws it against
that prediction.

Two estimator notes. The mean of ``k`` gradients carries noise of its own:
:math:`E\\lVert \\hat G \\rVert^2 = \\lVert G \\rVert^2 + \\operatorname{tr}\\Sigma / k`,
so the recorded :math:`B_{simple}` can never exceed about ``k``. Given ``k``
(``rows=`` or the sweep's ``meta["noise_rows"]``), :func:`noise_table` adds the
paper's bias-corrected estimate (:func:`unbiased_noise_scale`; NaN when the
signal is below the noise of ``k`` rows), and the prediction uses it. And
the model assumes a learning rate tuned for each batch size; a sweep that
keeps the learning rate fixed (the course's) bends away from the prediction
at large batches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gdlab.convergence import Goal, epochs_to_target, parse_goal
from gdlab.errors import ConfigError
from gdlab.results import METRIC_ORDER, SweepResult, _axis_values

#: Two lines for the report: how to read the noise-scale figure.
HOW_TO_READ = (
    "Left: the gradient noise scale B = tr(Σ)/|G|² of each configuration at each epoch end "
    "(median over seeds, band: min to max), an estimate of the batch size beyond which larger "
    "batches stop paying off.\n"
    "Right: updates each batch size needed to reach the goal (median, bars: range over seeds) "
    "against the prediction S_min(1 + B/b) through them; past the dashed line B, doubling the "
    "batch saves few updates."
)

NOISE_METRICS = ("noise_scale", "grad_sq_norm", "grad_var_trace")


def _require_noise(result: SweepResult) -> None:
    missing = [m for m in NOISE_METRICS if m not in result.history]
    if missing:
        raise ConfigError(
            f"The sweep {result.spec.name!r} did not measure the gradient noise scale "
            f"(no {', '.join(missing)}); run it with noise_rows=k (e.g. 256) or "
            "`gdlab sweep --noise-scale`."
        )


def _n_train(result: SweepResult) -> int | None:
    return result.meta.get("data", {}).get("n_train")


def _rows(result: SweepResult, rows: int | None) -> int | None:
    value = rows if rows is not None else result.meta.get("noise_rows")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2:
        raise ConfigError(f"`rows` (the noise_rows of the sweep) must be an integer >= 2, "
                          f"got {value!r}.")
    n_train = _n_train(result)
    return int(min(value, n_train)) if n_train else int(value)


def unbiased_noise_scale(grad_sq_norm: Any, grad_var_trace: Any, rows: int,
                         n_train: int | None = None) -> np.ndarray:
    r"""The bias-corrected noise scale :math:`\operatorname{tr}\Sigma / \lVert G\rVert^2`.

    For ``k = rows`` examples drawn without replacement from ``N = n_train``,
    :math:`E\lVert\hat G\rVert^2 = \lVert G\rVert^2 + c \operatorname{tr}\Sigma` with
    :math:`c = 1/k - 1/N` (``1/k`` when ``N`` is unknown), so
    :math:`\lVert G\rVert^2` is estimated by :math:`\lVert\hat G\rVert^2 - c
    \operatorname{tr}\Sigma`; with every training row (``k = N``) the mean is the
    exact gradient. NaN where that estimate is not positive (``rows`` examples
    do not resolve the mean gradient).
    """
    sq = np.asarray(grad_sq_norm, np.float64)
    tr = np.asarray(grad_var_trace, np.float64)
    c = 1.0 / rows - (1.0 / n_train if n_train else 0.0)
    signal = sq - c * tr
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(signal > 0, tr / signal, np.nan)


def noise_table(result: SweepResult, *, epochs: Sequence[int] | None = None,
                rows: int | None = None) -> pd.DataFrame:
    """The noise scale of every configuration x seed x epoch as a tidy table.

    Columns: ``sweep, config, setting, <axes>, batch_size, seed, epoch,
    noise_scale, grad_sq_norm, grad_var_trace`` and, when the number of rows
    ``k`` is known (``rows=`` or ``result.meta["noise_rows"]``),
    ``noise_scale_unbiased``. ``epoch`` counts from 0 (measured at that epoch's
    end); ``epochs`` keeps only those. Epochs a run did not train (stopped,
    diverged) are left out.
    """
    _require_noise(result)
    k = _rows(result, rows)
    n_e, n_s, n_c = result.history["noise_scale"].shape
    keep_epochs = np.arange(n_e) if epochs is None else np.asarray(list(epochs), int)
    if keep_epochs.size and (keep_epochs.min() < 0 or keep_epochs.max() >= n_e):
        raise ConfigError(f"`epochs` must be epoch indices 0..{n_e - 1}, got {list(epochs or [])}.")
    e_idx, s_idx, c_idx = np.meshgrid(keep_epochs, np.arange(n_s), np.arange(n_c),
                                      indexing="ij")
    e_idx, s_idx, c_idx = e_idx.ravel(), s_idx.ravel(), c_idx.ravel()
    configs = result.spec.configs()
    cols: dict[str, Any] = {
        "sweep": result.spec.name,
        "config": c_idx,
        "setting": np.asarray(result.setting_names, dtype=object)[c_idx],
    }
    for axis, values in _axis_values(result.spec).items():
        if axis != "batch_size":
            cols[axis] = np.asarray(values, dtype=object)[c_idx]
    cols["batch_size"] = np.array([c.batch_size for c in configs])[c_idx]
    cols["seed"] = np.asarray(result.spec.seeds)[s_idx]
    cols["epoch"] = e_idx
    for m in NOISE_METRICS:
        cols[m] = result.history[m][e_idx, s_idx, c_idx].astype(np.float64)
    if k is not None:
        cols["noise_scale_unbiased"] = unbiased_noise_scale(
            cols["grad_sq_norm"], cols["grad_var_trace"], k, _n_train(result))
    df = pd.DataFrame(cols)
    df = df[~np.isnan(df["noise_scale"].to_numpy())].reset_index(drop=True)
    for axis in [a for a in result.spec.axes if a in df and a != "batch_size"]:
        values = df[axis].tolist()
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            df[axis] = pd.to_numeric(df[axis])
        else:
            df[axis] = df[axis].astype(str)
    df.attrs["rows"] = k
    return df


# ------------------------------------------------------------- steps to target


def updates_per_epoch(result: SweepResult) -> np.ndarray:
    """Each configuration's optimizer updates per epoch: ``ceil(n_train / batch_size)``."""
    n_train = result.meta.get("data", {}).get("n_train")
    if n_train is None:
        raise ConfigError(f"The sweep {result.spec.name!r} does not record its number of "
                          "training rows (meta['data']['n_train']).")
    return np.array([math.ceil(n_train / c.batch_size) for c in result.spec.configs()])


def steps_to_target(result: SweepResult, goal: str | Goal, within: int | None = None
                    ) -> np.ndarray:
    """Optimizer updates each run needs to meet ``goal``: ``[seeds, configs]``, NaN = never.

    Goals are checked at epoch ends (:func:`gdlab.convergence.epochs_to_target`),
    so a run meeting it after epoch ``e`` (from 0) needed ``(e + 1) *
    ceil(n_train / batch_size)`` updates.
    """
    epochs = epochs_to_target(result, goal, within)
    return epochs * updates_per_epoch(result)[None, :]


def _goal(result: SweepResult, goal: str | Goal) -> Goal:
    return parse_goal(goal, sorted(set(METRIC_ORDER) | set(result.metrics)))


def _noise_at_target(result: SweepResult, goal: Goal, within: int | None,
                     rows: int | None) -> tuple[np.ndarray, str]:
    """Each run's noise scale at the epoch it first met the goal: ``[seeds, configs]``."""
    epochs = epochs_to_target(result, goal, within)
    k = _rows(result, rows)
    if k is not None:
        values = unbiased_noise_scale(result.history["grad_sq_norm"],
                                      result.history["grad_var_trace"], k, _n_train(result))
        name = f"bias-corrected B on {k} rows"
    else:
        values = np.asarray(result.history["noise_scale"], np.float64)
        name = "B_simple"
    n_s, n_c = epochs.shape
    out = np.full((n_s, n_c), np.nan)
    hit = ~np.isnan(epochs)
    e = np.where(hit, epochs, 1).astype(int) - 1
    s_idx, c_idx = np.meshgrid(np.arange(n_s), np.arange(n_c), indexing="ij")
    out[hit] = values[e[hit], s_idx[hit], c_idx[hit]]
    return out, name


def steps_table(result: SweepResult, goal: str | Goal, within: int | None = None, *,
                rows: int | None = None) -> pd.DataFrame:
    """Per configuration: updates to ``goal`` over seeds, and the noise scale there.

    Columns: ``config, setting, batch_size, seeds, reached, steps_median,
    steps_min, steps_max`` (over the seeds that reach the goal),
    ``updates_per_epoch``, ``noise_scale`` (median over those seeds of the noise
    scale at the epoch each met the goal; bias-corrected when the number of rows
    is known) and ``predicted_steps`` (:func:`prediction`).
    """
    _require_noise(result)
    g = _goal(result, goal)
    steps = steps_to_target(result, g, within)
    noise, _ = _noise_at_target(result, g, within, rows)
    pred = prediction(result, g, within, rows=rows)
    per_epoch = updates_per_epoch(result)
    rows_out = []
    for c, (name, cfg) in enumerate(zip(result.setting_names, result.spec.configs(),
                                        strict=True)):
        s = steps[:, c]
        hit = s[~np.isnan(s)]
        ns = noise[:, c][np.isfinite(noise[:, c])]
        rows_out.append({
            "config": c, "setting": name, "batch_size": cfg.batch_size, "seeds": s.size,
            "reached": int(hit.size),
            "steps_median": float(np.median(hit)) if hit.size else np.nan,
            "steps_min": float(hit.min()) if hit.size else np.nan,
            "steps_max": float(hit.max()) if hit.size else np.nan,
            "updates_per_epoch": int(per_epoch[c]),
            "noise_scale": float(np.median(ns)) if ns.size else np.nan,
            "predicted_steps": float(pred.steps(cfg.batch_size)),
        })
    df = pd.DataFrame(rows_out)
    df.attrs.update({"goal": str(g), "within": within, "noise_scale": pred.noise_scale,
                     "s_min": pred.s_min, "how": pred.how})
    return df


@dataclass(frozen=True)
class Prediction:
    """McCandlish's model ``S(B) = s_min * (1 + noise_scale / B)``, and how it was set."""

    noise_scale: float
    s_min: float
    how: str

    def steps(self, batch_size: Any) -> np.ndarray:
        """Predicted updates to the goal at ``batch_size`` (NaN without a fit)."""
        b = np.asarray(batch_size, np.float64)
        return self.s_min * (1.0 + self.noise_scale / b)


def prediction(result: SweepResult, goal: str | Goal, within: int | None = None, *,
               rows: int | None = None, noise_scale: float | None = None) -> Prediction:
    r"""Fit ``S(B) = S_min (1 + B_noise / B)`` to a sweep's updates-to-goal.

    ``B_noise`` is the median over runs that met the goal of the noise scale
    measured at the epoch they met it (the paper compares the critical batch
    at a target with the noise scale at that target), unless ``noise_scale``
    is given. With ``B_noise`` fixed, ``S_min`` is the least-squares fit in
    log space over configurations that met the goal,
    :math:`\log S_{min} = \operatorname{mean}_i[\log S_i - \log(1 + B_{noise}/B_i)]`,
    with :math:`S_i` each configuration's median over seeds.
    """
    _require_noise(result)
    g = _goal(result, goal)
    steps = steps_to_target(result, g, within)
    if noise_scale is None:
        noise, name = _noise_at_target(result, g, within, rows)
        finite = noise[np.isfinite(noise)]
        b_noise = float(np.median(finite)) if finite.size else np.nan
        how = (f"{name}, median over the {finite.size} runs that met {g} at the epoch they "
               "met it") if finite.size else f"no run met {g}"
    else:
        if not (isinstance(noise_scale, int | float) and noise_scale > 0):
            raise ConfigError(f"`noise_scale` must be a number > 0, got {noise_scale!r}.")
        b_noise, how = float(noise_scale), "given"
    batch = np.array([c.batch_size for c in result.spec.configs()], np.float64)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(steps, axis=0)
    ok = np.isfinite(med)
    if not ok.any() or not np.isfinite(b_noise):
        return Prediction(b_noise, np.nan, how)
    s_min = float(np.exp(np.mean(np.log(med[ok]) - np.log1p(b_noise / batch[ok]))))
    return Prediction(b_noise, s_min, how)


__all__ = ["HOW_TO_READ", "NOISE_METRICS", "Prediction", "noise_table", "prediction",
           "steps_table", "steps_to_target", "unbiased_noise_scale", "updates_per_epoch"]
