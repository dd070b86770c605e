"""Datasets: the course's data, 2-D teaching sets and any CSV or Parquet file.

Every loader returns a :class:`Dataset`: float32 features, integer labels
``0..k-1`` (or float32 targets for regression), names, the task and where the
data came from. Tables pass one gatekeeper (:func:`from_frame`) that says what
is wrong with them and how to fix it.

The banknote data is downloaded once into the user's cache directory and
verified by a checksum of its parsed numbers; the wine data is scikit-learn's
offline copy of UCI wine.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gdlab.artifacts import atomic_write
from gdlab.errors import ConfigError, DataError, ShapeError, closest, unknown_name

TASKS = ("binary", "multiclass", "regression")

# A numeric target with at most this many distinct integral values is a class
# label; more distinct values (or any fraction) make it a regression target.
MAX_INTEGER_CLASSES = 20

# ---------------------------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features and targets with their names, task and source.

    ``y`` holds class indices ``0..k-1`` (int64) for classification, indexing
    ``class_names``, and float32 values for regression (``class_names`` None).
    ``w`` holds per-row sample weights (float32, finite, >= 0) read from the
    column ``weight_column``, or None when rows are unweighted.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    task: str
    source: str
    target: str = "class"
    w: np.ndarray | None = None
    weight_column: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise unknown_name("task", self.task, TASKS)
        if self.w is not None and (not isinstance(self.w, np.ndarray) or self.w.dtype !=
                                   np.float32 or self.w.shape != (self.x.shape[0],)):
            raise ShapeError(
                f"Dataset {self.name!r}: `w` (sample weights) must be float32 with one value "
                f"per row of `x` ({self.x.shape[0]}), got {_describe(self.w)}."
            )
        if not isinstance(self.x, np.ndarray) or self.x.dtype != np.float32 or self.x.ndim != 2:
            raise ShapeError(
                f"Dataset {self.name!r}: `x` must be a 2-D float32 array, got "
                f"{_describe(self.x)}. Build datasets with from_frame or from_arrays."
            )
        if not isinstance(self.y, np.ndarray) or self.y.shape != (self.x.shape[0],):
            raise ShapeError(
                f"Dataset {self.name!r}: `y` must be 1-D with one value per row of `x` "
                f"({self.x.shape[0]}), got {_describe(self.y)}."
            )
        if len(self.feature_names) != self.x.shape[1]:
            raise ShapeError(
                f"Dataset {self.name!r}: {len(self.feature_names)} feature names for "
                f"{self.x.shape[1]} columns of `x`."
            )
        if self.task == "regression":
            if self.class_names is not None or self.y.dtype != np.float32:
                raise ConfigError(
                    f"Dataset {self.name!r}: a regression target is float32 with "
                    f"class_names=None, got dtype {self.y.dtype} and class_names "
                    f"{self.class_names!r}."
                )
            return
        if self.class_names is None or self.y.dtype != np.int64:
            raise ConfigError(
                f"Dataset {self.name!r}: a {self.task} target is int64 class indices with "
                f"class_names, got dtype {self.y.dtype} and class_names {self.class_names!r}."
            )
        k = len(self.class_names)
        if (self.task == "binary" and k != 2) or k < 2:
            raise DataError(
                f"Dataset {self.name!r}: task {self.task!r} needs "
                f"{'exactly 2' if self.task == 'binary' else 'at least 2'} classes, got {k} "
                f"({', '.join(self.class_names)})."
            )
        if self.y.size and (self.y.min() < 0 or self.y.max() >= k):
            raise DataError(
                f"Dataset {self.name!r}: labels must lie in 0..{k - 1} (one per class name), "
                f"got {int(self.y.min())}..{int(self.y.max())}."
            )

    @property
    def n_rows(self) -> int:
        """Number of rows (examples)."""
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.x.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return 0 if self.class_names is None else len(self.class_names)

    def class_counts(self) -> dict[str, int]:
        """Rows per class, in class order (classes without rows count 0)."""
        names = self._require_classes("class_counts")
        counts = np.bincount(self.y, minlength=len(names))
        return {name: int(c) for name, c in zip(names, counts, strict=True)}

    def one_hot(self) -> np.ndarray:
        """The labels one-hot encoded, float32 (rows, n_classes), for categorical losses."""
        self._require_classes("one_hot")
        return one_hot(self.y, self.n_classes)

    def to_frame(self, labels: bool = True) -> pd.DataFrame:
        """The data as a table: the features, then the target column.

        With ``labels`` the target holds the class names (an ordered categorical),
        otherwise the class indices.
        """
        df = pd.DataFrame(self.x, columns=list(self.feature_names))
        if self.class_names is not None and labels:
            target = pd.Categorical.from_codes(self.y, categories=list(self.class_names))
        else:
            target = self.y
        df[self.target] = target
        return df

    def _require_classes(self, what: str) -> tuple[str, ...]:
        if self.class_names is None:
            raise DataError(
                f"{what}() needs a classification target, but {self.name!r} is a regression "
                f"dataset (target {self.target!r})."
            )
        return self.class_names

    def __repr__(self) -> str:
        kind = (f"{self.n_classes} classes" if self.class_names is not None else "regression")
        weights = "" if self.w is None else f", sample_weight={self.weight_column!r}"
        return (f"Dataset({self.name!r}, {self.n_rows} rows, {self.n_features} features, "
                f"{self.task}, {kind}, target={self.target!r}{weights})")


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices ``0..n_classes-1`` as float32 one-hot rows."""
    y = np.asarray(y)
    if y.ndim != 1 or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ShapeError(
            f"one_hot expects 1-D class indices in 0..{n_classes - 1}, got {_describe(y)}."
        )
    return np.eye(n_classes, dtype=np.float32)[y.astype(np.int64)]


