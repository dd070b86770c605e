"""Keras's losses for ``compile(loss=...)``: names, classes and functions.

``compile`` takes a loss by name (``"binary_crossentropy"``, ``"mse"``, ...),
as a class instance (``BinaryCrossentropy(from_logits=True)``), as one of the
functions below, or as Keras's serialized dict. The math is gdlab's engine's
(:mod:`gdlab.losses`), which has Keras 3's definitions; the functions here
return one value per example, as Keras's do.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from gdlab import losses as _losses
from gdlab.errors import ConfigError, NotSupportedError

__all__ = [
    "BinaryCrossentropy", "CategoricalCrossentropy", "Huber", "LogCosh", "Loss",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "SparseCategoricalCrossentropy", "binary_crossentropy",
    "categorical_crossentropy", "get", "huber", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "sparse_categorical_crossentropy", "mae", "mape", "mse", "msle",
]


class Loss:
    """A Keras loss object: the engine's loss ``kind``, ``from_logits`` and Keras's settings.

    Only Keras's default reduction (``"sum_over_batch_size"``: a batch's
    weighted sum divided by its rows) is supported.
    """

    kind = ""
    accepts_logits = False

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size",
                 dtype: Any = None, from_logits: bool = False) -> None:
        if reduction not in ("sum_over_batch_size", "auto"):
            raise NotSupportedError(
                f"gdlab.keras supports Keras's default loss reduction 'sum_over_batch_size' "
                f"(a batch's weighted sum divided by its size); got reduction={reduction!r}.")
        if dtype not in (None, "float32", np.float32):
            raise NotSupportedError(f"gdlab computes in float32; got dtype {dtype!r}.")
        if from_logits and not self.accepts_logits:
            raise ConfigError(f"{type(self).__name__} takes no `from_logits`.")
        self.name = name or self.kind
        self.reduction = "sum_over_batch_size"
        self.from_logits = bool(from_logits)

    def get_config(self) -> dict[str, Any]:
        """Keras-style configuration."""
        config: dict[str, Any] = {"name": self.name, "reduction": self.reduction}
        if self.accepts_logits:
            config["from_logits"] = self.from_logits
        return config

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """The reduced loss of a batch, as Keras's ``Loss.__call__``."""
        per = _per_example(self.kind, y_true, y_pred, self.from_logits)
        if sample_weight is not None:
            per = per * np.asarray(sample_weight, np.float32).reshape(per.shape)
        return float(np.sum(per) / max(per.size, 1))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class _CrossEntropy(Loss):
    accepts_logits = True

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: str = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        if label_smoothing:
            raise NotSupportedError(
                "label_smoothing is not supported by gdlab; smooth the targets yourself "
                "(y * (1 - s) + s / k) if you need it.")
        if axis != -1:
            raise NotSupportedError("gdlab's outputs are (rows, units): the loss axis is -1.")
        if kwargs.pop("ignore_class", None) is not None:
            raise NotSupportedError("ignore_class is not supported by gdlab.")
        if kwargs:
            raise ConfigError(f"Unknown argument(s): {', '.join(sorted(kwargs))}.")
        super().__init__(name=name, reduction=reduction, dtype=dtype, from_logits=from_logits)


class BinaryCrossentropy(_CrossEntropy):
    """Binary cross-entropy; ``from_logits=True`` reads the output as logits."""

    kind = "binary_crossentropy"


class CategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy on one-hot (or soft) targets."""

    kind = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy on integer class targets."""

    kind = "sparse_categorical_crossentropy"


class MeanSquaredError(Loss):
    """Mean over outputs of the squared error."""

    kind = "mean_squared_error"


class MeanAbsoluteError(Loss):
    """Mean over outputs of the absolute error."""

    kind = "mean_absolute_error"


class MeanAbsolutePercentageError(Loss):
    """100 x mean over outputs of ``|y - y_pred| / max(|y|, 1e-7)``."""

    kind = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(Loss):
    """Mean over outputs of the squared difference of ``log(1 + max(., 1e-7))``."""

    kind = "mean_squared_logarithmic_error"


class Huber(Loss):
    """Huber loss with Keras's default ``delta=1``."""

    kind = "huber"

    def __init__(self, delta: float = 1.0, reduction: str = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None) -> None:
        if float(delta) != 1.0:
            raise NotSupportedError(f"gdlab's Huber loss has delta=1 (Keras's default); got {delta}.")
        super().__init__(name=name or "huber_loss", reduction=reduction, dtype=dtype)


class LogCosh(Loss):
    """Mean over outputs of ``log(cosh(y_pred - y))``."""

    kind = "log_cosh"


_CLASSES: dict[str, type[Loss]] = {
    cls.kind: cls for cls in (BinaryCrossentropy, CategoricalCrossentropy,
                              SparseCategoricalCrossentropy, MeanSquaredError,
                              MeanAbsoluteError, MeanAbsolutePercentageError,
                              MeanSquaredLogarithmicError, Huber, LogCosh)
}


def _per_example(kind: str, y_true: Any, y_pred: Any, from_logits: bool) -> np.ndarray:
    y_pred = jnp.asarray(y_pred, jnp.float32)
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    y_true = jnp.asarray(y_true, jnp.float32)
    if y_true.ndim == y_pred.ndim - 1:  # a label or value per row: a column
        y_true = y_true[..., None]
    fn = _losses.LOSSES[kind].fn
    return np.asarray(fn(y_true, y_pred, y_pred, from_logits))


def _function(kind: str):
    def loss(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
        return _per_example(kind, y_true, y_pred, from_logits)

    loss.__name__ = kind
    loss.__qualname__ = kind
    loss.__doc__ = f"Keras's ``{kind}``: one value per example. " + (
        _losses.LOSSES[kind].fn.__doc__ or "")
    return loss


binary_crossentropy = _function("binary_crossentropy")
categorical_crossentropy = _function("categorical_crossentropy")
sparse_categorical_crossentropy = _function("sparse_categorical_crossentropy")
mean_squared_error = mse = _function("mean_squared_error")
mean_absolute_error = mae = _function("mean_absolute_error")
mean_absolute_percentage_error = mape = _function("mean_absolute_percentage_error")
mean_squared_logarithmic_error = msle = _function("mean_squared_logarithmic_error")
huber = _function("huber")
log_cosh = _function("log_cosh")


def get(identifier: Any) -> tuple[str, bool, Any]:
    """``(registry name, from_logits, serializable form)`` of a loss identifier.

    Accepts a name (Keras's names and aliases), an instance or class of this
    module, one of its functions, or Keras's ``{"class_name", "config"}`` dict.
    """
    if isinstance(identifier, str):
        return _losses.canonical_loss(identifier), False, identifier
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        config = dict(identifier.get("config") or {})
        cls = {c.__name__: c for c in _CLASSES.values()}.get(name)
        if cls is None:
            return get(str(name)) if isinstance(name, str) else get(None)
        config.pop("name", None)
        return get(cls(**config))
    if isinstance(identifier, type) and issubclass(identifier, Loss) and identifier.kind:
        return get(identifier())
    if isinstance(identifier, Loss):
        serial = {"class_name": type(identifier).__name__, "config": identifier.get_config()}
        return identifier.kind, identifier.from_logits, serial
    if callable(identifier) and getattr(identifier, "__name__", None) in _losses.LOSSES:
        return identifier.__name__, False, identifier.__name__
    raise ConfigError(
        f"Cannot read the loss {identifier!r}: give a name such as 'binary_crossentropy', "
        "'categorical_crossentropy' or 'mse', or a gdlab.keras.losses object such as "
        "BinaryCrossentropy(from_logits=True).")
