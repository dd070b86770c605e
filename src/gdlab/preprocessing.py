"""Splits and scaling: a :class:`~gdlab.datasets.Dataset` made ready for training.

:func:`prepare` splits like the course (``train_test_split(X, y, test_size=0.3,
random_state=42)``), carves out a validation part with Keras's
``validation_split`` semantics, and scales with scikit-learn's scalers fitted on
the training rows only. ``scale="course"`` reproduces the course instead, which
scales all rows before splitting (the test rows' mean and spread leak into
training). The result records which was done, so every result can say so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdlab.datasets import Dataset, one_hot
from gdlab.errors import ConfigError, DataError, ShapeError, unknown_name
from gdlab.pitfalls import LEAKY_SCALING, LeakyScaling, SplitMissesClasses, check_split

SCALINGS = ("standard", "minmax", "none", "course")
VALIDATION_MODES = ("last", "stratified")


#: Kept as the name preprocessing code and tests know; see gdlab.pitfalls.
DataWarning = SplitMissesClasses


COURSE_SCALING = (
    "scale='course' standardizes all rows before the split, as the course's "
    "`X = scale(df.drop('class', axis=1).values)` does: the test rows' mean and standard "
    "deviation leak into training. Use it to reproduce the course's numbers; the default "
    "scale='standard' fits the scaler on the training rows only."
)

_MISSING_CLASSES = (
    "The {part} part ({n} rows) has no rows of class {missing} (the training part has "
    "{n_classes} classes), so its accuracy says nothing about them. {fix}"
)


@dataclass(frozen=True, eq=False)
class Prepared:
    """Arrays ready for training: float32 features, targets as in the dataset.

    ``scaling`` and ``split`` record how they were made (see :meth:`record`);
    the ``*_index`` arrays are the dataset rows of each part, in order.
    ``w_train``, ``w_val`` and ``w_test`` are the parts' sample weights (the
    dataset's column ``weight_column``, never scaled), None when unweighted.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    task: str
    scaling: str
    split: dict[str, Any]
    dataset: str = ""
    train_index: np.ndarray | None = None
    val_index: np.ndarray | None = None
    test_index: np.ndarray | None = None
    scaler: Any = field(default=None, repr=False)
    w_train: np.ndarray | None = field(default=None, repr=False)
    w_val: np.ndarray | None = field(default=None, repr=False)
    w_test: np.ndarray | None = field(default=None, repr=False)
    weight_column: str | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return 0 if self.class_names is None else len(self.class_names)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.x_train.shape[1])

    def one_hot(self, part: str = "train") -> np.ndarray:
        """The labels of ``part`` ("train", "val" or "test") one-hot, float32."""
        if self.class_names is None:
            raise DataError("one_hot() needs a classification task; this data is regression.")
        parts = {"train": self.y_train, "val": self.y_val, "test": self.y_test}
        if part not in parts:
            raise unknown_name("part", part, parts)
        y = parts[part]
        if y is None:
            raise DataError("There is no validation part: prepare(..., validation_split=0.2).")
        return one_hot(y, self.n_classes)

    def transform(self, x: Any) -> np.ndarray:
        """New rows scaled as the training rows were (float32)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ShapeError(f"transform expects shape (rows, {self.n_features}), "
                             f"got {x.shape}.")
        out = x if self.scaler is None else self.scaler.transform(x)
        return np.asarray(out, dtype=np.float32)

    def record(self) -> dict[str, Any]:
        """A flat, JSON-friendly description of the data preparation, for results.

        ``sample_weight`` names the column that weighs the rows (None: unweighted).
        """
        return {"dataset": self.dataset, "task": self.task, "scaling": self.scaling,
                **self.split, "sample_weight": self.weight_column}


def _n_test(test_size: float | int, n: int) -> int:
    """The number of test rows, as scikit-learn's train_test_split computes it."""
    if isinstance(test_size, bool):
        raise ConfigError(f"`test_size` must be a fraction in (0, 1) or a row count, "
                          f"got {test_size!r}.")
    if isinstance(test_size, int | np.integer):
        if not 1 <= test_size < n:
            raise DataError(f"`test_size`={test_size} rows needs between 1 and {n - 1} "
                            f"test rows; the data has {n} rows.")
        return int(test_size)
    if not isinstance(test_size, float) or not 0.0 < test_size < 1.0:
        raise ConfigError(f"`test_size` must be a fraction in (0, 1) or a row count, "
                          f"got {test_size!r}.")
    return math.ceil(test_size * n)


