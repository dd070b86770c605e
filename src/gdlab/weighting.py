"""Per-row loss weights: sample weights and class weights, checked and turned into rows.

Keras's ``fit(sample_weight=w)`` multiplies each row's loss by ``w``; its
``class_weight={class: weight}`` gives every row its class's weight (classes
read as Keras reads them: the argmax of one-hot rows, else the rounded label).
scikit-learn's ``class_weight="balanced"`` weighs class ``k`` by
``n_rows / (n_classes * count_k)``. The engine takes the resulting rows as data
(:class:`gdlab.engine.Data`), one row of weights per weighting scheme.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab.errors import ConfigError, DataError, ShapeError

__all__ = ["balanced", "check_class_weight", "class_weight_rows", "labels_of",
           "resolve_class_weight", "sample_weights"]


def sample_weights(values: Any, n_rows: int, name: str = "sample_weight") -> np.ndarray:
    """``values`` as float32 weights of shape ``(n_rows,)``: finite, non-negative, one per row.

    A column ``(n_rows, 1)`` is accepted, as Keras accepts it.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"`{name}` must hold numbers, got {type(values).__name__}.") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ShapeError(
            f"`{name}` must have one weight per row, shape ({n_rows},); got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr))
        raise DataError(f"`{name}` holds NaN or infinite values (rows {bad[:5].tolist()}).")
    if np.any(arr < 0):
        bad = np.flatnonzero(arr < 0)
        raise DataError(
            f"`{name}` holds negative weights (rows {bad[:5].tolist()}); weights must be >= 0."
        )
    return arr.astype(np.float32)


def labels_of(y: np.ndarray) -> np.ndarray:
    """Class labels of targets as Keras reads them for ``class_weight``: argmax of
    one-hot rows, else the rounded label (a 0/1 column or class indices)."""
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else y[..., 0]
    return np.round(y).astype(np.int64)


def balanced(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """scikit-learn's ``"balanced"`` class weights: ``n_rows / (n_present * count_k)``.

    ``n_present`` counts the classes that occur in ``labels``, as scikit-learn's
    ``compute_class_weight`` does with the classes of ``y``; a class that does
    not occur gets weight 1 (it weighs no row).
    """
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    total = counts.sum()
    n_present = int(present.sum())
    return {k: float(total / (n_present * counts[k])) if present[k] else 1.0
            for k in range(n_classes)}


def check_class_weight(class_weight: Mapping[Any, Any],
                       name: str = "class_weight") -> dict[int, float]:
    """``{class: weight}`` with integer class keys and finite weights >= 0."""
    out: dict[int, float] = {}
    for key, value in class_weight.items():
        k = _class_key(key, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                np.isfinite(value) and value >= 0):
            raise ConfigError(
                f"`{name}` weights must be finite numbers >= 0; class {key!r} has {value!r}.")
        out[k] = float(value)
    return out


def resolve_class_weight(class_weight: Any, labels: np.ndarray, n_classes: int,
                         name: str = "class_weight") -> dict[int, float] | None:
    """A class weight setting (None, ``"balanced"`` or ``{class: weight}``) as a checked dict.

    Classes are ``0..n_classes - 1``; "balanced" is computed from ``labels``.
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ConfigError(
                f"`{name}` must be None, 'balanced' or a dict {{class: weight}}, "
                f"got {class_weight!r}.")
        return balanced(labels, n_classes)
    if isinstance(class_weight, tuple):  # a spec's sorted (class, weight) pairs
        class_weight = dict(class_weight)
    if not isinstance(class_weight, Mapping):
        raise ConfigError(
            f"`{name}` must be None, 'balanced' or a dict {{class: weight}}, got "
            f"{type(class_weight).__name__}.")
    out = check_class_weight(class_weight, name)
    for k in out:
        if not 0 <= k < n_classes:
            raise ConfigError(
                f"`{name}` names class {k}, but the classes are 0..{n_classes - 1} "
                "(class indices, as the targets' labels or one-hot columns).")
    return out


def _class_key(key: Any, name: str) -> int:
    if isinstance(key, bool):
        return int(key)
    if isinstance(key, numbers.Integral):
        return int(key)
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():  # TOML keys are strings
        return int(key)
    if isinstance(key, numbers.Real) and float(key).is_integer():
        return int(key)
    raise ConfigError(f"`{name}` keys must be class indices (integers), got {key!r}.")


def class_weight_rows(class_weight: Mapping[int, float], labels: np.ndarray) -> np.ndarray:
    """Each row's class weight (1 for a class the mapping leaves out), float32."""
    labels = np.asarray(labels, np.int64)
    table = np.ones(max(int(labels.max(initial=0)) + 1, max(class_weight, default=0) + 1),
                    np.float64)
    for k, v in class_weight.items():
        table[k] = v
    return table[labels].astype(np.float32)
