"""TensorBoard event files in Keras's layout, written with tensorboardX (no TensorFlow).

A *run directory* holds one training run, laid out as Keras's ``TensorBoard``
callback lays it out, so TensorBoard shows gdlab and Keras runs side by side::

    run_dir/train/events.out.tfevents...       epoch_loss, epoch_accuracy, epoch_learning_rate
    run_dir/validation/events.out.tfevents...  epoch_loss, epoch_accuracy (from val_* logs),
                                               evaluation_loss_vs_iterations, ...
    run_dir/events.out.tfevents...             hyperparameters for the HParams dashboard

Scalars are written at step = epoch index (0-based), as Keras does. A sweep
writes one run directory per configuration x seed (:func:`run_name` names it)
with :func:`write_history` and :func:`write_hparams`; TensorBoard's HParams
dashboard then lists every run with its hyperparameters and, as metrics, the
last value of each scalar (``validation/epoch_loss``, ...) and any final metric
given to :func:`write_hparams`. Open it with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboardX.summary import hparams as _hparams_summaries

from gdlab.errors import ConfigError

__all__ = [
    "TRAIN",
    "VALIDATION",
    "RunWriter",
    "run_name",
    "split_logs",
    "write_history",
    "write_hparams",
]

TRAIN = "train"
VALIDATION = "validation"

# tensorboardX names event files by the second and opens them with "wb": two
# writers opened in the same folder within one second would overwrite each
# other. A per-process counter keeps every file name unique.
_file_ids = itertools.count()

HParamValue = bool | int | float | str


def split_logs(logs: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Keras's split of epoch logs: ``(train, validation)``, ``val_`` prefixes removed."""
    train = {k: v for k, v in logs.items() if not k.startswith("val_")}
    validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
    return train, validation


class RunWriter:
    """Writes one run's event files under ``run_dir`` in Keras's layout.

    Writers open lazily, one per subfolder (``train``, ``validation``, or ``""``
    for the run's own folder), so a run without validation has no
    ``validation`` folder. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise ConfigError(f"TensorBoard log_dir {self.run_dir} exists and is not a directory.")
        self._writers: dict[str, SummaryWriter] = {}

    def writer(self, subdir: str = TRAIN) -> SummaryWriter:
        """The tensorboardX writer of ``run_dir/subdir`` (opened on first use)."""
        if subdir not in self._writers:
            logdir = self.run_dir / subdir if subdir else self.run_dir
            logdir.mkdir(parents=True, exist_ok=True)
            self._writers[subdir] = SummaryWriter(
                logdir=str(logdir), flush_secs=10,
                filename_suffix=f".{os.getpid()}.{next(_file_ids)}.gdlab",
            )
        return self._writers[subdir]

    def scalar(self, tag: str, value: float, step: int, *, subdir: str = TRAIN) -> None:
        """One scalar point (``value`` may be NaN or infinite)."""
        self.writer(subdir).add_scalar(tag, float(value), int(step))

    def histogram(self, tag: str, values: Any, step: int, *, subdir: str = TRAIN) -> None:
        """A histogram of ``values`` (e.g. a weight matrix) at ``step``."""
        self.writer(subdir).add_histogram(tag, np.asarray(values, np.float64).ravel(), int(step))

    def log_epoch(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Keras's epoch summaries: ``epoch_<name>`` in ``train``, ``val_<name>`` in ``validation``."""
        train, validation = split_logs(logs)
        for name, value in train.items():
            self.scalar(f"epoch_{name}", value, epoch, subdir=TRAIN)
        for name, value in validation.items():
            self.scalar(f"epoch_{name}", value, epoch, subdir=VALIDATION)

    def keras_model(self, config: Mapping[str, Any], *, step: int = 0) -> None:
        """The model's Keras JSON config as tag ``keras`` in ``train``: TensorBoard's
        Graphs tab draws it as a conceptual graph, as for a Keras model."""
        value = summary_pb2.Summary.Value(
            tag="keras",
            metadata=summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(
                    plugin_name="graph_keras_model", content=b"1")),
            tensor=tensor_pb2.TensorProto(
                dtype=types_pb2.DT_STRING, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                string_val=[json.dumps(config).encode()]),
        )
        self.writer(TRAIN).file_writer.add_summary(summary_pb2.Summary(value=[value]), step)

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float] | None = None, *,
                group: str | None = None, step: int = 0) -> None:
        """Hyperparameters (and final metrics) of this run for the HParams dashboard.

        Writes a session-start record with ``hparams`` and a session-end record
        in the run's own folder; each metric becomes a scalar there at ``step``.
        Runs sharing a ``group`` (e.g. the seeds of one configuration) are
        aggregated by the dashboard.
        """
        clean = _hparam_values(hparams)
        _exp, start, end = _hparams_summaries(clean, {})
        if group:
            start = _with_group(start, group)
        writer = self.writer("")
        writer.file_writer.add_summary(start)
        for tag, value in (metrics or {}).items():
            if not isinstance(tag, str) or not tag:
                raise ConfigError(f"Metric names must be non-empty strings, got {tag!r}.")
            self.scalar(tag, _number(tag, value), step, subdir="")
        writer.file_writer.add_summary(end)

    def flush(self) -> None:
        """Write pending events to disk."""
        for w in self._writers.values():
            w.flush()

    def close(self) -> None:
        """Flush and close every writer (the writer may be reopened by logging again)."""
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _number(name: str, value: Any) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"Metric {name!r} must be a number, got {value!r}.")
    return float(value)


