"""Running a sweep: configurations x seeds grouped into as few compiled programs as possible.

The planner turns a :class:`~gdlab.specs.SweepSpec` into programs. One program
trains every configuration whose batch sizes share a useful micro-batch (their
greatest common divisor is at least a quarter of the smallest batch size);
inside it, configurations are grouped by what changes array shapes or the
update rule (architecture, loss, optimizer kind, clipping/weight decay), and
hidden activations and initializers are chosen per model. Seeds are the outer
axis of every array; calls are chunked along seeds (padding the last chunk so
every call has the same shapes and reuses the compiled program), which bounds
peak memory for any grid size.

Each call is a *shard* (:class:`Shard`, pure data): :func:`build_shards` cuts a
sweep into shards, an *executor* runs them (:class:`LocalExecutor` in this
process, ``gdlab.distributed.RayExecutor`` on a cluster) through
:func:`run_shard`, and :func:`run_programs` merges their outputs. The cut
depends on the sweep alone, so every executor gives the same numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import numpy as np

from gdlab import engine as _engine
from gdlab import interrupts
from gdlab import weighting as _weighting
from gdlab.errors import ConfigError, DataError, ShapeError
from gdlab.network import NetworkSpec
from gdlab.pitfalls import BATCH_LARGER_THAN_DATA, BatchLargerThanData
from gdlab.specs import TASKS, TrainConfig
from gdlab.validation import as_features, as_targets

#: Peak-memory budget for one program call, in bytes (the seed chunk is sized from it).
#: :class:`LocalExecutor` runs up to two calls at once.
DEFAULT_MEMORY_BUDGET = 1 << 30

#: About this much estimated arithmetic (:func:`gdlab.engine.estimated_flops`) per shard:
#: a few seconds of work here, so a large program splits into pieces that several
#: workers can share, while the extra calls cost a few per cent when run one by one.
SHARD_FLOPS = 2e10


# ------------------------------------------------------------------------ data


@dataclass(frozen=True)
class TrainingData:
    """Arrays for a sweep: training rows, evaluation sets, and the task.

    ``y`` holds class indices ``0..k-1`` (classification) or values (regression);
    targets are encoded per loss when programs are built. ``w_train`` and
    ``w_evals`` (one per evaluation set, None where unweighted) are Keras's
    sample weights of the rows.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    evals: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    task: str
    n_outputs: int
    description: dict[str, Any]
    w_train: np.ndarray | None = None
    w_evals: tuple[np.ndarray | None, ...] = ()

    @property
    def weighted(self) -> bool:
        """Whether rows carry sample weights (training or evaluation)."""
        return self.w_train is not None or any(w is not None for w in self.w_evals)

    @property
    def n_train(self) -> int:
        """Training rows."""
        return int(self.x_train.shape[0])

    @property
    def n_features(self) -> int:
        """Input features."""
        return int(self.x_train.shape[1])


def _infer_task(y: np.ndarray) -> str:
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression"
    flat = y.reshape(-1)
    if np.all(flat == np.round(flat)) and flat.min() >= 0:
        k = int(flat.max()) + 1
        return "binary" if k <= 2 else "multiclass"
    return "regression"


def training_data(data: Any, task: str | None = None) -> TrainingData:
    """Arrays for a sweep from a prepared dataset, a dict or a tuple.

    Accepts any object with ``x_train``/``y_train`` (and optionally ``x_val``,
    ``y_val``, ``x_test``, ``y_test``, ``task``, and sample weights ``w_train``,
    ``w_val``, ``w_test``), the same keys in a dict, or a tuple
    ``(x_train, y_train[, x_test, y_test])``.
    """
    if isinstance(data, TrainingData):
        return data
    if isinstance(data, tuple | list):
        if len(data) not in (2, 4):
            raise ConfigError("Give data as (x_train, y_train) or (x_train, y_train, x_test, y_test).")
        keys = ["x_train", "y_train", "x_test", "y_test"][: len(data)]
        data = dict(zip(keys, data, strict=True))
    get = data.get if isinstance(data, dict) else (lambda k, d=None: getattr(data, k, d))
    x = as_features(get("x_train"), name="x_train")
    y = as_targets(get("y_train"), name="y_train", n_rows=x.shape[0], x_name="x_train")
    task = task or get("task") or _infer_task(y)
    if task not in TASKS:
        raise ConfigError(f"Unknown task {task!r}; valid tasks: {', '.join(TASKS)}.")
    if task != "regression":
        labels = y.reshape(-1)
        if y.ndim == 2 and y.shape[1] > 1:
            raise ShapeError(
                f"Classification targets must be class indices of shape (n,), got {y.shape}."
            )
        if np.any(labels != np.round(labels)) or labels.min() < 0:
            raise DataError("Classification targets must be integer class indices 0..k-1.")
        y = labels.astype(np.int64)
        n_out = max(int(y.max()) + 1, 2)
        if len(np.unique(y)) < 2:
            raise DataError(
                f"The training targets hold a single class ({int(y[0])}): nothing to learn. "
                "Check the target column and the split."
            )
    else:
        y = y.reshape(y.shape[0], -1).astype(np.float32)
        n_out = y.shape[1]
    evals = []
    for name in ("val", "test"):
        xe, ye = get(f"x_{name}"), get(f"y_{name}")
        if xe is None:
            continue
        xe = as_features(xe, name=f"x_{name}", n_features=x.shape[1])
        ye = as_targets(ye, name=f"y_{name}", n_rows=xe.shape[0], x_name=f"x_{name}")
        ye = ye.reshape(-1).astype(np.int64) if task != "regression" else ye.reshape(
            ye.shape[0], -1)
        if task != "regression" and (ye.min() < 0 or ye.max() >= n_out):
            raise DataError(f"y_{name} holds classes outside 0..{n_out - 1}.")
        evals.append((name, xe, ye))
    w_train = get("w_train")
    if w_train is not None:
        w_train = _weighting.sample_weights(w_train, x.shape[0], name="w_train")
    w_evals = tuple(None if get(f"w_{name}") is None else _weighting.sample_weights(
        get(f"w_{name}"), xe.shape[0], name=f"w_{name}") for name, xe, _ in evals)
    description = {
        "n_train": int(x.shape[0]),
        "n_features": int(x.shape[1]),
        "n_outputs": int(n_out),
        "task": task,
        **{f"n_{name}": int(xe.shape[0]) for name, xe, _ in evals},
    }
    for key in ("name", "scaling", "split"):
        value = get(key)
        if value is not None:
            description[key] = value
    if w_train is not None or any(w is not None for w in w_evals):
        description["sample_weight"] = [
            part for part, w in (("train", w_train), *zip((n for n, _, _ in evals), w_evals,
                                                          strict=True)) if w is not None]
    return TrainingData(x, y, tuple(evals), task, n_out, description,
                        w_train, w_evals if any(w is not None for w in w_evals) else ())


