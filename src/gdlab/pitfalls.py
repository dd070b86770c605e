"""Warnings about setups that mislead, and how gdlab collects them.

Every warning gdlab raises is a :class:`GdlabWarning` subclass with a short
``name`` (used to silence it: ``quiet_warnings`` in a study file,
``--quiet-warnings NAME`` on the command line). Each message says what is wrong,
why it matters, and what to do instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


class GdlabWarning(UserWarning):
    """Base class of gdlab's warnings."""

    name = "gdlab"


class BatchLargerThanData(GdlabWarning):
    """A batch size at least as large as the training set: one full-batch update per epoch."""

    name = "batch-larger-than-data"


BATCH_LARGER_THAN_DATA = (
    "batch_size {batch} is not smaller than the {n} training rows: each epoch is a single "
    "full-batch update (Keras allows this; so does gdlab). Comparisons per epoch with smaller "
    "batches mostly measure the number of updates; compare against updates instead, or use a "
    "batch size below {n}."
)


class SplitMissesClasses(GdlabWarning):
    """A validation or test part that lacks a class, or holds a single class."""

    name = "split-misses-classes"


class LeakyScaling(GdlabWarning):
    """Features scaled with statistics of rows that are later used for testing."""

    name = "leaky-scaling"


class SingleSeed(GdlabWarning):
    """Settings ranked from a single seed."""

    name = "single-seed"


class MajorityClass(GdlabWarning):
    """A configuration whose accuracy is the majority class's share: it predicts one class."""

    name = "majority-class"


class RisingLoss(GdlabWarning):
    """A configuration whose loss rises over its first epochs, or diverges."""

    name = "rising-loss"


SPLIT_MISSES_CLASSES = (
    "The {part} part holds {part_counts}, while the training part holds {train_counts}: "
    "{problem}, so its accuracy says nothing about {what}. {fix}"
)

LEAKY_SCALING = (
    "Features were scaled with the mean and standard deviation of all rows, test rows "
    "included, before the split (the course's `scale(X)`): the test set leaked into training, "
    "which flatters test scores. Use scale='standard' (the scaler is fitted on the training "
    "rows only) unless you are reproducing the course's numbers."
)

SINGLE_SEED = (
    "Sweep '{sweep}' compares {n} settings with a single seed: one run per setting ranks them "
    "largely at random (a different seed can reverse the order). Use several seeds (5 or more) "
    "and compare means with their intervals."
)

MAJORITY_CLASS = (
    "Sweep '{sweep}': {items} end with an accuracy equal to one class's share of the "
    "{part} rows ({share}): these runs predict a single class (for example dead ReLU units in a narrow "
    "layer, or a learning rate too small or too large). Their mean accuracy mixes two "
    "different outcomes; look at the seeds separately."
)

RISING_LOSS = (
    "Sweep '{sweep}': the training loss rises over the first epochs or diverges for {items}. "
    "The learning rate is probably too high for these settings; lower it, or run "
    "`gdlab lr-find` to choose one."
)


def _counts(y: Any, names: Sequence[str] | None) -> str:
    values, counts = np.unique(np.asarray(y), return_counts=True)
    label = (lambda v: names[int(v)]) if names is not None else (lambda v: str(v))
    return ", ".join(f"{count} of class {label(v)}" for v, count in zip(values, counts,
                                                                         strict=True))


def check_split(y_part: Any, y_train: Any, part: str, class_names: Sequence[str] | None = None,
                fix: str = "", stacklevel: int = 3) -> bool:
    """Warn when a held-out part lacks a class of the training part or holds only one.

    Returns whether it warned.
    """
    y_part, y_train = np.asarray(y_part).reshape(-1), np.asarray(y_train).reshape(-1)
    if y_part.size == 0:
        return False
    part_classes, train_classes = set(np.unique(y_part).tolist()), set(np.unique(y_train).tolist())
    missing = sorted(train_classes - part_classes)
    if len(part_classes) == 1 and len(train_classes) > 1:
        problem, what = "it holds a single class", "telling the classes apart"
    elif missing:
        label = (lambda v: class_names[int(v)]) if class_names is not None else str
        problem = f"class {', '.join(label(m) for m in missing)} is missing"
        what = "that class"
    else:
        return False
    warnings.warn(SPLIT_MISSES_CLASSES.format(
        part=part, part_counts=_counts(y_part, class_names),
        train_counts=_counts(y_train, class_names), problem=problem, what=what,
        fix=fix or "Split with shuffling and stratification (stratify=True, "
                   "validation='stratified').").strip(),
        SplitMissesClasses, stacklevel=stacklevel)
    return True


def quiet(*names: str) -> None:
    """Silence gdlab warnings by name for this process (``quiet("single-seed")``)."""
    known = {c.name: c for c in _categories()}
    for name in names:
        if name not in known:
            from gdlab.errors import unknown_name

            raise unknown_name("warning", name, known)
        warnings.filterwarnings("ignore", category=known[name])


def _categories() -> list[type[GdlabWarning]]:
    out, todo = [], [GdlabWarning]
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(c.__subclasses__())
    return out


def warning_names() -> list[str]:
    """Every gdlab warning's name (for --quiet-warnings and study files)."""
    return sorted({c.name for c in _categories() if c is not GdlabWarning})


@dataclass(frozen=True)
class Caught:
    """One warning caught during a run: its name, category and message."""

    name: str
    category: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """JSON-friendly form."""
        return {"name": self.name, "category": self.category, "message": self.message}


@contextmanager
def collect(quiet: tuple[str, ...] = ()) -> Iterator[list[Caught]]:
    """Catch gdlab's warnings raised inside the block (once each), except the silenced ones."""
    caught: list[Caught] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", GdlabWarning)
        yield caught
    seen = set()
    for r in records:
        if not issubclass(r.category, GdlabWarning):
            warnings.warn_explicit(r.message, r.category, r.filename, r.lineno)
            continue
        name = getattr(r.category, "name", r.category.__name__)
        key = (name, str(r.message))
        if name in quiet or key in seen:
            continue
        seen.add(key)
        caught.append(Caught(name, r.category.__name__, str(r.message)))
