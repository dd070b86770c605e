"""Keras utilities used by course code, and tf.keras 2.5's ``tf.keras.utils`` names.

Working: ``set_random_seed``, ``to_categorical``, ``normalize``, ``Sequence``,
``pack_x_y_sample_weight``, ``unpack_x_y_sample_weight``. The other names of
TensorFlow 2.5's ``tf.keras.utils`` exist and raise a NotSupportedError that
says what to use instead (docs/keras-compat.md).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NoReturn

import numpy as np

from gdlab.errors import DataError, NotSupportedError
from gdlab.keras import _state
from gdlab.keras._compat import unpack_x_y_sample_weight

__all__ = [
    "CustomObjectScope", "GeneratorEnqueuer", "OrderedEnqueuer", "Progbar", "Sequence",
    "SequenceEnqueuer", "custom_object_scope", "deserialize_keras_object", "experimental",
    "get_custom_objects", "get_file", "get_registered_name", "get_registered_object",
    "get_source_inputs", "model_to_dot", "normalize", "pack_x_y_sample_weight", "plot_model",
    "register_keras_serializable", "serialize_keras_object", "set_random_seed",
    "to_categorical", "unpack_x_y_sample_weight",
]


def set_random_seed(seed: int) -> None:
    """Make later weight draws and shuffles reproducible (and seed Python and NumPy)."""
    _state.set_seed(seed)


def to_categorical(x: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels ``0..num_classes-1`` (float32 unless ``dtype``)."""
    arr = np.asarray(x)
    if arr.ndim > 1 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.size and (np.any(arr < 0) or np.any(arr != np.round(arr))):
        raise DataError("to_categorical needs non-negative integer labels.")
    labels = arr.astype(np.int64)
    n = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= n:
        raise DataError(f"Label {labels.max()} does not fit num_classes={n}.")
    out = np.zeros((*labels.shape, n), np.float32)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out.astype(dtype, copy=False)


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """``x`` divided by its L-``order`` norm along ``axis`` (all-zero slices stay zero)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1  # as tf.keras: a zero vector has no direction; leave it at zero
    return x / np.expand_dims(norm, axis)


class Sequence:
    """Base class of batch sequences (``__getitem__`` gives batch ``i``, ``__len__`` their number).

    ``fit_generator``, ``evaluate_generator`` and ``predict_generator`` read one.
    """

    def __getitem__(self, index: int) -> Any:
        """Batch ``index``: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
        raise NotImplementedError

    def __len__(self) -> int:
        """Number of batches."""
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        """Called by tf.keras at the end of every epoch (gdlab reads the batches once)."""

    def __iter__(self) -> Any:
        """The batches in order."""
        for i in range(len(self)):
            yield self[i]


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``: the data tuple Keras unpacks."""
    if y is None:
        # A lone array stays unwrapped; a lone list/tuple/dict is wrapped, so that
        # unpacking it gives it back whole (tf.keras 2.5's rule).
        return (x,) if isinstance(x, list | tuple | dict) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


# ------------------------------------------------------------- unsupported names

_CUSTOM = ("gdlab models hold built-in layers, activations and initializers only, so there "
           "are no custom objects; save and rebuild models with model.to_json() and "
           "gdlab.keras.models.model_from_json")
_QUEUES = ("gdlab reads a generator's batches into arrays (no loading threads); pass the "
           "generator or Sequence to model.fit_generator, or the arrays to model.fit")
_PLOT = ("drawing the graph needs pydot and graphviz, which gdlab does not use; print the "
         "layers with model.summary() instead")

UNSUPPORTED: dict[str, str] = {
    "CustomObjectScope": _CUSTOM,
    "custom_object_scope": _CUSTOM,
    "get_custom_objects": _CUSTOM,
    "register_keras_serializable": _CUSTOM,
    "get_registered_name": _CUSTOM,
    "get_registered_object": _CUSTOM,
    "serialize_keras_object": ("gdlab serializes whole models only; use model.get_config() or "
                               "model.to_json()"),
    "deserialize_keras_object": ("gdlab rebuilds whole models only; use "
                                 "gdlab.keras.models.model_from_json or Sequential.from_config"),
    "GeneratorEnqueuer": _QUEUES,
    "OrderedEnqueuer": _QUEUES,
    "SequenceEnqueuer": _QUEUES,
    "Progbar": ("gdlab runs batches inside one compiled program, so there is no custom "
                "training loop to report on; fit, evaluate and predict print Keras's progress "
                "lines with verbose=1"),
    "get_file": ("gdlab works offline and downloads nothing through Keras; load data with "
                 "gdlab.datasets (load('wine'), load('banknotes'), load_csv(path)) or "
                 "pandas.read_csv on a local file"),
    "get_source_inputs": "gdlab models have one input; use model.inputs",
    "model_to_dot": _PLOT,
    "plot_model": _PLOT,
    "experimental.DatasetCreator": ("it feeds tf.distribute's parameter-server training, which "
                                    "gdlab does not run; pass arrays to model.fit"),
}


def _message(name: str) -> str:
    return f"tf.keras.utils.{name} is not supported by gdlab: {UNSUPPORTED[name]}."


def _unsupported_function(name: str) -> Any:
    def function(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotSupportedError(_message(name))

    function.__name__ = function.__qualname__ = name.rsplit(".", 1)[-1]
    function.__doc__ = f"Not supported by gdlab. {_message(name)}"
    return function


def _unsupported_class(name: str) -> type:
    # A class (not a function), so that subclassing it in course code fails at the
    # same clear point: creating an instance.
    def __init__(self: Any, *args: Any, **kwargs: Any) -> NoReturn:  # noqa: N807
        raise NotSupportedError(_message(name))

    short = name.rsplit(".", 1)[-1]
    return type(short, (), {"__init__": __init__, "__module__": __name__,
                            "__doc__": f"Not supported by gdlab. {_message(name)}"})


CustomObjectScope = _unsupported_class("CustomObjectScope")
custom_object_scope = _unsupported_class("custom_object_scope")
GeneratorEnqueuer = _unsupported_class("GeneratorEnqueuer")
OrderedEnqueuer = _unsupported_class("OrderedEnqueuer")
SequenceEnqueuer = _unsupported_class("SequenceEnqueuer")
Progbar = _unsupported_class("Progbar")
get_custom_objects = _unsupported_function("get_custom_objects")
register_keras_serializable = _unsupported_function("register_keras_serializable")
get_registered_name = _unsupported_function("get_registered_name")
get_registered_object = _unsupported_function("get_registered_object")
serialize_keras_object = _unsupported_function("serialize_keras_object")
deserialize_keras_object = _unsupported_function("deserialize_keras_object")
get_file = _unsupported_function("get_file")
get_source_inputs = _unsupported_function("get_source_inputs")
model_to_dot = _unsupported_function("model_to_dot")
plot_model = _unsupported_function("plot_model")
experimental = SimpleNamespace(DatasetCreator=_unsupported_class("experimental.DatasetCreator"))