def encode_targets(y: np.ndarray, task: str, loss: str, units: int) -> np.ndarray:
    """Targets shaped for a loss: a column for sigmoid/sparse/regression, one-hot otherwise."""
    if task == "regression":
        return y.reshape(y.shape[0], -1).astype(np.float32)
    if loss == "sparse_categorical_crossentropy" or units == 1:
        return y.astype(np.float32)[:, None]
    if int(y.max(initial=0)) >= units:
        raise ShapeError(
            f"The output layer has {units} units but the targets hold {int(y.max()) + 1} classes."
        )
    return np.eye(units, dtype=np.float32)[y]


def metric_for(task: str, loss: str, units: int) -> str | None:
    """The accuracy a classification run reports (Keras's resolution of 'accuracy')."""
    if task == "regression":
        return None
    if units == 1:
        return "binary_accuracy"
    if loss == "sparse_categorical_crossentropy":
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def metrics_for(task: str, loss: str, units: int,
                names: Sequence[str] | None = None) -> tuple[_engine.Metric, ...]:
    """The metrics a run reports: ``names`` (Keras identifiers), or the task's default.

    The default is ``accuracy`` for classification (resolved as Keras resolves
    it) and none for regression. History keys are the names as given.
    """
    from gdlab import losses as _losses

    if names is None:
        names = () if task == "regression" else ("accuracy",)
    out = []
    for name in names:
        kind = _losses.canonical_metric(name)
        if kind in _losses.ACCURACY_NAMES:
            kind = metric_for(task, loss, units)
            if kind is None:
                raise ConfigError(
                    f"Metric {name!r} needs classes, but the task is regression; use a "
                    "regression metric such as 'mae', 'mse' or 'rmse'.")
        elif task == "regression" and _losses.METRIC_KINDS[kind].targets == "classes":
            raise ConfigError(f"Metric {name!r} needs classes, but the task is regression.")
        out.append(_engine.Metric(str(name), kind))
    return tuple(out)


# --------------------------------------------------------------------- planning


@dataclass(frozen=True)
class GroupPlan:
    """One group of a program: its static spec and the configurations it holds."""

    spec: _engine.GroupSpec
    config_ids: tuple[int, ...]


@dataclass(frozen=True)
class ProgramPlan:
    """One compiled program: groups, micro-batch and the number of epochs."""

    groups: tuple[GroupPlan, ...]
    micro_batch: int
    n_epochs: int

    @property
    def config_ids(self) -> tuple[int, ...]:
        """All configurations of the program, in group order."""
        return tuple(i for g in self.groups for i in g.config_ids)

    @property
    def accumulate(self) -> bool:
        """Whether some model's batch spans several micro-batches."""
        return self._batch_sizes != {self.micro_batch}

    _batch_sizes: frozenset[int] = frozenset()


def batch_size_clusters(batch_sizes: Sequence[int], max_ratio: int = 4) -> list[list[int]]:
    """Partition batch sizes so each part's gcd is at least 1/max_ratio of its smallest."""
    clusters: list[list[int]] = []
    for b in sorted(set(batch_sizes)):
        for c in clusters:
            g = math.gcd(*c, b)
            if min(c) / g <= max_ratio:
                c.append(b)
                break
        else:
            clusters.append([b])
    return clusters


def _group_key(cfg: TrainConfig, net: NetworkSpec, loss: str) -> tuple:
    return (
        net.widths,
        net.layers[-1].activation,
        loss,
        cfg.optimizer.kind,
        cfg.optimizer.static_options,
        cfg.bias_initializer,
    )