def _describe(a: Any) -> str:
    if isinstance(a, np.ndarray):
        return f"shape {a.shape} dtype {a.dtype}"
    return type(a).__name__


def _freeze(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


# ---------------------------------------------------------------- the table gatekeeper

MISSING = ("error", "drop")
CATEGORICAL = ("error", "onehot")


def _quote(names: Iterable[object]) -> str:
    return ", ".join(repr(str(n)) for n in names)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)


def _column_error(kind: str, name: str, columns: Sequence[str], where: str) -> DataError:
    hint = closest(name, columns)
    if hint is None:  # case slips are the usual mistake; difflib misses short ones
        hint = next((c for c in columns if c.lower() == name.lower()), None)
    did_you_mean = f" Did you mean {hint!r}?" if hint else ""
    return DataError(
        f"{kind} column {name!r} is not in {where}.{did_you_mean} "
        f"Its columns are: {_quote(columns)}."
    )


_TARGET_GUESSES = ("class", "target", "label", "y")


def _guess_target(columns: Sequence[str], where: str) -> str:
    found = [c for c in columns if c.lower() in _TARGET_GUESSES]
    if len(found) == 1:
        return found[0]
    raise DataError(
        f"Which column of {where} is the target? Pass target=... (CLI: --target COL); "
        f"its columns are: {_quote(columns)}."
    )


def from_frame(df: pd.DataFrame, target: str | None = None, *, name: str = "table",
               source: str = "DataFrame", features: Sequence[str] | None = None,
               task: str | None = None, missing: str = "error",
               categorical: str = "error", sample_weight: str | None = None) -> Dataset:
    """A :class:`Dataset` from a table with a named target column.

    Args:
      df: the table.
      target: the target column (default: the one column named class, target,
        label or y, any case).
      features: the feature columns (default: every other column).
      task: "binary", "multiclass" or "regression"; inferred when None: a
        non-numeric target, or an integral one with at most 20 distinct values,
        is a class label; other numbers are a regression target.
      missing: "error" (default) or "drop" rows with missing values.
      categorical: "error" (default) or "onehot" to encode non-numeric features.
      sample_weight: a column of per-row sample weights (numbers >= 0), taken out
        of the features; Keras's ``fit(sample_weight=...)`` for every model.
    """
    return _from_frame(df, target, name=name, source=source, where=name, features=features,
                       task=task, missing=missing, categorical=categorical,
                       sample_weight=sample_weight)


