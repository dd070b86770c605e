"""Checkpoints: one network's weights in safetensors, its architecture and settings in JSON.

A checkpoint is a single `safetensors <https://github.com/huggingface/safetensors>`_
file. Its tensors are the weights (``layers.0.kernel``, ``layers.0.bias``, ...,
float32, Keras's layout) plus any extra arrays (``extra.<name>``, e.g. optimizer
state); its header's string metadata carries JSON: the architecture
(a :class:`~gdlab.network.NetworkSpec`), free-form settings (optimizer, loss,
epoch, metrics, ...) and a SHA-256 of the tensors. Nothing is pickled and
nothing read is evaluated; any safetensors reader can open the weights.

Writes are atomic (a temporary file in the same folder, then ``os.replace``),
so a crash never leaves a half-written checkpoint under the final name. The
file name is the caller's: ``.hdf5``, ``.h5`` and ``.keras`` names hold this
format too (see ``docs/checkpoints.md``). A truncated, corrupt or foreign file
raises :class:`~gdlab.errors.DataError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import safetensors
import safetensors.numpy

from gdlab import __version__
from gdlab.errors import ConfigError, DataError, NotSupportedError, ShapeError
from gdlab.network import DenseSpec, NetworkSpec
from gdlab.optimizers import OptimizerSpec, optimizer_spec

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointContents",
    "atomic_write_bytes",
    "check_compatible",
    "load",
    "network_from_dict",
    "network_to_dict",
    "optimizer_from_dict",
    "optimizer_to_dict",
    "read",
    "save",
]

FORMAT = "gdlab.checkpoint"
FORMAT_VERSION = 1

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_MAX_HEADER = 100_000_000  # the safetensors library's own limit

# Weights are float32, as everywhere in gdlab; an extra array keeps its dtype.
_WEIGHT_DTYPE = np.dtype(np.float32)


class Checkpoint(NamedTuple):
    """What :func:`load` returns: ``network, params, settings = load(path)``."""

    network: NetworkSpec
    params: tuple[dict[str, np.ndarray], ...]
    settings: dict[str, Any]


class CheckpointContents(NamedTuple):
    """Everything in a checkpoint file (:func:`read`), extra arrays included."""

    network: NetworkSpec
    params: tuple[dict[str, np.ndarray], ...]
    settings: dict[str, Any]
    extra: dict[str, np.ndarray]


# ------------------------------------------------------------------ JSON forms


def network_to_dict(spec: NetworkSpec) -> dict[str, Any]:
    """A NetworkSpec as plain JSON-ready data."""
    return {
        "n_inputs": spec.n_inputs,
        "layers": [
            {"units": layer.units, "activation": list(layer.activation),
             "kernel_initializer": layer.kernel_initializer,
             "bias_initializer": layer.bias_initializer, "use_bias": layer.use_bias}
            for layer in spec.layers
        ],
    }


def network_from_dict(data: Mapping[str, Any]) -> NetworkSpec:
    """The inverse of :func:`network_to_dict`; names are checked against gdlab's registries."""
    if not isinstance(data, Mapping) or not isinstance(data.get("layers"), list):
        raise ConfigError("A network description needs 'n_inputs' and a list of 'layers'.")
    layers = []
    for i, layer in enumerate(data["layers"]):
        if not isinstance(layer, Mapping) or "units" not in layer:
            raise ConfigError(f"Layer {i} of the network description has no 'units'.")
        unknown = set(layer) - {"units", "activation", "kernel_initializer",
                                "bias_initializer", "use_bias"}
        if unknown:
            raise ConfigError(
                f"Layer {i} of the network description has unknown keys: {sorted(unknown)}."
            )
        activation = layer.get("activation", ["linear"])
        if isinstance(activation, str):
            activation = [activation]
        layers.append(DenseSpec(
            units=layer["units"], activation=tuple(activation),
            kernel_initializer=layer.get("kernel_initializer", "glorot_uniform"),
            bias_initializer=layer.get("bias_initializer", "zeros"),
            use_bias=bool(layer.get("use_bias", True)),
        ))
    return NetworkSpec(data.get("n_inputs"), tuple(layers))


def optimizer_to_dict(spec: OptimizerSpec) -> dict[str, Any]:
    """An OptimizerSpec as ``{"kind": "sgd", "hparams": {...}}``."""
    return {"kind": spec.kind, "hparams": dict(spec.hparams)}


def optimizer_from_dict(data: Mapping[str, Any]) -> OptimizerSpec:
    """The inverse of :func:`optimizer_to_dict`, validated like any optimizer."""
    if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
        raise ConfigError("An optimizer description needs a 'kind' such as 'sgd'.")
    return optimizer_spec(data["kind"], **dict(data.get("hparams", {})))