def _check_parts(n_rows: int, sizes: dict[str, int], how: str) -> None:
    empty = [part for part, size in sizes.items() if size < 1]
    if empty:
        raise DataError(
            f"{how} leaves {' and '.join(f'{size} {part}' for part, size in sizes.items())} "
            f"rows of {n_rows}: the {' and '.join(empty)} part needs at least 1 row. Use more "
            f"data or change the split."
        )


def _check_stratify(y: np.ndarray, names: tuple[str, ...], sizes: dict[str, int],
                    what: str) -> None:
    counts = np.bincount(y, minlength=len(names))
    present = counts[counts > 0]
    if present.size and present.min() < 2:
        rare = [names[k] for k in np.nonzero(counts == 1)[0]]
        raise DataError(
            f"{what} needs at least 2 rows of every class, but class {', '.join(rare)} has "
            f"only 1 row. Drop that class or do not stratify."
        )
    for part, size in sizes.items():
        if size < present.size:
            raise DataError(
                f"{what} needs at least one {part} row per class: {present.size} classes but "
                f"{size} {part} rows. Make that part larger or do not stratify."
            )


def _warn_missing_classes(y_part: np.ndarray, y_train: np.ndarray,
                          names: tuple[str, ...], part: str, fix: str) -> None:
    check_split(y_part, y_train, part, names, fix, stacklevel=4)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def prepare(dataset: Dataset, *, test_size: float | int = 0.3, random_state: int | None = 42,
            stratify: bool = False, scale: str = "standard", validation_split: float = 0.0,
            validation: str = "last") -> Prepared:
    """Split a dataset into training, validation and test parts, and scale its features.

    Args:
      dataset: the data.
      test_size: the test fraction (or row count), as in scikit-learn's train_test_split.
      random_state: the split's seed (42, like the course).
      stratify: keep the class proportions in both parts.
      scale: "standard" or "minmax" (scikit-learn's scalers, fitted on the training
        rows only), "none", or "course" (standardize all rows before splitting; see
        :data:`COURSE_SCALING`).
      validation_split: the fraction of the training part held out for validation.
      validation: "last" takes the last rows of the training part, as Keras's
        ``fit(validation_split=...)`` does; "stratified" takes a stratified sample.

    Returns:
      a :class:`Prepared` whose ``scaling`` and ``split`` record all of the above.
    """
    if not isinstance(dataset, Dataset):
        raise ConfigError(f"prepare expects a gdlab Dataset, got {type(dataset).__name__}; "
                          "wrap arrays with gdlab.datasets.from_arrays(x, y).")
    if scale not in SCALINGS:
        raise unknown_name("scaling", scale, SCALINGS)
    if validation not in VALIDATION_MODES:
        raise unknown_name("validation mode", validation, VALIDATION_MODES)
    if isinstance(validation_split, bool) or not isinstance(validation_split, int | float) \
            or not 0.0 <= validation_split < 1.0:
        raise ConfigError(f"`validation_split` must be a fraction in [0, 1), "
                          f"got {validation_split!r}.")
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, int | np.integer)):
        raise ConfigError(f"`random_state` must be an integer or None, got {random_state!r}.")
    classification = dataset.class_names is not None
    if (stratify or validation == "stratified" and validation_split) and not classification:
        raise ConfigError("Stratified splits need class labels, but "
                          f"{dataset.name!r} is a regression dataset.")

    from sklearn.model_selection import train_test_split

    n = dataset.n_rows
    y = dataset.y
    n_test = _n_test(test_size, n)
    _check_parts(n, {"training": n - n_test, "test": n_test}, f"test_size={test_size!r}")
    if stratify:
        _check_stratify(y, dataset.class_names, {"training": n - n_test, "test": n_test},
                        "stratify=True")
    train_idx, test_idx = train_test_split(
        np.arange(n), test_size=test_size, random_state=random_state,
        stratify=y if stratify else None)

    val_idx = None
    if validation_split:
        n_fit = math.floor(train_idx.size * (1.0 - validation_split))
        if validation == "stratified":
            n_fit = train_idx.size - math.ceil(validation_split * train_idx.size)
        sizes = {"training": n_fit, "validation": train_idx.size - n_fit}
        _check_parts(train_idx.size, sizes, f"validation_split={validation_split}")
        if validation == "last":
            # Keras holds out the last rows, before any shuffling
            train_idx, val_idx = train_idx[:n_fit], train_idx[n_fit:]
        else:
            _check_stratify(y[train_idx], dataset.class_names, sizes,
                            "validation='stratified'")
            train_idx, val_idx = train_test_split(
                train_idx, test_size=validation_split, random_state=random_state,
                stratify=y[train_idx])

    if classification:
        names = dataset.class_names
        present = np.unique(y[train_idx])
        if present.size < 2:
            raise DataError(
                f"The training part ({train_idx.size} rows) holds a single class "
                f"({names[int(present[0])]!r}); training needs at least 2. Use stratify=True "
                f"or more data."
            )
        if val_idx is not None:
            _warn_missing_classes(y[val_idx], y[train_idx], names, "validation",
                                  "Use validation='stratified' or a larger validation_split.")
        _warn_missing_classes(y[test_idx], y[train_idx], names, "test",
                              "Use stratify=True or a larger test_size.")

    x64 = dataset.x.astype(np.float64)
    scaler = None
    if scale == "course":
        from sklearn.preprocessing import StandardScaler

        # sklearn.preprocessing.scale(X), the course's call, is StandardScaler on all rows
        scaler = StandardScaler().fit(x64)
        warnings.warn(LEAKY_SCALING, LeakyScaling, stacklevel=2)
    elif scale in ("standard", "minmax"):
        from sklearn.preprocessing import MinMaxScaler, StandardScaler

        scaler = (StandardScaler() if scale == "standard" else MinMaxScaler()).fit(x64[train_idx])

    def part(rows: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        if rows is None:
            return None, None
        x = x64[rows] if scaler is None else scaler.transform(x64[rows])
        return _frozen(x.astype(np.float32)), _frozen(y[rows])

    x_train, y_train = part(train_idx)
    x_val, y_val = part(val_idx)
    x_test, y_test = part(test_idx)
    w = dataset.w

    def weights(rows: np.ndarray | None) -> np.ndarray | None:
        return None if w is None or rows is None else _frozen(w[rows])

    if w is not None and not w[train_idx].any():
        raise DataError(
            f"Every sample weight of the training part ({train_idx.size} rows) is 0, so no "
            f"row counts in the loss. Check the column {dataset.weight_column!r} or the split."
        )
    split = {
        "test_size": test_size,
        "random_state": None if random_state is None else int(random_state),
        "stratify": bool(stratify),
        "validation_split": float(validation_split),
        "validation": validation,
        "scaler_fit_on": {"course": "all rows", "none": "none"}.get(scale, "training rows"),
        "n_train": int(train_idx.size),
        "n_val": 0 if val_idx is None else int(val_idx.size),
        "n_test": int(test_idx.size),
    }
    return Prepared(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, x_val=x_val,
        y_val=y_val, feature_names=dataset.feature_names, class_names=dataset.class_names,
        task=dataset.task, scaling=scale, split=split, dataset=dataset.name,
        train_index=_frozen(train_idx), val_index=None if val_idx is None else _frozen(val_idx),
        test_index=_frozen(test_idx), scaler=scaler, w_train=weights(train_idx),
        w_val=weights(val_idx), w_test=weights(test_idx), weight_column=dataset.weight_column,
    )


__all__ = ["COURSE_SCALING", "SCALINGS", "VALIDATION_MODES", "DataWarning", "Prepared",
           "prepare"]
