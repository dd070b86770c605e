"""Keras utilities used by course code: ``set_random_seed`` and ``to_categorical``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab.errors import DataError
from gdlab.keras import _state

__all__ = ["set_random_seed", "to_categorical"]


def set_random_seed(seed: int) -> None:
    """Make later weight draws and shuffles reproducible (and seed Python and NumPy)."""
    _state.set_seed(seed)


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer class labels ``0..num_classes-1`` (float32)."""
    arr = np.asarray(x)
    if arr.ndim > 1 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.size and (np.any(arr < 0) or np.any(arr != np.round(arr))):
        raise DataError("to_categorical needs non-negative integer labels.")
    labels = arr.astype(np.int64)
    n = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= n:
        raise DataError(f"Label {labels.max()} does not fit num_classes={n}.")
    out = np.zeros((*labels.shape, n), np.float32)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out