def _from_frame(df: pd.DataFrame, target: str | None, *, name: str, source: str, where: str,
                features: Sequence[str] | None, task: str | None, missing: str,
                categorical: str, sample_weight: str | None = None) -> Dataset:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"from_frame expects a pandas DataFrame, got {type(df).__name__}.")
    if missing not in MISSING:
        raise unknown_name("missing-value option", missing, MISSING)
    if categorical not in CATEGORICAL:
        raise unknown_name("categorical option", categorical, CATEGORICAL)
    if task is not None and task not in TASKS:
        raise unknown_name("task", task, TASKS)
    df = df.rename(columns=str)
    columns = list(df.columns)
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise DataError(f"{where} has duplicate column names: {_quote(dup)}. Rename them.")
    if target is None:
        target = _guess_target(columns, where)
    if target not in columns:
        raise _column_error("Target", target, columns, where)
    weight = None if sample_weight is None else str(sample_weight)
    if weight is not None:
        if weight not in columns:
            raise _column_error("Sample-weight", weight, columns, where)
        if weight == target:
            raise DataError(f"The target {target!r} cannot also be the sample-weight column "
                            f"of {where}.")
    if features is None:
        features = [c for c in columns if c not in (target, weight)]
    else:
        features = [str(f) for f in features]
        for f in features:
            if f not in columns:
                raise _column_error("Feature", f, columns, where)
        if target in features:
            raise DataError(f"The target {target!r} cannot also be a feature of {where}.")
        if weight in features:
            raise DataError(f"The sample-weight column {weight!r} cannot also be a feature of "
                            f"{where}.")
    if not features:
        raise DataError(f"{where} has no feature columns besides the target {target!r}.")
    df = df[[*features, target, *([weight] if weight is not None else [])]]
    if len(df) == 0:
        raise DataError(f"{where} has no rows.")
    if weight is not None:
        _check_weight_column(df[weight], weight, where, missing)

    nan = df.isna()
    if nan.to_numpy().any():
        per_column = nan.sum()
        per_column = per_column[per_column > 0]
        rows = int(nan.any(axis=1).sum())
        if missing == "error":
            counts = ", ".join(f"{int(n)} in {c!r}" for c, n in per_column.items())
            raise DataError(
                f"{where} has missing values: {counts} ({rows} of {len(df)} rows). Pass "
                f"missing='drop' (CLI: --drop-missing) to drop those rows, or impute them first."
            )
        df = df.loc[~nan.any(axis=1)]
        if len(df) == 0:
            raise DataError(f"Every row of {where} has a missing value; nothing is left to use.")

    x_frame = df[features]
    text = [c for c in features if not _is_numeric(x_frame[c])]
    if text:
        if categorical == "error":
            details = "; ".join(
                f"{c!r} ({x_frame[c].dtype}, e.g. {_quote(x_frame[c].drop_duplicates()[:3])})"
                for c in text)
            raise DataError(
                f"Feature columns of {where} are not numeric: {details}. Encode them as numbers, "
                f"or pass categorical='onehot' (CLI: --one-hot) to one-hot encode them."
            )
        x_frame = pd.get_dummies(x_frame, columns=text, prefix_sep="=", dtype=np.float32)
    x64 = x_frame.to_numpy(dtype=np.float64)
    inf = np.isinf(x64)
    if inf.any():
        counts = ", ".join(f"{int(n)} in {c!r}" for c, n in
                           zip(x_frame.columns, inf.sum(axis=0), strict=True) if n)
        raise DataError(
            f"{where} has infinite feature values: {counts}. Replace them (for example "
            f"df.replace([np.inf, -np.inf], np.nan) with missing='drop') before loading."
        )
    with np.errstate(over="ignore"):  # reported below, by column
        x = x64.astype(np.float32)
    if not np.isfinite(x).all():
        cols = [c for c, ok in zip(x_frame.columns, np.isfinite(x).all(axis=0), strict=True)
                if not ok]
        raise DataError(
            f"{where} has feature values beyond float32's range (about 3.4e38) in "
            f"{_quote(cols)}. Rescale those columns before loading."
        )
    y, class_names, task = _encode_target(df[target], task, target, where)
    w = None
    if weight is not None:
        w = df[weight].to_numpy(dtype=np.float64).astype(np.float32)
        if not w.any():
            raise DataError(f"Every sample weight in column {weight!r} of {where} is 0, so "
                            "no row counts in the loss.")
        _freeze(w)
    _freeze(x, y)
    return Dataset(name=name, x=x, y=y, feature_names=tuple(map(str, x_frame.columns)),
                   class_names=class_names, task=task, source=source, target=target,
                   w=w, weight_column=weight)