def plan_programs(configs: Sequence[TrainConfig], data: TrainingData,
                  metrics: Sequence[str] | None = None,
                  reduction: str = "sum_over_batch_size",
                  reproducible_sums: bool = False) -> list[ProgramPlan]:
    """Group configurations into programs and groups (see the module docstring).

    ``metrics`` are the Keras metric names every model reports (default: the
    task's, :func:`metrics_for`); ``reduction`` the loss reduction
    (:data:`gdlab.engine.REDUCTIONS`); ``reproducible_sums`` the groups' row sums
    (:class:`gdlab.engine.GroupSpec`).
    """
    clusters = batch_size_clusters([c.batch_size for c in configs])
    programs = []
    for cluster in clusters:
        ids = [i for i, c in enumerate(configs) if c.batch_size in cluster]
        by_key: dict[tuple, list[int]] = {}
        for i in ids:
            cfg = configs[i]
            net = cfg.network(data.n_features, data.task, data.n_outputs)
            _, _, loss = cfg.output_layer(data.task, data.n_outputs)
            by_key.setdefault(_group_key(cfg, net, loss), []).append(i)
        sizes = frozenset(configs[i].batch_size for i in ids)
        micro = math.gcd(*sizes)
        groups = []
        for key, members in by_key.items():
            spec = _group_spec(key, [configs[i] for i in members], data, metrics, reduction,
                               reproducible_sums)
            accumulate = any(configs[i].batch_size != micro for i in members)
            groups.append(GroupPlan(dataclasses.replace(spec, accumulate=accumulate),
                                    tuple(members)))
        programs.append(ProgramPlan(
            tuple(groups), micro, max(configs[i].epochs for i in ids), sizes,
        ))
    return programs


def _choices(values: Sequence[str]) -> tuple[str, ...] | None:
    unique = tuple(dict.fromkeys(values))
    return unique if len(unique) > 1 else None


def _group_spec(key: tuple, members: Sequence[TrainConfig], data: TrainingData,
                metrics: Sequence[str] | None = None,
                reduction: str = "sum_over_batch_size",
                reproducible_sums: bool = False) -> _engine.GroupSpec:
    first = members[0]
    net = first.network(data.n_features, data.task, data.n_outputs)
    loss = key[2]
    n_hidden = len(first.hidden)
    act = _choices([c.activation for c in members])
    init = _choices([c.kernel_initializer for c in members])
    activation_choices = None if act is None else tuple([act] * n_hidden + [None])
    initializer_choices = None if init is None else tuple([init] * (n_hidden + 1))
    return _engine.GroupSpec(
        network=net,
        loss=loss,
        metrics=metrics_for(data.task, loss, net.n_outputs, metrics),
        optimizer=first.optimizer.kind,
        options=first.optimizer.static_options,
        n_configs=len(members),
        activation_choices=activation_choices,
        initializer_choices=initializer_choices,
        reduction=reduction,
        reproducible_sums=reproducible_sums,
    )


def weight_schemes(configs: Sequence[TrainConfig], data: TrainingData
                   ) -> tuple[tuple[tuple[tuple[int, float], ...] | None, ...], list[int]]:
    """The distinct class weightings of a sweep's configurations, and each one's index.

    Each scheme is None (no class weights) or resolved ``(class, weight)`` pairs
    (``"balanced"`` computed from the training labels). A model's row weights
    are the rows' sample weights times their class's weight.
    """
    schemes: dict[Any, int] = {}
    resolved: list[tuple[tuple[int, float], ...] | None] = []
    index = []
    for cfg in configs:
        if cfg.class_weight not in schemes:
            if cfg.class_weight is not None and data.task == "regression":
                raise ConfigError(
                    "class_weight weighs rows by their class, but the task is regression; "
                    "give per-row sample weights (w_train) instead.")
            cw = _weighting.resolve_class_weight(cfg.class_weight, data.y_train,
                                                 data.n_outputs)
            schemes[cfg.class_weight] = len(resolved)
            resolved.append(None if cw is None else tuple(sorted(cw.items())))
        index.append(schemes[cfg.class_weight])
    return tuple(resolved), index


def weight_rows(schemes: Sequence[tuple[tuple[int, float], ...] | None],
                data: TrainingData) -> np.ndarray | None:
    """``[schemes, n_train]`` row weights (None when no row is weighted)."""
    if data.w_train is None and all(s is None for s in schemes):
        return None
    base = data.w_train if data.w_train is not None else np.ones(data.n_train, np.float32)
    rows = [base if s is None else base * _weighting.class_weight_rows(dict(s), data.y_train)
            for s in schemes]
    return np.stack(rows).astype(np.float32)


def _group_config(group: GroupPlan, configs: Sequence[TrainConfig],
                  lr_growth: Sequence[float] | None = None,
                  weight_index: Sequence[int] | None = None) -> _engine.GroupConfig:
    members = [configs[i] for i in group.config_ids]
    spec = group.spec
    n_layers = len(spec.network.layers)
    act_idx = np.zeros((len(members), n_layers), np.int32)
    init_idx = np.zeros((len(members), n_layers), np.int32)
    for row, cfg in enumerate(members):
        for layer in range(n_layers):
            if spec.activation_choices and spec.activation_choices[layer] is not None:
                act_idx[row, layer] = spec.activation_choices[layer].index(cfg.activation)
            if spec.initializer_choices and spec.initializer_choices[layer] is not None:
                init_idx[row, layer] = spec.initializer_choices[layer].index(
                    cfg.kernel_initializer)
    growth = None if lr_growth is None else [lr_growth[i] for i in group.config_ids]
    weights = None if weight_index is None else [weight_index[i] for i in group.config_ids]
    return _engine.group_config(
        spec, [c.optimizer for c in members], [c.batch_size for c in members],
        [c.epochs for c in members], act_idx, init_idx, growth, weights,
    )


