"""Loss-landscape slices: the line from initial to final weights, and a plane around the end.

* **Line** (Goodfellow et al. 2015): :math:`\\theta(\\alpha) = (1 - \\alpha)\\,\\theta_0 +
  \\alpha\\,\\theta_1` from a model's initial weights :math:`\\theta_0` to its final
  weights :math:`\\theta_1`; ``alpha`` = 0 and 1 are those weights exactly, values
  outside [0, 1] extrapolate.
* **Plane** (Li et al. 2018): :math:`\\theta(a, b) = \\theta_1 + a\\,d_1 + b\\,d_2` with
  two random Gaussian directions, *filter-normalized*: each output unit's
  column of a kernel (a dense layer's filter) is rescaled to the norm of the
  same column of the weights, so a step of 1 is as large as the weights
  themselves in every unit and plots of differently scaled networks compare.
  Biases get no direction (the paper's ``ignore='biasbn'``). Random directions
  in a few dozen dimensions are far from orthogonal, so within each filter
  :math:`d_2` is made orthogonal to :math:`d_1` before normalizing (the paper
  relies on high dimension for that).

All points of a slice, for every seed, are evaluated in one compiled program
(``vmap`` over points and seeds of the engine's own loss and metric, Keras's
math). Metrics are named as in a sweep's history: ``loss``/``accuracy`` on the
training rows, ``val_``/``test_`` on the evaluation sets. The raw Gaussian
directions come from ``direction_seed`` and are the same for every model of the
same architecture, so side-by-side plots differ by their models only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jax
import numpy as np
import pandas as pd

from gdlab.errors import ConfigError, ShapeError
from gdlab.specs import TrainConfig

#: Two lines for the report: how to read the line figure.
HOW_TO_READ_LINE = (
    "The loss along the straight line from each model's initial weights (α = 0) to its final "
    "weights (α = 1), beyond both ends; median over seeds, band: min to max.\n"
    "A curve that falls steadily to α = 1 means training crossed no barrier on this line; "
    "a bump means it went around one, and a steep rise past 1 a sharp minimum."
)

#: Two lines for the report: how to read the plane figure.
HOW_TO_READ_PLANE = (
    "Contours of the training loss on a plane through the final weights (the cross at the "
    "centre), spanned by two random filter-normalized directions: 1 is a step as large as "
    "the weights.\n"
    "Wide, round basins mean the result tolerates perturbation (flat minima); tight or "
    "elongated ones mean it is sensitive in some directions."
)

DEFAULT_ALPHAS = tuple(np.round(np.linspace(-0.5, 1.5, 41), 10))


@dataclass(frozen=True)
class Landscape:
    """Slices of the loss landscape of several configurations x seeds.

    ``line[metric]`` is ``[alphas, seeds, configs]``; ``plane[metric]`` is
    ``[coords (b, rows), coords (a, columns), seeds, configs]`` (empty when no
    plane was computed). ``labels`` name the configurations.
    """

    labels: tuple[str, ...]
    seeds: tuple[int, ...]
    alphas: np.ndarray
    line: dict[str, np.ndarray]
    coords: np.ndarray
    plane: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        """Metric names, training loss first."""
        return list(self.line)

    def tidy(self) -> pd.DataFrame:
        """One row per slice point x configuration x seed x metric.

        Columns: ``slice`` ("line" or "plane"), ``config, setting, seed, alpha``
        (line position; NaN on the plane), ``a, b`` (plane coordinates; NaN on the
        line), ``metric, value``.
        """
        frames = []
        seeds = np.asarray(self.seeds)
        names = np.asarray(self.labels, dtype=object)
        for metric, arr in self.line.items():
            a_i, s_i, c_i = (i.ravel() for i in np.meshgrid(
                np.arange(arr.shape[0]), np.arange(arr.shape[1]), np.arange(arr.shape[2]),
                indexing="ij"))
            frames.append(pd.DataFrame({
                "slice": "line", "config": c_i, "setting": names[c_i], "seed": seeds[s_i],
                "alpha": self.alphas[a_i], "a": np.nan, "b": np.nan, "metric": metric,
                "value": arr.ravel().astype(np.float64)}))
        for metric, arr in self.plane.items():
            b_i, a_i, s_i, c_i = (i.ravel() for i in np.meshgrid(
                *(np.arange(n) for n in arr.shape), indexing="ij"))
            frames.append(pd.DataFrame({
                "slice": "plane", "config": c_i, "setting": names[c_i], "seed": seeds[s_i],
                "alpha": np.nan, "a": self.coords[a_i], "b": self.coords[b_i],
                "metric": metric, "value": arr.ravel().astype(np.float64)}))
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["slice", "config", "seed", "metric", "alpha", "b", "a"],
                              kind="stable").reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Per configuration (medians over seeds) of the line's training loss.

        Columns: ``config, setting, initial_loss`` (alpha 0), ``final_loss``
        (alpha 1), ``barrier`` (the highest loss between them minus the larger
        of the two ends; 0 when the line never rises above its ends),
        ``monotonic`` (whether the loss never rises from alpha 0 to 1, within
        1e-6) and, with a plane, ``plane_max_loss``.
        """
        loss = self.line["loss"]
        i0 = int(np.argmin(np.abs(self.alphas)))
        i1 = int(np.argmin(np.abs(self.alphas - 1.0)))
        rows = []
        for c, label in enumerate(self.labels):
            seg = loss[i0:i1 + 1, :, c]
            ends = np.maximum(seg[0], seg[-1])
            barrier = np.maximum(np.max(seg, axis=0) - ends, 0.0)
            mono = np.all(np.diff(seg, axis=0) <= 1e-6, axis=0)
            row = {"config": c, "setting": label,
                   "initial_loss": float(np.median(seg[0])),
                   "final_loss": float(np.median(seg[-1])),
                   "barrier": float(np.median(barrier)),
                   "monotonic": bool(np.all(mono))}
            if "loss" in self.plane:
                row["plane_max_loss"] = float(np.median(
                    np.max(self.plane["loss"][:, :, :, c], axis=(0, 1))))
            rows.append(row)
        return pd.DataFrame(rows)


