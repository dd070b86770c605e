"""The input gatekeeper: every array or table a user hands to gdlab passes here.

Each check names the input, says what was expected and what was received
(shapes, dtypes, column names), and how to fix it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab.errors import DataError, ShapeError


def _to_numpy(a: Any, name: str) -> np.ndarray:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(a, pd.DataFrame):
        bad = [str(c) for c, dt in a.dtypes.items()
               if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))]
        if bad:
            raise DataError(
                f"`{name}` has non-numeric columns: {', '.join(bad)}. Encode them as numbers "
                "first (for categories: pandas.get_dummies)."
            )
        return a.to_numpy(dtype=np.float64)
    if pd is not None and isinstance(a, pd.Series):
        if not (pd.api.types.is_numeric_dtype(a.dtype) or pd.api.types.is_bool_dtype(a.dtype)):
            raise DataError(f"`{name}` ({a.name!r}) is not numeric (dtype {a.dtype}).")
        return a.to_numpy(dtype=np.float64)
    if hasattr(a, "__array__") or isinstance(a, list | tuple):
        arr = np.asarray(a)
    else:
        raise DataError(f"`{name}` must be an array or a table, got {type(a).__name__}.")
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise DataError(
            f"`{name}` must hold numbers, got dtype {arr.dtype}. Convert it with "
            "np.asarray(..., dtype=float) or encode text labels as integers."
        )
    return arr


def as_features(x: Any, *, name: str = "x", n_features: int | None = None) -> np.ndarray:
    """A 2-D float32 feature matrix, checked for shape and finite values."""
    if x is None:
        raise DataError(f"`{name}` is required: pass a 2-D array of shape (samples, features).")
    arr = _to_numpy(x, name)
    if arr.ndim != 2:
        hint = " For one feature, use x.reshape(-1, 1)." if arr.ndim == 1 else ""
        raise ShapeError(
            f"`{name}` must be 2-D (samples, features), got shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise DataError(f"`{name}` has no rows (shape {arr.shape}).")
    if n_features is not None and arr.shape[1] != n_features:
        raise ShapeError(
            f"`{name}` has {arr.shape[1]} features (shape {arr.shape}), but the model expects "
            f"{n_features} (input shape (None, {n_features})). Pass data with {n_features} "
            "columns, or build the model for this data."
        )
    arr = arr.astype(np.float32)
    bad = ~np.isfinite(arr)
    if bad.any():
        cols = sorted({int(c) for c in np.nonzero(bad)[1]})
        raise DataError(
            f"`{name}` has {int(bad.sum())} missing or infinite values (in columns "
            f"{', '.join(map(str, cols[:10]))}). Drop or impute them first."
        )
    return arr


def as_targets(y: Any, *, name: str = "y", n_rows: int | None = None,
               x_name: str = "x") -> np.ndarray:
    """A float32 target array (1-D or 2-D), checked against the number of rows of x."""
    if y is None:
        raise DataError(f"`{name}` is required: pass one target per row of `{x_name}`.")
    arr = _to_numpy(y, name)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ShapeError(
            f"`{name}` must be 1-D (samples,) or 2-D (samples, outputs), got shape {arr.shape}."
        )
    if n_rows is not None and arr.shape[0] != n_rows:
        raise ShapeError(
            f"`{x_name}` has {n_rows} rows but `{name}` has {arr.shape[0]} (shape {arr.shape}); "
            "they must have one target per row."
        )
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise DataError(f"`{name}` has {int((~np.isfinite(arr)).sum())} missing or infinite values.")
    return arr
