"""Saving and loading ``gdlab.keras`` models: Keras-form JSON configs and gdlab checkpoints.

A model's architecture is written as Keras 3 writes it (``model.to_json()``:
``{"module": "keras", "class_name": "Sequential", "config": {"layers": [...]}}``),
so ``keras.models.model_from_json`` rebuilds it in Keras and TensorBoard's
Graphs tab draws it. Files are :mod:`gdlab.checkpoint` files: the weights in
safetensors, and in the JSON settings the Keras config, the compile settings
and the optimizer's iteration count (its state arrays go beside the weights),
so a loaded model predicts identically and resumes training where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from gdlab import checkpoint as _checkpoint
from gdlab import initializers as _initializers
from gdlab.errors import ConfigError, DataError, NotSupportedError
from gdlab.keras import optimizers as _optimizers
from gdlab.keras.layers import Activation, Dense, Input, InputLayer, Layer

if TYPE_CHECKING:
    from gdlab.keras.models import Model

_NULL_KEYS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
              "kernel_constraint", "bias_constraint", "quantization_config", "lora_rank")
# Keras's initializer configs: these keys may be set (they do not change the distribution).
_HARMLESS_INIT_KEYS = {"seed", "input_axes", "output_axes"}
_KERAS_INIT_DEFAULTS = {
    "RandomUniform": {"minval": -0.05, "maxval": 0.05},
    "RandomNormal": {"mean": 0.0, "stddev": 0.05},
    "TruncatedNormal": {"mean": 0.0, "stddev": 0.05},
}


# ---------------------------------------------------------------- to Keras form


def _layer_entry(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": class_name, "config": config,
            "registered_name": None}


def _keras_initializer(name: str) -> Any:
    """An initializer in Keras's form: its name, or a serialized ``Constant(value)``."""
    value = _initializers.constant_value(name)
    if value is None:
        return name
    return {"module": "keras.initializers", "class_name": "Constant",
            "config": {"value": value}, "registered_name": None}