def _rows(mask: np.ndarray, index: pd.Index) -> str:
    """The first few rows where ``mask`` holds, by the table's row labels."""
    rows = [str(r) for r in index[mask][:5]]
    more = int(mask.sum()) - len(rows)
    return ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def _check_weight_column(s: pd.Series, name: str, where: str, missing: str) -> None:
    """Sample weights must be numbers, finite and >= 0; missing ones follow ``missing``."""
    what = f"Sample-weight column {name!r} of {where}"
    if not _is_numeric(s):
        raise DataError(f"{what} is not numeric ({s.dtype}, e.g. "
                        f"{_quote(s.dropna().drop_duplicates()[:3])}); weights are numbers "
                        ">= 0.")
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    nan = np.isnan(values)
    if nan.any() and missing == "error":
        raise DataError(
            f"{what} has {int(nan.sum())} missing values (rows {_rows(nan, s.index)}). Give "
            f"every row a weight, or pass missing='drop' (CLI: --drop-missing) to drop those "
            f"rows."
        )
    with np.errstate(invalid="ignore"):
        negative, infinite = values < 0, np.isinf(values)
    if infinite.any():
        raise DataError(f"{what} has {int(infinite.sum())} infinite values (rows "
                        f"{_rows(infinite, s.index)}); weights must be finite.")
    if negative.any():
        raise DataError(f"{what} has {int(negative.sum())} negative weights (rows "
                        f"{_rows(negative, s.index)}); weights must be >= 0.")
    if np.nanmax(values, initial=0.0) > np.finfo(np.float32).max:
        raise DataError(f"{what} has weights beyond float32's range (about 3.4e38); "
                        "rescale them.")


def _encode_target(s: pd.Series, task: str | None, target: str,
                   where: str) -> tuple[np.ndarray, tuple[str, ...] | None, str]:
    numeric = _is_numeric(s) and not pd.api.types.is_bool_dtype(s.dtype)
    if numeric:
        values = s.to_numpy(dtype=np.float64)
        if np.isinf(values).any():
            raise DataError(f"Target {target!r} of {where} has {int(np.isinf(values).sum())} "
                            "infinite values.")
        uniques = np.unique(values)
        integral = bool(np.all(uniques == np.round(uniques)))
        if task is None:
            task = ("regression" if not integral or uniques.size > MAX_INTEGER_CLASSES
                    else "binary" if uniques.size <= 2 else "multiclass")
        if task == "regression":
            return values.astype(np.float32), None, task
        names = tuple(str(int(u)) if integral else repr(float(u)) for u in uniques)
        codes = np.searchsorted(uniques, values)
    else:
        if task == "regression":
            raise DataError(
                f"Target {target!r} of {where} is not numeric ({s.dtype}, e.g. "
                f"{_quote(s.drop_duplicates()[:3])}), so it cannot be a regression target."
            )
        labels = s.astype(str).to_numpy()
        uniques, codes = np.unique(labels, return_inverse=True)
        names = tuple(str(u) for u in uniques)
        if task is None:
            task = "binary" if len(names) <= 2 else "multiclass"
    if len(names) < 2:
        raise DataError(
            f"Target {target!r} of {where} has a single class ({names[0]!r} in all "
            f"{len(s)} rows); classification needs at least 2 classes."
        )
    if task == "binary" and len(names) != 2:
        raise DataError(
            f"task='binary' needs exactly 2 classes, but target {target!r} of {where} has "
            f"{len(names)}: {_quote(names[:10])}. Use task='multiclass'."
        )
    return codes.astype(np.int64), names, task


