"""Training configurations and sweeps as validated, frozen data.

A :class:`TrainConfig` is everything that defines one training run except the
data and the seed: architecture (hidden sizes, activation, initializers),
optimizer, batch size, epochs and loss. A :class:`SweepSpec` is a base
configuration, a list of grid points (settings that vary) and seeds. Nothing
here trains; :mod:`gdlab.executor` does.

Settings are given by name, as in Keras: ``hidden`` (``(8, 5, 2)`` or the
course's ``"8-5-2"``; ``()`` / ``"0"`` is logistic regression), ``activation``
(hidden layers), ``kernel_initializer``, ``bias_initializer``, ``optimizer`` (a
name, a course-style string such as ``"SGD(learning_rate=0.01, momentum=0.3)"``
parsed safely, or an object), ``learning_rate`` and any other optimizer
argument (``momentum``, ``beta_1``, ``rho``, ...), ``batch_size``, ``epochs``,
``loss`` (by default from the task). Unknown names get the closest valid one.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from gdlab import activations as _activations
from gdlab import initializers as _initializers
from gdlab import losses as _losses
from gdlab.errors import ConfigError, closest, unknown_name
from gdlab.network import DenseSpec, NetworkSpec
from gdlab.optimizers import (
    OPTIMIZERS,
    OptimizerSpec,
    as_optimizer_spec,
    optimizer_spec,
    parse_optimizer,
)

TASKS = ("binary", "multiclass", "regression")

#: Optimizer arguments that can be set (or swept) directly, e.g. ``momentum=[0, 0.9]``.
OPTIMIZER_SETTINGS = frozenset(
    name for kind in OPTIMIZERS.values() for name in kind.defaults
)


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings (Keras's defaults where Keras has one)."""

    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    kernel_initializer: str = "glorot_uniform"
    bias_initializer: str = "zeros"
    optimizer: OptimizerSpec = field(default_factory=lambda: parse_optimizer("sgd"))
    batch_size: int = 32
    epochs: int = 10
    loss: str | None = None
    output_activation: str | None = None
    class_weight: str | tuple[tuple[int, float], ...] | None = None

    @property
    def learning_rate(self) -> float:
        """The optimizer's learning rate."""
        return self.optimizer.learning_rate

    def output_layer(self, task: str, n_outputs: int) -> tuple[int, str, str]:
        """(units, activation, loss) of the output layer for a task.

        Two classes: Dense(1, sigmoid) + binary cross-entropy; k classes:
        Dense(k, softmax) + categorical cross-entropy; regression: linear + MSE.
        An explicit ``loss`` or ``output_activation`` overrides the default.
        """
        if task == "binary":
            units, act, loss = 1, "sigmoid", "binary_crossentropy"
        elif task == "multiclass":
            units, act, loss = n_outputs, "softmax", "categorical_crossentropy"
        else:
            units, act, loss = n_outputs, "linear", "mean_squared_error"
        if self.loss is not None:
            loss = self.loss
        if self.output_activation is not None:
            act = self.output_activation
        return units, act, loss

    def network(self, n_inputs: int, task: str, n_outputs: int) -> NetworkSpec:
        """The network this configuration trains on ``n_inputs`` features."""
        units, act, _ = self.output_layer(task, n_outputs)
        layers = [DenseSpec(h, (self.activation,), self.kernel_initializer,
                            self.bias_initializer) for h in self.hidden]
        layers.append(DenseSpec(units, (act,), self.kernel_initializer, self.bias_initializer))
        return NetworkSpec(n_inputs, tuple(layers))

    def settings(self) -> dict[str, Any]:
        """The configuration as plain settings (JSON-friendly), for records."""
        return {
            "hidden": format_hidden(self.hidden),
            "activation": self.activation,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "optimizer": self.optimizer.label(),
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "loss": self.loss,
            "output_activation": self.output_activation,
            "class_weight": format_class_weight(self.class_weight),
        }


SETTINGS = tuple(f.name for f in fields(TrainConfig)) + ("learning_rate",)


# ----------------------------------------------------------------- parsing


def parse_hidden(value: Any) -> tuple[int, ...]:
    """Hidden layer sizes from ``(8, 5, 2)``, ``[8, 5]``, ``8`` or ``"8-5-2"``; ``"0"`` is none."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text in {"", "0", "none", "()"}:
            return ()
        parts = text.replace(",", "-").replace("x", "-").split("-")
        try:
            sizes = tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(
                f"Cannot read hidden layer sizes {value!r}: write sizes joined by dashes, "
                "e.g. '8-5-2' (or '0' for none)."
            ) from None
    elif isinstance(value, bool):
        raise ConfigError(f"`hidden` must be layer sizes such as (8, 5, 2), got {value!r}.")
    elif isinstance(value, int):
        sizes = () if value == 0 else (value,)
    elif isinstance(value, Iterable):
        sizes = tuple(value)
    else:
        raise ConfigError(f"`hidden` must be layer sizes such as (8, 5, 2), got {value!r}.")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise ConfigError(
                f"Hidden layer sizes must be integers >= 1, got {value!r}."
            )
    return sizes


def parse_class_weight(value: Any) -> str | tuple[tuple[int, float], ...] | None:
    """A class weight setting: None, ``"balanced"`` or ``{class: weight}`` (as sorted pairs).

    Also reads the labels that tables and the command line use: ``"none"`` and
    ``"0:1,1:3"``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in {"none", ""}:
            return None
        if text == "balanced":
            return "balanced"
        try:
            value = dict((k.strip(), float(v)) for k, v in
                         (part.split(":") for part in text.split(",")))
        except ValueError:
            raise ConfigError(
                f"Cannot read class weights {value!r}: write 'balanced', 'none' or "
                "class:weight pairs such as '0:1,1:3'."
            ) from None
    if isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"`class_weight` must be None, 'balanced' or a mapping {{class: weight}}, got "
            f"{value!r}."
        )
    from gdlab.weighting import check_class_weight

    return tuple(sorted(check_class_weight(value).items()))