def _jsonable(value: Any, where: str) -> Any:
    """Plain JSON data; non-finite floats become the strings 'nan', 'inf', '-inf'."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"Checkpoint settings keys must be strings; {where} has {k!r}.")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _jsonable(value.item(), where)
    raise ConfigError(
        f"Checkpoint settings must be JSON data (numbers, strings, booleans, None, lists, "
        f"dicts); {where} is a {type(value).__name__}. Store arrays with `extra=`."
    )


# ---------------------------------------------------------------------- write


def _weight_tensors(network: NetworkSpec,
                    params: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    shapes = network.shapes()
    if len(params) != len(shapes):
        raise ShapeError(
            f"The network has {len(shapes)} layers but `params` has {len(params)} entries."
        )
    tensors = {}
    for i, (p, expected) in enumerate(zip(params, shapes, strict=True)):
        if set(p) != set(expected):
            raise ShapeError(
                f"Layer {i} needs weights {sorted(expected)}, `params` has {sorted(p)}."
            )
        for name, shape in expected.items():
            arr = np.asarray(p[name])
            if arr.shape != tuple(shape):
                raise ShapeError(
                    f"The {name} of layer {i} must have shape {tuple(shape)}, got {arr.shape}."
                )
            tensors[f"layers.{i}.{name}"] = np.ascontiguousarray(arr, _WEIGHT_DTYPE)
    return tensors


def _digest(tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.asarray(tensors[name], order="C")
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`gdlab.artifacts.atomic_write`)."""
    from gdlab.artifacts import OutputError, atomic_write

    try:
        return atomic_write(path, data)
    except OutputError as e:
        raise ConfigError(str(e)) from None


def save(path: str | os.PathLike[str], network: NetworkSpec,
         params: Sequence[Mapping[str, Any]], settings: Mapping[str, Any] | None = None, *,
         extra: Mapping[str, Any] | None = None) -> Path:
    """Write one network's checkpoint to ``path`` (atomically) and return the path.

    ``params`` is one dict per layer (``{"kernel": ..., "bias": ...}``, the
    layout of :mod:`gdlab.network`, NumPy or JAX arrays, no model axes);
    ``settings`` any JSON data (e.g. ``{"optimizer": optimizer_to_dict(spec),
    "epoch": 12, "val_loss": 0.31}``); ``extra`` named arrays stored beside the
    weights (e.g. optimizer state).
    """
    tensors = _weight_tensors(network, params)
    for name, value in (extra or {}).items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Extra array names must be non-empty strings, got {name!r}.")
        # np.ascontiguousarray would turn a 0-d array into shape (1,).
        tensors[f"extra.{name}"] = np.array(value, order="C")
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "gdlab_version": __version__,
        "network": json.dumps(network_to_dict(network), allow_nan=False),
        "settings": json.dumps(_jsonable(dict(settings or {}), "settings"), allow_nan=False),
        "content_sha256": _digest(tensors),
    }
    return atomic_write_bytes(path, safetensors.numpy.save(tensors, metadata=metadata))


# ----------------------------------------------------------------------- read


def _header(path: Path, data: bytes) -> dict[str, Any]:
    """The safetensors JSON header, with clear errors for foreign or broken files."""
    if data.startswith(_HDF5_MAGIC):
        raise NotSupportedError(
            f"{path} is an HDF5 file (Keras's .h5/.weights.h5 format), not a gdlab checkpoint. "
            "gdlab reads the checkpoints it writes (safetensors + JSON); load this file with "
            "Keras and copy its weights with model.set_weights(keras_model.get_weights())."
        )
    if data.startswith(_ZIP_MAGIC):
        raise NotSupportedError(
            f"{path} is a zip archive (Keras's .keras format), not a gdlab checkpoint. "
            "gdlab reads the checkpoints it writes (safetensors + JSON); load this file with "
            "Keras and copy its weights with model.set_weights(keras_model.get_weights())."
        )
    if len(data) < 8:
        raise DataError(
            f"{path} is not a gdlab checkpoint: it is truncated ({len(data)} bytes, "
            "shorter than a safetensors header)."
        )
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER:
        raise DataError(
            f"{path} is not a gdlab checkpoint: its first 8 bytes do not start a "
            "safetensors header."
        )
    if 8 + n > len(data):
        raise DataError(
            f"{path} is truncated: its header announces {n} bytes but the file has "
            f"{len(data) - 8} after the size field."
        )
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is corrupt: its safetensors header is not valid JSON ({e}).") from None
    if not isinstance(header, dict):
        raise DataError(f"{path} is corrupt: its safetensors header is not a JSON object.")
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict)
            and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2
            and isinstance(entry["data_offsets"][1], int)]
    expected = 8 + n + max(ends, default=0)
    if len(data) < expected:
        raise DataError(
            f"{path} is truncated: it has {len(data)} bytes, its header describes {expected}."
        )
    return header


def _read_json(path: Path, metadata: Mapping[str, str], key: str) -> Any:
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise DataError(f"{path} is corrupt: its metadata has no {key!r} entry.") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is corrupt: its {key!r} metadata is not valid JSON ({e}).") from None