def program_plan(prog: ProgramPlan, data: TrainingData, n_seeds: int,
                 **options: Any) -> _engine.Plan:
    """The engine's Plan for a program over all ``n_seeds`` (``options``: Plan fields).

    Programs with little arithmetic (and so little memory) are built at XLA
    optimization level 0 and always run all their seeds in one call, so they
    never depend on chunking settings.
    """
    plan = _engine.Plan(
        groups=tuple(g.spec for g in prog.groups), n_seeds=n_seeds, n_train=data.n_train,
        micro_batch=prog.micro_batch, accumulate=prog.accumulate, n_epochs=prog.n_epochs,
        shuffle=True, eval_sets=tuple((f"{name}_", xe.shape[0]) for name, xe, _ in data.evals),
        **options,
    )
    # Reproducible sums' row-by-row loop ran 5-7x slower at level 0 and compiled no faster.
    fast = (_engine.estimated_flops(plan) < _engine.FAST_COMPILE_FLOPS
            and not any(g.reproducible_sums for g in plan.groups))
    return dataclasses.replace(plan, fast_compile=fast)


def bytes_per_model(program: ProgramPlan, data: TrainingData) -> int:
    """A generous estimate of one model's share of a program's peak memory."""
    worst = 0
    largest_eval = max([xe.shape[0] for _, xe, _ in data.evals] + [0])
    for g in program.groups:
        n_params = g.spec.network.n_params()
        units = sum(g.spec.network.widths)
        choices = 1 + max(len(c or ()) for c in (g.spec.activation_choices or (None,)))
        per = (n_params * 10
               + program.micro_batch * units * 6 * choices
               + largest_eval * units * 3 * choices
               + program.n_epochs * 8
               # reproducible sums keep every row's gradient, and their grid parts
               + (program.micro_batch * n_params * 6 if g.spec.reproducible_sums else 0))
        worst = max(worst, per)
    return 4 * worst


# ----------------------------------------------------------------------- shards


@dataclass(frozen=True, eq=False)
class Shard:
    """One program call: a program's plan, a chunk of its seeds, and the configurations it holds.

    Pure data (frozen dataclasses and NumPy arrays), so it pickles to another
    process or machine. ``weights`` are the sweep's class weightings
    (:func:`weight_schemes`; each configuration picks one by its
    ``weight_index``). ``seeds`` is padded to ``plan.n_seeds`` by repeating the
    last seed, so every shard of a program has the same shapes and reuses its
    compiled program; the ``n_real`` seeds from index ``start`` of the sweep's
    seeds are kept. ``config_ids[g]`` are group ``g``'s configurations (indices
    into the sweep's list), ``configs[g]`` their numbers.
    """

    index: int
    program: int
    plan: _engine.Plan
    config_ids: tuple[tuple[int, ...], ...]
    configs: tuple[_engine.GroupConfig, ...]
    seeds: np.ndarray
    start: int
    n_real: int
    keep_params: bool = True
    weights: tuple[tuple[tuple[int, float], ...] | None, ...] = ()

    @property
    def n_epochs(self) -> int:
        """Epochs this shard trains (its program's longest configuration)."""
        return self.plan.n_epochs

    def key(self, data_fingerprint: str) -> str:
        """A name for this shard's output: equal keys mean equal computations (sha256, hex).

        Covers the plan, the configurations' numbers, the seeds, the data (by its
        fingerprint) and the versions of gdlab and JAX.
        """
        from gdlab import __version__

        h = hashlib.sha256()
        h.update(repr((self.plan, self.config_ids, self.start, self.n_real, self.keep_params,
                       self.weights, data_fingerprint, __version__, jax.__version__)).encode())
        for arr in [*jax.tree_util.tree_leaves(self.configs), self.seeds]:
            arr = np.ascontiguousarray(arr)
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(arr.tobytes())
        return h.hexdigest()


