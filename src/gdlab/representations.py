"""Inside the network: any layer's activations, for one model or every model of a sweep.

Layers are counted as in :mod:`gdlab.network`: Dense layers from 0, negative
indices from the output (``-1`` the output layer, ``-2`` the last hidden
layer, the course's 2-unit "features"). Activations are taken after the
layer's activation, as Keras's ``Model(inputs, layer.output)`` gives them.

Three sources, one shape:

* a sweep's final weights for any inputs: :func:`config_activations`
  (``[seeds, rows, units]``) and :func:`sweep_activations` (one per configuration);
* what a sweep recorded after every epoch with ``record_layers``:
  :func:`recorded_frames` (``[epochs, rows, units]`` for one seed);
* one ``gdlab.keras`` model: :func:`model_activations`.

Wider layers are drawn through a :class:`Projection` to two dimensions (PCA,
scikit-learn), fitted once over *all* frames so every epoch shares the axes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jax
import numpy as np

from gdlab import network as _network
from gdlab.errors import ConfigError, ShapeError, unknown_name
from gdlab.results import SweepResult
from gdlab.validation import as_features

# ------------------------------------------------------------------- layers


def layer_position(layer: int, n_layers: int, *, what: str = "The network") -> int:
    """``layer`` as an index in ``0..n_layers-1`` (negative counts from the output)."""
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise ConfigError(f"A layer is an integer index (e.g. -2 for the last hidden layer), "
                          f"got {layer!r}.")
    if not -n_layers <= layer < n_layers:
        raise ConfigError(
            f"{what} has {n_layers} Dense layer{'s' if n_layers != 1 else ''} "
            f"(indices 0..{n_layers - 1}, or {-n_layers}..-1 from the output); "
            f"got layer {layer}."
        )
    return int(layer) % n_layers


@lru_cache(maxsize=64)
def _program(spec: _network.NetworkSpec, layer: int, over_seeds: bool) -> Callable:
    def one(params: _network.Params, x: jax.Array) -> jax.Array:
        _, _, stages = _network.apply(params, x, spec)
        return stages[layer][-1]

    return jax.jit(jax.vmap(one, in_axes=(0, None)) if over_seeds else one)


def _check_params(params: Any, spec: _network.NetworkSpec, lead: tuple[int, ...]) -> None:
    shapes = spec.shapes()
    if len(params) != len(shapes):
        raise ShapeError(f"The parameters hold {len(params)} layers; the network has "
                         f"{len(shapes)}.")
    for i, (p, s) in enumerate(zip(params, shapes, strict=True)):
        for name, shape in s.items():
            got = tuple(np.shape(p.get(name)))
            if got[len(lead):] != tuple(shape) or (lead and got[:len(lead)] != lead):
                raise ShapeError(f"Weight {name!r} of layer {i} must have shape "
                                 f"{lead + tuple(shape)}, got {got}.")


def activations(params: _network.Params, x: Any, network: _network.NetworkSpec,
                layer: int = -2) -> np.ndarray:
    """One network's activations of ``layer`` for inputs ``x``: ``[rows, units]``."""
    pos = layer_position(layer, len(network.layers))
    _check_params(params, network, ())
    xs = as_features(x, name="x", n_features=network.n_inputs)
    return np.asarray(_program(network, pos, False)(params, xs))


# -------------------------------------------------------------------- sweeps


def _require_params(result: SweepResult) -> list[Any]:
    if result.params is None:
        raise ConfigError("This result has no weights (a result read from Parquet, or a sweep "
                          "run with keep_params=False); rerun the sweep with keep_params=True.")
    return result.params


def _config_index(result: SweepResult, config: int) -> int:
    n = result.spec.n_configs
    if isinstance(config, bool) or not isinstance(config, int | np.integer) or \
            not 0 <= config < n:
        raise ConfigError(f"`config` must be a configuration index in 0..{n - 1}, "
                          f"got {config!r}.")
    return int(config)


def seed_position(result: SweepResult, seed: int) -> int:
    """Where seed value ``seed`` sits on a result's seed axis."""
    seeds = list(result.spec.seeds)
    if seed not in seeds:
        raise ConfigError(f"Seed {seed!r} is not one of this sweep's seeds "
                          f"({', '.join(map(str, seeds))}).")
    return seeds.index(seed)


def network_of(result: SweepResult, config: int) -> _network.NetworkSpec:
    """The network configuration ``config`` of a sweep trained (read from its weights)."""
    config = _config_index(result, config)
    params = _require_params(result)[config]
    task = result.meta.get("data", {}).get("task")
    if task is None:
        raise ConfigError("This result does not record its task; cannot rebuild its network.")
    n_inputs = int(np.shape(params[0]["kernel"])[-2])
    n_outputs = int(np.shape(params[-1]["kernel"])[-1])
    spec = result.spec.configs()[config].network(n_inputs, task, n_outputs)
    _check_params(params, spec, (len(result.spec.seeds),))
    return spec


def config_activations(result: SweepResult, config: int, x: Any,
                       layer: int = -2) -> np.ndarray:
    """Activations of ``layer`` for inputs ``x`` from configuration ``config``'s final
    weights, every seed at once: ``[seeds, rows, units]``."""
    spec = network_of(result, config)
    pos = layer_position(layer, len(spec.layers),
                         what=f"Configuration {config} ({result.setting_names[config]})")
    xs = as_features(x, name="x", n_features=spec.n_inputs)
    return np.asarray(_program(spec, pos, True)(result.params[config], xs))


