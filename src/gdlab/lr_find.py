"""The learning-rate range test (Smith 2017), for several optimizers and seeds at once.

Train from fresh weights while the learning rate grows geometrically, one
factor per update, from ``min_lr`` to ``max_lr`` over ``steps`` updates:

.. math::  \\eta_t = \\eta_{min} (\\eta_{max} / \\eta_{min})^{t / (T - 1)}, \\quad t = 0..T-1.

Each update's batch loss (computed with the weights before the update, as a
training loop reports it) is smoothed by an exponential moving average with
bias correction, as fastai and Smith do: :math:`a_t = \\beta a_{t-1} + (1 - \\beta)
\\ell_t`, :math:`s_t = a_t / (1 - \\beta^{t+1})`. A curve stops at the first
update where :math:`s_t` exceeds ``diverge`` times its best value so far (or is
not finite). Every configuration x seed trains in one compiled program
(:func:`gdlab.executor.run_programs` with ``lr_growth``); seeds share nothing but
the data, so the spread over seeds shows how much a suggestion can be trusted.

Suggestions come from the median curve over seeds (a stopped seed counts as
+inf, so the median exists while most seeds still run): the learning rate of
its steepest descent per decade, and a tenth of the learning rate at its
minimum (fastai's two classic suggestions).

Choices, measured on the course's logistic regression (banknotes, SGD, batch
16), where the working range of the course's own sweep is 0.05 to 0.5:

* ``smoothing=0.9`` rather than fastai's 0.98. An average over ~50 updates lags
  the raw curve by half a 100-update test, several decades of learning rate,
  and pushed the steepest point to 2-4; 0.9 averages ~10 updates.
* The slope is a least-squares fit over one decade (``window``), not a
  difference of neighbouring updates, which divides batch noise by a few
  hundredths of a decade.
* The test runs 5 epochs by default. The loss at a learning rate reflects about
  ``1 / ln(growth)`` updates near it, so a 100-update test suggested rates 3
  to 5x higher than a 300-update one; 10 seeds by default (they cost almost
  nothing, and the median over 5 seeds still wandered by a factor of 10).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gdlab.errors import ConfigError, DataError
from gdlab.optimizers import OPTIMIZERS, OptimizerSpec, as_optimizer_spec
from gdlab.specs import TrainConfig, resolve

#: Two lines for the report: how to read the range-test figure.
HOW_TO_READ = (
    "Each line is the smoothed training loss (median over seeds, band: min to max) while the "
    "learning rate grows geometrically, one step per update, until the loss blows up.\n"
    "The circle marks the steepest descent (the suggested learning rate) and the triangle a "
    "tenth of the minimum's learning rate; choose a rate where the loss still falls steeply."
)

#: Epochs of the test when neither ``steps`` nor ``epochs`` is given.
DEFAULT_EPOCHS = 5

#: Settings the range test sets itself (they are its own arguments).
_OWN = ("learning_rate", "batch_size", "epochs")


@dataclass(frozen=True)
class RangeTest:
    """The outcome of :func:`lr_find`.

    ``learning_rates[t]`` is update ``t``'s learning rate; ``loss`` the raw batch
    losses and ``smoothed`` the smoothed ones, both ``[steps, seeds, configs]``
    (``smoothed`` is NaN after a curve stopped); ``stopped[seed, config]`` is the
    update at which a curve stopped (-1: it ran to ``max_lr``).
    """

    learning_rates: np.ndarray
    loss: np.ndarray
    smoothed: np.ndarray
    stopped: np.ndarray
    labels: tuple[str, ...]
    configs: tuple[TrainConfig, ...]
    seeds: tuple[int, ...]
    settings: dict[str, Any]
    seconds: float | None = None

    @property
    def n_steps(self) -> int:
        """Updates in the test."""
        return int(self.learning_rates.shape[0])

    def curve(self, config: int = 0, band: str = "range"
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(median, low, high) over seeds of configuration ``config``'s smoothed loss.

        The median counts a stopped seed as +inf and is NaN once most seeds
        stopped; ``low``/``high`` are the min and max (``band="range"``) or the 25th
        and 75th percentiles (``band="quartiles"``) of the seeds still running.
        """
        values = self.smoothed[:, :, config]
        return median_curve(values), *_band(values, band)

    def suggestions(self) -> pd.DataFrame:
        """One row per configuration: the suggested learning rates and how they were chosen.

        Columns: ``config, optimizer, suggested_lr`` (steepest descent of the median
        curve), ``steepest_lr_low, steepest_lr_high`` (range of each seed's own
        steepest point), ``slope`` (change of the smoothed loss per decade there),
        ``minimum_lr, minimum_loss, below_minimum_lr`` (a tenth of ``minimum_lr``),
        ``seeds, seeds_stopped, stopped_lr`` (median learning rate where seeds
        stopped) and ``reason``.
        """
        rows = []
        n_seeds = len(self.seeds)
        skip = _skip(self.n_steps)
        for c, label in enumerate(self.labels):
            med = median_curve(self.smoothed[:, :, c])
            window = self.settings.get("window", 1.0)
            pick = suggest(self.learning_rates, med, skip=skip, window=window)
            own = [suggest(self.learning_rates, self.smoothed[:, s, c], skip=skip, window=window)
                   for s in range(n_seeds)]
            own_lrs = np.array([p["steepest_lr"] for p in own], np.float64)
            stops = self.stopped[:, c]
            stopped_lrs = self.learning_rates[stops[stops >= 0]]
            row = {
                "config": c,
                "optimizer": label,
                "suggested_lr": pick["steepest_lr"],
                "steepest_lr_low": _nan_reduce(np.nanmin, own_lrs),
                "steepest_lr_high": _nan_reduce(np.nanmax, own_lrs),
                "slope": pick["slope"],
                "minimum_lr": pick["minimum_lr"],
                "minimum_loss": pick["minimum_loss"],
                "below_minimum_lr": pick["minimum_lr"] / 10,
                "seeds": n_seeds,
                "seeds_stopped": int((stops >= 0).sum()),
                "stopped_lr": float(np.median(stopped_lrs)) if stopped_lrs.size else np.nan,
            }
            row["reason"] = _reason(row, self.settings)
            rows.append(row)
        return pd.DataFrame(rows)

    def tidy(self) -> pd.DataFrame:
        """One row per configuration x seed x update.

        Columns: ``config, optimizer, seed, step, learning_rate, loss,
        smoothed_loss, stopped`` (whether the curve had stopped before this update).
        """
        n_t, n_s, n_c = self.loss.shape
        t_idx, s_idx, c_idx = np.meshgrid(np.arange(n_t), np.arange(n_s), np.arange(n_c),
                                          indexing="ij")
        t_idx, s_idx, c_idx = t_idx.ravel(), s_idx.ravel(), c_idx.ravel()
        stop = self.stopped[s_idx, c_idx]
        order = np.lexsort((t_idx, s_idx, c_idx))
        df = pd.DataFrame({
            "config": c_idx,
            "optimizer": np.asarray(self.labels, dtype=object)[c_idx],
            "seed": np.asarray(self.seeds)[s_idx],
            "step": t_idx,
            "learning_rate": self.learning_rates[t_idx],
            "loss": self.loss.ravel().astype(np.float64),
            "smoothed_loss": self.smoothed.ravel().astype(np.float64),
            "stopped": (stop >= 0) & (t_idx > stop),
        })
        return df.iloc[order].reset_index(drop=True)