@dataclass(frozen=True, eq=False)
class ShardOutput:
    """What one shard computed, for its real seeds only, grouped as its program.

    Per group ``g``: ``history[g][metric]`` ``[epochs, seeds, configs]``
    (``step_loss``: ``[epochs, steps, seeds, configs]``; ``tap_<l>``:
    ``[epochs, seeds, configs, rows, units]``); ``diverged_epoch[g]``,
    ``stopped_epoch[g]`` and ``best_epoch[g]`` ``[seeds, configs]`` (-1: never;
    None without early stopping); ``params[g]`` the layers' weights
    ``[seeds, configs, ...]`` (None unless the shard keeps them).
    """

    history: tuple[dict[str, np.ndarray], ...]
    diverged_epoch: tuple[np.ndarray, ...]
    stopped_epoch: tuple[np.ndarray, ...] | None = None
    best_epoch: tuple[np.ndarray, ...] | None = None
    params: tuple[tuple[dict[str, np.ndarray], ...], ...] | None = None
    seconds: float = 0.0

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat named arrays (for ``np.savez``; :meth:`from_arrays` reads them back)."""
        out: dict[str, np.ndarray] = {"n_groups": np.int64(len(self.history)),
                                      "seconds": np.float64(self.seconds)}
        for g, hist in enumerate(self.history):
            for metric, values in hist.items():
                out[f"g{g}.history.{metric}"] = values
            out[f"g{g}.diverged_epoch"] = self.diverged_epoch[g]
            if self.stopped_epoch is not None and self.best_epoch is not None:
                out[f"g{g}.stopped_epoch"] = self.stopped_epoch[g]
                out[f"g{g}.best_epoch"] = self.best_epoch[g]
            for layer, arrays in enumerate(self.params[g] if self.params is not None else ()):
                for name, a in arrays.items():
                    out[f"g{g}.params.{layer}.{name}"] = a
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ShardOutput:
        """The output that :meth:`to_arrays` flattened."""
        n = int(arrays["n_groups"])
        history: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
        layers: list[dict[int, dict[str, np.ndarray]]] = [{} for _ in range(n)]
        for key, value in arrays.items():
            group, _, rest = key.partition(".")
            if not group.startswith("g") or not rest:
                continue
            g = int(group[1:])
            kind, _, name = rest.partition(".")
            if kind == "history":
                history[g][name] = np.asarray(value)
            elif kind == "params":
                layer, _, leaf = name.partition(".")
                layers[g].setdefault(int(layer), {})[leaf] = np.asarray(value)
        stopping = "g0.stopped_epoch" in arrays
        return cls(
            history=tuple(history),
            diverged_epoch=tuple(np.asarray(arrays[f"g{g}.diverged_epoch"]) for g in range(n)),
            stopped_epoch=tuple(np.asarray(arrays[f"g{g}.stopped_epoch"]) for g in range(n))
            if stopping else None,
            best_epoch=tuple(np.asarray(arrays[f"g{g}.best_epoch"]) for g in range(n))
            if stopping else None,
            params=tuple(tuple(per[i] for i in sorted(per)) for per in layers)
            if any(layers) else None,
            seconds=float(arrays["seconds"]),
        )


def data_fingerprint(data: TrainingData) -> str:
    """A sha256 (hex) of the arrays and task a sweep trains on."""
    h = hashlib.sha256(repr((data.task, data.n_outputs)).encode())
    arrays = [("train", data.x_train, data.y_train),
              *((name, xe, ye) for name, xe, ye in data.evals)]
    for name, x, y in arrays:
        for a in (x, y):
            a = np.ascontiguousarray(a)
            h.update(f"{name}{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
    if data.weighted:  # unweighted data keep the fingerprint they always had
        for name, w in [("w_train", data.w_train), *(
                (f"w_{n}", w) for (n, _, _), w in zip(data.evals, data.w_evals, strict=True))]:
            h.update(f"{name}{'-' if w is None else w.shape}".encode())
            if w is not None:
                h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def _check_options(configs: Sequence[TrainConfig], data: TrainingData,
                   tap_layers: Sequence[int], tap_set: str,
                   lr_growth: Sequence[float] | None,
                   early_stopping: _engine.EarlyStopRule | None,
                   metrics: Sequence[str] | None = None) -> None:
    if lr_growth is not None and len(lr_growth) != len(configs):
        raise ConfigError(f"lr_growth needs one value per configuration ({len(configs)}).")
    if metrics is not None:
        if isinstance(metrics, str):
            raise ConfigError(f"`metrics` must be a list of names, e.g. [{metrics!r}].")
        for m in metrics:  # unknown or misplaced names, before anything is built
            metrics_for(data.task, "", data.n_outputs, [m])
    if early_stopping is not None:
        keys = ["loss"] + [str(m) for m in (metrics if metrics is not None else
                                            () if data.task == "regression" else ("accuracy",))]
        names = keys + [f"{name}_{k}" for name, _, _ in data.evals for k in keys]
        if early_stopping.monitor not in names:
            raise ConfigError(
                f"Early stopping monitors {early_stopping.monitor!r}, which this training does "
                f"not report; it reports {', '.join(names)}."
                + (" Give validation data (validation_split) to monitor val_loss."
                   if early_stopping.monitor.startswith("val_") else "")
            )
    eval_names = [name for name, _, _ in data.evals]
    if tap_layers and tap_set not in eval_names:
        raise ConfigError(
            f"Cannot record activations on {tap_set!r}: the data has "
            f"{', '.join(eval_names) or 'no evaluation sets'}; give x_{tap_set}/y_{tap_set}."
        )


def build_shards(configs: Sequence[TrainConfig], seeds: Sequence[int], data: TrainingData, *,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 max_models_per_call: int | None = None, keep_params: bool = True,
                 tap_layers: Sequence[int] = (), tap_set: str = "test",
                 record_steps: bool = False, noise_rows: int = 0,
                 lr_growth: Sequence[float] | None = None,
                 early_stopping: _engine.EarlyStopRule | None = None,
                 metrics: Sequence[str] | None = None,
                 reduction: str = "sum_over_batch_size",
                 reproducible_sums: bool = False) -> list[Shard]:
    """Cut a sweep into shards: per program, equal chunks of its seeds (options as :func:`run_programs`).

    A chunk holds as many seeds as fit ``memory_budget`` (and at most
    ``max_models_per_call`` models) and about :data:`SHARD_FLOPS` of arithmetic,
    at least one seed; the last chunk is padded. Small programs (built at XLA
    optimization level 0) are never cut. The layout depends on the study and
    these settings only, never on where the shards run: a model's last bits can
    depend on how many seeds share its call, so every executor must run the
    same shards.
    """
    _check_options(configs, data, tap_layers, tap_set, lr_growth, early_stopping, metrics)
    configs = list(configs)
    seeds = [int(s) for s in seeds]
    n_seeds = len(seeds)
    eval_names = [name for name, _, _ in data.evals]
    shards: list[Shard] = []
    schemes, weight_index = weight_schemes(configs, data)
    for p, prog in enumerate(plan_programs(configs, data, metrics, reduction,
                                           reproducible_sums)):
        plan = program_plan(prog, data, n_seeds, tap_layers=tuple(tap_layers),
                            tap_eval_set=eval_names.index(tap_set) if tap_layers else 0,
                            lr_schedule=lr_growth is not None, record_steps=record_steps,
                            noise_rows=int(noise_rows), early_stopping=early_stopping)
        chunk = n_seeds
        if not plan.fast_compile:
            per_seed = max(len(prog.config_ids), 1)
            cap = max_models_per_call or max(1, memory_budget // bytes_per_model(prog, data))
            by_work = int(SHARD_FLOPS // max(_engine.estimated_flops(plan, n_seeds=1), 1.0))
            chunk = max(1, min(n_seeds, cap // per_seed, by_work))
            chunk = math.ceil(n_seeds / math.ceil(n_seeds / chunk))  # equal chunks: less padding
            plan = dataclasses.replace(plan, n_seeds=chunk)
        cfgs = tuple(_group_config(g, configs, lr_growth, weight_index) for g in prog.groups)
        ids = tuple(g.config_ids for g in prog.groups)
        for start in range(0, n_seeds, chunk):
            part = seeds[start:start + chunk]
            padded = part + [part[-1]] * (chunk - len(part))
            shards.append(Shard(len(shards), p, plan, ids, cfgs, _engine.seed_array(padded),
                                start, len(part), keep_params,
                                schemes if any(s is not None for s in schemes) else ()))
    return shards


def run_shard(shard: Shard, data: TrainingData,
              on_epoch: Callable[[int], None] | None = None) -> ShardOutput:
    """Train one shard on ``data``; ``on_epoch(e)`` is called between epochs (progress, stops)."""
    t0 = time.perf_counter()
    plan, real = shard.plan, shard.n_real
    groups = plan.groups
    ys = tuple(encode_targets(data.y_train, data.task, g.loss, g.network.n_outputs)
               for g in groups)
    eval_y = tuple(tuple(encode_targets(ye, data.task, g.loss, g.network.n_outputs)
                         for g in groups)
                   for _, _, ye in data.evals)
    batch = _engine.Data(data.x_train, ys, tuple(xe for _, xe, _ in data.evals), eval_y,
                         weight_rows(shard.weights or (None,), data), data.w_evals)
    states, hist = _engine.fit_program(plan)(shard.configs, batch, shard.seeds, on_epoch)
    history, diverged, stopped, best, params = [], [], [], [], []
    for g, state in enumerate(states):
        history.append({
            metric: np.ascontiguousarray(np.asarray(values)[:, :, :real] if metric == "step_loss"
                                         else np.asarray(values)[:, :real])
            for metric, values in hist[g].items()
        })
        diverged.append(np.asarray(state.diverged_epoch)[:real].astype(np.int32))
        if plan.early_stopping is not None:
            stops = jax.device_get(state.stopping)
            stopped.append(np.where(np.asarray(stops.stopped)[:real],
                                    np.asarray(stops.stopped_epoch)[:real], -1).astype(np.int32))
            best.append(np.where(np.asarray(stops.has_best)[:real],
                                 np.asarray(stops.best_epoch)[:real], -1).astype(np.int32))
        if shard.keep_params:
            host = jax.device_get(state.params)
            params.append(tuple({name: np.ascontiguousarray(np.asarray(a)[:real])
                                 for name, a in layer.items()} for layer in host))
    stopping = plan.early_stopping is not None
    return ShardOutput(tuple(history), tuple(diverged),
                       tuple(stopped) if stopping else None, tuple(best) if stopping else None,
                       tuple(params) if shard.keep_params else None,
                       time.perf_counter() - t0)


# -------------------------------------------------------------------- executors


class Executor(Protocol):
    """Where shards run: :class:`LocalExecutor` here, ``gdlab.distributed.RayExecutor`` on a cluster.

    ``run_shards`` yields ``(shard, output)`` as each shard finishes, in any order;
    it calls ``on_epoch(epoch, shard_index)`` between epochs where it can (for
    progress and stops) and :func:`gdlab.interrupts.check` otherwise, so a stop
    request ends it between shards. An executor only decides where and when
    shards run, never how a sweep is cut: that is :func:`build_shards`'s, the same
    for every executor.
    """

    def run_shards(self, shards: Sequence[Shard], data: TrainingData,
                   on_epoch: Callable[[int, int], None] | None = None
                   ) -> Iterator[tuple[Shard, ShardOutput]]: ...


class LocalExecutor:
    """Runs shards in this process, ``workers`` at a time (default: two when there are two cores).

    Two program calls at once keep both cores busy where one call's small operations
    leave gaps (the 10,000-model grid trains 30 % faster; docs/benchmarks.md); each
    call holds its own memory, so the peak is up to ``workers`` times one call's. The
    shards and their numbers are the same however many run at once. The first shard
    of a program runs alone until its first epoch is done, so the program is
    compiled once, not by every worker at the same time.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        if self.workers < 1:
            raise ConfigError(f"LocalExecutor needs at least one worker, got {self.workers}.")

    def run_shards(self, shards: Sequence[Shard], data: TrainingData,
                   on_epoch: Callable[[int, int], None] | None = None
                   ) -> Iterator[tuple[Shard, ShardOutput]]:
        """Run ``shards``, yielding each output as it is done (in order with one worker)."""
        if self.workers == 1 or len(shards) < 2:
            for shard in shards:
                yield shard, run_shard(shard, data, _for_shard(on_epoch, shard))
            return
        compiled = {s.program: threading.Event() for s in shards}
        first: dict[int, int] = {}
        for s in shards:
            first.setdefault(s.program, s.index)
        cancel = threading.Event()

        def work(shard: Shard) -> ShardOutput:
            ready = compiled[shard.program]
            report = _for_shard(on_epoch, shard)

            def after_epoch(e: int) -> None:
                ready.set()
                if cancel.is_set():  # another shard failed or the caller stopped
                    raise KeyboardInterrupt
                if report is not None:
                    report(e)

            if first[shard.program] != shard.index:
                ready.wait()
            if cancel.is_set():
                raise KeyboardInterrupt
            try:
                return run_shard(shard, data, after_epoch)
            finally:
                ready.set()

        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="gdlab-shard")
        futures = {pool.submit(work, s): s for s in shards}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:  # a failure (or a stop seen by a worker) comes first
                    if future.exception() is not None:
                        raise future.exception()
                for future in done:
                    interrupts.check()  # a stop asked for while the last output was handled
                    yield futures[future], future.result()
        finally:
            cancel.set()  # shards still running stop at their next epoch
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


