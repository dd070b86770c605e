"""Convergence and stability over seeds: epochs to a target, final spread, a verdict.

A *goal* is a metric, a comparison and a threshold, written as the course
would say it: ``"val_accuracy>=1.0"``. :func:`epochs_to_target` counts the
epochs a run needs to meet it (1 = after the first epoch; NaN = never), and
:func:`convergence_table` summarises every configuration of a sweep over its
seeds: how many seeds reach the goal and how fast, the final metric's mean,
spread and confidence interval, and a stability verdict.

Metrics are float32 means, so ``24/25`` is stored as ``0.95999998``; a goal
treats values within :data:`SLACK` of its threshold as equal to it, so
``val_accuracy>=0.96`` holds for 24 of 25 rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gdlab.errors import ConfigError, ShapeError, unknown_name
from gdlab.results import METRIC_ORDER, SweepResult, is_accuracy

#: Values this close to a goal's threshold count as equal to it (float32 metrics).
SLACK = 1e-6

OPERATORS = (">=", ">", "<=", "<")

#: The stability verdicts of :func:`stability_verdict`, from best to worst.
VERDICTS = ("stable", "mostly stable", "unstable", "diverged", "too few seeds")

_GOAL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|=>|=<|>|<|=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Goal:
    """A target for one metric: ``metric op threshold`` (``op`` in >=, >, <=, <)."""

    metric: str
    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ConfigError(f"Unknown comparison {self.op!r} in a goal; use one of "
                              f"{', '.join(OPERATORS)}.")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float) \
                or not math.isfinite(self.threshold):
            raise ConfigError(f"A goal's threshold must be a finite number, "
                              f"got {self.threshold!r}.")
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def higher_is_better(self) -> bool:
        """Whether larger values of the metric move towards the goal."""
        return self.op in (">=", ">")

    def met(self, values: Any) -> np.ndarray:
        """Where ``values`` meet the goal (NaN never does)."""
        v = np.asarray(values, dtype=np.float64)
        t = self.threshold
        with np.errstate(invalid="ignore"):
            if self.op == ">=":
                out = v >= t - SLACK
            elif self.op == ">":
                out = v > t + SLACK
            elif self.op == "<=":
                out = v <= t + SLACK
            else:
                out = v < t - SLACK
        return out & ~np.isnan(v)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


def parse_goal(goal: str | Goal, metrics: Sequence[str] | None = None) -> Goal:
    """A :class:`Goal` from text such as ``"val_accuracy>=1.0"`` (never evaluated as code).

    ``metrics`` are the valid metric names (default: the metrics a sweep records).
    """
    parsed = goal if isinstance(goal, Goal) else _parse_text(goal)
    valid = list(metrics) if metrics is not None else list(METRIC_ORDER)
    if parsed.metric not in valid:
        raise unknown_name("metric", parsed.metric, valid)
    return parsed


def _parse_text(goal: Any) -> Goal:
    if not isinstance(goal, str):
        raise ConfigError(f"A goal is text such as 'val_accuracy>=1.0', got {goal!r}.")
    m = _GOAL.match(goal)
    if m is None:
        raise ConfigError(
            f"Cannot read the goal {goal!r}: write a metric, a comparison and a number, "
            f"e.g. 'val_accuracy>=1.0' (comparisons: {', '.join(OPERATORS)})."
        )
    name, op, number = m.groups()
    if op not in OPERATORS:
        towards = "<=" if "loss" in name else ">="
        fix = {"=": towards, "==": towards, "=>": ">=", "=<": "<="}[op]
        raise ConfigError(
            f"Unknown comparison {op!r} in the goal {goal!r}: use one of "
            f"{', '.join(OPERATORS)} (e.g. '{name}{fix}{number}')."
        )
    try:
        threshold = float(number)
    except ValueError:
        raise ConfigError(f"The threshold {number!r} of the goal {goal!r} is not a "
                          "number.") from None
    if not math.isfinite(threshold):
        raise ConfigError(f"The threshold of the goal {goal!r} must be finite.")
    return Goal(name, op, threshold)


def _known(result: SweepResult) -> list[str]:
    return sorted(set(METRIC_ORDER) | set(result.metrics))


def _history(source: SweepResult | np.ndarray, goal: Goal) -> np.ndarray:
    if isinstance(source, SweepResult):
        if goal.metric not in source.history:
            raise ConfigError(
                f"The goal needs {goal.metric!r}, but this sweep recorded "
                f"{', '.join(source.metrics)}."
                + (" Give the data a validation part (prepare(..., validation_split=0.2))."
                   if goal.metric.startswith("val_") else "")
            )
        return np.asarray(source.history[goal.metric], dtype=np.float64)
    h = np.asarray(source, dtype=np.float64)
    if h.ndim < 1 or h.shape[0] == 0:
        raise ShapeError(f"A history is [epochs, ...] with at least one epoch, got shape "
                         f"{h.shape}.")
    return h


def epochs_to_target(source: SweepResult | np.ndarray, goal: str | Goal,
                     within: int | None = None, *, hold: bool = False) -> np.ndarray:
    """Epochs each run needs to meet ``goal``: 1 means after its first epoch; NaN means never.

    ``source`` is a sweep (its ``history[goal.metric]``, shape ``[epochs, seeds,
    configs]``) or any history array with epochs first; the result has the
    remaining shape. Only the first ``within`` epochs count. With ``hold`` the
    goal must also hold at every later epoch of the window that the run
    recorded (a run that diverged afterwards does not hold).
    """
    if isinstance(source, SweepResult):
        goal = parse_goal(goal, _known(source))
    elif not isinstance(goal, Goal):
        goal = _parse_text(goal)  # a bare array: any metric name will do
    h = _history(source, goal)
    if within is not None:
        if isinstance(within, bool) or not isinstance(within, int | np.integer) or within < 1:
            raise ConfigError(f"`within` must be a number of epochs >= 1, got {within!r}.")
        h = h[:within]
    met = goal.met(h)
    if hold:
        recorded = ~np.isnan(h)
        # A later epoch breaks the hold when it was recorded and missed the goal.
        broken = recorded & ~met
        later_broken = np.flip(np.logical_or.accumulate(np.flip(broken, 0), axis=0), 0)
        met = met & ~later_broken
        if isinstance(source, SweepResult):
            diverged = (source.diverged_epoch >= 0)
            met = met & ~diverged[None]
    first = np.argmax(met, axis=0).astype(np.float64) + 1.0
    return np.where(met.any(axis=0), first, np.nan)


def stability_verdict(final: Any, *, tolerance: float = 0.02, diverged: int = 0) -> str:
    """A verdict on one configuration's final metric over seeds.

    ``"stable"``: every seed within ``tolerance`` of the others (max - min);
    ``"mostly stable"``: standard deviation within ``tolerance`` (a few seeds
    off); ``"unstable"``: more spread than that; ``"diverged"``: some seed
    diverged; ``"too few seeds"``: fewer than two finished seeds.
    """
    v = np.asarray(final, dtype=np.float64)
    v = v[~np.isnan(v)]
    if diverged:
        return "diverged"
    if v.size < 2:
        return "too few seeds"
    if v.max() - v.min() <= tolerance + SLACK:
        return "stable"
    if v.std(ddof=1) <= tolerance + SLACK:
        return "mostly stable"
    return "unstable"


def _final(result: SweepResult, metric: str) -> np.ndarray:
    """Each run's last-epoch value of ``metric``: ``[seeds, configs]``."""
    h = result.history[metric]
    last = result.epochs - 1
    return np.asarray(h[last, :, np.arange(h.shape[2])].T, dtype=np.float64)


