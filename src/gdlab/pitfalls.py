"""Warnings about setups that mislead, and how gdlab collects them.

Every warning gdlab raises is a :class:`GdlabWarning` subclass with a short
``name`` (used to silence it: ``quiet_warnings`` in a study file,
``--quiet-warnings NAME`` on the command line). Each message says what is wrong,
why it matters, and what to do instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


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