# ----------------------------------------------------------------- the math


def learning_rates(min_lr: float, max_lr: float, steps: int) -> np.ndarray:
    """``steps`` learning rates growing geometrically from ``min_lr`` to ``max_lr`` (float64)."""
    _check_range(min_lr, max_lr, steps)
    return min_lr * growth_factor(min_lr, max_lr, steps) ** np.arange(steps, dtype=np.float64)


def growth_factor(min_lr: float, max_lr: float, steps: int) -> float:
    """The factor between consecutive learning rates: ``(max / min) ** (1 / (steps - 1))``."""
    return float((max_lr / min_lr) ** (1.0 / (steps - 1)))


def smooth(losses: np.ndarray, beta: float = 0.98) -> np.ndarray:
    r"""Exponential moving average with bias correction along axis 0.

    :math:`a_t = \beta a_{t-1} + (1 - \beta) \ell_t`, :math:`s_t = a_t / (1 - \beta^{t+1})`.
    From the first non-finite loss on, the result is NaN.
    """
    if not 0 <= beta < 1:
        raise ConfigError(f"`smoothing` must be in [0, 1), got {beta!r}.")
    x = np.asarray(losses, np.float64)
    out = np.full(x.shape, np.nan)
    avg = np.zeros(x.shape[1:])
    alive = np.ones(x.shape[1:], bool)
    for t in range(x.shape[0]):
        alive &= np.isfinite(x[t])
        avg = beta * avg + (1 - beta) * np.where(alive, x[t], 0.0)
        out[t] = np.where(alive, avg / (1 - beta ** (t + 1)), np.nan)
    return out