def from_arrays(x: Any, y: Any, *, name: str = "arrays", feature_names: Sequence[str] | None = None,
                target: str = "y", task: str | None = None, source: str = "arrays",
                sample_weight: Any = None) -> Dataset:
    """A :class:`Dataset` from a feature matrix and a target vector (checked like a table).

    ``sample_weight`` (one number >= 0 per row) weighs the rows, as a table's
    weight column does (named ``sample_weight``).
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ShapeError(f"`x` must be 2-D (samples, features), got shape {x.shape}.")
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ShapeError(f"`y` must be 1-D with one value per row of `x` ({x.shape[0]}), "
                         f"got shape {y.shape}.")
    if feature_names is None:
        feature_names = [f"x{i + 1}" for i in range(x.shape[1])]
    if len(feature_names) != x.shape[1]:
        raise ShapeError(f"{len(feature_names)} feature names for {x.shape[1]} columns of `x`.")
    df = pd.DataFrame(x, columns=[str(f) for f in feature_names])
    if target in df.columns:
        raise DataError(f"Target name {target!r} is also a feature name; choose another.")
    df[target] = y
    weight = None
    if sample_weight is not None:
        weight = "sample_weight"
        if weight in df.columns:
            raise DataError(f"{weight!r} is also a feature or target name; choose another.")
        w = np.asarray(sample_weight)
        if w.shape != (x.shape[0],):
            raise ShapeError(f"`sample_weight` must be 1-D with one value per row of `x` "
                             f"({x.shape[0]}), got shape {w.shape}.")
        df[weight] = w
    return from_frame(df, target, name=name, source=source, task=task, sample_weight=weight)


# ---------------------------------------------------------------------------- files

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _file_name(path: Path) -> str:
    name = path.name
    for suffix in (*CSV_SUFFIXES, *PARQUET_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _check_file(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such data file: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; pass a .csv or .parquet file.")
    return path


def load_csv(path: str | os.PathLike[str], target: str | None = None, *, sep: str = ",",
             name: str | None = None, **kw: Any) -> Dataset:
    """A CSV file (with a header row) as a :class:`Dataset`; ``kw`` go to :func:`from_frame`."""
    path = _check_file(path)
    try:
        df = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty: a CSV file needs a header row and data rows."
                        ) from None
    except pd.errors.ParserError as e:
        detail = str(e).strip().removeprefix("Error tokenizing data. C error: ")
        raise DataError(f"Could not read {path.name} as CSV: {detail} (rows must all have as "
                        "many fields as the header).") from None
    except UnicodeDecodeError as e:
        raise DataError(f"Could not read {path.name} as CSV: not UTF-8 text ({e.reason}).") from None
    if len(df.columns) == 1 and sep == ",":
        # One column whose name holds another separator: the file uses that separator.
        for other in (";", "\t", "|"):
            if other in str(df.columns[0]):
                shown = "\\t" if other == "\t" else other
                raise DataError(
                    f"{path.name} seems to be separated by {shown!r}, not commas (its header "
                    f"is {str(df.columns[0])!r}). Pass sep={shown!r} (CLI: save it with commas)."
                )
    return _load_frame(df, path, target, name, kw)


def load_parquet(path: str | os.PathLike[str], target: str | None = None, *,
                 name: str | None = None, **kw: Any) -> Dataset:
    """A Parquet file as a :class:`Dataset`; ``kw`` go to :func:`from_frame`."""
    import pyarrow

    path = _check_file(path)
    try:
        df = pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError) as e:
        raise DataError(f"Could not read {path.name} as Parquet: {e}") from e
    return _load_frame(df, path, target, name, kw)


def _load_frame(df: pd.DataFrame, path: Path, target: str | None, name: str | None,
                kw: dict[str, Any]) -> Dataset:
    options = {"features": None, "task": None, "missing": "error", "categorical": "error",
               "sample_weight": None}
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise ConfigError(f"Unknown option {unknown[0]!r} for reading {path.name}; valid "
                          f"options: {', '.join(options)}.")
    options.update(kw)
    return _from_frame(df, target, name=name or _file_name(path), source=str(path),
                       where=path.name, **options)


# ---------------------------------------------------------------------------- banknotes

BANKNOTES_URLS = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/00267/"
    "data_banknote_authentication.txt",
    "https://www.openml.org/data/get_csv/1586223/php50jXam.csv",
)
BANKNOTES_FEATURES = ("variance", "skewness", "curtosis", "entropy")
BANKNOTES_SHAPE = (1372, 5)
# sha256 of the (1372, 5) float64 array [features, class 0/1] rounded to 10
# decimals, little-endian, row-major: see banknotes_checksum. Computed once
# from the course's copy, which holds UCI's numbers. Its values have at most 10
# decimals (the smallest is -9.2828e-06), so the rounding leaves them as they
# are and only absorbs a parser's last-digit noise; a copy written with fewer
# digits has other numbers and fails.
BANKNOTES_SHA256 = "87d26d560b7ebb9c7327612d1f66962b8e7d08e34c2ac91f85d507974cecae26"
CHECKSUM_DECIMALS = 10
MAX_DOWNLOAD_BYTES = 16 * 2**20

_OFFLINE = (
    "Could not get the banknote data, and it is not cached yet (cache: {cache}). {tried} "
    "To use a local copy instead, pass its path: gdlab.datasets.banknotes(path='banknotes.csv') "
    "or load('banknotes.csv', target='class') (CLI: gdlab explore banknotes.csv --target "
    "class); or set GDLAB_BANKNOTES_URL to a mirror (a file:// URL works)."
)


def cache_dir() -> Path:
    """gdlab's dataset cache: ``$GDLAB_CACHE_DIR/datasets``, else the user cache dir's."""
    root = os.environ.get("GDLAB_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("gdlab")
    return Path(root) / "datasets"


def _canonical(values: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(values, dtype=np.float64), CHECKSUM_DECIMALS)


def banknotes_checksum(values: np.ndarray) -> str:
    """The checksum of parsed banknote values (rows of 4 features and the 0/1 class)."""
    return hashlib.sha256(np.ascontiguousarray(_canonical(values), dtype="<f8").tobytes()
                          ).hexdigest()


def _parse_banknotes(raw: bytes, where: str) -> np.ndarray:
    """UCI's headerless text, OpenML's CSV (class 1/2) or the course's CSV, as (n, 5)."""
    text = raw.decode("utf-8-sig", errors="replace")
    first = text.lstrip().split("\n", 1)[0].split(",")[0].strip().strip("'\"")
    try:
        float(first)
        header: int | None = None
    except ValueError:
        header = 0
    try:
        df = pd.read_csv(io.StringIO(text), header=header, skipinitialspace=True)
        values = df.to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"{where} is not the banknote data: it is not a table of numbers "
                        f"({e}).") from e
    if values.ndim != 2 or values.shape[1] != 5:
        raise DataError(f"{where} is not the banknote data: expected 5 columns (4 features and "
                        f"the class), got shape {values.shape}.")
    classes = set(np.unique(values[:, 4]).tolist())
    if classes <= {1.0, 2.0} and not classes <= {0.0, 1.0}:
        values[:, 4] -= 1.0  # OpenML codes UCI's classes 0/1 as 1/2
    elif not classes <= {0.0, 1.0}:
        raise DataError(f"{where} is not the banknote data: its class column holds "
                        f"{sorted(classes)[:5]}, expected 0/1 (or OpenML's 1/2).")
    # every verified copy yields the same bits, whatever parsed it
    return _canonical(values)


