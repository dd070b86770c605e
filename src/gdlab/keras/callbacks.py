"""Keras's callbacks: the ``Callback`` protocol, ``History``, ``LambdaCallback``,
``EarlyStopping``, ``ModelCheckpoint`` and ``TensorBoard``.

``fit`` runs its compiled program one epoch at a time and calls
``on_epoch_begin`` / ``on_epoch_end(epoch, logs)`` between epochs, with the
model's weights already synced, so a callback can read or replace them or set
``model.stop_training``. Batch-level hooks are not called: batches run inside
the compiled program, and a callback that overrides one is refused rather than
silently skipped.

The callbacks are thin: the stopping rule lives in :mod:`gdlab.early_stopping`,
the file format in :mod:`gdlab.checkpoint` and the event files in
:mod:`gdlab.tensorboard`, where a vectorized sweep uses them too.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable
from string import Formatter
from typing import TYPE_CHECKING, Any

from gdlab import early_stopping as _es
from gdlab.errors import ConfigError, NotSupportedError

if TYPE_CHECKING:
    from gdlab.tensorboard import RunWriter

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "ModelCheckpoint",
    "TensorBoard",
]

Logs = dict[str, float] | None

#: Keras hooks that gdlab's fit never calls (its batches run inside one compiled program).
UNCALLED_HOOKS = (
    "on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
)


class Callback:
    """Base class for user callbacks; override the hooks you need.

    gdlab's ``fit`` calls ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)``, as Keras does. The
    batch, test and predict hooks exist for Keras compatibility but are never
    called; overriding one raises :class:`~gdlab.errors.NotSupportedError` at fit.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        """Attach the model being trained."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Attach the training parameters (``verbose``, ``epochs``, ``steps``)."""
        self.params = params

    def on_train_begin(self, logs: Logs = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: Logs = None) -> None:
        """Called once after the last epoch, with the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        """Called before each epoch."""

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        """Called after each epoch with its metrics (``loss``, ``val_loss``, ...)."""

    # Keras's other hooks: never called by gdlab (see UNCALLED_HOOKS).
    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_test_begin(self, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_test_end(self, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_test_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_predict_begin(self, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_predict_end(self, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_predict_batch_begin(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        """Not called by gdlab."""


class History(Callback):
    """Records each epoch's metrics: ``history.history[name]`` and ``history.epoch``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class LambdaCallback(Callback):
    """A callback from plain functions, as ``keras.callbacks.LambdaCallback``.

    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_train_begin(logs)``, ``on_train_end(logs)``.
    """

    def __init__(self, on_epoch_begin: Callable | None = None,
                 on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None,
                 on_train_end: Callable | None = None, **kwargs: Any) -> None:
        super().__init__()
        batch_hooks = {k for k in kwargs if "batch" in k or k in UNCALLED_HOOKS}
        if batch_hooks:
            raise NotSupportedError(
                f"Batch-level hooks ({', '.join(sorted(batch_hooks))}) are not available: "
                "gdlab runs each epoch's batches inside one compiled program."
            )
        if kwargs:
            raise ConfigError(f"Unknown LambdaCallback argument(s): {', '.join(sorted(kwargs))}.")
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin  # type: ignore[method-assign]
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end  # type: ignore[method-assign]
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin  # type: ignore[method-assign]
        if on_train_end is not None:
            self.on_train_end = on_train_end  # type: ignore[method-assign]


def _overridden_uncalled_hooks(cb: Callback) -> list[str]:
    return [name for name in UNCALLED_HOOKS
            if name in vars(cb) or getattr(type(cb), name) is not getattr(Callback, name)]


class CallbackList:
    """Calls a list of callbacks in order."""

    def __init__(self, callbacks: Iterable[Callback], model: Any, params: dict[str, Any]):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ConfigError(
                    f"Callbacks must be gdlab.keras.callbacks.Callback objects, got {cb!r}."
                )
            hooks = _overridden_uncalled_hooks(cb)
            if hooks:
                raise NotSupportedError(
                    f"{type(cb).__name__} overrides {', '.join(hooks)}, which gdlab never calls: "
                    "each epoch's batches run inside one compiled program, and fit calls only "
                    "on_train_begin/end and on_epoch_begin/end. Move that work to on_epoch_end."
                )
            cb.set_model(model)
            cb.set_params(params)

    def on_train_begin(self, logs: Logs = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)


# ------------------------------------------------------------------ monitoring


def _check_monitor(owner: str, monitor: Any, mode: Any) -> None:
    if not isinstance(monitor, str) or not monitor:
        raise ConfigError(f"`monitor` of `{owner}` must be a metric name such as 'val_loss', "
                          f"got {monitor!r}.")
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"`mode` of `{owner}` must be 'auto', 'min' or 'max', got {mode!r}.")


