"""Sweep results: tidy tables, the course's wide layout, summaries, Parquet files.

The canonical form is tidy: one row per configuration x seed x epoch x metric,
with the swept settings as columns. Epochs are numbered from 0, as Keras's
``History.epoch``; "after epoch e" means e + 1 epochs of training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gdlab.artifacts import atomic_write
from gdlab.errors import ConfigError, DataError
from gdlab.specs import SweepSpec

#: The usual metric names (losses, accuracy, and regression's default MAE) per set.
METRIC_ORDER = ("loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae", "test_loss",
                "test_accuracy", "test_mae")
SET_PREFIXES = ("", "val_", "test_")
_META_KEY = b"gdlab"


def split_metric(metric: str) -> tuple[str, str]:
    """``(prefix, name)`` of a history key: ``"val_mae"`` -> ``("val_", "mae")``."""
    for prefix in SET_PREFIXES[1:]:
        if metric.startswith(prefix):
            return prefix, metric[len(prefix):]
    return "", metric


def _is_metric_name(name: str) -> bool:
    from gdlab.losses import canonical_metric

    try:
        canonical_metric(name)
    except ValueError:
        return False
    return True


def is_accuracy(metric: str) -> bool:
    """Whether a history key is an accuracy (a proportion, higher is better)."""
    from gdlab.losses import ACCURACY_NAMES

    name = split_metric(metric)[1]
    return name.lower() in ACCURACY_NAMES or "accuracy" in name


def _metric_sort(metrics: Sequence[str]) -> list[str]:
    # Per set (training, validation, test): the loss, accuracy, then the other metrics;
    # anything else (the noise scale, ...) after all of them.
    def key(m: str) -> tuple[int, int, str]:
        prefix, name = split_metric(m)
        if name != "loss" and not _is_metric_name(name):
            return (len(SET_PREFIXES), 0, m)
        rank = 0 if name == "loss" else 1 if is_accuracy(name) else 2
        return (SET_PREFIXES.index(prefix), rank, name)

    return sorted(metrics, key=key)


def _axis_values(spec: SweepSpec) -> dict[str, list[Any]]:
    """Per axis, each configuration's value: numbers stay numbers, the rest are labels."""
    labels = spec.labels()
    out = {}
    for axis in spec.axes:
        raw = [dict(p).get(axis) for p in spec.points]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        out[axis] = raw if numeric else [lab[axis] for lab in labels]
    return out