def _for_shard(on_epoch: Callable[[int, int], None] | None, shard: Shard
               ) -> Callable[[int], None] | None:
    """``on_epoch(e, shard_index)`` as the one-argument callback a shard's training calls."""
    if on_epoch is None:
        return None
    return lambda e: on_epoch(e, shard.index)


class ShardStore(Protocol):
    """Where finished shards are kept (a run directory), so a stopped run skips them later."""

    def load(self, key: str) -> ShardOutput | None: ...

    def save(self, key: str, output: ShardOutput) -> None: ...


# ---------------------------------------------------------------------- merging


@dataclass
class RawResult:
    """What the executor hands to :class:`gdlab.results.SweepResult`.

    ``history[metric]`` has shape ``[epochs, seeds, configs]`` (NaN where a run
    had stopped or diverged), ``diverged_epoch`` ``[seeds, configs]`` (-1: never),
    ``taps[layer][config]`` ``[epochs, seeds, rows, units]`` (None where the
    configuration has no such layer); with early stopping, ``stopped_epoch`` and
    ``best_epoch`` ``[seeds, configs]`` (-1: did not stop / no best yet).
    """

    history: dict[str, np.ndarray]
    diverged_epoch: np.ndarray
    params: list[Any]
    timings: dict[str, float]
    n_programs: int
    taps: dict[int, list[np.ndarray | None]] = dataclasses.field(default_factory=dict)
    steps: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    stopped_epoch: np.ndarray | None = None
    best_epoch: np.ndarray | None = None