def _verify_banknotes(values: np.ndarray, where: str) -> None:
    got = banknotes_checksum(values)
    if got != BANKNOTES_SHA256:
        raise DataError(
            f"The data from {where} differs from the UCI banknote data ({values.shape[0]} rows, "
            f"expected {BANKNOTES_SHAPE[0]}; checksum {got[:12]}..., expected "
            f"{BANKNOTES_SHA256[:12]}...). It was not used. If it is your own variant, load it "
            f"as a plain file: load_csv(path, target=...)."
        )


def _banknotes_dataset(values: np.ndarray, source: str) -> Dataset:
    x = values[:, :4].astype(np.float32)
    y = values[:, 4].astype(np.int64)
    _freeze(x, y)
    return Dataset(name="banknotes", x=x, y=y, feature_names=BANKNOTES_FEATURES,
                   class_names=("0", "1"), task="binary", source=source, target="class")


def _download(url: str, timeout: float) -> bytes:
    from gdlab import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"gdlab/{__version__}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        data = response.read(MAX_DOWNLOAD_BYTES + 1)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise DataError(f"{url} sent more than {MAX_DOWNLOAD_BYTES} bytes; that is not the "
                        "banknote data.")
    return data


def _banknotes_urls(url: str | Sequence[str] | None) -> list[str]:
    if url is None:
        env = os.environ.get("GDLAB_BANKNOTES_URL", "").split()
        return env or list(BANKNOTES_URLS)
    return [url] if isinstance(url, str) else list(url)


def banknotes(path: str | os.PathLike[str] | None = None, *,
              url: str | Sequence[str] | None = None, timeout: float = 30.0) -> Dataset:
    """The UCI banknote authentication data (1372 rows, 4 features, class 0/1).

    Read from ``path`` when given (UCI's text file, OpenML's CSV or the course's
    CSV); otherwise from the cache, downloading it on first use from UCI, then
    OpenML's copy (override with ``url`` or ``$GDLAB_BANKNOTES_URL``, several
    separated by spaces). Every copy is verified by :func:`banknotes_checksum`;
    only verified data is cached (``$GDLAB_CACHE_DIR`` moves the cache).
    """
    if path is not None:
        path = _check_file(path)
        values = _parse_banknotes(path.read_bytes(), path.name)
        _verify_banknotes(values, path.name)
        return _banknotes_dataset(values, str(path))

    cached = cache_dir() / "banknotes.csv"
    if cached.exists():
        try:
            values = _parse_banknotes(cached.read_bytes(), str(cached))
            _verify_banknotes(values, str(cached))
            return _banknotes_dataset(values, str(cached))
        except DataError:
            pass  # a damaged cache file: fetch a fresh copy over it

    failures = []
    for u in _banknotes_urls(url):
        try:
            values = _parse_banknotes(_download(u, timeout), u)
            _verify_banknotes(values, u)
        except (OSError, ValueError, http.client.HTTPException) as e:
            # URLError/HTTPError/timeouts are OSErrors, bad URLs and DataError ValueErrors
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            failures.append(f"{u}: {reason}")
            continue
        table = pd.DataFrame(values, columns=[*BANKNOTES_FEATURES, "class"])
        table["class"] = table["class"].astype(np.int64)
        try:
            atomic_write(cached, table.to_csv(index=False).encode())
        except OSError as e:
            raise ConfigError(f"Could not write the banknote cache {cached}: {e}. Set "
                              "GDLAB_CACHE_DIR to a writable folder.") from e
        return _banknotes_dataset(values, u)
    tried = "Tried " + "; ".join(failures) + "." if failures else "No URL to try."
    raise DataError(_OFFLINE.format(cache=cached, tried=tried))