def interval(values: Any, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, std, low, high): a t-interval for the mean of ``values`` (NaN dropped)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    n = v.size
    if n == 0:
        return (np.nan, np.nan, np.nan, np.nan)
    mean = float(v.mean())
    if n == 1:
        return (mean, np.nan, np.nan, np.nan)
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return (mean, std, mean - half, mean + half)


def convergence_table(result: SweepResult, goal: str | Goal, within: int | None = None, *,
                      hold: bool = False, confidence: float = 0.95,
                      tolerance: float = 0.02) -> pd.DataFrame:
    """Per configuration, over seeds: reaching ``goal``, how fast, and how stable.

    Columns: ``config, setting, <axes>, seeds, diverged, reached, reached_fraction,
    epochs_median, epochs_min, epochs_max`` (over the seeds that reach the goal),
    then the goal metric's final value as ``final_mean, final_std,
    final_ci_low, final_ci_high`` (a ``confidence`` t-interval over finished
    seeds; clipped to [0, 1] for accuracies), ``final_min, final_max, spread``
    and the ``verdict`` of
    :func:`stability_verdict` with ``tolerance``.
    """
    goal = parse_goal(goal, _known(result))
    if not 0 < confidence < 1:
        raise ConfigError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    epochs = epochs_to_target(result, goal, within, hold=hold)
    final = _final(result, goal.metric)
    diverged = result.diverged_epoch >= 0
    summary = result.summary(confidence)
    axes = [a for a in result.spec.axes if a in summary]
    rows = []
    for c, name in enumerate(result.setting_names):
        e = epochs[:, c]
        hit = e[~np.isnan(e)]
        f = np.where(diverged[:, c], np.nan, final[:, c])
        mean, std, low, high = interval(f, confidence)
        if is_accuracy(goal.metric):  # a proportion: the interval stays within [0, 1]
            low, high = max(low, 0.0), min(high, 1.0)
        finished = f[~np.isnan(f)]
        row: dict[str, Any] = {"config": c, "setting": name}
        for a in axes:
            row[a] = summary[a].iloc[c]
        row |= {
            "seeds": e.size,
            "diverged": int(diverged[:, c].sum()),
            "reached": int(hit.size),
            "reached_fraction": hit.size / e.size,
            "epochs_median": float(np.median(hit)) if hit.size else np.nan,
            "epochs_min": float(hit.min()) if hit.size else np.nan,
            "epochs_max": float(hit.max()) if hit.size else np.nan,
            "final_mean": mean, "final_std": std, "final_ci_low": low, "final_ci_high": high,
            "final_min": float(finished.min()) if finished.size else np.nan,
            "final_max": float(finished.max()) if finished.size else np.nan,
            "spread": float(finished.max() - finished.min()) if finished.size else np.nan,
            "verdict": stability_verdict(f, tolerance=tolerance,
                                         diverged=int(diverged[:, c].sum())),
        }
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs.update({"goal": str(goal), "metric": goal.metric, "within": within,
                     "hold": hold, "confidence": confidence, "tolerance": tolerance})
    return df


__all__ = ["OPERATORS", "SLACK", "VERDICTS", "Goal", "convergence_table", "epochs_to_target",
           "interval", "parse_goal", "stability_verdict"]