def stop_curves(smoothed: np.ndarray, diverge: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Cut each curve (axis 0) after its first value above ``diverge`` x its best so far.

    Returns ``(cut, stopped)``: ``cut`` keeps values up to and including the
    stopping update and is NaN after it; ``stopped`` is that update's index (-1
    where a curve never stopped). A non-finite value stops a curve too.
    """
    if not diverge > 1:
        raise ConfigError(f"`diverge` must be a factor > 1, got {diverge!r}.")
    s = np.asarray(smoothed, np.float64)
    best = np.fmin.accumulate(np.where(np.isfinite(s), s, np.inf), axis=0)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(s) | (s > diverge * best)
    hit = bad.any(axis=0)
    stopped = np.where(hit, np.argmax(bad, axis=0), -1)
    t = np.arange(s.shape[0]).reshape((-1,) + (1,) * (s.ndim - 1))
    cut = np.where(hit[None] & (t > stopped[None]), np.nan, s)
    return cut, stopped


def median_curve(curves: np.ndarray) -> np.ndarray:
    """Median over seeds (axis 1) of ``[steps, seeds]``, a stopped (NaN) seed counting as +inf.

    The result is NaN where half the seeds or more had stopped.
    """
    c = np.asarray(curves, np.float64)
    med = np.median(np.where(np.isnan(c), np.inf, c), axis=1)
    return np.where(np.isfinite(med), med, np.nan)


def slope_per_decade(lrs: np.ndarray, curve: np.ndarray, window: float = 1.0) -> np.ndarray:
    """The curve's slope against ``log10(lr)``: a least-squares line over ``window`` decades.

    Each point's slope fits the finite points within ``window / 2`` decades on
    either side (at least one neighbour each way). A central difference between
    neighbouring updates would divide batch noise by a few hundredths of a
    decade; a window of a decade averages it out and still resolves the
    descent. NaN where fewer than three points are available.
    """
    if not window > 0:
        raise ConfigError(f"`window` must be a width in decades > 0, got {window!r}.")
    x = np.log10(np.asarray(lrs, np.float64))
    c = np.asarray(curve, np.float64)
    n = x.shape[0]
    spacing = (x[-1] - x[0]) / max(n - 1, 1)
    k = max(1, int(round(window / 2 / spacing))) if spacing > 0 else 1
    out = np.full(n, np.nan)
    for i in range(n):
        if not np.isfinite(c[i]):
            continue
        lo, hi = max(0, i - k), min(n, i + k + 1)
        xs, ys = x[lo:hi], c[lo:hi]
        ok = np.isfinite(ys)
        if ok.sum() < 3:
            continue
        xs, ys = xs[ok], ys[ok]
        dx = xs - xs.mean()
        out[i] = float(np.sum(dx * (ys - ys.mean())) / np.sum(dx * dx))
    return out


def suggest(lrs: np.ndarray, curve: np.ndarray, *, skip: int = 0,
            window: float = 1.0) -> dict[str, float]:
    """Steepest descent and minimum of one smoothed curve against ``log10(lr)``.

    The curve is read up to its first NaN (where it stopped), leaving out the
    first ``skip`` updates. The minimum is its lowest point; the steepest
    descent is the most negative slope (:func:`slope_per_decade` over
    ``window`` decades) at or before the minimum. Returns ``steepest_lr, slope,
    minimum_lr, minimum_loss`` (NaN where fewer than three points remain, or
    where the curve never falls).
    """
    lrs = np.asarray(lrs, np.float64)
    c = np.asarray(curve, np.float64)
    finite = np.isfinite(c)
    end = int(np.argmin(finite[skip:])) + skip if not finite[skip:].all() else c.shape[0]
    none = {"steepest_lr": np.nan, "slope": np.nan, "minimum_lr": np.nan,
            "minimum_loss": np.nan}
    if end - skip < 3:
        return none
    seg = c[skip:end]
    low = int(np.argmin(seg))
    out = dict(none, minimum_lr=float(lrs[skip + low]), minimum_loss=float(seg[low]))
    slope = slope_per_decade(lrs[skip:end], seg, window)[: low + 1]
    if not (slope < 0).any():
        return out
    steep = int(np.nanargmin(slope))
    return out | {"steepest_lr": float(lrs[skip + steep]), "slope": float(slope[steep])}


def _skip(steps: int) -> int:
    # fastai leaves out the first tenth of the test: the bias-corrected average
    # rests on a handful of batches there and its slope is noise.
    return steps // 10


def _band(curves: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray]:
    if band not in ("range", "quartiles"):
        raise ConfigError(f"Unknown band {band!r}; choose 'range' or 'quartiles'.")
    c = np.asarray(curves, np.float64)
    has = ~np.isnan(c).all(axis=1)
    q = (0.0, 100.0) if band == "range" else (25.0, 75.0)
    filled = np.where(has[:, None], c, 0.0)  # all-NaN rows would warn; they become NaN below
    low, high = np.nanpercentile(filled, q, axis=1)
    return np.where(has, low, np.nan), np.where(has, high, np.nan)


def _nan_reduce(fn: Any, values: np.ndarray) -> float:
    return float(fn(values)) if np.isfinite(values).any() else np.nan


def _reason(row: dict[str, Any], settings: dict[str, Any]) -> str:
    seeds = row["seeds"]
    over = f"the median over {seeds} seeds" if seeds > 1 else "the curve"
    if not np.isfinite(row["minimum_lr"]):
        return (f"No suggestion: {over} stopped within the first updates; lower --min "
                f"({settings['min_lr']:g}).")
    parts = []
    if np.isfinite(row["suggested_lr"]):
        spread = ""
        if seeds > 1 and np.isfinite(row["steepest_lr_low"]):
            spread = (f" (single seeds: {row['steepest_lr_low']:.3g} to "
                      f"{row['steepest_lr_high']:.3g})")
        parts.append(f"steepest descent of the smoothed loss ({over}) at lr "
                     f"{row['suggested_lr']:.3g}, falling {-row['slope']:.3g} per decade"
                     + spread)
    else:
        parts.append(f"the smoothed loss ({over}) never fell; raise --max "
                     f"({settings['max_lr']:g}) or give more --steps")
    at_end = row["minimum_lr"] >= settings["max_lr"] * (1 - 1e-9)
    where = (f"at the end of the range (lr {row['minimum_lr']:.3g}; the loss had not turned up "
             "yet)" if at_end else f"at lr {row['minimum_lr']:.3g}")
    parts.append(f"its minimum {row['minimum_loss']:.3g} is {where}, a tenth of which is "
                 f"{row['below_minimum_lr']:.3g}")
    if row["seeds_stopped"]:
        parts.append(f"{row['seeds_stopped']} of {seeds} seeds stopped (loss above "
                     f"{settings['diverge']:g}x its best) near lr {row['stopped_lr']:.3g}")
    else:
        parts.append(f"no seed blew up before lr {settings['max_lr']:g}")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _check_range(min_lr: Any, max_lr: Any, steps: Any) -> None:
    for name, v in (("min_lr", min_lr), ("max_lr", max_lr)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or v <= 0:
            raise ConfigError(f"`{name}` must be a finite number > 0, got {v!r}.")
    if not max_lr > min_lr:
        raise ConfigError(f"`max_lr` ({max_lr:g}) must be larger than `min_lr` ({min_lr:g}).")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 5:
        raise ConfigError(f"`steps` must be an integer >= 5 (updates in the test), got {steps!r}.")


def optimizer_label(spec: OptimizerSpec) -> str:
    """An optimizer's name with the settings that differ from Keras's, learning rate left out."""
    kind = OPTIMIZERS[spec.kind]
    diffs = [f"{k}={v!r}" for k, v in spec.hparams
             if k != "learning_rate" and kind.defaults.get(k) != v]
    return f"{kind.keras_name}({', '.join(diffs)})" if diffs else kind.keras_name


# ----------------------------------------------------------------- running


def lr_find(data: Any, optimizers: Any = "sgd", *, min_lr: float = 1e-6, max_lr: float = 10.0,
            steps: int | None = None, epochs: int | None = None, batch_size: int = 32,
            seeds: int | Sequence[int] = 10, smoothing: float = 0.9, diverge: float = 4.0,
            window: float = 1.0, model: Any = None, **settings: Any) -> RangeTest:
    """Run the learning-rate range test for each optimizer x seed, in one compiled program.

    ``data`` is what :func:`gdlab.sweep` takes (only the training rows are used);
    ``optimizers`` a name, a course-style string such as ``"SGD(momentum=0.9)"``,
    an optimizer object or a list of them (their own learning rates are replaced
    by the test's). ``settings`` describe the network as in a sweep (``hidden``,
    ``activation``, ``kernel_initializer``, ``loss``, ...), or ``model`` gives them
    as a compiled ``gdlab.keras`` model.

    The learning rate grows from ``min_lr`` to ``max_lr`` over ``steps`` updates of
    ``batch_size`` rows, by default the updates of ``epochs=5`` epochs (Smith: "several
    epochs"; whole epochs are trained and updates past ``steps`` dropped). The
    test is a compressed training run: the loss at a learning rate reflects
    about ``1 / ln(growth)`` updates near it, so a longer test suggests rates
    closer to what a full training run tolerates. ``smoothing`` is the moving
    average's beta, ``diverge`` the stopping factor, ``window`` the width in
    decades over which the slope is fitted (:func:`suggest`).
    """
    from gdlab import executor
    from gdlab.specs import sweep_spec
    from gdlab.sweeps import base_from_model

    if steps is not None and epochs is not None:
        raise ConfigError("Give either `steps` (updates in the test) or `epochs`, not both.")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 1):
        raise ConfigError(f"`epochs` must be an integer >= 1, got {epochs!r}.")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"`smoothing` must be in [0, 1), got {smoothing!r}.")
    if not diverge > 1:
        raise ConfigError(f"`diverge` must be a factor > 1, got {diverge!r}.")
    if not window > 0:
        raise ConfigError(f"`window` must be a width in decades > 0, got {window!r}.")
    for key in _OWN:
        if key in settings:
            raise ConfigError(
                f"lr_find sets `{key}` itself; pass "
                + {"learning_rate": "min_lr= and max_lr=", "batch_size": "batch_size=",
                   "epochs": "steps= or epochs= (the test's length)"}[key]
                + " instead."
            )
    if isinstance(optimizers, str | OptimizerSpec) or not isinstance(optimizers, Sequence):
        optimizers = [optimizers]
    if not optimizers:
        raise ConfigError("`optimizers` must hold at least one optimizer.")
    specs = [as_optimizer_spec(o) for o in optimizers]
    labels = [optimizer_label(s) for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"The optimizers repeat: {', '.join(labels)}; give each once.")
    base = dict(base_from_model(model)) if model is not None else {}
    base.pop("optimizer", None)
    base.update(settings)
    seed_list = list(sweep_spec("lr-find", seeds=seeds).seeds)  # validated as a sweep's

    td = executor.training_data(data)
    # Only training rows matter here; evaluation sets would only add work to every epoch.
    td = dataclasses.replace(td, evals=())
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    if batch_size > td.n_train:
        raise DataError(f"`batch_size` {batch_size} is larger than the {td.n_train} training "
                        "rows; the range test needs several updates per epoch.")
    per_epoch = math.ceil(td.n_train / batch_size)
    if steps is None:
        steps = (epochs or DEFAULT_EPOCHS) * per_epoch
    _check_range(min_lr, max_lr, steps)
    epochs = math.ceil(steps / per_epoch)
    configs = [resolve({**base, "optimizer": s, "learning_rate": float(min_lr),
                        "batch_size": batch_size, "epochs": epochs}) for s in specs]
    g = growth_factor(min_lr, max_lr, steps)
    raw = executor.run_programs(configs, seed_list, td, lr_growth=[g] * len(configs),
                                record_steps=True, keep_params=False)
    step_loss = raw.steps["step_loss"]  # [epochs, steps per epoch, seeds, configs]
    flat = step_loss.reshape(-1, *step_loss.shape[2:])[:steps]
    smoothed, stopped = stop_curves(smooth(flat, smoothing), diverge)
    return RangeTest(
        learning_rates=learning_rates(min_lr, max_lr, steps),
        loss=flat.astype(np.float64),
        smoothed=smoothed,
        stopped=stopped.astype(np.int64),
        labels=tuple(labels),
        configs=tuple(configs),
        seeds=tuple(seed_list),
        settings={"min_lr": float(min_lr), "max_lr": float(max_lr), "steps": steps,
                  "batch_size": batch_size, "epochs": epochs, "smoothing": smoothing,
                  "diverge": diverge, "window": window, "n_train": td.n_train, "growth": g},
        seconds=round(raw.timings["compile_and_run_s"], 3),
    )


__all__ = ["HOW_TO_READ", "RangeTest", "growth_factor", "learning_rates", "lr_find",
           "median_curve", "optimizer_label", "smooth", "stop_curves", "suggest"]