# ---------------------------------------------------------------------------- wine

# The course's wines.csv names (same order as scikit-learn's copy); classes 1..3.
WINE_COURSE_FEATURES = (
    "Alcohol", "Malic_acid", "Ash", "Alcalinity_of_ash", "Magnesium", "Total_phenols",
    "Flavanoids", "Nonflavanoid_phenols", "Proanthocyanins", "Color_intensity", "Hue",
    "OD280-OD315_of_diluted_wines", "Proline",
)


def wine(course_names: bool = True) -> Dataset:
    """The UCI wine data (178 rows, 13 features, 3 classes) from scikit-learn's offline copy.

    With ``course_names`` (default) the features, target and classes are named as in
    the course's ``wines.csv`` (``Alcohol``, ..., target ``Class``, classes "1".."3");
    otherwise as scikit-learn names them. Labels ``y`` are 0..2 either way.
    """
    from sklearn.datasets import load_wine

    bunch = load_wine()
    x = np.asarray(bunch.data, dtype=np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    _freeze(x, y)
    if course_names:
        features, classes, target = WINE_COURSE_FEATURES, ("1", "2", "3"), "Class"
    else:
        features = tuple(bunch.feature_names)
        classes, target = tuple(str(c) for c in bunch.target_names), "target"
    return Dataset(name="wine", x=x, y=y, feature_names=features, class_names=classes,
                   task="multiclass", source="scikit-learn (sklearn.datasets.load_wine)",
                   target=target)


# ----------------------------------------------------------------- 2-D teaching sets


def _check_2d_args(n_samples: int, noise: float, min_samples: int = 2) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or \
            n_samples < min_samples:
        raise ConfigError(f"`n_samples` must be an integer >= {min_samples}, got {n_samples!r}.")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0 or \
            not math.isfinite(noise):
        raise ConfigError(f"`noise` must be a finite number >= 0, got {noise!r}.")


def _teaching_set(name: str, x: np.ndarray, y: np.ndarray, n_classes: int,
                  source: str) -> Dataset:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    _freeze(x, y)
    return Dataset(name=name, x=x, y=y, feature_names=("x1", "x2"),
                   class_names=tuple(str(k) for k in range(n_classes)),
                   task="binary" if n_classes == 2 else "multiclass", source=source)


def moons(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles (scikit-learn's make_moons)."""
    from sklearn.datasets import make_moons

    _check_2d_args(n_samples, noise)
    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return _teaching_set("moons", x, y, 2,
                         f"gdlab.datasets.moons(n_samples={n_samples}, noise={noise}, seed={seed})")


def circles(n_samples: int = 200, noise: float = 0.05, seed: int = 0,
            factor: float = 0.5) -> Dataset:
    """A circle inside another (scikit-learn's make_circles); class 1 is the inner one."""
    from sklearn.datasets import make_circles

    _check_2d_args(n_samples, noise)
    if not 0 < factor < 1:
        raise ConfigError(f"`factor` (inner radius / outer radius) must be in (0, 1), "
                          f"got {factor!r}.")
    x, y = make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=seed)
    return _teaching_set(
        "circles", x, y, 2,
        f"gdlab.datasets.circles(n_samples={n_samples}, noise={noise}, seed={seed}, "
        f"factor={factor})")


def xor(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Points in the square [-1, 1]^2, class 1 where x1 * x2 >= 0 (TensorFlow Playground's XOR).

    As in the Playground, points keep a small margin from the axes; Gaussian noise
    of standard deviation ``noise`` moves them after labelling.
    """
    _check_2d_args(n_samples, noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    x += np.where(x > 0, 0.06, -0.06)  # the Playground's padding away from the axes
    y = (x[:, 0] * x[:, 1] >= 0).astype(np.int64)
    x += rng.normal(scale=noise, size=x.shape)
    return _teaching_set("xor", x, y, 2,
                         f"gdlab.datasets.xor(n_samples={n_samples}, noise={noise}, seed={seed})")


def spiral(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaved spirals of radius 1 (TensorFlow Playground's spiral)."""
    _check_2d_args(n_samples, noise)
    rng = np.random.default_rng(seed)
    per_class = [n_samples // 2 + n_samples % 2, n_samples // 2]
    xs, ys = [], []
    for k, n in enumerate(per_class):
        r = np.arange(n) / max(n, 1)
        t = 1.75 * r * 2 * np.pi + k * np.pi
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n, k))
    x = np.concatenate(xs) + rng.normal(scale=noise, size=(n_samples, 2))
    y = np.concatenate(ys)
    order = rng.permutation(n_samples)  # mixed classes, like the other generators
    return _teaching_set("spiral", x[order], y[order], 2,
                         f"gdlab.datasets.spiral(n_samples={n_samples}, noise={noise}, "
                         f"seed={seed})")


def blobs(n_samples: int = 200, noise: float = 0.5, seed: int = 0, centers: int = 2) -> Dataset:
    """Gaussian blobs of standard deviation ``noise`` around ``centers`` points on a circle
    of radius 2 (scikit-learn's make_blobs; the Playground's "gaussian" set with 2)."""
    from sklearn.datasets import make_blobs

    if isinstance(centers, bool) or not isinstance(centers, int) or centers < 2:
        raise ConfigError(f"`centers` must be an integer >= 2, got {centers!r}.")
    _check_2d_args(n_samples, noise, min_samples=centers)
    angles = 2 * np.pi * np.arange(centers) / centers + np.pi / 4
    points = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    x, y = make_blobs(n_samples=n_samples, centers=points, cluster_std=noise,
                      random_state=seed)
    return _teaching_set("blobs", x, y, centers,
                         f"gdlab.datasets.blobs(n_samples={n_samples}, noise={noise}, "
                         f"seed={seed}, centers={centers})")


# ---------------------------------------------------------------------------- by name

BUILTIN: dict[str, Callable[..., Dataset]] = {
    "banknotes": banknotes,
    "wine": wine,
    "moons": moons,
    "circles": circles,
    "xor": xor,
    "spiral": spiral,
    "blobs": blobs,
}


def is_file_reference(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether ``load`` reads ``name_or_path`` as a file rather than a built-in name."""
    text = os.fspath(name_or_path)
    if text in BUILTIN and not isinstance(name_or_path, os.PathLike):
        return False
    lower = text.lower()
    return (isinstance(name_or_path, os.PathLike) or os.sep in text or "/" in text
            or lower.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES) or Path(text).exists())


def load(name_or_path: str | os.PathLike[str], target: str | None = None,
         **kw: Any) -> Dataset:
    """A built-in dataset by name (see :data:`BUILTIN`) or a .csv / .parquet file.

    ``kw`` go to the built-in's function, or to :func:`from_frame` for files
    (``task``, ``missing``, ``categorical``, ``features``, ``sample_weight``: the
    column of per-row weights).
    """
    if not is_file_reference(name_or_path):
        name = os.fspath(name_or_path)
        if name not in BUILTIN:
            error = unknown_name("dataset", name, BUILTIN)
            raise ConfigError(f"{error} Or pass the path of a .csv or .parquet file.")
        import inspect

        valid = inspect.signature(BUILTIN[name]).parameters
        if kw.get("sample_weight") is not None:
            raise ConfigError(f"The {name} dataset has no sample-weight column; "
                              "sample_weight names a column of a .csv or .parquet file.")
        kw = {k: v for k, v in kw.items() if k != "sample_weight"}
        unknown = sorted(set(kw) - set(valid))
        if unknown:
            raise ConfigError(f"Unknown option {unknown[0]!r} for the {name} dataset; valid "
                              f"options: {', '.join(valid) or 'none'}.")
        dataset = BUILTIN[name](**kw)
        if target is not None and target != dataset.target:
            raise ConfigError(f"The {name} dataset's target is {dataset.target!r}; "
                              f"got target={target!r}. Leave target out for built-in datasets.")
        return dataset
    path = Path(name_or_path)
    lower = path.name.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return load_parquet(path, target, **kw)
    if lower.endswith(CSV_SUFFIXES):
        return load_csv(path, target, **kw)
    _check_file(path)
    raise ConfigError(f"Unknown file type {path.name!r}: gdlab reads .csv (also .csv.gz, .txt) "
                      f"and .parquet files.")


__all__ = [
    "BUILTIN", "Dataset", "banknotes", "banknotes_checksum", "blobs", "cache_dir", "circles",
    "from_arrays", "from_frame", "is_file_reference", "load", "load_csv", "load_parquet",
    "moons", "one_hot", "spiral", "wine", "xor",
]