def format_class_weight(value: str | tuple[tuple[int, float], ...] | None,
                        exact: bool = False) -> str:
    """How a class weight setting is named: ``"balanced"``, ``"none"`` or ``"0:1,1:3"``.

    Labels round weights to 6 digits; ``exact`` writes every digit, so that
    :func:`parse_class_weight` reads back the same floats (for files).
    """
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return ",".join(f"{k}:{v!r}" if exact else f"{k}:{v:g}" for k, v in value)


def format_hidden(hidden: tuple[int, ...]) -> str:
    """The course's name for hidden sizes: ``"8-5-2"``, or ``"0"`` for none."""
    return "-".join(map(str, hidden)) if hidden else "0"


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"`{name}` must be an integer >= 1, got {value!r}.")
    return int(value)


def resolve(settings: Mapping[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """A validated TrainConfig: ``base`` with ``settings`` applied.

    The optimizer is applied first, then ``learning_rate`` and other optimizer
    arguments override its values.
    """
    cfg = base or TrainConfig()
    valid = set(SETTINGS) | OPTIMIZER_SETTINGS
    for key in settings:
        if key not in valid:
            raise unknown_name("setting", key, sorted(valid))
    updates: dict[str, Any] = {}
    if "optimizer" in settings:
        updates["optimizer"] = as_optimizer_spec(settings["optimizer"])
    for key, value in settings.items():
        if key in {"optimizer", "learning_rate"} or key in OPTIMIZER_SETTINGS:
            continue
        if key == "hidden":
            updates[key] = parse_hidden(value)
        elif key == "activation":
            updates[key] = _activations.canonical_activation(value)
        elif key == "output_activation":
            updates[key] = None if value is None else _activations.canonical_activation(value)
        elif key in {"kernel_initializer", "bias_initializer"}:
            updates[key] = _initializers.canonical_initializer(value)
        elif key in {"batch_size", "epochs"}:
            updates[key] = _positive_int(key, value)
        elif key == "loss":
            updates[key] = None if value is None else _losses.canonical_loss(value)
        elif key == "class_weight":
            updates[key] = parse_class_weight(value)
    opt = updates.get("optimizer", cfg.optimizer)
    overrides = {k: v for k, v in settings.items()
                 if k in OPTIMIZER_SETTINGS and k != "optimizer"}
    if overrides:
        kind = OPTIMIZERS[opt.kind]
        for k in overrides:
            if k not in kind.defaults:
                hint = closest(k, kind.defaults)
                raise ConfigError(
                    f"`{k}` is not an argument of {kind.keras_name}"
                    + (f" (did you mean `{hint}`?)" if hint else "")
                    + f"; its arguments: {', '.join(kind.defaults)}."
                )
        params = opt.params | overrides
        updates["optimizer"] = optimizer_spec(opt.kind, **params)
    return replace(cfg, **updates)


# -------------------------------------------------------------------- sweeps


def value_label(axis: str, value: Any) -> str:
    """How a grid value is named in tables and legends."""
    if axis == "hidden":
        return format_hidden(parse_hidden(value))
    if axis == "optimizer":
        if isinstance(value, str):
            return value
        return as_optimizer_spec(value).label()
    if axis == "class_weight":
        return format_class_weight(parse_class_weight(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class SweepSpec:
    """A base configuration, the grid points that vary it, and seeds.

    Build it with :func:`sweep_spec` (cartesian grid or explicit list).
    ``points[i]`` holds the settings of configuration ``i`` as ``(name, value)``
    pairs; ``axes`` are the settings that vary.
    """

    name: str
    base: tuple[tuple[str, Any], ...]
    axes: tuple[str, ...]
    points: tuple[tuple[tuple[str, Any], ...], ...]
    seeds: tuple[int, ...]

    def base_config(self) -> TrainConfig:
        """The configuration every point starts from."""
        return resolve(dict(self.base))

    def configs(self) -> list[TrainConfig]:
        """The resolved configuration of every point, in order."""
        return list(_resolved(self))

    def labels(self) -> list[dict[str, str]]:
        """Each point's values as labels, per axis ("-" where a point leaves an axis unset)."""
        return [{a: value_label(a, dict(p)[a]) if a in dict(p) else "-" for a in self.axes}
                for p in self.points]

    def setting_names(self) -> list[str]:
        """One name per configuration: its axis labels joined (the course's legend)."""
        return [", ".join(lab.values()) if lab else self.name for lab in self.labels()]

    @property
    def n_configs(self) -> int:
        """Number of configurations."""
        return len(self.points)

    @property
    def n_models(self) -> int:
        """Configurations x seeds."""
        return len(self.points) * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (values as given, optimizers as text)."""

        def jsonable(axis: str, v: Any) -> Any:
            if axis == "optimizer" and not isinstance(v, str):
                return as_optimizer_spec(v).label()
            if axis == "hidden" and not isinstance(v, str):
                return format_hidden(parse_hidden(v))
            if axis == "class_weight" and v is not None and not isinstance(v, str):
                return format_class_weight(parse_class_weight(v), exact=True)
            return v

        return {
            "name": self.name,
            "base": {k: jsonable(k, v) for k, v in self.base},
            "axes": list(self.axes),
            "points": [{k: jsonable(k, v) for k, v in p} for p in self.points],
            "seeds": list(self.seeds),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SweepSpec:
        """Inverse of :meth:`to_dict`."""
        return sweep_spec(d["name"], base=d["base"], configs=d["points"], seeds=d["seeds"],
                          axes=d.get("axes"))


@functools.lru_cache(maxsize=256)
def _resolved(spec: SweepSpec) -> tuple[TrainConfig, ...]:
    # Resolving validates every setting: done once per spec, not at every table or figure.
    base = spec.base_config()
    return tuple(resolve(dict(p), base) for p in spec.points)


def _seeds(seeds: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(seeds, bool):
        raise ConfigError(f"`seeds` must be a count or a list of integers, got {seeds!r}.")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"`seeds` must be at least 1, got {seeds}.")
        return tuple(range(seeds))
    out = tuple(seeds)
    if not out or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in out):
        raise ConfigError(f"`seeds` must be a count or a list of integers >= 0, got {seeds!r}.")
    if len(set(out)) != len(out):
        raise ConfigError(f"`seeds` has repeated values: {list(out)}.")
    return out


def _hashable(value: Any, key: str = "") -> Any:
    if key == "class_weight":  # one spelling per scheme: None, "balanced" or (class, weight) pairs
        return parse_class_weight(value)
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, Mapping):  # class weights: sorted (key, weight) pairs
        return tuple(sorted(value.items(), key=lambda kv: str(kv[0])))
    return value


def sweep_spec(name: str = "sweep", *, base: Mapping[str, Any] | None = None,
               grid: Mapping[str, Sequence[Any]] | None = None,
               configs: Sequence[Mapping[str, Any]] | None = None,
               seeds: int | Sequence[int] = 5, axes: Sequence[str] | None = None) -> SweepSpec:
    """A validated sweep: ``base`` settings varied by a cartesian ``grid`` or explicit ``configs``.

    >>> sweep_spec("learning rate", base={"optimizer": "sgd", "batch_size": 16, "epochs": 10},
    ...            grid={"learning_rate": [0.01, 0.05, 0.1, 0.5]}, seeds=10).n_models
    40
    """
    base = dict(base or {})
    if grid is not None and configs is not None:
        raise ConfigError("Give either `grid` (a cartesian product) or `configs` (a list), not both.")
    if grid is not None:
        if not isinstance(grid, Mapping) or not grid:
            raise ConfigError("`grid` must map setting names to lists of values.")
        names = list(grid)
        for n in names:
            vals = grid[n]
            if isinstance(vals, str) or not isinstance(vals, Sequence) or len(vals) == 0:
                raise ConfigError(
                    f"Grid axis `{n}` must be a non-empty list of values, got {vals!r}."
                )
        points = [dict(zip(names, combo, strict=True))
                  for combo in itertools.product(*(grid[n] for n in names))]
        axis_names = tuple(names)
    elif configs is not None:
        points = [dict(c) for c in configs]
        if not points:
            raise ConfigError("`configs` must hold at least one configuration.")
        axis_names = tuple(axes) if axes is not None else tuple(
            dict.fromkeys(k for p in points for k in p)
        )
    else:
        points, axis_names = [{}], tuple(axes or ())
    base_cfg = resolve(base)
    for p in points:
        resolve(p, base_cfg)  # validate every point now, with a precise message
    spec = SweepSpec(
        name=str(name),
        base=tuple((k, _hashable(v, k)) for k, v in base.items()),
        axes=axis_names,
        points=tuple(tuple((k, _hashable(v, k)) for k, v in p.items()) for p in points),
        seeds=_seeds(seeds),
    )
    return spec


def n_updates(n_train: int, batch_size: int, epochs: int) -> int:
    """Optimizer updates in ``epochs`` epochs: ``epochs * ceil(n_train / batch_size)``."""
    return epochs * math.ceil(n_train / batch_size)
