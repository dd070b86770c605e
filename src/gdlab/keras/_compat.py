"""tf.keras 2.x (TensorFlow 2.5, the course's) API on gdlab.keras models.

Course code written for TensorFlow 2.5 calls methods that Keras 3 no longer has
(``predict_classes``, ``fit_generator``, ...) and passes 1-D inputs that
tf.keras 2.x expanded to one column. This module gives :class:`Model` and
:class:`Sequential` those methods through two mixins, and gives every other
tf.keras 2.5 ``Model`` member a clear :class:`NotSupportedError` naming what to
use instead, so no call ends in a bare ``AttributeError``. The full list, with
what works and what does not: docs/keras-compat.md.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from gdlab.errors import ConfigError, DataError, NotSupportedError, ShapeError
from gdlab.pitfalls import GdlabWarning
from gdlab.validation import as_features

__all__ = ["KerasDeprecated", "NotProbabilities", "as_keras_features", "ModelCompat",
           "SequentialCompat", "UNSUPPORTED_METHODS", "UNSUPPORTED_PROPERTIES"]


class KerasDeprecated(GdlabWarning, FutureWarning):
    """A tf.keras 2.x method that TensorFlow deprecated and Keras 3 removed."""

    name = "keras-deprecated"


class NotProbabilities(GdlabWarning):
    """``predict_proba`` on a network whose outputs fall outside [0, 1]."""

    name = "not-probabilities"


PREDICT_CLASSES_DEPRECATED = (
    "`model.predict_classes()` was deprecated in tf.keras 2.x and removed in TensorFlow 2.6: "
    "use `np.argmax(model.predict(x), axis=-1)` for a multi-class (softmax) output, or "
    "`(model.predict(x) > 0.5).astype(\"int32\")` for a binary (one sigmoid unit) output."
)

PREDICT_PROBA_DEPRECATED = (
    "`model.predict_proba()` was deprecated in tf.keras 2.x and removed in TensorFlow 2.6: "
    "use `model.predict(x)`, which returns the same values."
)

NOT_PROBABILITIES = (
    "predict_proba: the network returns values from {low:g} to {high:g}, outside [0, 1]: its "
    "last layer does not turn outputs into probabilities (give it a 'sigmoid' or 'softmax' "
    "activation)."
)

GENERATOR_DEPRECATED = (
    "`model.{name}()` was deprecated in TensorFlow 2.1 and removed in Keras 3: use "
    "`model.{replacement}` with arrays. gdlab read {n_batches} batch(es) of {batch_size} rows "
    "from the generator into arrays{reuse}."
)

APPLY_DEPRECATED = (
    "`model.apply()` was deprecated in tf.keras 2.x and removed in Keras 3: use `model(x)` "
    "or `model.predict(x)`."
)

ONE_D_X = (
    "`{name}` is 1-D (shape {shape}), but the model expects {n} features per row (input shape "
    "(None, {n})); a 1-D `{name}` is read as one feature column, as tf.keras 2.x did, so pass "
    "a 2-D array of shape (samples, {n}){hint}."
)


# ------------------------------------------------------------------- 1-D inputs


def _ndim(x: Any) -> int | None:
    """The number of axes of an array, table or nested list (None when unknown)."""
    nd = getattr(x, "ndim", None)
    if isinstance(nd, int):
        return nd
    if isinstance(x, list | tuple):
        try:
            return np.asarray(x).ndim
        except ValueError:  # ragged lists: as_features names the problem
            return None
    return None


def expand_1d(x: Any, *, name: str = "x", n_features: int | None = None) -> Any:
    """tf.keras 2.x's ``expand_1d``: a 1-D ``x`` becomes one column ``(n, 1)``.

    Only for a model with one input feature, or an unbuilt one (it then builds
    for one feature); a 1-D ``x`` for a model with several features is a
    ShapeError naming both shapes. Anything else is returned unchanged.
    """
    if x is None or _ndim(x) != 1:
        return x
    if n_features is not None and n_features != 1:
        shape = tuple(np.shape(x))
        hint = ", e.g. x.reshape(1, -1) for a single row" if shape[0] == n_features else ""
        raise ShapeError(ONE_D_X.format(name=name, shape=shape, n=n_features, hint=hint))
    if hasattr(x, "to_frame"):  # a pandas Series: keep its name and dtype checks
        return x.to_frame()
    return np.asarray(x)[:, None]


def as_keras_features(x: Any, *, name: str = "x", n_features: int | None = None) -> np.ndarray:
    """:func:`gdlab.validation.as_features` for gdlab.keras: 1-D ``x`` allowed for one feature.

    scikit-learn estimators keep requiring 2-D inputs (their convention); Keras
    models accept what tf.keras 2.x accepted.
    """
    return as_features(expand_1d(x, name=name, n_features=n_features), name=name,
                       n_features=n_features)


# ------------------------------------------------------------------- generators


def _is_sequence(data: Any) -> bool:
    """A ``keras.utils.Sequence``-like object: indexable batches with a length."""
    return (hasattr(data, "__getitem__") and hasattr(data, "__len__")
            and not isinstance(data, list | tuple | dict | str | np.ndarray))


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` as a 3-tuple (TF 2.5's rule)."""
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise DataError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
        f"found a tuple of {len(data)} elements."
    )