def _layer_config(layer: Layer, fan_in: int) -> dict[str, Any]:
    if isinstance(layer, InputLayer):
        return _layer_entry("InputLayer", {
            "batch_shape": [None, fan_in], "dtype": "float32", "sparse": False,
            "name": layer.name})
    if isinstance(layer, Dense):
        entry = _layer_entry("Dense", {
            "name": layer.name, "trainable": True, "dtype": "float32", "units": layer.units,
            "activation": layer.activation, "use_bias": layer.use_bias,
            "kernel_initializer": _keras_initializer(layer.kernel_initializer),
            "bias_initializer": _keras_initializer(layer.bias_initializer),
            "kernel_regularizer": None, "bias_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None})
    elif isinstance(layer, Activation):
        entry = _layer_entry("Activation", {
            "name": layer.name, "trainable": True, "dtype": "float32",
            "activation": layer.activation})
    else:  # pragma: no cover - gdlab models hold only these layers
        raise NotSupportedError(f"Cannot serialize layer type {type(layer).__name__}.")
    entry["build_config"] = {"input_shape": [None, fan_in]}
    return entry


def serialize(model: Model) -> dict[str, Any]:
    """The model in Keras 3's ``to_json`` form (module, class_name, config)."""
    from gdlab.keras.models import Sequential

    model._require_built("serialize it")
    widths = [model.n_features]
    layers = model._layers
    entries = []
    for layer in layers:
        fan_in = widths[-1]
        entries.append(_layer_config(layer, fan_in))
        if isinstance(layer, Dense):
            widths.append(layer.units)
    if isinstance(model, Sequential):
        config = {"name": model.name, "trainable": True, "dtype": "float32", "layers": entries,
                  "build_input_shape": [None, model.n_features]}
        return {"module": "keras", "class_name": "Sequential", "config": config,
                "registered_name": None,
                "build_config": {"input_shape": [None, model.n_features]}}
    previous = None
    for entry in entries:
        name = entry["config"]["name"]
        entry["name"] = name
        entry["inbound_nodes"] = [] if previous is None else [{
            "args": [{"class_name": "__keras_tensor__",
                      "config": {"shape": list(previous[1]), "dtype": "float32",
                                 "keras_history": [previous[0], 0, 0]}}],
            "kwargs": {}}]
        units = entry["config"].get("units")
        shape = entry["config"]["batch_shape"] if previous is None else [
            None, units if units is not None else previous[1][1]]
        previous = (name, shape)
    config = {"name": model.name, "trainable": True, "layers": entries,
              "input_layers": [[entries[0]["name"], 0, 0]],
              "output_layers": [[entries[-1]["name"], 0, 0]]}
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": config, "registered_name": "Functional"}


# -------------------------------------------------------------- from Keras form


def _dtype_ok(dtype: Any) -> bool:
    if dtype is None or dtype == "float32":
        return True
    return isinstance(dtype, Mapping) and (dtype.get("config") or {}).get("name") == "float32"


def _initializer(value: Any, where: str) -> str:
    """A gdlab initializer name from a Keras string or serialized initializer."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("class_name"), str):
        class_name = value["class_name"]
        config = dict(value.get("config") or {})
        if class_name == "Constant":
            return _initializers.constant_name(config.get("value", 0.0))
        defaults = _KERAS_INIT_DEFAULTS.get(class_name, {})
        for key, v in config.items():
            if key in _HARMLESS_INIT_KEYS or (key in defaults and v == defaults[key]):
                continue
            raise NotSupportedError(
                f"{where}: initializer {class_name} with {key}={v!r} is not supported; gdlab "
                "implements Keras's initializers with their default arguments."
            )
        return class_name
    raise ConfigError(f"{where}: cannot read initializer {value!r}.")


def _check_null(config: Mapping[str, Any], where: str) -> None:
    for key in _NULL_KEYS:
        if config.get(key) not in (None, 0):
            raise NotSupportedError(f"{where}: `{key}` is not supported by gdlab.")
    if config.get("trainable", True) is not True:
        raise NotSupportedError(f"{where}: frozen layers (trainable=False) are not supported.")
    if not _dtype_ok(config.get("dtype")):
        raise NotSupportedError(f"{where}: gdlab computes in float32, got dtype "
                                f"{config.get('dtype')!r}.")


def _make_layer(entry: Mapping[str, Any], index: int) -> Layer | tuple[str, int, str | None]:
    """A gdlab layer, or ``("input", n_features, name)`` for an InputLayer."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"Layer {index} of the model config is not a JSON object.")
    class_name = entry.get("class_name")
    config = entry.get("config") or {}
    where = f"Layer {index} ({class_name} {config.get('name', '?')!r})"
    if class_name == "InputLayer":
        shape = config.get("batch_shape") or [None, *(config.get("shape") or [])]
        if len(shape) != 2 or not isinstance(shape[1], int):
            raise NotSupportedError(f"{where}: gdlab takes flat inputs (None, n), got {shape}.")
        return ("input", shape[1], config.get("name"))
    if class_name == "Dense":
        _check_null(config, where)
        if "units" not in config:
            raise ConfigError(f"{where}: a Dense config needs 'units'.")
        return Dense(
            config["units"], activation=config.get("activation"),
            use_bias=config.get("use_bias", True),
            kernel_initializer=_initializer(config.get("kernel_initializer", "glorot_uniform"),
                                            where),
            bias_initializer=_initializer(config.get("bias_initializer", "zeros"), where),
            name=config.get("name"),
        )
    if class_name == "Activation":
        _check_null(config, where)
        return Activation(config.get("activation"), name=config.get("name"))
    raise NotSupportedError(
        f"{where}: gdlab models are chains of Dense and Activation layers; "
        f"{class_name!r} is not supported."
    )


def _check_chain(entries: list[Mapping[str, Any]]) -> None:
    """A functional config must be a chain: each layer fed by the one before it."""
    for i in range(1, len(entries)):
        nodes = entries[i].get("inbound_nodes") or []
        sources = [arg.get("config", {}).get("keras_history", [None])[0]
                   for node in nodes if isinstance(node, Mapping)
                   for arg in node.get("args", []) if isinstance(arg, Mapping)]
        previous = (entries[i - 1].get("config") or {}).get("name")
        if sources != [previous]:
            raise NotSupportedError(
                f"Layer {i} of the functional model is fed by {sources}, not by the layer "
                f"before it ({previous!r}); gdlab supports chains of layers only."
            )


def model_from_config(config: Mapping[str, Any],
                      weights: list[np.ndarray] | None = None) -> Model:
    """A gdlab.keras model from Keras's serialized form (``json.loads(model.to_json())``).

    With ``weights`` (``get_weights()`` order) the layers take them before the
    model is built, so no initial weights are drawn from the random stream.
    """
    from gdlab.keras.models import Model, Sequential

    if not isinstance(config, Mapping) or "config" not in config:
        raise ConfigError("A model config needs 'class_name' and 'config' (Keras's to_json form).")
    class_name = config.get("class_name")
    inner = config["config"]
    entries = inner.get("layers") if isinstance(inner, Mapping) else None
    if class_name not in ("Sequential", "Functional", "Model") or not isinstance(entries, list):
        raise NotSupportedError(
            f"gdlab rebuilds Sequential and Functional models of Dense layers; got "
            f"class_name={class_name!r}."
        )
    made = [_make_layer(e, i) for i, e in enumerate(entries)]
    if made and isinstance(made[0], tuple):
        _, n_features, input_name = made.pop(0)
    else:
        shape = inner.get("build_input_shape")
        if class_name != "Sequential" or not shape:
            raise ConfigError("The model config has no InputLayer and no input shape.")
        n_features, input_name = shape[-1], None
    if any(isinstance(m, tuple) for m in made):
        raise NotSupportedError("gdlab models have one InputLayer, first.")
    if class_name != "Sequential":
        _check_chain(entries)
    if weights is not None:
        it = iter(weights)
        for layer in made:
            if isinstance(layer, Dense):
                layer.kernel = np.asarray(next(it), np.float32)
                if layer.use_bias:
                    layer.bias = np.asarray(next(it), np.float32)
    inp = Input(shape=(int(n_features),), name=input_name)
    if class_name == "Sequential":
        return Sequential([inp, *made], name=inner.get("name"))
    out = inp
    for layer in made:
        out = layer(out)
    return Model(inputs=inp, outputs=out, name=inner.get("name"))


# ------------------------------------------------------------------ checkpoints


def _optimizer_arrays(model: Model) -> tuple[dict[str, np.ndarray], int]:
    opt = model.optimizer
    if opt is None or opt._state is None:
        return {}, 0 if opt is None else opt.iterations
    leaves = jax.tree_util.tree_leaves(opt._state[1])
    return ({f"optimizer.{i}": np.asarray(leaf)[0, 0] for i, leaf in enumerate(leaves)},
            opt.iterations)


def save(model: Model, filepath: str | os.PathLike[str], *, weights_only: bool,
         overwrite: bool = True, checkpoint: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` as a gdlab checkpoint (with compile settings and optimizer state
    unless ``weights_only``)."""
    model._require_built("save it")
    path = Path(filepath)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    settings: dict[str, Any] = {"keras": {"model": serialize(model)}}
    extra: dict[str, np.ndarray] = {}
    if not weights_only and model.optimizer is not None:
        opt = model.optimizer
        extra, iterations = _optimizer_arrays(model)
        settings["loss"] = model._loss_name
        settings["metrics"] = list(model._metric_names)
        settings["optimizer"] = _checkpoint.optimizer_to_dict(opt.spec)
        settings["keras"]["compile"] = {"loss": model._loss_name,
                                        "metrics": list(model._metric_names),
                                        "weighted_metrics": list(model._weighted_metric_names),
                                        "optimizer_name": opt.name,
                                        "optimizer_iterations": iterations,
                                        "optimizer_state_arrays": len(extra)}
    if checkpoint is not None:
        settings["checkpoint"] = dict(checkpoint)
    params = [{k: np.asarray(v) for k, v in p.items()} for p in model._params()]
    return _checkpoint.save(path, model.network_spec(), params, settings, extra=extra)


def _restore_optimizer(model: Model, path: Path, compile_settings: Mapping[str, Any],
                       extra: Mapping[str, np.ndarray]) -> None:
    """Put the saved optimizer state back, checked against a fresh state's structure."""
    from gdlab.keras.models import tree_expand

    n = compile_settings.get("optimizer_state_arrays", 0)
    opt = model.optimizer
    opt._iterations = int(compile_settings.get("optimizer_iterations", 0))
    if not n:
        return
    params = model._params()
    fresh = opt.spec.transformation().init(params)
    leaves, treedef = jax.tree_util.tree_flatten(fresh)
    saved = [extra.get(f"optimizer.{i}") for i in range(n)]
    if len(leaves) != n or any(
            s is None or s.shape != leaf.shape or s.dtype != leaf.dtype
            for s, leaf in zip(saved, leaves, strict=False)):
        raise DataError(
            f"{path}: the saved optimizer state does not fit a {opt.spec.label()} on this "
            "architecture (the file is damaged or was edited)."
        )
    state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(s)[None, None] for s in saved])
    structure = jax.tree_util.tree_structure(tree_expand(params))
    object.__setattr__(opt, "_state",
                       ((structure, opt.spec.kind, opt.spec.static_options), state))


def load_model(filepath: str | os.PathLike[str], compile: bool = True) -> Model:  # noqa: A002
    """Rebuild a model saved by ``Model.save``/``ModelCheckpoint`` (compiled, with its
    optimizer state, unless ``compile=False`` or the file holds weights only)."""
    path = Path(filepath)
    contents = _checkpoint.read(path)
    keras_settings = contents.settings.get("keras") or {}
    config = keras_settings.get("model")
    weights = [w for p in contents.params for w in p.values()]
    if config is None:  # written by gdlab.checkpoint.save: rebuild from the NetworkSpec
        model = _from_network(contents.network, weights)
    else:
        try:
            model = model_from_config(config, weights)
        except (ConfigError, NotSupportedError, KeyError, TypeError) as e:
            raise DataError(f"{path}: cannot rebuild the model from its config: {e}") from None
    _checkpoint.check_compatible(path, contents.network, model.network_spec())
    compile_settings = keras_settings.get("compile")
    if compile and compile_settings is not None:
        spec = _checkpoint.optimizer_from_dict(contents.settings["optimizer"])
        opt = _optimizers.get(spec)
        opt.name = compile_settings.get("optimizer_name", opt.name)
        model.compile(optimizer=opt, loss=compile_settings["loss"],
                      metrics=compile_settings.get("metrics") or None,
                      weighted_metrics=compile_settings.get("weighted_metrics") or None)
        _restore_optimizer(model, path, compile_settings, contents.extra)
    return model


def _from_network(network: Any, weights: list[np.ndarray]) -> Model:
    from gdlab.keras.models import Sequential

    layers: list[Layer] = []
    for spec in network.layers:
        layers.append(Dense(spec.units, activation=spec.activation[0], use_bias=spec.use_bias,
                            kernel_initializer=spec.kernel_initializer,
                            bias_initializer=spec.bias_initializer))
        layers.extend(Activation(a) for a in spec.activation[1:])
    it = iter(weights)
    for layer in layers:
        if isinstance(layer, Dense):
            layer.kernel = np.asarray(next(it), np.float32)
            if layer.use_bias:
                layer.bias = np.asarray(next(it), np.float32)
    return Sequential([Input(shape=(network.n_inputs,)), *layers])


def load_weights(model: Model, filepath: str | os.PathLike[str]) -> None:
    """Load the weights of any gdlab checkpoint into ``model`` (shapes must match)."""
    path = Path(filepath)
    model._require_built("load weights into it")
    contents = _checkpoint.read(path)
    _checkpoint.check_compatible(path, contents.network, model.network_spec())
    model.set_weights([w for p in contents.params for w in p.values()])