def _minimize(monitor: str, mode: str, model: Any) -> bool:
    if hasattr(model, "_metric_directions"):
        directions = model._metric_directions()
    else:  # a model-like object naming its (accuracy) metrics only
        directions = dict.fromkeys(getattr(model, "_metric_names", ()), True)
    return _es.resolve_minimize(monitor, mode,
                                tuple(k for k, up in directions.items() if up),
                                tuple(k for k, up in directions.items() if not up))


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving (Keras 3's rule).

    At each epoch end from ``start_from_epoch`` on, an improvement is a value
    better than the best so far by more than ``min_delta``; after ``patience``
    epochs without one, training stops. ``baseline``: epochs that improve but
    do not beat it still count as waiting. ``restore_best_weights``: at the end
    of training (stopped or not) the weights of the best epoch come back.
    The rule itself is :func:`gdlab.early_stopping.update`.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__()
        _check_monitor("EarlyStopping", monitor, mode)
        self._rule = _es.early_stopping_params("min", min_delta, patience, baseline,
                                               start_from_epoch)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = self._rule.min_delta
        self.patience = self._rule.patience
        self.baseline = baseline
        self.start_from_epoch = self._rule.start_from_epoch
        self.verbose = verbose
        self.restore_best_weights = bool(restore_best_weights)
        self._reset()

    def _reset(self) -> None:
        self._state = _es.init()
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: list | None = None

    def on_train_begin(self, logs: Logs = None) -> None:
        self._reset()  # Keras lets one instance serve several fit calls
        self._rule = self._rule._replace(minimize=_minimize(self.monitor, self.mode, self.model))

    def get_monitor_value(self, logs: Logs) -> float | None:
        """The monitored value in ``logs``, or None (with Keras's warning)."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=3,
            )
        return value

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        current = self.get_monitor_value(logs)
        if current is None:
            return
        self._state, improved = _es.update(self._state, float(current), epoch, self._rule)
        s = self._state
        if bool(improved) and self.restore_best_weights:
            self.best_weights = self.model.get_weights()
        self.wait = int(s.wait)
        self.best = float(s.best) if bool(s.has_best) else None
        self.best_epoch = int(s.best_epoch)
        self.stopped_epoch = int(s.stopped_epoch)
        if bool(s.stopped):
            self.model.stop_training = True

    def on_train_end(self, logs: Logs = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


# ------------------------------------------------------------------ checkpoints


def _check_template(filepath: str) -> None:
    """Only plain names in ``{...}`` (``{epoch:02d}``, ``{val_loss:.2f}``): no attribute access."""
    try:
        fields = list(Formatter().parse(filepath))
    except ValueError as e:
        raise ConfigError(f"Cannot read the ModelCheckpoint filepath {filepath!r}: {e}.") from None
    for _, name, spec, _ in fields:
        if name is None:
            continue
        if not name.isidentifier() or "{" in (spec or ""):
            raise ConfigError(
                f"The ModelCheckpoint filepath {filepath!r} has the field {{{name}}}; fields "
                "must be plain names such as {epoch:02d} or {val_loss:.2f}."
            )


def format_filepath(filepath: str, epoch: int, logs: Logs) -> str:
    """Keras's file name: ``filepath.format(epoch=epoch + 1, **logs)``, checked."""
    _check_template(filepath)
    values = {"epoch": epoch + 1, **(logs or {})}
    missing = [name for _, name, _, _ in Formatter().parse(filepath)
               if name is not None and name not in values]
    if missing:
        raise ConfigError(
            f"Failed to format the ModelCheckpoint filepath {filepath!r}: no value for "
            f"{{{missing[0]}}}. Available names: {', '.join(values)}."
        )
    try:
        return filepath.format(**values)
    except ValueError as e:
        raise ConfigError(f"Failed to format the ModelCheckpoint filepath {filepath!r}: {e}.") from None


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at epoch ends, optionally only when it improves.

    Files are gdlab checkpoints (:mod:`gdlab.checkpoint`: weights in
    safetensors, architecture and settings in JSON) whatever the name ends
    with, so the course's ``weights.hdf5`` works; ``load_model`` /
    ``load_weights`` read them back. ``filepath`` may contain ``{epoch}`` and
    metric names, e.g. ``weights.{epoch:02d}-{val_loss:.2f}.hdf5``.
    """

    def __init__(self, filepath: Any, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: Any = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__()
        _check_monitor("ModelCheckpoint", monitor, mode)
        self.filepath = os.fspath(filepath) if isinstance(filepath, os.PathLike) else str(filepath)
        _check_template(self.filepath)
        if save_freq != "epoch":
            if isinstance(save_freq, int) and not isinstance(save_freq, bool):
                raise NotSupportedError(
                    f"save_freq={save_freq} (every {save_freq} batches) is not available: gdlab "
                    "runs each epoch's batches inside one compiled program. Use "
                    "save_freq='epoch'."
                )
            raise ConfigError(f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch'.")
        if initial_value_threshold is not None and (
                isinstance(initial_value_threshold, bool)
                or not isinstance(initial_value_threshold, int | float)
                or math.isnan(initial_value_threshold)):
            raise ConfigError(
                "`initial_value_threshold` of `ModelCheckpoint` must be a number or None, "
                f"got {initial_value_threshold!r}."
            )
        self.monitor = monitor
        self.mode = mode
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = save_freq
        # Like Keras, the best value survives across fit calls on one instance.
        self.best: float | None = initial_value_threshold
        self._minimize_flag: bool | None = None

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = logs or {}
        filepath = format_filepath(self.filepath, epoch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        self.model._save_checkpoint(filepath, weights_only=self.save_weights_only,
                                    checkpoint={"epoch": epoch + 1, "logs": dict(logs)})
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _should_save(self, epoch: int, logs: dict[str, float], filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=3)
            return True
        if self._minimize_flag is None:
            self._minimize_flag = _minimize(self.monitor, self.mode, self.model)
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is None or bool(_es.is_improvement(float(current), self.best,
                                                         self._minimize_flag)):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = float(current)
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False


# ------------------------------------------------------------------ TensorBoard


class TensorBoard(Callback):
    """Log each epoch's metrics for TensorBoard, in Keras's layout, without TensorFlow.

    ``log_dir/train`` gets ``epoch_loss``, ``epoch_<metric>`` and
    ``epoch_learning_rate``; ``log_dir/validation`` gets the ``val_`` metrics
    under the same tags and ``evaluation_<metric>_vs_iterations`` (step = the
    optimizer's update count). ``write_graph`` draws the model in the Graphs
    tab; ``histogram_freq=n`` logs weight histograms every n epochs;
    ``write_steps_per_second`` logs ``epoch_steps_per_second``. Batch-level
    logging, profiling, weight images and embeddings are not available.
    View with ``tensorboard --logdir log_dir``.
    """

    def __init__(self, log_dir: Any = "logs", histogram_freq: int = 0, write_graph: bool = True,
                 write_images: bool = False, write_steps_per_second: bool = False,
                 update_freq: Any = "epoch", profile_batch: Any = 0, embeddings_freq: int = 0,
                 embeddings_metadata: Any = None) -> None:
        super().__init__()
        if update_freq != "epoch":
            raise NotSupportedError(
                f"update_freq={update_freq!r} (batch-level logging) is not available: gdlab runs "
                "each epoch's batches inside one compiled program. Use update_freq='epoch'."
            )
        for arg, value in [("write_images", write_images), ("profile_batch", profile_batch),
                           ("embeddings_freq", embeddings_freq),
                           ("embeddings_metadata", embeddings_metadata)]:
            if value:
                raise NotSupportedError(f"`{arg}` of TensorBoard is not supported by gdlab.")
        if (isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int)
                or histogram_freq < 0):
            raise ConfigError(
                f"`histogram_freq` of `TensorBoard` must be an integer >= 0, got {histogram_freq!r}."
            )
        self.log_dir = str(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = update_freq
        self._run: RunWriter | None = None
        self._epoch_start = (0.0, 0)

    def on_train_begin(self, logs: Logs = None) -> None:
        from gdlab.tensorboard import RunWriter  # tensorboardX loads only when used

        self._run = RunWriter(self.log_dir)
        if self.write_graph:
            self._run.keras_model(self.model.get_config(), step=0)

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._epoch_start = (time.perf_counter(), self.model.optimizer.iterations)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        from gdlab.tensorboard import TRAIN, VALIDATION, split_logs

        run = self._run
        train, validation = split_logs(logs or {})
        optimizer = self.model.optimizer
        train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            t0, it0 = self._epoch_start
            seconds = time.perf_counter() - t0
            train["steps_per_second"] = (optimizer.iterations - it0) / seconds if seconds else math.inf
        for name, value in train.items():
            run.scalar(f"epoch_{name}", value, epoch, subdir=TRAIN)
        for name, value in validation.items():
            run.scalar(f"epoch_{name}", value, epoch, subdir=VALIDATION)
            run.scalar(f"evaluation_{name}_vs_iterations", value, optimizer.iterations,
                       subdir=VALIDATION)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for path, weight in self.model._weight_paths():
                run.histogram(f"{path}/histogram", weight, epoch, subdir=TRAIN)
        run.flush()

    def on_train_end(self, logs: Logs = None) -> None:
        if self._run is not None:
            self._run.close()
            self._run = None