def _stack(parts: list[Any]) -> np.ndarray | None:
    if all(p is None for p in parts):
        return None
    if any(p is None for p in parts):
        raise DataError("Some batches of the generator have targets (or weights) and some not.")
    return np.concatenate([np.asarray(p) for p in parts], axis=0)


def read_batches(data: Any, steps: int | None, what: str
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int, int]:
    """A generator's (or Sequence's) first ``steps`` batches as arrays.

    Returns ``(x, y, sample_weight, n_batches, batch_size)``; ``steps=None``
    reads a Sequence's ``len`` batches or a generator to its end, as TF did.
    Batches must have one size (the last may be smaller), so that training on
    the arrays with that batch size gives the same batches.
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int | np.integer)
                              or steps < 1):
        raise ConfigError(f"`steps` must be a positive integer or None, got {steps!r}.")
    if _is_sequence(data):
        n = len(data) if steps is None else min(int(steps), len(data))
        batches = [data[i] for i in range(n)]
    else:
        try:
            it = iter(data)
        except TypeError:
            raise DataError(
                f"The {what} data must be a generator or a keras.utils.Sequence yielding "
                f"(x, y) batches, got {type(data).__name__}."
            ) from None
        batches = list(itertools.islice(it, None if steps is None else int(steps)))
    if not batches:
        raise DataError(f"The {what} generator yielded no batches.")
    xs, ys, ws = zip(*(unpack_x_y_sample_weight(b) for b in batches), strict=True)
    sizes = [len(x) for x in xs]
    size = sizes[0]
    if any(s != size for s in sizes[:-1]) or sizes[-1] > size:
        raise NotSupportedError(
            f"The {what} generator's batches have sizes {sizes}; gdlab trains on arrays cut in "
            "equal batches (the last may be smaller), so yield equal batches or pass the arrays "
            "to fit(x, y, batch_size=...)."
        )
    return _stack(list(xs)), _stack(list(ys)), _stack(list(ws)), len(batches), size


# ------------------------------------------------------------- unsupported names


def _sentence(name: str, why: str) -> str:
    return f"`model.{name}` is not supported by gdlab: {why}."


_MASKS = "gdlab's dense layers on tabular rows use no masks (they are for padded sequences)"
_NODES = ("gdlab models are chains called once; read `model.input`, `model.output`, "
          "`model.input_shape` or `model.output_shape` instead")
_SUBCLASS = ("it is an override point for subclassed models, which gdlab does not support; "
             "build a Sequential or functional Model and train it with `fit`")
_CUSTOM = ("gdlab models take their loss and metrics from `compile(loss=..., metrics=[...])` "
           "and their weights from Dense layers; custom ones need subclassing, which gdlab "
           "does not support")
_PROGRAMS = ("gdlab compiles its own training, evaluation and prediction programs; call "
             "`fit`, `evaluate` or `predict`")

UNSUPPORTED_METHODS: dict[str, str] = {
    "add_loss": _sentence("add_loss", _CUSTOM),
    "add_metric": _sentence("add_metric", _CUSTOM),
    "add_update": _sentence("add_update", "gdlab layers have no state updates (no "
                            "BatchNormalization); nothing is left to add"),
    "add_variable": _sentence("add_variable", _CUSTOM),
    "add_weight": _sentence("add_weight", _CUSTOM),
    "call": _sentence("call", "it defines a subclassed model's forward pass, which gdlab does "
                      "not support; compute outputs with `model(x)` or `model.predict(x)`"),
    "compute_mask": _sentence("compute_mask", _MASKS),
    "compute_output_signature": _sentence(
        "compute_output_signature", "gdlab has no tf.TensorSpec; use "
        "`model.compute_output_shape(input_shape)`"),
    "get_input_at": _sentence("get_input_at", _NODES),
    "get_input_mask_at": _sentence("get_input_mask_at", _MASKS),
    "get_input_shape_at": _sentence("get_input_shape_at", _NODES),
    "get_output_at": _sentence("get_output_at", _NODES),
    "get_output_mask_at": _sentence("get_output_mask_at", _MASKS),
    "get_output_shape_at": _sentence("get_output_shape_at", _NODES),
    "get_losses_for": _sentence("get_losses_for", "it was deprecated in tf.keras 2.x, and gdlab "
                                "models have no added losses; use `model.losses` (always [])"),
    "get_updates_for": _sentence("get_updates_for", "it was deprecated in tf.keras 2.x, and gdlab "
                                 "layers have no state updates"),
    "make_predict_function": _sentence("make_predict_function", _PROGRAMS),
    "make_test_function": _sentence("make_test_function", _PROGRAMS),
    "make_train_function": _sentence("make_train_function", _PROGRAMS),
    "predict_step": _sentence("predict_step", _SUBCLASS),
    "test_step": _sentence("test_step", _SUBCLASS),
    "train_step": _sentence("train_step", _SUBCLASS),
    "to_yaml": _sentence("to_yaml", "TensorFlow 2.6 removed it (loading YAML could run "
                         "arbitrary code); use `model.to_json()`, which "
                         "`gdlab.keras.models.model_from_json` reads back"),
    "with_name_scope": _sentence("with_name_scope", "gdlab builds no TensorFlow graph, so there "
                                 "are no name scopes; layer names come from `name=`"),
}

UNSUPPORTED_PROPERTIES: dict[str, str] = {
    "activity_regularizer": _sentence("activity_regularizer", "gdlab layers have no "
                                      "regularizers; penalize weights with the optimizer's "
                                      "`weight_decay` (e.g. AdamW)"),
    "distribute_strategy": _sentence("distribute_strategy", "gdlab runs on one device, without "
                                     "tf.distribute; to train many models at once use "
                                     "`gdlab.sweep`"),
    "dtype_policy": _sentence("dtype_policy", "gdlab computes in float32 only (no mixed "
                              "precision); `model.dtype` is 'float32'"),
    "inbound_nodes": _sentence("inbound_nodes", _NODES),
    "outbound_nodes": _sentence("outbound_nodes", _NODES),
    "input_mask": _sentence("input_mask", _MASKS),
    "output_mask": _sentence("output_mask", _MASKS),
    "input_spec": _sentence("input_spec", "gdlab checks inputs itself (2-D float arrays with "
                            "`model.input_shape[-1]` columns); read `model.input_shape`"),
    "metrics": _sentence("metrics", "gdlab has no Metric objects; read `model.metrics_names` "
                         "for the names and `model.evaluate(x, y, return_dict=True)` or "
                         "`history.history` for the values"),
    "name_scope": _sentence("name_scope", "gdlab builds no TensorFlow graph, so there are no "
                            "name scopes; use `model.name`"),
    "state_updates": _sentence("state_updates", "it was deprecated in tf.keras 2.x, and gdlab "
                               "layers have no state updates"),
    "submodules": _sentence("submodules", "gdlab models are not tf.Modules; use `model.layers`"),
    "supports_masking": _sentence("supports_masking", _MASKS),
    "updates": _sentence("updates", "it was deprecated in tf.keras 2.x, and gdlab layers have no "
                         "state updates"),
}

FUNCTIONAL_ONLY_SEQUENTIAL: dict[str, str] = {
    "predict_classes": (
        "`Model.predict_classes` never existed on functional models (tf.keras 2.5 had it on "
        "Sequential only): use `np.argmax(model.predict(x), axis=-1)` for a softmax output or "
        "`(model.predict(x) > 0.5).astype(\"int32\")` for one sigmoid unit."
    ),
    "predict_proba": (
        "`Model.predict_proba` never existed on functional models (tf.keras 2.5 had it on "
        "Sequential only): use `model.predict(x)`."
    ),
}


def _unsupported_method(name: str, message: str) -> Callable[..., NoReturn]:
    def method(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotSupportedError(message)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Not supported by gdlab. {message}"
    return method


def _unsupported_property(name: str, message: str) -> property:
    def fail(self: Any, *value: Any) -> NoReturn:
        raise NotSupportedError(message)

    return property(fail, fail, doc=f"Not supported by gdlab. {message}")


# ------------------------------------------------------------------------ mixins


class ModelCompat:
    """tf.keras 2.5's ``Model`` members that Keras 3's API (gdlab's base) lacks.

    Working equivalents are methods and properties here; the rest raise
    :class:`NotSupportedError` (attached below from the tables above). A name
    defined on :class:`gdlab.keras.models.Model` itself takes precedence.
    """

    # -- properties with a real answer for gdlab's float32 dense chains

    @property
    def dtype(self) -> str:
        """gdlab computes in float32."""
        return "float32"

    @property
    def compute_dtype(self) -> str:
        """gdlab computes in float32."""
        return "float32"

    @property
    def variable_dtype(self) -> str:
        """gdlab's weights are float32."""
        return "float32"

    @property
    def dynamic(self) -> bool:
        """False: gdlab models always run as compiled programs."""
        return False

    @property
    def stateful(self) -> bool:
        """False: gdlab layers carry no state between batches."""
        return False

    @property
    def losses(self) -> list[Any]:
        """Added (regularization) losses: gdlab has none, so ``[]``."""
        return []

    @property
    def run_eagerly(self) -> bool:
        """False: gdlab has no eager mode (setting True is an error)."""
        return False

    @run_eagerly.setter
    def run_eagerly(self, value: bool) -> None:
        if value:
            raise NotSupportedError(
                "gdlab has no eager mode (run_eagerly=True): its fit runs one compiled "
                "program; to debug, call model.predict on a few rows.")

    @property
    def trainable(self) -> bool:
        """True: every weight of a gdlab model trains (setting False is an error)."""
        return True

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if not value:
            raise NotSupportedError(
                "gdlab cannot freeze weights (trainable=False): every Dense layer trains; "
                "build the model without the frozen part, or copy fixed weights in with "
                "set_weights after each fit.")

    @property
    def weights(self) -> list[np.ndarray]:
        """All weights as arrays (``get_weights()``; ``[]`` before the model is built)."""
        return self.get_weights() if self.built else []

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """Same as :attr:`weights`: every gdlab weight is trainable."""
        return self.weights

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """``[]``: gdlab has no frozen weights or statistics."""
        return []

    @property
    def variables(self) -> list[np.ndarray]:
        """Same as :attr:`weights`."""
        return self.weights

    @property
    def trainable_variables(self) -> list[np.ndarray]:
        """Same as :attr:`weights`."""
        return self.weights

    @property
    def non_trainable_variables(self) -> list[np.ndarray]:
        """``[]``."""
        return []

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """``(None, n_features)``."""
        return self.input.shape

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """``(None, units of the last Dense layer)``."""
        return self.output.shape

    # -- methods

    def get_layer(self, name: str | None = None, index: int | None = None) -> Any:
        """A layer by name or by index into ``model.layers`` (tf.keras's rules)."""
        if name is not None and index is not None:
            raise ConfigError("Provide only a layer name or a layer index, not both.")
        layers = self.layers
        if index is not None:
            if len(layers) <= index or index < -len(layers):
                raise ConfigError(f"Was asked to retrieve layer at index {index} but the model "
                                  f"only has {len(layers)} layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if layer.name == name:
                    return layer
            names = ", ".join(repr(layer.name) for layer in layers)
            raise ConfigError(f"No such layer: {name!r}. Existing layers are: {names}.")
        raise ConfigError("Provide either a layer name or a layer index.")

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """The output shape for inputs of ``input_shape`` (e.g. ``(None, 4) -> (None, 1)``)."""
        from gdlab.keras.layers import InputLayer
        from gdlab.keras.models import _network_spec

        shape = tuple(input_shape)
        if not shape or isinstance(shape[-1], bool) or not isinstance(shape[-1], int | np.integer):
            raise ConfigError(f"input_shape must end in the number of features, got {shape}.")
        if self.built and shape[-1] != self.n_features:
            raise ShapeError(f"The model takes {self.n_features} features (input shape "
                             f"{self.input_shape}), got input_shape {shape}.")
        layers = [layer for layer in self.layers if not isinstance(layer, InputLayer)]
        return (*shape[:-1], _network_spec(int(shape[-1]), layers).n_outputs)

    def reset_metrics(self) -> None:
        """Nothing to reset: gdlab computes metrics afresh in every fit/evaluate call."""

    def reset_states(self) -> None:
        """Nothing to reset: gdlab layers carry no state between batches (no RNNs)."""

    def apply(self, inputs: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        """tf.keras 2.x's deprecated alias of ``model(x)`` (warns)."""
        warnings.warn(APPLY_DEPRECATED, KerasDeprecated, stacklevel=2)
        if args or kwargs:
            raise NotSupportedError("gdlab models are called on an array alone: model(x).")
        return self(inputs)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Any:
        """A new model (fresh weights) from ``model.get_config()``."""
        from gdlab.keras import _saving
        from gdlab.keras.models import Sequential

        if custom_objects:
            raise NotSupportedError("custom_objects are not supported: gdlab models use "
                                    "built-in layers, activations and initializers only.")
        class_name = "Sequential" if issubclass(cls, Sequential) else "Functional"
        return _saving.model_from_config({"class_name": class_name, "config": config})

    def fit_generator(self, generator: Any, steps_per_epoch: int | None = None,
                      epochs: int = 1, verbose: int | str = 1, callbacks: Any = None,
                      validation_data: Any = None, validation_steps: int | None = None,
                      validation_freq: int = 1, class_weight: Any = None,
                      max_queue_size: int = 10, workers: int = 1,
                      use_multiprocessing: bool = False, shuffle: bool = True,
                      initial_epoch: int = 0) -> Any:
        """tf.keras 2.x's deprecated ``fit`` over a generator (warns).

        gdlab trains on arrays: it reads one epoch of batches (``steps_per_epoch``
        of them, a Sequence's ``len``, or the generator to its end) and trains on
        those rows every epoch, in batches of the generator's size. ``shuffle``
        (Sequences only, as in TF) shuffles rows rather than whole batches.
        ``max_queue_size``, ``workers`` and ``use_multiprocessing`` only tuned
        TF's loading threads and are ignored.
        """
        del max_queue_size, workers, use_multiprocessing
        x, y, w, n, size = read_batches(generator, steps_per_epoch, "training")
        warnings.warn(GENERATOR_DEPRECATED.format(
            name="fit_generator", replacement="fit(x, y, batch_size=...)", n_batches=n,
            batch_size=size, reuse=" once and trains on them in every epoch"),
            KerasDeprecated, stacklevel=2)
        if validation_data is not None and not isinstance(validation_data, tuple | list):
            vx, vy, vw, _, _ = read_batches(validation_data, validation_steps, "validation")
            validation_data = (vx, vy) if vw is None else (vx, vy, vw)
        return self.fit(x, y, batch_size=size, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data,
                        shuffle=bool(shuffle) and _is_sequence(generator),
                        class_weight=class_weight, sample_weight=w,
                        initial_epoch=initial_epoch, validation_freq=validation_freq)

    def evaluate_generator(self, generator: Any, steps: int | None = None, callbacks: Any = None,
                           max_queue_size: int = 10, workers: int = 1,
                           use_multiprocessing: bool = False, verbose: int | str = 0) -> Any:
        """tf.keras 2.x's deprecated ``evaluate`` over a generator (warns)."""
        del max_queue_size, workers, use_multiprocessing
        x, y, w, n, size = read_batches(generator, steps, "evaluation")
        warnings.warn(GENERATOR_DEPRECATED.format(
            name="evaluate_generator", replacement="evaluate(x, y)", n_batches=n,
            batch_size=size, reuse=""), KerasDeprecated, stacklevel=2)
        kwargs = {} if w is None else {"sample_weight": w}
        return self.evaluate(x, y, batch_size=size, verbose=verbose, callbacks=callbacks,
                             **kwargs)

    def predict_generator(self, generator: Any, steps: int | None = None, callbacks: Any = None,
                          max_queue_size: int = 10, workers: int = 1,
                          use_multiprocessing: bool = False,
                          verbose: int | str = 0) -> np.ndarray:
        """tf.keras 2.x's deprecated ``predict`` over a generator (warns; targets are ignored)."""
        del max_queue_size, workers, use_multiprocessing
        x, _, _, n, size = read_batches(generator, steps, "prediction")
        warnings.warn(GENERATOR_DEPRECATED.format(
            name="predict_generator", replacement="predict(x)", n_batches=n, batch_size=size,
            reuse=""), KerasDeprecated, stacklevel=2)
        return self.predict(x, batch_size=size, verbose=verbose, callbacks=callbacks)


for _name, _message in UNSUPPORTED_METHODS.items():
    setattr(ModelCompat, _name, _unsupported_method(_name, _message))
for _name, _message in UNSUPPORTED_PROPERTIES.items():
    setattr(ModelCompat, _name, _unsupported_property(_name, _message))
for _name, _message in FUNCTIONAL_ONLY_SEQUENTIAL.items():
    setattr(ModelCompat, _name, _unsupported_method(_name, _message))
del _name, _message


class SequentialCompat:
    """tf.keras 2.5's ``Sequential``-only methods: ``predict_classes``, ``predict_proba``."""

    def predict_proba(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """``predict(x)``, warning when the values are not probabilities (deprecated; warns)."""
        warnings.warn(PREDICT_PROBA_DEPRECATED, KerasDeprecated, stacklevel=2)
        preds = self.predict(x, batch_size=batch_size, verbose=verbose)
        if preds.min() < 0.0 or preds.max() > 1.0:
            warnings.warn(NOT_PROBABILITIES.format(low=float(preds.min()),
                                                   high=float(preds.max())),
                          NotProbabilities, stacklevel=2)
        return preds

    def predict_classes(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Class predictions (deprecated; warns): argmax over the outputs, or one sigmoid
        unit above 0.5 as int32 of shape ``(n, 1)``, as tf.keras 2.5 returned them."""
        warnings.warn(PREDICT_CLASSES_DEPRECATED, KerasDeprecated, stacklevel=2)
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")