def _hparam_values(hparams: Mapping[str, Any]) -> dict[str, HParamValue]:
    """Plain bool/int/float/str values; None entries are left out (unset)."""
    out: dict[str, HParamValue] = {}
    for name, value in hparams.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Hyperparameter names must be non-empty strings, got {name!r}.")
        if isinstance(value, np.generic):
            value = value.item()
        if value is None:
            continue
        if not isinstance(value, bool | int | float | str):
            raise ConfigError(
                f"Hyperparameter {name!r} must be a bool, number or string for TensorBoard, "
                f"got {type(value).__name__} {value!r}."
            )
        out[name] = value
    return out


def _with_group(start: summary_pb2.Summary, group: str) -> summary_pb2.Summary:
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    value = start.value[0]
    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
    data.session_start_info.group_name = group
    value.metadata.plugin_data.content = data.SerializeToString()
    return start


def write_history(run_dir: str | os.PathLike[str], history: Mapping[str, Sequence[float]], *,
                  first_epoch: int = 0, skip_nan: bool = True) -> None:
    """Write a whole per-epoch history (Keras's ``History.history`` form) to ``run_dir``.

    ``history[name][i]`` is epoch ``first_epoch + i``. With ``skip_nan``, NaN
    entries (epochs a sweep model did not run: stopped early or diverged) are
    left out; infinite values are kept.
    """
    lengths = {len(v) for v in history.values()}
    if len(lengths) > 1:
        raise ConfigError(
            "Every history series must have one value per epoch; got lengths "
            + ", ".join(f"{k}={len(v)}" for k, v in history.items()) + "."
        )
    with RunWriter(run_dir) as run:
        for i in range(lengths.pop() if lengths else 0):
            logs = {k: float(v[i]) for k, v in history.items()}
            if skip_nan:
                logs = {k: v for k, v in logs.items() if not math.isnan(v)}
            run.log_epoch(first_epoch + i, logs)


def write_hparams(run_dir: str | os.PathLike[str], hparams: Mapping[str, Any],
                  metrics: Mapping[str, float] | None = None, *, group: str | None = None,
                  step: int = 0) -> None:
    """Log one run's hyperparameters and final metrics for TensorBoard's HParams dashboard.

    ``hparams`` values are bools, numbers or strings (None entries are left
    out); ``metrics`` (e.g. ``{"hparams/best_val_loss": 0.21, "hparams/stop_epoch": 14}``)
    are written as scalars in the run's folder. The dashboard also offers every
    scalar of the run (``train``/``validation`` ``epoch_*``) as a metric.
    """
    with RunWriter(run_dir) as run:
        run.hparams(hparams, metrics, group=group, step=step)


_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]+")


def run_name(settings: Mapping[str, Any]) -> str:
    """A folder name from settings, in their order: ``optimizer=sgd,learning_rate=0.01,seed=0``.

    Floats are written with ``%g``; characters unsafe in file names become ``_``.
    """
    if not settings:
        raise ConfigError("run_name needs at least one setting.")
    parts = []
    for key, value in settings.items():
        if isinstance(value, np.generic):
            value = value.item()
        text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={text}")
    name = _UNSAFE.sub("_", ",".join(parts))
    return name if name not in (".", "..") else name.replace(".", "_")


def write_sweep(result: Any, log_dir: str | os.PathLike[str]) -> list[Path]:
    """One TensorBoard run per configuration x seed of a sweep, with hyperparameters.

    Runs are named by the swept settings and the seed (:func:`run_name`) under
    ``log_dir``; each holds Keras's ``train``/``validation`` scalars (the test
    set's as ``test/``), and its settings and final metrics for the HParams
    dashboard, grouped by configuration so TensorBoard can aggregate seeds.
    """
    log_dir = Path(log_dir)
    configs = result.spec.configs()
    labels = result.spec.labels()
    final = result.final()
    written = []
    for c, (cfg, label) in enumerate(zip(configs, labels, strict=True)):
        settings = cfg.settings()
        hparams = {k: v for k, v in settings.items() if v is not None}
        group = run_name(label) if label else result.spec.name
        for s, seed in enumerate(result.spec.seeds):
            name = run_name({**label, "seed": seed}) if label else run_name({"seed": seed})
            run_dir = log_dir / name
            history = {m: result.history[m][:, s, c] for m in result.metrics
                       if not m.startswith("test_")}
            write_history(run_dir, history)
            tests = {m.removeprefix("test_"): result.history[m][:, s, c] for m in result.metrics
                     if m.startswith("test_")}
            if tests:
                with RunWriter(run_dir) as run:
                    for i in range(len(next(iter(tests.values())))):
                        for k, v in tests.items():
                            if not math.isnan(float(v[i])):
                                run.scalar(f"epoch_{k}", float(v[i]), i, subdir="test")
            row = final[(final.config == c) & (final.seed == seed)].iloc[0]
            metrics = {f"hparams/final_{m}": float(row[m]) for m in result.metrics
                       if not math.isnan(float(row[m]))}
            metrics["hparams/diverged"] = float(row["diverged_epoch"] >= 0)
            if "stopped_epoch" in row:
                metrics["hparams/stopped_epoch"] = float(row["stopped_epoch"])
            write_hparams(run_dir, hparams | {"seed": seed}, metrics, group=group)
            written.append(run_dir)
    return written
