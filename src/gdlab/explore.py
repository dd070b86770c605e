"""A first look at a dataset: class balance, a per-feature summary and the course's pairplot.

Pure functions: tables come back as DataFrames and the figure is written to a
file; printing is the CLI's job (``gdlab explore``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gdlab.datasets import Dataset
from gdlab.errors import ConfigError, DataError

MAX_ROWS = 3000  # above this a pairplot shows a random sample: it stays readable and fast
MAX_FEATURES = 13  # wine's 13 fit; wider tables plot their first 13 features


def class_balance(dataset: Dataset) -> pd.DataFrame:
    """Rows per class: columns ``class``, ``count`` and ``share`` (of all rows)."""
    if dataset.class_names is None:
        raise DataError(f"Class balance needs class labels, but {dataset.name!r} is a "
                        f"regression dataset (target {dataset.target!r}).")
    counts = dataset.class_counts()
    total = max(dataset.n_rows, 1)
    return pd.DataFrame({
        "class": list(counts),
        "count": np.array(list(counts.values()), dtype=np.int64),
        "share": np.array(list(counts.values()), dtype=np.float64) / total,
    })


def feature_summary(dataset: Dataset) -> pd.DataFrame:
    """One row per feature: mean, std (n-1), min, quartiles, max, distinct values."""
    x = dataset.x.astype(np.float64)
    table = pd.DataFrame(x, columns=list(dataset.feature_names)).describe().T
    table = table.drop(columns="count")
    table["distinct"] = [int(np.unique(col).size) for col in x.T]
    table.index.name = "feature"
    return table


@dataclass(frozen=True)
class PairplotInfo:
    """What a pairplot shows: its file, the rows plotted and the features plotted."""

    path: Path
    n_rows: int
    n_rows_total: int
    features: tuple[str, ...]

    @property
    def sampled(self) -> bool:
        """Whether the plot shows a sample of the rows."""
        return self.n_rows < self.n_rows_total


def pairplot(dataset: Dataset, path: str | os.PathLike[str], *, max_rows: int = MAX_ROWS,
             max_features: int = MAX_FEATURES, seed: int = 0, dpi: int = 100) -> PairplotInfo:
    """Write the course's seaborn pairplot (``sns.pairplot(df, hue="class")``) as a PNG.

    Above ``max_rows`` rows a seeded random sample is plotted; only the first
    ``max_features`` features are plotted. Regression targets are plotted as one
    more variable instead of a color.
    """
    for arg, value in (("max_rows", max_rows), ("max_features", max_features)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"`{arg}` must be a positive integer, got {value!r}.")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"The pairplot is written as PNG; give a .png path, got {path.name!r}.")

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # no display needed; an interactive session keeps its backend
    import matplotlib.pyplot as plt
    import seaborn as sns

    frame = dataset.to_frame(labels=True)
    rows = np.arange(dataset.n_rows)
    if dataset.n_rows > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(dataset.n_rows, max_rows,
                                                          replace=False))
        frame = frame.iloc[rows]
    features = list(dataset.feature_names[:max_features])
    classes = dataset.class_names is not None
    plot_vars = features if classes else [*features, dataset.target]
    height = min(2.5, 16.0 / len(plot_vars))  # at most ~16 inches wide
    grid = sns.pairplot(frame, vars=plot_vars, hue=dataset.target if classes else None,
                        height=height, plot_kws={"s": 12, "alpha": 0.6, "linewidth": 0})
    what = f"colored by {dataset.target}" if classes else f"with target {dataset.target}"
    sample = f", {len(rows)} of {dataset.n_rows} rows" if len(rows) < dataset.n_rows else ""
    grid.figure.suptitle(f"{dataset.name}: pairplot {what}{sample}", y=1.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        grid.figure.savefig(path, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(grid.figure)
    return PairplotInfo(path=path, n_rows=len(rows), n_rows_total=dataset.n_rows,
                        features=tuple(features))


__all__ = ["MAX_FEATURES", "MAX_ROWS", "PairplotInfo", "class_balance", "feature_summary",
           "pairplot"]