def sweep_activations(result: SweepResult, x: Any, layer: int = -2) -> list[np.ndarray | None]:
    """:func:`config_activations` for every configuration (``None`` where a configuration
    has no such layer, as ``result.taps`` does)."""
    out: list[np.ndarray | None] = []
    for c in range(result.spec.n_configs):
        n_layers = len(network_of(result, c).layers)
        out.append(config_activations(result, c, x, layer)
                   if -n_layers <= layer < n_layers else None)
    return out


def recorded_frames(result: SweepResult, config: int = 0, seed: int | None = None,
                    layer: int = -2) -> np.ndarray:
    """The activations a sweep recorded after every epoch for one seed: ``[epochs, rows, units]``.

    ``seed`` is a seed value (default: the sweep's first). Needs
    ``sweep(..., record_layers=(layer,))``; epochs after a run stopped are NaN.
    """
    config = _config_index(result, config)
    if layer not in result.taps:
        recorded = ", ".join(map(str, result.taps)) or "none"
        raise ConfigError(f"This sweep did not record layer {layer} (recorded: {recorded}); "
                          f"run it with record_layers=({layer},).")
    frames = result.taps[layer][config]
    if frames is None:
        raise ConfigError(f"Configuration {config} ({result.setting_names[config]}) has no "
                          f"layer {layer}.")
    s = seed_position(result, result.spec.seeds[0] if seed is None else seed)
    return np.asarray(frames[:, s])


def predictor(result: SweepResult, config: int = 0, seed: int | None = None
              ) -> Callable[[Any], np.ndarray]:
    """``x -> outputs`` (probabilities for classification) of one trained model of a sweep."""
    spec = network_of(result, config)
    s = seed_position(result, result.spec.seeds[0] if seed is None else seed)
    params = jax.tree.map(lambda a: np.asarray(a)[s], result.params[config])
    return lambda x: activations(params, x, spec, -1)


# ------------------------------------------------------------- gdlab.keras


def model_activations(model: Any, x: Any, layer: int | str = -2) -> np.ndarray:
    """One ``gdlab.keras`` model's activations of ``model.layers[layer]`` (an index or a name)
    for inputs ``x``: the course's ``K.function([model.input], [layer.output])([x])[0]``."""
    from gdlab.keras.backend import function
    from gdlab.keras.models import Model

    if not isinstance(model, Model):
        raise ConfigError(f"`model` must be a gdlab.keras model, got {type(model).__name__}.")
    layers = model.layers
    if isinstance(layer, str):
        names = [lay.name for lay in layers]
        if layer not in names:
            raise unknown_name("layer", layer, names)
        target = layers[names.index(layer)]
    else:
        if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or \
                not -len(layers) <= layer < len(layers):
            raise ConfigError(f"The model has {len(layers)} layers (model.layers[0.."
                              f"{len(layers) - 1}]); got layer {layer!r}.")
        target = layers[int(layer)]
    return np.asarray(function([model.input], [target.output])([x])[0])


# --------------------------------------------------------------- projection


@dataclass(frozen=True)
class Projection:
    """A fixed map from a layer's units to 2-D: PCA for wider layers, identity otherwise."""

    units: int
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    explained: tuple[float, ...] = ()

    @property
    def is_pca(self) -> bool:
        """Whether the map is a PCA (the layer has more than 2 units)."""
        return self.components is not None

    @property
    def labels(self) -> tuple[str, str]:
        """Axis labels: the units' names, or the components with their share of variance."""
        if self.is_pca:
            return tuple(f"PC{i + 1} ({r:.0%} of variance)"
                         for i, r in enumerate(self.explained))  # type: ignore[return-value]
        return ("unit 1", "unit 2") if self.units >= 2 else ("unit 1", "")

    def transform(self, a: Any) -> np.ndarray:
        """``[..., units]`` -> ``[..., 2]`` (NaN rows stay NaN)."""
        a = np.asarray(a, dtype=np.float64)
        if a.shape[-1] != self.units:
            raise ShapeError(f"This projection maps {self.units} units, got activations of "
                             f"shape {a.shape}.")
        if self.is_pca:
            return (a - self.mean) @ self.components.T
        if self.units == 1:
            return np.concatenate([a, np.zeros_like(a)], axis=-1)
        return a


def fit_projection(frames: Any, n_components: int = 2) -> Projection:
    """A :class:`Projection` of ``frames`` (``[..., rows, units]``, e.g. every epoch at once).

    More than two units: a PCA fitted once on every finite row of every frame,
    so all epochs are drawn on the same axes. Two or fewer: the identity.
    """
    a = np.asarray(frames, dtype=np.float64)
    if a.ndim < 2:
        raise ShapeError(f"Activations are [..., rows, units], got shape {a.shape}.")
    units = a.shape[-1]
    if units <= n_components:
        return Projection(units)
    rows = a.reshape(-1, units)
    rows = rows[np.isfinite(rows).all(axis=1)]
    if rows.shape[0] < n_components:
        raise ShapeError(f"A PCA needs at least {n_components} finite rows of activations, "
                         f"got {rows.shape[0]}.")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n_components, svd_solver="full").fit(rows)
    return Projection(units, pca.mean_.copy(), pca.components_.copy(),
                      tuple(float(r) for r in pca.explained_variance_ratio_))


def project(frames: Any, projection: Projection | None = None) -> tuple[np.ndarray, Projection]:
    """``frames`` in 2-D with ``projection`` (fitted on ``frames`` themselves when None)."""
    projection = projection or fit_projection(frames)
    return projection.transform(frames), projection


__all__ = ["Projection", "activations", "config_activations", "fit_projection",
           "layer_position", "model_activations", "network_of", "predictor", "project",
           "recorded_frames", "seed_position", "sweep_activations"]
