"""Keras 3's early-stopping rule as pure functions over scalars or arrays.

The rule (``keras/src/callbacks/early_stopping.py`` and ``monitor_callback.py``)
runs at each epoch end from ``start_from_epoch`` on:

* ``wait += 1``;
* an *improvement* is ``current + min_delta < best`` when minimizing,
  ``current - min_delta > best`` when maximizing (the first monitored value
  always improves). It sets ``best`` and ``best_epoch``, and resets ``wait`` to
  0 only if ``current`` also improves on ``baseline`` (when one is given);
* otherwise, if ``wait >= patience`` and ``epoch > 0``, training stops.

Keras compares in float32 (``ops.less`` on Python floats); so does
:func:`is_improvement`. Every function works elementwise, on NumPy values or
on JAX arrays inside a compiled program, so one vectorized sweep can stop each
of its models on its own: the parameters may be per-model arrays, a baseline of
NaN means "no baseline", and ``update`` freezes a model once it has stopped.
The Keras callback in :mod:`gdlab.keras.callbacks` is a thin wrapper.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdlab.errors import ConfigError

__all__ = [
    "EarlyStoppingParams",
    "EarlyStoppingState",
    "early_stopping_params",
    "init",
    "is_improvement",
    "resolve_minimize",
    "update",
]

ArrayLike = Any  # a Python number, a NumPy value or a JAX array


class EarlyStoppingParams(NamedTuple):
    """The rule's settings; each field a Python scalar or a per-model array.

    ``minimize`` is the direction, ``min_delta`` is >= 0, and ``baseline`` is
    NaN when there is none.
    """

    minimize: ArrayLike = True
    min_delta: ArrayLike = 0.0
    patience: ArrayLike = 0
    baseline: ArrayLike = math.nan
    start_from_epoch: ArrayLike = 0


class EarlyStoppingState(NamedTuple):
    """Where the rule stands after some epochs (Keras's callback attributes).

    ``best`` is meaningful only where ``has_best``; ``stopped_epoch`` is 0
    until the model stops, as in Keras.
    """

    best: ArrayLike
    has_best: ArrayLike
    best_epoch: ArrayLike
    wait: ArrayLike
    stopped: ArrayLike
    stopped_epoch: ArrayLike


def _xp(*values: Any) -> Any:
    """jax.numpy when any value is a JAX array (or tracer), else NumPy."""
    leaves = jax.tree_util.tree_leaves(values)
    return jnp if any(isinstance(v, jax.Array) for v in leaves) else np


def _check_number(name: str, value: Any, *, integer: bool = False, minimum: float | None = None,
                  allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int | np.integer) if integer else isinstance(
        value, int | float | np.integer | np.floating)
    if isinstance(value, bool) or not ok_type or (not integer and math.isnan(float(value))):
        raise ConfigError(f"`{name}` of `EarlyStopping` must be {kind}, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"`{name}` of `EarlyStopping` must be {kind} >= {minimum:g}, got {value!r}.")
    return int(value) if integer else float(value)


def resolve_minimize(monitor: str, mode: str, metric_names: tuple[str, ...] = (),
                     minimized: tuple[str, ...] = ()) -> bool:
    """The direction of ``monitor``: Keras's ``mode='auto'`` rule, or ``'min'``/``'max'``.

    In auto mode a loss (``loss``, ``val_loss``) and the model's error metrics
    (``minimized``: ``mae``, ``val_mse``, ...) are minimized and its accuracy
    metrics (``metric_names``: ``accuracy``, ``val_acc``, ...) maximized, as
    Keras reads each metric's direction; any other name is an error, as in Keras.
    """
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"`mode` must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode == "min"
    name = str(monitor).removeprefix("val_")
    if name == "loss" or name in minimized:
        return True
    if name in metric_names:
        return False
    known = ", ".join((*metric_names, *minimized)) or "none"
    raise ConfigError(
        f"Cannot tell whether `monitor={monitor!r}` should be minimized or maximized: it is "
        f"neither the loss nor one of the model's metrics ({known}). "
        "Pass mode='min' or mode='max'."
    )


def early_stopping_params(mode: str = "min", min_delta: float = 0.0, patience: int = 0,
                          baseline: float | None = None,
                          start_from_epoch: int = 0) -> EarlyStoppingParams:
    """Validated :class:`EarlyStoppingParams` from Keras's arguments (``mode`` 'min' or 'max')."""
    if mode not in ("min", "max"):
        raise ConfigError(f"`mode` must be 'min' or 'max' here, got {mode!r}.")
    min_delta = abs(_check_number("min_delta", min_delta))
    patience = _check_number("patience", patience, integer=True, minimum=0)
    baseline = _check_number("baseline", baseline, allow_none=True)
    start = _check_number("start_from_epoch", start_from_epoch, integer=True, minimum=0)
    return EarlyStoppingParams(mode == "min", min_delta, patience,
                               math.nan if baseline is None else baseline, start)


def init(shape: tuple[int, ...] = (), *, xp: Any = np) -> EarlyStoppingState:
    """The state before the first epoch: no best value, nothing waited, not stopped.

    ``xp`` is ``numpy`` (``best`` in float64, holding a Python float exactly, as
    Keras's attribute does) or ``jax.numpy`` (float32, for compiled programs).
    """
    return EarlyStoppingState(
        best=xp.zeros(shape, np.float64 if xp is np else xp.float32),
        has_best=xp.zeros(shape, bool),
        best_epoch=xp.zeros(shape, xp.int32),
        wait=xp.zeros(shape, xp.int32),
        stopped=xp.zeros(shape, bool),
        stopped_epoch=xp.zeros(shape, xp.int32),
    )


def is_improvement(current: ArrayLike, reference: ArrayLike, minimize: ArrayLike,
                   min_delta: ArrayLike = 0.0) -> ArrayLike:
    """``current`` beats ``reference`` by more than ``min_delta`` in the monitored direction.

    The shifted value is computed in the inputs' precision, then both sides are
    compared in float32, as Keras does. NaN never improves on anything.
    """
    xp = _xp(current, reference, minimize, min_delta)
    minimize = xp.asarray(minimize, bool)
    delta = xp.abs(xp.asarray(min_delta))
    shifted = xp.asarray(current) + xp.where(minimize, delta, -delta)
    shifted = shifted.astype(xp.float32)
    reference = xp.asarray(reference).astype(xp.float32)
    return xp.where(minimize, shifted < reference, shifted > reference)


def update(state: EarlyStoppingState, current: ArrayLike, epoch: ArrayLike,
           params: EarlyStoppingParams,
           active: ArrayLike = True) -> tuple[EarlyStoppingState, ArrayLike]:
    """One epoch end of Keras's rule. Returns ``(new_state, improved)``.

    ``active`` is False where the monitored value is missing this epoch (Keras
    skips the epoch); models already stopped are left as they are. ``improved``
    marks where ``best`` was just set: the moment to keep a copy of the weights
    when restoring the best ones (``restore_best_weights``).
    """
    xp = _xp(state, current, epoch, params, active)
    current = xp.asarray(current)
    epoch = xp.asarray(epoch)
    counted = (xp.asarray(active, bool) & ~xp.asarray(state.stopped, bool)
               & (epoch >= xp.asarray(params.start_from_epoch)))
    wait = xp.asarray(state.wait) + 1
    has_best = xp.asarray(state.has_best, bool)
    improved = counted & (~has_best | is_improvement(current, state.best, params.minimize,
                                                     params.min_delta))
    baseline = xp.asarray(params.baseline)
    beats_baseline = xp.isnan(baseline) | is_improvement(current, baseline, params.minimize,
                                                         params.min_delta)
    wait = xp.where(improved & beats_baseline, 0, wait)
    stop = counted & ~improved & (wait >= xp.asarray(params.patience)) & (epoch > 0)
    best = xp.asarray(state.best)
    new = EarlyStoppingState(
        best=xp.where(improved, current.astype(best.dtype), best),
        has_best=has_best | improved,
        best_epoch=xp.where(improved, epoch, xp.asarray(state.best_epoch)).astype(xp.int32),
        wait=xp.where(counted, wait, xp.asarray(state.wait)).astype(xp.int32),
        stopped=xp.asarray(state.stopped, bool) | stop,
        stopped_epoch=xp.where(stop, epoch, xp.asarray(state.stopped_epoch)).astype(xp.int32),
    )
    return new, improved