def read(path: str | os.PathLike[str]) -> CheckpointContents:
    """Read a checkpoint written by :func:`save`, checking it from end to end."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a gdlab checkpoint file.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"No checkpoint file at {path}.") from None
    header = _header(path, data)
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise DataError(
            f"{path} is a safetensors file but not a gdlab checkpoint (its metadata has no "
            f"format={FORMAT!r}); gdlab.checkpoint.load reads files written by "
            "gdlab.checkpoint.save, Model.save or Model.save_weights."
        )
    version = metadata.get("format_version", "")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise NotSupportedError(
            f"{path} has checkpoint format version {version!r}; this gdlab ({__version__}) "
            f"reads versions up to {FORMAT_VERSION}. Upgrade gdlab to read it."
        )
    try:
        tensors = safetensors.numpy.load(data)
    except safetensors.SafetensorError as e:
        raise DataError(f"{path} is corrupt or truncated: {e}.") from None
    if metadata.get("content_sha256") != _digest(tensors):
        raise DataError(
            f"{path} is corrupt: its arrays do not match the checksum stored when it was "
            "written (the file was modified or damaged)."
        )
    try:
        network = network_from_dict(_read_json(path, metadata, "network"))
    except (ConfigError, TypeError) as e:
        raise DataError(f"{path} has an invalid architecture: {e}") from None
    settings = _read_json(path, metadata, "settings")
    if not isinstance(settings, dict):
        raise DataError(f"{path} is corrupt: its settings are not a JSON object.")

    params = []
    for i, shapes in enumerate(network.shapes()):
        layer = {}
        for name, shape in shapes.items():
            key = f"layers.{i}.{name}"
            if key not in tensors:
                raise DataError(f"{path} is missing the array {key!r} of its architecture.")
            arr = tensors.pop(key)
            if arr.dtype != _WEIGHT_DTYPE or arr.shape != tuple(shape):
                raise DataError(
                    f"{path}: array {key!r} is {arr.dtype}{list(arr.shape)}, but the "
                    f"architecture needs float32{list(shape)}."
                )
            layer[name] = arr
        params.append(layer)
    extra = {k.removeprefix("extra."): v for k, v in tensors.items() if k.startswith("extra.")}
    stray = sorted(k for k in tensors if not k.startswith("extra."))
    if stray:
        raise DataError(f"{path} holds arrays its architecture does not have: {stray}.")
    return CheckpointContents(network, tuple(params), settings, extra)


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """``network, params, settings = load(path)``: a checkpoint written by :func:`save`."""
    contents = read(path)
    return Checkpoint(contents.network, contents.params, contents.settings)


def check_compatible(path: str | os.PathLike[str], saved: NetworkSpec,
                     target: NetworkSpec) -> None:
    """Raise ShapeError when weights saved for ``saved`` cannot go into ``target``."""
    if saved.shapes() == target.shapes():
        return
    widths = "-".join(map(str, saved.widths))
    target_widths = "-".join(map(str, target.widths))
    detail = ""
    for i, (a, b) in enumerate(zip(saved.shapes(), target.shapes(), strict=False)):
        if a != b:
            detail = f" First difference: layer {i} has {a} in the file, {b} in the model."
            break
    raise ShapeError(
        f"{path} holds weights for a {widths} network ({len(saved.layers)} Dense layers), "
        f"but the model is {target_widths} ({len(target.layers)} Dense layers).{detail}"
    )



def save_best(result: Any, directory: str | os.PathLike[str], *,
              monitor: str | None = None) -> list[Path]:
    """Each configuration's best run of a sweep as a checkpoint (``<setting>.safetensors``).

    The best run is the seed with the best final ``monitor`` (by default
    ``val_loss`` if measured, else ``test_loss``, else ``loss``); its final
    weights are saved (the best epoch's, when the sweep restored best weights),
    with the configuration, seed and final metrics as settings. Configurations
    whose every seed diverged have nothing worth keeping and are skipped.
    """
    from gdlab.artifacts import safe_name

    if result.params is None:
        raise ConfigError("This result has no weights (run the sweep with keep_params=True).")
    metrics = result.metrics
    monitor = monitor or next(m for m in ("val_loss", "test_loss", "loss") if m in metrics)
    if monitor not in metrics:
        raise ConfigError(f"Cannot pick best runs by {monitor!r}; measured: {', '.join(metrics)}.")
    sign = 1.0 if "loss" in monitor else -1.0
    data = result.meta.get("data", {})
    final = result.final()
    names = result.setting_names
    written = []
    for c, cfg in enumerate(result.spec.configs()):
        runs = final[final.config == c].reset_index(drop=True)
        values = sign * runs[monitor].to_numpy(float)
        if not np.isfinite(values).any():
            continue
        s = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
        network = cfg.network(int(data["n_features"]), data["task"], int(data["n_outputs"]))
        params = [{k: np.asarray(v)[s] for k, v in layer.items()} for layer in result.params[c]]
        row = runs.iloc[s]
        settings = {"sweep": result.spec.name, "setting": names[c], "seed": int(row.seed),
                    "config": cfg.settings(), "monitor": monitor,
                    "metrics": {m: float(row[m]) for m in metrics if math.isfinite(row[m])}}
        path = Path(directory) / f"{safe_name(names[c])}.safetensors"
        written.append(save(path, network, params, settings))
    return written
