"""Keras's ``Sequential`` and functional ``Model`` for chains of dense layers.

A model is a chain of layers read as a :class:`gdlab.network.NetworkSpec`;
``fit`` trains it with :mod:`gdlab.engine` (the same compiled program a sweep
uses, with one model), one epoch per call so that progress lines and callbacks
run between epochs. The program depends on the architecture, loss, optimizer
kind, batch size and data sizes only: learning rates and other numbers are
arrays, so a loop over learning rates compiles once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdlab import engine as _engine
from gdlab import losses as _losses
from gdlab import network as _network
from gdlab import weighting as _weighting
from gdlab.errors import ConfigError, DataError, NotSupportedError, ShapeError
from gdlab.keras import _compat, _progbar, _saving, _state
from gdlab.keras import losses as _keras_losses
from gdlab.keras import metrics as _keras_metrics
from gdlab.keras import optimizers as _optimizers
from gdlab.keras._compat import KerasDeprecated, NotProbabilities
from gdlab.keras.callbacks import Callback, CallbackList, History
from gdlab.keras.layers import Activation, Dense, InputLayer, KerasTensor, Layer
from gdlab.pitfalls import check_split
from gdlab.validation import as_targets

__all__ = ["KerasDeprecated", "Model", "NotProbabilities", "Sequential", "load_model",
           "model_from_json"]


def _network_spec(n_inputs: int, layers: Sequence[Layer]) -> _network.NetworkSpec:
    """Fold a chain of Dense/Activation layers into Dense specs with activation chains."""
    specs: list[_network.DenseSpec] = []
    pending: Dense | None = None
    chain: list[str] = []

    def flush() -> None:
        if pending is not None:
            specs.append(_network.DenseSpec(
                pending.units, tuple(chain), pending.kernel_initializer,
                pending.bias_initializer, pending.use_bias,
            ))

    for layer in layers:
        if isinstance(layer, InputLayer):
            continue
        if isinstance(layer, Dense):
            flush()
            pending, chain = layer, [layer.activation]
        elif isinstance(layer, Activation):
            if pending is None:
                raise NotSupportedError(
                    f"Activation layer {layer.name!r} comes before any Dense layer; gdlab "
                    "networks start with a Dense layer."
                )
            chain.append(layer.activation)
        else:  # pragma: no cover - only gdlab layers can be added
            raise NotSupportedError(f"Layer type {type(layer).__name__} is not supported.")
    flush()
    if not specs:
        raise ConfigError("The model has no Dense layer; add at least one.")
    return _network.NetworkSpec(n_inputs, tuple(specs))


def _labels(y: np.ndarray) -> np.ndarray:
    """Class labels of encoded targets: a 0/1 column, a class-index column, or one-hot rows."""
    return y[:, 0].round() if y.shape[1] == 1 else y.argmax(axis=1)


def _metric_list(metrics: Any, argument: str) -> list[tuple[Any, str, str]]:
    """``(serializable identifier, History name, kind)`` of each metric given to compile."""
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        raise NotSupportedError(
            f"Give `{argument}` as a list, e.g. {argument}=['accuracy']: gdlab models have one "
            "output.")
    if isinstance(metrics, str) or not isinstance(metrics, list | tuple):
        metrics = [metrics]
    out = []
    for m in metrics:
        name, kind = _keras_metrics.get(m)
        out.append((m if isinstance(m, str) else _keras_metrics.serialize(m), name, kind))
    return out


def _history_keys(metrics: list[tuple[Any, str, str]], weighted: list[tuple[Any, str, str]]
                  ) -> list[tuple[str, str, str, bool]]:
    """``(History key, name, kind, weighted)`` per metric, named as Keras names them.

    A repeated name gets ``_1``, ``_2``...; a weighted metric whose name is taken
    becomes ``weighted_<name>`` (``keras/src/trainers/compile_utils.py``).
    """
    seen: dict[str, int] = {}
    out = []
    for _, name, kind in metrics:
        key = name
        if key in seen:
            key = f"{name}_{seen[name]}"
            seen[name] += 1
        else:
            seen[name] = 1
        out.append((key, name, kind, False))
    for _, name, kind in weighted:
        key = name
        if key in seen:
            key = f"weighted_{name}"
            if key in seen:
                index = seen[key]
                seen[key] += 1
                key = f"{key}_{index}"
            else:
                seen[key] = 1
        else:
            seen[name] = 1
        out.append((key, name, kind, True))
    return out


def _readable_size(n_bytes: float) -> str:
    for unit in ["B", "KB", "MB", "GB", "TB"]:
        if n_bytes / 1024 < 1:
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} PB"


def _keras_optimizer_param_count(optimizer: _optimizers.Optimizer, n_params: int,
                                 n_variables: int) -> int:
    """How many optimizer variables Keras reports: iterations, learning rate and slots."""
    p = optimizer.spec.params
    slots = {
        "sgd": 1 if p.get("momentum") else 0,
        "adam": 3 if p.get("amsgrad") else 2,
        "adamw": 3 if p.get("amsgrad") else 2,
        "adagrad": 1,
        "rmsprop": 1 + (1 if p.get("momentum") else 0) + (1 if p.get("centered") else 0),
        "adadelta": 2,
        "adamax": 2,
        "nadam": 2,
    }[optimizer._kind]
    extra = 1 if optimizer._kind == "nadam" else 0
    del n_variables
    return 2 + slots * n_params + extra


class Model(_compat.ModelCompat):
    """A chain of layers from an input to an output, as ``keras.Model(inputs, outputs)``."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 **kwargs: Any) -> None:
        if kwargs:
            raise ConfigError(f"Unknown argument(s) for Model: {', '.join(sorted(kwargs))}.")
        self.name = name or _state.unique_name(self._default_name())
        self.optimizer: _optimizers.Optimizer | None = None
        self.loss: str | None = None
        self._loss_name: Any = None
        self._from_logits = False
        self._metric_names: list[Any] = []
        self._weighted_metric_names: list[Any] = []
        self._metric_keys: list[tuple[str, str, str, bool]] = []
        self.stop_training = False
        self.history: History | None = None
        self._layers: list[Layer] = []
        self._input_tensor: KerasTensor | None = None
        self._output_tensor: KerasTensor | None = None
        if type(self) is Model:
            if inputs is None or outputs is None:
                raise NotSupportedError(
                    "Build a gdlab.keras Model with the functional API: "
                    "Model(inputs=Input(shape=(n,)), outputs=tensor). Subclassing is not supported."
                )
            self._init_functional(inputs, outputs)

    def _default_name(self) -> str:
        return "functional"

    @staticmethod
    def _single(t: Any, what: str) -> KerasTensor:
        if isinstance(t, list | tuple):
            if len(t) != 1:
                raise NotSupportedError(f"gdlab models have one {what}, got {len(t)}.")
            t = t[0]
        if isinstance(t, dict):
            raise NotSupportedError(f"gdlab models take a single {what} tensor, not a dict.")
        if not isinstance(t, KerasTensor):
            raise ConfigError(f"The model's {what} must be a tensor from Input(...) or a layer.")
        return t

    def _init_functional(self, inputs: Any, outputs: Any) -> None:
        inp = self._single(inputs, "input")
        out = self._single(outputs, "output")
        chain = out.chain()
        if chain[0] is not inp._layer:
            raise ConfigError(
                "The model's output is not computed from its input: every layer between them "
                "must be called on the previous one's output, starting from the given Input."
            )
        self._layers = chain
        self._input_tensor, self._output_tensor = inp, out

    # ------------------------------------------------------------- structure

    @property
    def layers(self) -> list[Layer]:
        """The model's layers (the functional API lists its InputLayer first, as Keras)."""
        return list(self._layers)

    def _compute_layers(self) -> list[Layer]:
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    @property
    def built(self) -> bool:
        """Whether the model knows its input size (and so has weights)."""
        return self._input_tensor is not None

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ConfigError(
                f"Cannot {what} before the model knows its input size: pass input_shape=(n,) "
                "to the first layer, add an Input(shape=(n,)), or call fit first."
            )

    @property
    def inputs(self) -> list[KerasTensor]:
        """``[input tensor]``."""
        self._require_built("read its inputs")
        return [self._input_tensor]

    @property
    def outputs(self) -> list[KerasTensor]:
        """``[output tensor]``."""
        self._require_built("read its outputs")
        return [self._output_tensor]

    @property
    def input(self) -> KerasTensor:
        """The input tensor."""
        return self.inputs[0]

    @property
    def output(self) -> KerasTensor:
        """The output tensor."""
        return self.outputs[0]

    @property
    def n_features(self) -> int:
        """Number of input features."""
        self._require_built("read its input size")
        return self._input_tensor.units

    def network_spec(self) -> _network.NetworkSpec:
        """The model as a :class:`gdlab.network.NetworkSpec`."""
        return _network_spec(self.n_features, self._compute_layers())

    def _dense_layers(self) -> list[Dense]:
        return [layer for layer in self._compute_layers() if isinstance(layer, Dense)]

    def _params(self) -> _network.Params:
        return tuple(
            {"kernel": jnp.asarray(d.kernel), **({"bias": jnp.asarray(d.bias)} if d.use_bias else {})}
            for d in self._dense_layers()
        )

    def _set_params(self, params: _network.Params) -> None:
        for layer, p in zip(self._dense_layers(), params, strict=True):
            layer.kernel = np.asarray(p["kernel"], np.float32)
            if layer.use_bias:
                layer.bias = np.asarray(p["bias"], np.float32)

    def get_weights(self) -> list[np.ndarray]:
        """All weights in Keras's order: ``[kernel0, bias0, kernel1, bias1, ...]``."""
        self._require_built("get its weights")
        return [w for layer in self._compute_layers() for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace all weights; shapes must match :meth:`get_weights`'s."""
        self._require_built("set its weights")
        expected = self.get_weights()
        if len(weights) != len(expected):
            raise ShapeError(
                f"The model has {len(expected)} weight arrays "
                f"({', '.join(str(w.shape) for w in expected)}), got {len(weights)}."
            )
        for i, (w, e) in enumerate(zip(weights, expected, strict=True)):
            if np.shape(w) != e.shape:
                raise ShapeError(f"Weight {i} must have shape {e.shape}, got {np.shape(w)}.")
        it = iter(weights)
        for layer in self._compute_layers():
            n = len(layer.get_weights())
            layer.set_weights([next(it) for _ in range(n)])

    def count_params(self) -> int:
        """Number of trainable parameters."""
        return sum(layer.count_params() for layer in self._compute_layers())

    def _weight_paths(self) -> list[tuple[str, np.ndarray]]:
        """``(path, array)`` per weight, named as Keras's ``weight.path``."""
        prefix = f"{self.name}/" if isinstance(self, Sequential) else ""
        out = []
        for layer in self._dense_layers():
            out.append((f"{prefix}{layer.name}/kernel", layer.kernel))
            if layer.use_bias:
                out.append((f"{prefix}{layer.name}/bias", layer.bias))
        return out

    # ------------------------------------------------------- config and files

    def get_config(self) -> dict[str, Any]:
        """The architecture in Keras 3's form (``keras.Model.get_config()``)."""
        return _saving.serialize(self)["config"]

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as Keras 3's JSON: ``keras.models.model_from_json`` reads it."""
        return json.dumps(_saving.serialize(self), **kwargs)

    def save(self, filepath: Any, overwrite: bool = True, zipped: bool | None = None,
             **kwargs: Any) -> None:
        """Save architecture, weights, compile settings and optimizer state to one file.

        The file is a gdlab checkpoint (safetensors + JSON) whatever its name
        (``.keras``, ``.h5``, ``.hdf5``, ...); :func:`load_model` reads it.
        """
        if kwargs:
            raise ConfigError(f"Unknown argument(s) for save: {', '.join(sorted(kwargs))}.")
        if zipped is False:
            raise NotSupportedError("gdlab saves to one file; zipped=False is not supported.")
        self._save_checkpoint(filepath, weights_only=False, overwrite=overwrite)

    def save_weights(self, filepath: Any, overwrite: bool = True,
                     max_shard_size: Any = None) -> None:
        """Save the weights (and the architecture) to a gdlab checkpoint file."""
        if max_shard_size is not None:
            raise NotSupportedError("Sharded weight files (max_shard_size) are not supported.")
        self._save_checkpoint(filepath, weights_only=True, overwrite=overwrite)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False, **kwargs: Any) -> None:
        """Load weights from a file written by ``save``, ``save_weights`` or ModelCheckpoint."""
        if skip_mismatch:
            raise NotSupportedError("skip_mismatch=True is not supported: shapes must match.")
        if kwargs:
            raise ConfigError(f"Unknown argument(s) for load_weights: {', '.join(sorted(kwargs))}.")
        _saving.load_weights(self, filepath)

    def _save_checkpoint(self, filepath: Any, *, weights_only: bool, overwrite: bool = True,
                         checkpoint: dict[str, Any] | None = None) -> None:
        _saving.save(self, filepath, weights_only=weights_only, overwrite=overwrite,
                     checkpoint=checkpoint)

    # --------------------------------------------------------------- compile

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                metrics: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """Set the optimizer, the loss and the metrics, as Keras's ``compile``.

        ``metrics`` are reported unweighted and ``weighted_metrics`` weighted by
        ``fit``'s and ``evaluate``'s sample weights, under Keras's History names.
        """
        del run_eagerly, steps_per_execution, jit_compile, auto_scale_loss
        if loss_weights is not None:
            raise NotSupportedError(
                "`loss_weights` weighs the losses of several outputs; gdlab models have one "
                "output, so leave it out (scale the loss with sample_weight in fit instead)."
            )
        if loss is None:
            raise ConfigError(
                "compile needs a loss, e.g. loss='binary_crossentropy' (two classes), "
                "'categorical_crossentropy' (one-hot classes) or 'mse' (regression)."
            )
        metric_ids = _metric_list(metrics, "metrics")
        weighted_ids = _metric_list(weighted_metrics, "weighted_metrics")
        self.optimizer = _optimizers.get(optimizer)
        self.loss, self._from_logits, self._loss_name = _keras_losses.get(loss)
        self._metric_names = [serial for serial, _, _ in metric_ids]
        self._weighted_metric_names = [serial for serial, _, _ in weighted_ids]
        self._metric_keys = _history_keys(metric_ids, weighted_ids)

    def _metric_directions(self) -> dict[str, bool]:
        """Each History metric name: True if larger is better (accuracies), else False."""
        return {key: kind in _losses.ACCURACY_NAMES
                or _losses.METRIC_KINDS[kind].targets == "classes"
                for key, _, kind, _ in self._metric_keys}

    @property
    def metrics_names(self) -> list[str]:
        """``["loss", *metric names]``, in the order ``evaluate`` returns them."""
        return ["loss", *(key for key, _, _, _ in self._metric_keys)]

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise ConfigError(f"You must call compile() before {what}.")

    # ------------------------------------------------------------------ data

    def _ensure_built(self, n_features: int) -> None:
        if not self.built:
            self.build((None, n_features))

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights for inputs of shape ``(None, n_features)``."""
        raise NotSupportedError("A functional Model is built from its Input.")

    def _targets(self, y: Any, n_rows: int, name: str = "y") -> np.ndarray:
        """Encode targets for the loss (a column, one-hot rows, or class indices)."""
        arr = as_targets(y, name=name, n_rows=n_rows, x_name="x")
        units = self.network_spec().n_outputs
        loss = self.loss
        if loss == "sparse_categorical_crossentropy":
            flat = arr.reshape(arr.shape[0], -1)
            if flat.shape[1] != 1:
                raise ShapeError(
                    f"sparse_categorical_crossentropy takes integer class labels of shape "
                    f"({n_rows},), got {name} of shape {arr.shape}. For one-hot targets use "
                    "loss='categorical_crossentropy'."
                )
            if (flat < 0).any() or (flat >= units).any() or (flat != np.round(flat)).any():
                raise DataError(
                    f"sparse_categorical_crossentropy needs integer labels in 0..{units - 1} "
                    f"(the output has {units} units); {name} holds values from "
                    f"{flat.min():g} to {flat.max():g}."
                )
            return flat.astype(np.float32)
        y2 = arr[:, None] if arr.ndim == 1 else arr
        if y2.shape[1] != units:
            hint = ""
            if loss == "categorical_crossentropy" and arr.ndim == 1:
                hint = (" One-hot encode them (gdlab.keras.utils.to_categorical or "
                        "pandas.get_dummies), or use loss='sparse_categorical_crossentropy'.")
            raise ShapeError(
                f"Targets `{name}` of shape {arr.shape} do not match the model's output of shape "
                f"(None, {units}) for loss {self._loss_label()!r}.{hint}"
            )
        if loss == "binary_crossentropy" and ((y2 < 0) | (y2 > 1)).any():
            raise DataError(
                f"binary_crossentropy needs targets in [0, 1]; {name} holds values from "
                f"{y2.min():g} to {y2.max():g}. Encode the two classes as 0 and 1, or use "
                "categorical_crossentropy with one-hot targets for more classes."
            )
        return y2.astype(np.float32)

    def _loss_label(self) -> str:
        return self._loss_name if isinstance(self._loss_name, str) else str(self.loss)

    def _engine_metrics(self, y: Any) -> tuple[_engine.Metric, ...]:
        """The compiled metrics for targets ``y`` (as given): 'accuracy' resolved as Keras does."""
        arr = np.asarray(y)
        units = self.network_spec().n_outputs
        out = []
        for key, _, kind, weighted in self._metric_keys:
            if kind in _losses.ACCURACY_NAMES:
                last = arr.shape[-1] if arr.ndim == 2 else 1
                kind = _losses.resolve_accuracy(arr.ndim, last, units)
            out.append(_engine.Metric(key, kind, weighted))
        return tuple(out)

    def _group(self, metrics: tuple[_engine.Metric, ...]) -> _engine.GroupSpec:
        spec = self.optimizer.spec
        return _engine.GroupSpec(self.network_spec(), self.loss, metrics, spec.kind,
                                 spec.static_options, 1, loss_from_logits=self._from_logits)

    def _is_classifier(self) -> bool:
        return _losses.LOSSES[self.loss].targets == "classes"

    # ------------------------------------------------------------------- fit

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: Any = None, sample_weight: Any = None, initial_epoch: int = 0,
            steps_per_epoch: Any = None, validation_steps: Any = None,
            validation_batch_size: Any = None, validation_freq: int = 1) -> History:
        """Train with Keras's semantics and return a :class:`History`.

        ``sample_weight`` multiplies each row's loss (and weighs the
        ``weighted_metrics``); ``class_weight`` ({class: weight}, or gdlab's
        ``"balanced"``) gives each training row its class's weight. As in Keras,
        the two cannot be combined, ``validation_split`` splits the sample
        weights with the rows, and validation rows are weighted by their own
        sample weights only (``validation_data=(x, y, sample_weight)``).
        """
        self._require_compiled("fit")
        verbose = _progbar.resolve_verbose(verbose)
        for arg, value in [("steps_per_epoch", steps_per_epoch),
                           ("validation_steps", validation_steps),
                           ("validation_batch_size", validation_batch_size)]:
            if value is not None:
                raise NotSupportedError(f"`{arg}` is not supported by gdlab's fit.")
        if validation_freq != 1:
            raise NotSupportedError("gdlab validates after every epoch (validation_freq=1).")
        if class_weight is not None and sample_weight is not None:
            raise ConfigError(
                "`class_weight` and `sample_weight` cannot be given together (Keras refuses "
                "them too): multiply the class weights into sample_weight instead.")
        batch_size = 32 if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ConfigError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
        if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 0:
            raise ConfigError(f"`epochs` must be a non-negative integer, got {epochs!r}.")
        if not 0.0 <= float(validation_split) < 1.0:
            raise ConfigError(f"`validation_split` must be in [0, 1), got {validation_split!r}.")

        n_expected = self.n_features if self.built else None
        x_arr = _compat.as_keras_features(x, name="x", n_features=n_expected)
        self._ensure_built(x_arr.shape[1])
        y_arr = self._targets(y, x_arr.shape[0])
        metrics = self._engine_metrics(y)
        w_arr = None if sample_weight is None else _weighting.sample_weights(
            sample_weight, x_arr.shape[0])

        x_val = y_val = w_val = None
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
                raise ConfigError(
                    "`validation_data` must be a tuple (x_val, y_val) or "
                    "(x_val, y_val, val_sample_weight).")
            x_val = _compat.as_keras_features(validation_data[0], name="x_val",
                                              n_features=self.n_features)
            y_val = self._targets(validation_data[1], x_val.shape[0], name="y_val")
            if len(validation_data) == 3 and validation_data[2] is not None:
                w_val = _weighting.sample_weights(validation_data[2], x_val.shape[0],
                                                  name="val_sample_weight")
        elif validation_split:
            split_at = int(np.floor(x_arr.shape[0] * (1.0 - float(validation_split))))
            if split_at == 0 or split_at == x_arr.shape[0]:
                raise DataError(
                    f"validation_split={validation_split} leaves "
                    f"{'no training' if split_at == 0 else 'no validation'} rows out of "
                    f"{x_arr.shape[0]}."
                )
            x_arr, x_val = x_arr[:split_at], x_arr[split_at:]
            y_arr, y_val = y_arr[:split_at], y_arr[split_at:]
            if w_arr is not None:
                w_arr, w_val = w_arr[:split_at], w_arr[split_at:]
        if y_val is not None and self._is_classifier():
            # Keras takes the last rows as they come; on a file sorted by class they hold
            # one class. gdlab keeps that behaviour, and says so.
            check_split(_labels(y_val), _labels(y_arr), "validation", None,
                        "Shuffle the rows before fit, or split with "
                        "gdlab.preprocessing.prepare(..., validation='stratified') and pass "
                        "validation_data.", stacklevel=3)
        if class_weight is not None:  # on the training rows only, after the split (Keras)
            labels = _weighting.labels_of(y_arr)
            n_classes = max(self.network_spec().n_outputs, 2)
            w_arr = _weighting.class_weight_rows(
                _weighting.resolve_class_weight(class_weight, labels, n_classes), labels)

        n_train = x_arr.shape[0]
        steps = -(-n_train // int(batch_size))
        group = self._group(metrics)
        opt_spec = self.optimizer.spec
        config = _engine.group_config(group, [opt_spec], [int(batch_size)], [int(epochs)])
        eval_sets = (("val_", x_val.shape[0]),) if x_val is not None else ()
        plan = _engine.Plan((group,), 1, n_train, int(batch_size), False, 1, bool(shuffle),
                            eval_sets, fast_compile=True)
        program = _engine.train_program(plan)
        data = _engine.Data(
            jnp.asarray(x_arr), (jnp.asarray(y_arr),),
            (jnp.asarray(x_val),) if x_val is not None else (),
            ((jnp.asarray(y_val),),) if x_val is not None else (),
            None if w_arr is None else jnp.asarray(w_arr)[None],
            (None if w_val is None else jnp.asarray(w_val),) if x_val is not None else (),
        )
        shuffle_keys = _state.next_key()[None]
        state = self._initial_state(group)

        history = History()
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        cbs = CallbackList([*(callbacks or []), history], self, params)
        history.set_model(self)
        self.history = history
        self.stop_training = False
        cbs.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(int(initial_epoch), int(epochs)):
            cbs.on_epoch_begin(epoch)
            if verbose:
                _progbar.epoch_header(epoch, int(epochs))
            t0 = time.perf_counter()
            state = self._initial_state(group, state)
            (state,), (hist,) = program((state,), (config,), data, shuffle_keys,
                                        jnp.asarray(epoch, jnp.int32))
            hist = jax.device_get(hist)
            seconds = time.perf_counter() - t0
            self._sync(state, steps)
            logs = {key: float(np.asarray(hist[key])[0, 0, 0]) for key in sorted(hist)}
            _progbar.bar(verbose, steps, seconds, logs)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return history

    def _initial_state(self, group: _engine.GroupSpec,
                       previous: _engine.GroupState | None = None) -> _engine.GroupState:
        """The model's weights and its optimizer's state, with [seed, config] axes of size 1."""
        params = tree_expand(self._params())
        if previous is not None:
            return _engine.GroupState(params, previous.opt_state, previous.diverged_epoch)
        opt = self.optimizer
        structure = jax.tree_util.tree_structure(params)
        saved = opt._state
        if saved is None or saved[0] != (structure, group.optimizer, group.options):
            tx = self.optimizer.spec.transformation()
            opt_state = tree_expand(tx.init(self._params()))
        else:
            opt_state = saved[1]
        return _engine.GroupState(params, opt_state, jnp.full((1, 1), -1, jnp.int32))

    def _sync(self, state: _engine.GroupState, steps: int) -> None:
        """Write trained weights back to the layers and keep the optimizer state."""
        params = jax.tree_util.tree_map(lambda a: a[0, 0], state.params)
        self._set_params(params)
        structure = jax.tree_util.tree_structure(tree_expand(params))
        opt = self.optimizer
        if int(state.diverged_epoch[0, 0]) < 0:
            opt._iterations += steps
        object.__setattr__(
            opt, "_state",
            ((structure, opt.spec.kind, opt.spec.static_options), state.opt_state),
        )

    # -------------------------------------------------------- evaluate/predict

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: Any = None, steps: Any = None,
                 callbacks: Any = None, return_dict: bool = False) -> Any:
        """Loss and metrics over the given data with the current weights.

        Rows are weighted by ``sample_weight`` as in ``fit``. Returns the loss
        alone when there are no metrics, else ``[loss, *metrics]`` in Keras's
        order (or a dict with ``return_dict=True``).
        """
        self._require_compiled("evaluate")
        verbose = _progbar.resolve_verbose(verbose)
        if steps is not None:
            raise NotSupportedError("`steps` is not supported by evaluate.")
        del callbacks
        self._require_built("evaluate")
        x_arr = _compat.as_keras_features(x, name="x", n_features=self.n_features)
        y_arr = self._targets(y, x_arr.shape[0])
        w_arr = None if sample_weight is None else jnp.asarray(
            _weighting.sample_weights(sample_weight, x_arr.shape[0]))
        group = self._group(self._engine_metrics(y))
        config = _engine.group_config(group, [self.optimizer.spec], [1], [1])
        config = jax.tree_util.tree_map(lambda a: a[0], config)
        t0 = time.perf_counter()
        loss, values = _engine.evaluate_program(group)(
            self._params(), jnp.asarray(x_arr), jnp.asarray(y_arr), config, w_arr)
        logs = {"loss": float(loss)}
        logs |= {m.key: float(v) for m, v in zip(group.metrics, values, strict=True)}
        bs = 32 if batch_size is None else int(batch_size)
        _progbar.bar(verbose, -(-x_arr.shape[0] // bs), time.perf_counter() - t0,
                     dict(sorted(logs.items())))
        if return_dict:
            return logs
        return self._in_order(logs)

    def _in_order(self, logs: dict[str, float]) -> Any:
        """Keras's ``evaluate`` list: the loss, the metrics by their given names, then the
        remaining (renamed) ones sorted; a single value alone."""
        names = ["loss", *(name for _, name, _, _ in self._metric_keys)]
        results = [logs[n] for n in names if n in logs]
        results += [logs[k] for k in sorted(logs) if k not in names]
        return results[0] if len(results) == 1 else results

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = "auto",
                steps: Any = None, callbacks: Any = None) -> np.ndarray:
        """The network's output for each row of ``x``."""
        verbose = _progbar.resolve_verbose(verbose)
        if steps is not None:
            raise NotSupportedError("`steps` is not supported by predict.")
        del callbacks
        self._require_built("predict")
        x_arr = _compat.as_keras_features(x, name="x", n_features=self.n_features)
        t0 = time.perf_counter()
        out, _ = _engine.predict_program(self.network_spec())(self._params(), jnp.asarray(x_arr))
        out = np.asarray(out)
        bs = 32 if batch_size is None else int(batch_size)
        _progbar.bar(verbose, -(-x_arr.shape[0] // bs), time.perf_counter() - t0, {})
        return out

    def __call__(self, x: Any) -> np.ndarray:
        if isinstance(x, KerasTensor):
            raise NotSupportedError("Calling a model on a symbolic tensor (nesting) is not supported.")
        return self.predict(x, verbose=0)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        """Same as ``predict(x, verbose=0)``."""
        return self.predict(x, verbose=0)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: Any = None, return_dict: bool = False) -> Any:
        """One update on one batch; returns its loss (and metrics) before the update."""
        n = len(x)
        h = self.fit(x, y, batch_size=n, epochs=1, verbose=0, shuffle=False,
                     sample_weight=sample_weight, class_weight=class_weight)
        logs = {k: v[-1] for k, v in h.history.items()}
        if return_dict:
            return logs
        return self._in_order(logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        """Same as ``evaluate(x, y, sample_weight=sample_weight, verbose=0)``."""
        return self.evaluate(x, y, verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)

    # --------------------------------------------------------------- summary

    def summary(self, line_length: int | None = None, positions: Any = None,
                print_fn: Any = None, **kwargs: Any) -> None:
        """Print Keras's table: layer (type), output shape, parameter count, totals."""
        del line_length, positions, kwargs
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(box=box.HEAVY_HEAD, show_lines=True, width=78)
        table.add_column("Layer (type)", width=31)
        table.add_column("Output Shape", width=22)
        table.add_column("Param #", justify="right", width=13)
        shown = self._layers if self._show_input_layer() else self._compute_layers()
        for layer in shown:
            shape = layer.output.shape if layer._output is not None else "?"
            shape_txt = "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")" \
                if shape != "?" else "?"
            table.add_row(f"{layer.name} ({type(layer).__name__})", shape_txt,
                          f"{layer.count_params():,}")
        trainable = self.count_params() if self.built else 0
        opt_count = None
        if self.optimizer is not None and self.optimizer._state is not None:
            opt_count = _keras_optimizer_param_count(self.optimizer, trainable, 0)
        total = trainable + (opt_count or 0)
        console = Console(width=80, record=True, force_terminal=False, color_system=None)
        with console.capture() as cap:
            console.print(f'Model: "{self.name}"')
            console.print(table)
            console.print(f" Total params: {total:,} ({_readable_size(total * 4)})")
            console.print(f" Trainable params: {trainable:,} ({_readable_size(trainable * 4)})")
            console.print(" Non-trainable params: 0 (0.00 B)")
            if opt_count is not None:
                console.print(f" Optimizer params: {opt_count:,} ({_readable_size(opt_count * 4)})")
        text = cap.get()
        if print_fn is not None:
            for line in text.rstrip("\n").split("\n"):
                print_fn(line)
        else:
            print(text, end="")

    def _show_input_layer(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def tree_expand(tree: Any) -> Any:
    """Add leading [seed, config] axes of size 1 to every array of a pytree."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[None, None], tree)


class Sequential(_compat.SequentialCompat, Model):
    """A stack of layers, as ``keras.Sequential``; ``add`` appends one."""

    def __init__(self, layers: Sequence[Any] | None = None, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self._pending: list[Layer] = []
        for layer in layers or []:
            self.add(layer)

    def _default_name(self) -> str:
        return "sequential"

    @property
    def layers(self) -> list[Layer]:
        """The layers added (without the input layer, as Keras)."""
        return self._compute_layers() if self.built else list(self._pending)

    def _show_input_layer(self) -> bool:
        return False

    def add(self, layer: Any) -> None:
        """Append a layer (or an ``Input(...)`` tensor as the first element)."""
        if isinstance(layer, KerasTensor):
            if self.built or self._pending:
                raise ConfigError("An Input can only be the first element of a Sequential model.")
            if layer._parent is not None or not isinstance(layer._layer, InputLayer):
                raise ConfigError("Sequential.add takes layers or an Input(...) tensor.")
            self._start(layer)
            return
        if isinstance(layer, InputLayer):
            self.add(layer.output)
            return
        if not isinstance(layer, Layer):
            raise ConfigError(f"Sequential.add takes a layer, got {type(layer).__name__}.")
        if not self.built and not self._pending and layer._input_shape is not None:
            self._start(Input_for(layer._input_shape))
        if self.built:
            self._output_tensor = layer(self._output_tensor)
            self._layers.append(layer)
        else:
            self._pending.append(layer)

    def _start(self, tensor: KerasTensor) -> None:
        self._input_tensor = self._output_tensor = tensor
        self._layers = [tensor._layer]
        pending, self._pending = self._pending, []
        for layer in pending:
            self._output_tensor = layer(self._output_tensor)
            self._layers.append(layer)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights for inputs of shape ``(None, n_features)``."""
        if self.built:
            return
        shape = tuple(input_shape)
        n = shape[-1]
        if not isinstance(n, int | np.integer):
            raise ConfigError(f"Cannot build for input shape {shape}.")
        self._start(Input_for((int(n),)))

    def pop(self) -> Layer:
        """Remove the last layer and return it (the input size is kept)."""
        if not self.layers:
            raise ConfigError("There are no layers in the model to pop.")
        if not self.built:
            return self._pending.pop()
        layer = self._layers.pop()
        # The layer before it (or the InputLayer) now gives the model's output.
        self._output_tensor = self._layers[-1].output
        return layer


def Input_for(shape: tuple[int, ...]) -> KerasTensor:  # noqa: N802
    """An input tensor for a Sequential model."""
    return InputLayer(shape).output


def load_model(filepath: Any, custom_objects: Any = None, compile: bool = True,  # noqa: A002
               safe_mode: bool = True) -> Model:
    """Load a model saved by ``Model.save`` or ``ModelCheckpoint`` (any file name).

    The model comes back compiled with its optimizer's state, so it predicts
    identically and resumes training where it stopped (``compile=False`` skips
    that). Files holding weights only come back uncompiled.
    """
    del safe_mode  # nothing in a gdlab checkpoint is ever evaluated
    if custom_objects:
        raise NotSupportedError("custom_objects are not supported: gdlab models use built-in "
                                "layers, activations and initializers only.")
    return _saving.load_model(filepath, compile=compile)


def model_from_json(json_string: str, custom_objects: Any = None) -> Model:
    """A model (new weights) from ``to_json()`` output, gdlab's or Keras's (Dense chains)."""
    if custom_objects:
        raise NotSupportedError("custom_objects are not supported.")
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as e:
        raise ConfigError(f"model_from_json needs a JSON string: {e}.") from None
    return _saving.model_from_config(config)
