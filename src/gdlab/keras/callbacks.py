"""Keras's callback protocol: ``Callback``, ``History`` and ``LambdaCallback``.

``fit`` runs its compiled program one epoch at a time and calls
``on_epoch_begin`` / ``on_epoch_end(epoch, logs)`` between epochs, with the
model's weights already synced, so a callback can read or replace them or set
``model.stop_training``. Batch-level hooks are not called: batches run inside
the compiled program.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Callback", "CallbackList", "History", "LambdaCallback"]


class Callback:
    """Base class for user callbacks; override the hooks you need."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        """Attach the model being trained."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Attach the training parameters (``verbose``, ``epochs``, ``steps``)."""
        self.params = params

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """Called once after the last epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Called before each epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Called after each epoch with its metrics."""


class History(Callback):
    """Records each epoch's metrics: ``history.history[name]`` and ``history.epoch``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class LambdaCallback(Callback):
    """A callback from plain functions, as ``keras.callbacks.LambdaCallback``."""

    def __init__(self, on_epoch_begin: Callable | None = None,
                 on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None,
                 on_train_end: Callable | None = None, **kwargs: Any) -> None:
        super().__init__()
        batch_hooks = {k for k in kwargs if "batch" in k}
        if batch_hooks:
            from gdlab.errors import NotSupportedError

            raise NotSupportedError(
                f"Batch-level hooks ({', '.join(sorted(batch_hooks))}) are not available: "
                "gdlab runs each epoch's batches inside one compiled program."
            )
        if kwargs:
            from gdlab.errors import ConfigError

            raise ConfigError(f"Unknown LambdaCallback argument(s): {', '.join(sorted(kwargs))}.")
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin  # type: ignore[method-assign]
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end  # type: ignore[method-assign]
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin  # type: ignore[method-assign]
        if on_train_end is not None:
            self.on_train_end = on_train_end  # type: ignore[method-assign]


class CallbackList:
    """Calls a list of callbacks in order."""

    def __init__(self, callbacks: Iterable[Callback], model: Any, params: dict[str, Any]):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                from gdlab.errors import ConfigError

                raise ConfigError(
                    f"Callbacks must be gdlab.keras.callbacks.Callback objects, got {cb!r}."
                )
            cb.set_model(model)
            cb.set_params(params)

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)