# ------------------------------------------------------------------ directions


def _normalize_filters(direction: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Scale each column (a unit's filter) of ``direction`` to the norm of ``weights``' column.

    Both are ``[..., fan_in, units]``; leading axes (seeds) broadcast.
    """
    d_norm = np.sqrt(np.sum(np.square(direction), axis=-2, keepdims=True))
    w_norm = np.sqrt(np.sum(np.square(weights), axis=-2, keepdims=True))
    return direction * (w_norm / np.maximum(d_norm, 1e-12))


def filter_normalized_directions(params: Any, seed: int = 0) -> tuple[Any, Any]:
    """Two filter-normalized random directions for ``params`` (a network's, or stacked over seeds).

    Per layer, Gaussian kernels :math:`d_1, d_2` drawn from ``seed`` and the
    layer's index (the same for every network of that shape); within each
    column :math:`d_2` loses its component along :math:`d_1` (when the column
    has at least two entries); then each column is scaled to the norm of the
    weights' column. Bias directions are zero. Returns float32 NumPy trees
    shaped like ``params``.
    """
    d1, d2 = [], []
    for layer_i, layer in enumerate(params):
        w = np.asarray(layer["kernel"], np.float64)
        rng = np.random.default_rng([int(seed), layer_i])
        a = rng.standard_normal(w.shape[-2:])
        b = rng.standard_normal(w.shape[-2:])
        if w.shape[-2] >= 2:
            b = b - np.sum(a * b, axis=0, keepdims=True) / np.sum(a * a, axis=0,
                                                                  keepdims=True) * a
        one = {"kernel": _normalize_filters(np.broadcast_to(a, w.shape), w).astype(np.float32)}
        two = {"kernel": _normalize_filters(np.broadcast_to(b, w.shape), w).astype(np.float32)}
        if "bias" in layer:
            zeros = np.zeros(np.shape(layer["bias"]), np.float32)
            one["bias"], two["bias"] = zeros, zeros.copy()
        d1.append(one)
        d2.append(two)
    return tuple(d1), tuple(d2)


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _Model:
    """What evaluating one configuration needs: its engine group and targets."""

    group: Any
    config: Any


def _model(cfg: TrainConfig, td: Any) -> _Model:
    from gdlab import engine
    from gdlab.executor import metrics_for

    net = cfg.network(td.n_features, td.task, td.n_outputs)
    _, _, loss = cfg.output_layer(td.task, td.n_outputs)
    # Evaluation needs the network, loss and metric only: one optimizer kind for
    # all, so configurations that differ in optimizer share a compiled program.
    group = engine.GroupSpec(network=net, loss=loss,
                             metrics=metrics_for(td.task, loss, net.n_outputs),
                             optimizer="sgd")
    n_layers = len(net.layers)
    one = engine.GroupConfig(optimizer={}, batch_size=np.int32(cfg.batch_size),
                             epochs=np.int32(cfg.epochs),
                             activation_index=np.zeros(n_layers, np.int32),
                             initializer_index=np.zeros(n_layers, np.int32))
    return _Model(group, one)


def _sets(td: Any, group: Any) -> tuple[tuple[str, ...], tuple[tuple[np.ndarray, np.ndarray],
                                                                 ...]]:
    from gdlab.executor import encode_targets

    units = group.network.n_outputs
    names = [""]
    arrays = [(td.x_train, encode_targets(td.y_train, td.task, group.loss, units))]
    for name, xe, ye in td.evals:
        names.append(f"{name}_")
        arrays.append((xe, encode_targets(ye, td.task, group.loss, units)))
    return tuple(names), tuple(arrays)


#: XLA options for the slice programs: little arithmetic, so build fast (see the engine).
_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


@lru_cache(maxsize=32)
def _slices_program(group: Any, with_plane: bool, chunk: int) -> Any:
    """Compiled ``(p0, p1, alphas, d1, d2, ab, sets, cfg) -> (line, plane)`` for one group.

    Every array of weights has a leading seed axis; ``line`` holds, per
    evaluation set, (loss, metric) as ``[alphas, seeds]``, ``plane`` the same as
    ``[points, seeds]`` for the points ``ab`` (``[points, 2]``).
    """
    from gdlab.engine import _evaluate_model

    def scores(p, sets, cfg):
        return tuple(_evaluate_model(group, p, x, y, cfg) for x, y in sets)

    def run(p0, p1, alphas, d1, d2, ab, sets, cfg):
        def on_line(alpha, q0, q1):
            p = jax.tree.map(lambda u, v: (1 - alpha) * u + alpha * v, q0, q1)
            return scores(p, sets, cfg)

        line = jax.vmap(jax.vmap(on_line, in_axes=(None, 0, 0)), in_axes=(0, None, None))(
            alphas, p0, p1)
        if not with_plane:
            return line, ()

        def on_plane(point, q, e1, e2):
            moved = jax.tree.map(lambda w, u, v: w + point[0] * u + point[1] * v, q, e1, e2)
            return scores(moved, sets, cfg)

        over_seeds = jax.vmap(on_plane, in_axes=(None, 0, 0, 0))
        # lax.map over chunks of points bounds memory (points x seeds x rows x units).
        plane = jax.lax.map(lambda pt: over_seeds(pt, p1, d1, d2), ab, batch_size=chunk)
        return line, plane

    return jax.jit(run, compiler_options=_COMPILER_OPTIONS)


def _as_stack(params: Any, n_seeds: int, what: str) -> Any:
    leaves = jax.tree.leaves(params)
    if not leaves or any(np.shape(a)[0] != n_seeds for a in leaves):
        raise ShapeError(f"{what} must be stacked over seeds with a leading axis of "
                         f"{n_seeds}, got shapes {[np.shape(a) for a in leaves]}.")
    return jax.tree.map(lambda a: np.asarray(a, np.float32), params)


def _check_grid(alphas: Sequence[float], coords: Sequence[float] | None) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    a = np.asarray(alphas, np.float64).reshape(-1)
    if a.size < 2 or not np.isfinite(a).all():
        raise ConfigError(f"`alphas` must be at least two finite numbers, got {list(alphas)}.")
    c = np.zeros(0) if coords is None else np.asarray(coords, np.float64).reshape(-1)
    if coords is not None and (c.size < 2 or not np.isfinite(c).all()):
        raise ConfigError(f"`coords` must be at least two finite numbers, got {list(coords)}.")
    return a, c


def plane_coords(span: float = 1.0, points: int = 21) -> np.ndarray:
    """``points`` coordinates from ``-span`` to ``span``, evenly spaced (0 exactly, when odd)."""
    if not (isinstance(span, int | float) and span > 0):
        raise ConfigError(f"`span` must be a number > 0, got {span!r}.")
    if isinstance(points, bool) or not isinstance(points, int) or points < 3:
        raise ConfigError(f"`points` must be an integer >= 3, got {points!r}.")
    return np.round(np.linspace(-span, span, points), 12)


def landscape(data: Any, configs: Sequence[TrainConfig], initial: Sequence[Any],
              final: Sequence[Any], *, seeds: Sequence[int], labels: Sequence[str] | None = None,
              alphas: Sequence[float] = DEFAULT_ALPHAS, coords: Sequence[float] | None = None,
              direction_seed: int = 0) -> Landscape:
    """Evaluate the line and (with ``coords``) the plane slices of several models.

    ``initial[c]`` and ``final[c]`` are configuration ``c``'s weights stacked over
    ``seeds`` (as :func:`gdlab.executor.initial_params` and ``SweepResult.params``
    hold them); ``data`` is what the models were trained on (a prepared dataset,
    dict or tuple). ``coords`` are the plane's coordinates on both axes (e.g.
    :func:`plane_coords`); without them only the line is computed.
    """
    from gdlab.executor import training_data

    td = training_data(data)
    if not (len(configs) == len(initial) == len(final)):
        raise ConfigError(f"Give one initial and one final set of weights per configuration: "
                          f"{len(configs)} configurations, {len(initial)} initial, "
                          f"{len(final)} final.")
    if not configs:
        raise ConfigError("`configs` must hold at least one configuration.")
    if labels is None:
        labels = [f"config {c}" for c in range(len(configs))]
    a, c_arr = _check_grid(alphas, coords)
    n_s = len(seeds)
    line: dict[str, np.ndarray] = {}
    plane: dict[str, np.ndarray] = {}
    n_c = len(configs)
    if c_arr.size:
        grid_b, grid_a = np.meshgrid(c_arr, c_arr, indexing="ij")
        ab = np.stack([grid_a.ravel(), grid_b.ravel()], axis=1).astype(np.float32)
    else:
        ab = np.zeros((1, 2), np.float32)
    for ci, cfg in enumerate(configs):
        model = _model(cfg, td)
        names, sets = _sets(td, model.group)
        p0 = _as_stack(initial[ci], n_s, f"initial[{ci}]")
        p1 = _as_stack(final[ci], n_s, f"final[{ci}]")
        d1, d2 = filter_normalized_directions(p1, direction_seed)
        program = _slices_program(model.group, bool(c_arr.size), max(int(c_arr.size), 1))
        out_line, out_plane = jax.device_get(program(p0, p1, a.astype(np.float32), d1, d2, ab,
                                                     sets, model.config))
        metrics = model.group.metrics
        _store(line, out_line, names, metrics, (a.size, n_s, n_c), ci)
        if c_arr.size:
            flat: dict[str, np.ndarray] = {}
            _store(flat, out_plane, names, metrics, (c_arr.size ** 2, n_s, n_c), ci)
            for metric, arr in flat.items():
                plane.setdefault(metric, np.full((c_arr.size, c_arr.size, n_s, n_c), np.nan))
                plane[metric][:, :, :, ci] = arr[:, :, ci].reshape(c_arr.size, c_arr.size, n_s)
    return Landscape(tuple(labels), tuple(int(s) for s in seeds), a, line, c_arr, plane,
                     {"direction_seed": int(direction_seed)})


def _store(target: dict[str, np.ndarray], out: Any, names: Sequence[str],
           metrics: Sequence[Any], shape: tuple[int, int, int], config: int) -> None:
    for prefix, (loss, values) in zip(names, out, strict=True):
        keys = [(f"{prefix}loss", loss)]
        keys += [(f"{prefix}{m.key}", v) for m, v in zip(metrics, values, strict=True)]
        for name, values in keys:
            target.setdefault(name, np.full(shape, np.nan))
            target[name][:, :, config] = np.asarray(values, np.float64)


def sweep_landscape(result: Any, data: Any, *, configs: Sequence[int] | None = None,
                    seeds: Sequence[int] | None = None, alphas: Sequence[float] = DEFAULT_ALPHAS,
                    span: float = 1.0, points: int = 21, plane: bool = True,
                    direction_seed: int = 0) -> Landscape:
    """Landscape slices of a sweep's models (it must have kept its weights).

    ``configs`` are configuration indices (default: all), ``seeds`` seed values of
    the sweep (default: all). ``data`` must be the data the sweep trained on:
    the initial weights are drawn again exactly as the sweep drew them.
    """
    from gdlab.executor import initial_params, training_data

    if result.params is None or any(p is None for p in result.params):
        raise ConfigError(
            f"The sweep {result.spec.name!r} has no final weights (results read from a file, "
            "or run with keep_params=False); run it again with keep_params=True.")
    all_configs = result.spec.configs()
    chosen = list(range(len(all_configs))) if configs is None else list(configs)
    for c in chosen:
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or \
                not 0 <= c < len(all_configs):
            raise ConfigError(f"`configs` must be configuration indices 0..{len(all_configs) - 1},"
                              f" got {list(configs or [])}.")
    sweep_seeds = list(result.spec.seeds)
    chosen_seeds = sweep_seeds if seeds is None else list(seeds)
    missing = [s for s in chosen_seeds if s not in sweep_seeds]
    if missing or not chosen_seeds:
        raise ConfigError(f"`seeds` must be seeds of the sweep ({sweep_seeds}), got "
                          f"{chosen_seeds}.")
    rows = [sweep_seeds.index(s) for s in chosen_seeds]
    td = training_data(data)
    cfgs = [all_configs[c] for c in chosen]
    init = initial_params(cfgs, chosen_seeds, td)
    final = [jax.tree.map(lambda a: np.asarray(a)[rows], result.params[c]) for c in chosen]
    coords = plane_coords(span, points) if plane else None
    land = landscape(td, cfgs, init, final, seeds=chosen_seeds,
                     labels=[result.setting_names[c] for c in chosen], alphas=alphas,
                     coords=coords, direction_seed=direction_seed)
    return Landscape(land.labels, land.seeds, land.alphas, land.line, land.coords, land.plane,
                     land.settings | {"sweep": result.spec.name, "configs": chosen,
                                      "span": span, "points": points})


__all__ = ["DEFAULT_ALPHAS", "HOW_TO_READ_LINE", "HOW_TO_READ_PLANE", "Landscape",
           "filter_normalized_directions", "landscape", "plane_coords", "sweep_landscape"]