class _Merge:
    """Shard outputs written into whole-sweep arrays; each shard fills its own slice."""

    def __init__(self, n_seeds: int, n_configs: int, max_epochs: int, stopping: bool) -> None:
        self.n_seeds, self.n_configs, self.max_epochs = n_seeds, n_configs, max_epochs
        self.history: dict[str, np.ndarray] = {}
        self.steps: dict[str, np.ndarray] = {}
        self.taps: dict[int, list[np.ndarray | None]] = {}
        self.params: list[Any] = [None] * n_configs
        self.diverged = np.full((n_seeds, n_configs), -1, np.int32)
        self.stopped = np.full((n_seeds, n_configs), -1, np.int32) if stopping else None
        self.best = np.full((n_seeds, n_configs), -1, np.int32) if stopping else None

    def add(self, shard: Shard, out: ShardOutput) -> None:
        seeds = slice(shard.start, shard.start + shard.n_real)
        n_epochs = shard.n_epochs
        for g, ids_tuple in enumerate(shard.config_ids):
            ids = list(ids_tuple)
            for metric, values in out.history[g].items():
                if metric == "step_loss":  # [epochs, steps, seeds, configs]
                    if metric not in self.steps:
                        self.steps[metric] = np.full(
                            (self.max_epochs, values.shape[1], self.n_seeds, self.n_configs),
                            np.nan, np.float32)
                    target = self.steps[metric]
                    if target.shape[1] != values.shape[1]:
                        raise ConfigError(
                            "record_steps needs every configuration in one program "
                            "(one micro-batch size)."
                        )
                    target[:n_epochs, :, seeds, ids] = values
                elif metric.startswith("tap_"):  # [epochs, seeds, configs, rows, units]
                    per_config = self.taps.setdefault(int(metric[4:]), [None] * self.n_configs)
                    for col, cid in enumerate(ids):
                        piece = values[:, :, col]
                        if per_config[cid] is None:
                            shape = (piece.shape[0], self.n_seeds, *piece.shape[2:])
                            per_config[cid] = np.empty(shape, piece.dtype)
                        per_config[cid][:, seeds] = piece
                else:
                    if metric not in self.history:
                        self.history[metric] = np.full(
                            (self.max_epochs, self.n_seeds, self.n_configs), np.nan, np.float32)
                    self.history[metric][:n_epochs, seeds, ids] = values
            self.diverged[seeds, ids] = out.diverged_epoch[g]
            if self.stopped is not None and out.stopped_epoch is not None:
                self.stopped[seeds, ids] = out.stopped_epoch[g]
                self.best[seeds, ids] = out.best_epoch[g]
            if out.params is not None:
                for col, cid in enumerate(ids):
                    piece = jax.tree.map(lambda a, c=col: a[:, c], out.params[g])
                    if self.params[cid] is None:
                        self.params[cid] = jax.tree.map(
                            lambda a: np.empty((self.n_seeds, *a.shape[1:]), a.dtype), piece)
                    for whole, part in zip(jax.tree.leaves(self.params[cid]),
                                           jax.tree.leaves(piece), strict=True):
                        whole[seeds] = part


