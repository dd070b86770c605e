"""Keras's metrics for ``compile(metrics=..., weighted_metrics=...)``.

A metric is given by name (``"accuracy"``, ``"mae"``, ``"mse"``,
``"root_mean_squared_error"``, Keras's class names, or gdlab's ``"rmse"``) or as
an instance of a class below; its History key is the name as given (an
instance's ``name``), as in Keras. ``'accuracy'`` becomes binary, categorical
or sparse categorical accuracy from the shapes of targets and outputs.
"""

from __future__ import annotations

from typing import Any

from gdlab import losses as _losses
from gdlab.errors import ConfigError

__all__ = [
    "BinaryAccuracy", "CategoricalAccuracy", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError",
    "Metric", "RootMeanSquaredError", "SparseCategoricalAccuracy", "get", "serialize",
]


class Metric:
    """A Keras metric object: the engine's metric ``kind`` and a ``name`` for History."""

    kind = ""

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        del dtype
        self.name = name or self.kind

    def get_config(self) -> dict[str, Any]:
        """Keras-style configuration."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class BinaryAccuracy(Metric):
    """How often ``(y_pred > 0.5) == y_true``."""

    kind = "binary_accuracy"

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None,
                 threshold: float = 0.5) -> None:
        if float(threshold) != 0.5:
            raise ConfigError(f"gdlab's BinaryAccuracy uses the 0.5 threshold; got {threshold}.")
        super().__init__(name, dtype)


class CategoricalAccuracy(Metric):
    """How often ``argmax(y_pred) == argmax(y_true)``."""

    kind = "categorical_accuracy"


class SparseCategoricalAccuracy(Metric):
    """How often ``argmax(y_pred) == y_true`` (integer labels)."""

    kind = "sparse_categorical_accuracy"


class MeanSquaredError(Metric):
    """The mean squared error."""

    kind = "mean_squared_error"


class RootMeanSquaredError(Metric):
    """The square root of the mean squared error over the epoch or set."""

    kind = "root_mean_squared_error"


class MeanAbsoluteError(Metric):
    """The mean absolute error."""

    kind = "mean_absolute_error"


class MeanAbsolutePercentageError(Metric):
    """100 x the mean of ``|y - y_pred| / max(|y|, 1e-7)``."""

    kind = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(Metric):
    """The mean squared difference of ``log(1 + max(., 1e-7))``."""

    kind = "mean_squared_logarithmic_error"


_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls for cls in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                  MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
                                  MeanAbsolutePercentageError, MeanSquaredLogarithmicError)
}


def serialize(metric: Any) -> Any:
    """A metric object (or class) as Keras's ``{"class_name", "config"}`` dict."""
    if isinstance(metric, type):
        metric = metric()
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def get(identifier: Any) -> tuple[str, str]:
    """``(History name, registry kind)`` of a metric identifier (``kind`` may be 'accuracy').

    Accepts a name, an instance or class of this module, or Keras's
    ``{"class_name", "config"}`` dict.
    """
    if isinstance(identifier, str):
        return identifier, _losses.canonical_metric(identifier)
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        identifier = _CLASSES[identifier["class_name"]](**(identifier.get("config") or {}))
    if isinstance(identifier, type) and issubclass(identifier, Metric) and identifier.kind:
        identifier = identifier()
    if isinstance(identifier, Metric):
        return identifier.name, identifier.kind
    raise ConfigError(
        f"Cannot read the metric {identifier!r}: give a name such as 'accuracy', 'mae' or "
        "'mse', or a gdlab.keras.metrics object.")