@dataclass
class SweepResult:
    """The outcome of a sweep: per-epoch metrics of every configuration x seed.

    ``history[metric]`` is ``[epochs, seeds, configs]`` with NaN where a run had
    already stopped (fewer epochs) or diverged; ``diverged_epoch[seed, config]``
    is the epoch a run diverged (-1: never). ``params[config]`` holds its final
    weights stacked over seeds, and ``taps[layer][config]`` the recorded
    activations ``[epochs, seeds, rows, units]`` when asked for (neither is saved
    to Parquet); ``seconds`` the wall time of the training call that produced it
    (kept out of files, so equal studies write equal files); ``steps["step_loss"]``
    each micro-batch's loss ``[epochs, steps, seeds, configs]`` when recorded.
    With early stopping, ``stopped_epoch[seed, config]`` is the epoch a run
    stopped at (-1: ran all its epochs) and ``best_epoch`` its best monitored
    epoch; both are stored in the tidy table (``stopped_epoch``, ``best_epoch``).
    """

    spec: SweepSpec
    history: dict[str, np.ndarray]
    diverged_epoch: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    params: list[Any] | None = None
    taps: dict[int, list[np.ndarray | None]] = field(default_factory=dict)
    seconds: float | None = None
    steps: dict[str, np.ndarray] = field(default_factory=dict)
    stopped_epoch: np.ndarray | None = None
    best_epoch: np.ndarray | None = None

    # --------------------------------------------------------------- shape

    @property
    def metrics(self) -> list[str]:
        """Metric names, in a readable order."""
        return _metric_sort(list(self.history))

    @property
    def first_metric(self) -> str | None:
        """The sweep's first metric besides the loss ("accuracy", "mae", ...), None without one.

        The first of the metrics the sweep was asked for (``meta["metrics"]``);
        for results without that record, accuracy, then the first training metric.
        """
        for m in self.meta.get("metrics", []):
            if m in self.history:
                return str(m)
        if "accuracy" in self.history:
            return "accuracy"
        return next((m for m in self.metrics if m != "loss" and not split_metric(m)[0]
                     and _is_metric_name(m)), None)

    @property
    def n_epochs(self) -> int:
        """Epochs of the longest configuration."""
        return next(iter(self.history.values())).shape[0]

    @property
    def setting_names(self) -> list[str]:
        """One label per configuration (axis values joined)."""
        return self.spec.setting_names()

    @property
    def epochs(self) -> np.ndarray:
        """Each configuration's epoch count."""
        return np.array([c.epochs for c in self.spec.configs()])

    # -------------------------------------------------------------- tables

    def tidy(self) -> pd.DataFrame:
        """One row per configuration x seed x epoch x metric (runs past their epochs omitted).

        Columns: ``sweep, config, setting, <axes...>, seed, epoch, metric, value,
        diverged_epoch`` (-1 when the run never diverged).
        """
        epochs = self.epochs
        seeds = np.asarray(self.spec.seeds)
        n_e, n_s, n_c = self.n_epochs, len(seeds), self.spec.n_configs
        e_idx, s_idx, c_idx = np.meshgrid(np.arange(n_e), np.arange(n_s), np.arange(n_c),
                                          indexing="ij")
        keep = (e_idx < epochs[c_idx]).ravel()
        names = np.asarray(self.setting_names, dtype=object)
        axes = _axis_values(self.spec)
        frames = []
        for metric in self.metrics:
            cols = {
                "sweep": self.spec.name,
                "config": c_idx.ravel()[keep],
                "setting": names[c_idx.ravel()[keep]],
            }
            for axis, values in axes.items():
                cols[axis] = np.asarray(values, dtype=object)[c_idx.ravel()[keep]]
            cols["seed"] = seeds[s_idx.ravel()[keep]]
            cols["epoch"] = e_idx.ravel()[keep]
            cols["metric"] = metric
            cols["value"] = self.history[metric].ravel()[keep].astype(np.float64)
            cols["diverged_epoch"] = self.diverged_epoch[s_idx.ravel()[keep],
                                                         c_idx.ravel()[keep]]
            if self.stopped_epoch is not None:
                cols["stopped_epoch"] = self.stopped_epoch[s_idx.ravel()[keep],
                                                           c_idx.ravel()[keep]]
                cols["best_epoch"] = self.best_epoch[s_idx.ravel()[keep], c_idx.ravel()[keep]]
            frames.append(pd.DataFrame(cols))
        df = pd.concat(frames, ignore_index=True)
        for axis, values in axes.items():
            if all(isinstance(v, int | float) for v in values):
                df[axis] = pd.to_numeric(df[axis])
            else:
                df[axis] = df[axis].astype(str)
        return df

    def wide(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """The course's layout, averaged over seeds: index epoch, columns (setting, metric)."""
        metrics = list(metrics or self.metrics)
        for m in metrics:
            if m not in self.history:
                raise ConfigError(f"No metric {m!r}; this sweep has {', '.join(self.metrics)}.")
        names = self.setting_names
        data = {}
        for c, name in enumerate(names):
            for m in metrics:
                data[(name, m)] = _nanmean(self.history[m][:, :, c])
        level = self.spec.axes[0] if len(self.spec.axes) == 1 else "setting"
        df = pd.DataFrame(data, index=pd.RangeIndex(self.n_epochs, name="epoch"))
        df.columns = pd.MultiIndex.from_tuples(df.columns, names=[level, "metric"])
        return df

    def final(self) -> pd.DataFrame:
        """Each run's last-epoch metrics: one row per configuration x seed."""
        epochs = self.epochs
        rows = []
        for c, name in enumerate(self.setting_names):
            for s, seed in enumerate(self.spec.seeds):
                row = {"config": c, "setting": name, "seed": seed,
                       "diverged_epoch": int(self.diverged_epoch[s, c])}
                last = epochs[c] - 1
                if self.stopped_epoch is not None:
                    row["stopped_epoch"] = int(self.stopped_epoch[s, c])
                    row["best_epoch"] = int(self.best_epoch[s, c])
                    if row["stopped_epoch"] >= 0:
                        last = row["stopped_epoch"]
                for m in self.metrics:
                    row[m] = float(self.history[m][last, s, c])
                rows.append(row)
        return pd.DataFrame(rows)

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Per configuration: final metrics as mean, std and a t-interval over seeds; diverged count.

        Diverged runs are left out of the statistics and counted in ``diverged``.
        Intervals of accuracies are clipped to [0, 1]; those of other metrics are not.
        """
        from scipy import stats

        final = self.final()
        axes = _axis_values(self.spec)
        rows = []
        for c, name in enumerate(self.setting_names):
            runs = final[final.config == c]
            row: dict[str, Any] = {"config": c, "setting": name}
            for axis, values in axes.items():
                row[axis] = values[c]
            row["seeds"] = len(runs)
            row["diverged"] = int((runs.diverged_epoch >= 0).sum())
            if "stopped_epoch" in runs:
                row["stopped_early"] = int((runs.stopped_epoch >= 0).sum())
            for m in self.metrics:
                v = runs[m].dropna().to_numpy()
                n = len(v)
                mean = float(v.mean()) if n else np.nan
                std = float(v.std(ddof=1)) if n > 1 else np.nan
                half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)) \
                    if n > 1 else np.nan
                low, high = mean - half, mean + half
                if is_accuracy(m):  # a proportion: the interval stays within [0, 1]
                    low, high = max(low, 0.0), min(high, 1.0)
                row[f"{m}_mean"], row[f"{m}_std"] = mean, std
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = low, high
            rows.append(row)
        return pd.DataFrame(rows)

    def compare(self, metric: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
        """Each setting against the best by a paired interval over seeds (see gdlab.trust)."""
        from gdlab.trust import paired_comparison

        return paired_comparison(self, metric, confidence)

    # ------------------------------------------------------------- Parquet

    def metadata(self) -> dict[str, Any]:
        """Everything needed to rebuild this result from its tidy table."""
        return {"spec": self.spec.to_dict(), "metrics": self.metrics,
                "n_epochs": self.n_epochs, "meta": self.meta}

    def save(self, path: str | Path) -> Path:
        """Write the tidy table to Parquet with the sweep's settings as metadata (atomically)."""
        return save_results([self], path)

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        """Read a result written by :meth:`save` (a file holding one sweep)."""
        results = load_results(path)
        if len(results) != 1:
            raise DataError(f"{path} holds {len(results)} sweeps; use gdlab.results.load_results.")
        return results[0]


def _nanmean(a: np.ndarray) -> np.ndarray:
    count = (~np.isnan(a)).sum(axis=1)
    total = np.where(np.isnan(a), 0.0, a).sum(axis=1)
    with np.errstate(all="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def save_results(results: Sequence[SweepResult], path: str | Path) -> Path:
    """Write several sweeps' tidy tables to one Parquet file, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    frames = [r.tidy() for r in results]
    table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"version": 1,
                                  "sweeps": [r.metadata() for r in results]}).encode()
    table = table.replace_schema_metadata(meta)
    atomic_write(path, lambda p: pq.write_table(table, p))
    return path


def load_results(path: str | Path) -> list[SweepResult]:
    """Read every sweep stored in a Parquet file written by :func:`save_results`."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise DataError(f"{path} is not a readable Parquet file: {e}") from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise DataError(f"{path} was not written by gdlab (no gdlab metadata).")
    meta = json.loads(raw)
    df = table.to_pandas()
    out = []
    for sweep in meta["sweeps"]:
        spec = SweepSpec.from_dict(sweep["spec"])
        part = df[df["sweep"] == spec.name]
        n_e, n_s, n_c = sweep["n_epochs"], len(spec.seeds), spec.n_configs
        seed_pos = {s: i for i, s in enumerate(spec.seeds)}
        s_idx = part["seed"].map(seed_pos).to_numpy()
        c_idx = part["config"].to_numpy()
        e_idx = part["epoch"].to_numpy()
        history = {}
        for metric in sweep["metrics"]:
            arr = np.full((n_e, n_s, n_c), np.nan, np.float32)
            sel = (part["metric"] == metric).to_numpy()
            arr[e_idx[sel], s_idx[sel], c_idx[sel]] = part["value"].to_numpy()[sel]
            history[metric] = arr
        diverged = np.full((n_s, n_c), -1, np.int32)
        diverged[s_idx, c_idx] = part["diverged_epoch"].to_numpy()
        result = SweepResult(spec, history, diverged, sweep.get("meta", {}))
        if "stopped_epoch" in part and part["stopped_epoch"].notna().all():
            for name in ("stopped_epoch", "best_epoch"):
                arr = np.full((n_s, n_c), -1, np.int32)
                arr[s_idx, c_idx] = part[name].to_numpy()
                setattr(result, name, arr)
        out.append(result)
    return out