# ---------------------------------------------------------------------- running


ProgressFn = Callable[[int, int], None]


def run_programs(configs: Sequence[TrainConfig], seeds: Sequence[int], data: TrainingData, *,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 max_models_per_call: int | None = None,
                 progress: ProgressFn | None = None,
                 keep_params: bool = True, tap_layers: Sequence[int] = (),
                 tap_set: str = "test", record_steps: bool = False, noise_rows: int = 0,
                 lr_growth: Sequence[float] | None = None,
                 early_stopping: _engine.EarlyStopRule | None = None,
                 metrics: Sequence[str] | None = None,
                 reduction: str = "sum_over_batch_size",
                 reproducible_sums: bool = False,
                 executor: Executor | None = None,
                 shard_store: ShardStore | None = None) -> RawResult:
    """Train every configuration x seed on ``data``; return raw arrays in ``configs`` order.

    ``tap_layers`` records those layers' activations on evaluation set ``tap_set``
    ("val" or "test") after every epoch; ``record_steps`` each micro-batch's loss;
    ``noise_rows`` the gradient noise scale on that many training rows;
    ``lr_growth[c]`` multiplies configuration ``c``'s learning rate at every update
    (see :class:`gdlab.engine.Plan`); ``metrics`` names the metrics every model
    reports (default: accuracy for classification, none for regression);
    ``reduction`` the loss reduction (:data:`gdlab.engine.REDUCTIONS`);
    ``reproducible_sums`` sums each batch's rows one row at a time, in a way
    that does not depend on their order (:class:`gdlab.engine.GroupSpec`).
    Rows are weighted by the data's sample weights and each configuration's
    ``class_weight``.

    The work is cut into shards (:func:`build_shards`) that ``executor`` runs
    (default: :class:`LocalExecutor`, in this process); the numbers do not depend
    on the executor. With ``shard_store``, each finished shard is saved as it
    arrives and shards found there are not trained again.
    """
    executor = executor if executor is not None else LocalExecutor()
    configs = list(configs)
    _check_options(configs, data, tap_layers, tap_set, lr_growth, early_stopping, metrics)
    for b in sorted({c.batch_size for c in configs if c.batch_size >= data.n_train}):
        warnings.warn(BATCH_LARGER_THAN_DATA.format(batch=b, n=data.n_train),
                      BatchLargerThanData, stacklevel=3)
    shards = build_shards(configs, seeds, data, memory_budget=memory_budget,
                          max_models_per_call=max_models_per_call, keep_params=keep_params,
                          tap_layers=tap_layers, tap_set=tap_set, record_steps=record_steps,
                          noise_rows=noise_rows, lr_growth=lr_growth,
                          early_stopping=early_stopping, metrics=metrics, reduction=reduction,
                          reproducible_sums=reproducible_sums)
    merge = _Merge(len(list(seeds)), len(configs), max(c.epochs for c in configs),
                   early_stopping is not None)
    timings = {"compile_and_run_s": 0.0}
    keys: dict[int, str] = {}
    pending: list[Shard] = []
    done = [0]  # epochs of finished shards (those still running: `running` below)
    if shard_store is not None:
        fingerprint = data_fingerprint(data)
        for shard in shards:
            keys[shard.index] = shard.key(fingerprint)
            saved = shard_store.load(keys[shard.index])
            if saved is None:
                pending.append(shard)
            else:
                merge.add(shard, saved)
                done[0] += shard.n_epochs
    else:
        pending = shards
    total_epochs = sum(s.n_epochs for s in shards)
    if progress is not None and done[0]:
        progress(done[0], total_epochs)

    running: dict[int | None, int] = {}  # epochs reported by each running shard
    lock = threading.Lock()  # shards may report from several threads

    def on_epoch(_: int, shard: int | None = None) -> None:
        with lock:
            running[shard] = running.get(shard, 0) + 1
            if progress is not None:
                progress(done[0] + sum(running.values()), total_epochs)
        interrupts.check()  # a safe point: a stop asked for by a signal happens here

    for shard, out in executor.run_shards(pending, data, on_epoch):
        if shard_store is not None:
            shard_store.save(keys[shard.index], out)
        merge.add(shard, out)
        timings["compile_and_run_s"] += out.seconds
        with lock:
            done[0] += shard.n_epochs
            running.pop(shard.index, None)
            running.pop(None, None)
            if progress is not None:
                progress(done[0] + sum(running.values()), total_epochs)
    return RawResult(merge.history, merge.diverged, merge.params, timings,
                     len({s.program for s in shards}), merge.taps, merge.steps,
                     merge.stopped, merge.best)


def initial_params(configs: Sequence[TrainConfig], seeds: Sequence[int],
                   data: TrainingData) -> list[Any]:
    """Each configuration's initial weights, stacked over seeds, exactly as a sweep draws them."""
    configs = list(configs)
    out: list[Any] = [None] * len(configs)
    for prog in plan_programs(configs, data):
        plan = program_plan(prog, data, len(seeds))  # the same init program a sweep runs
        cfgs = tuple(_group_config(g, configs) for g in prog.groups)
        states, _ = jax.device_get(_engine.init_program(plan)(cfgs, _engine.seed_array(seeds)))
        for gp, state in zip(prog.groups, states, strict=True):
            for col, cid in enumerate(gp.config_ids):
                out[cid] = jax.tree.map(lambda a, c=col: np.asarray(a)[:, c], state.params)
    return out
