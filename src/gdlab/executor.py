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
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from gdlab import engine as _engine
from gdlab import interrupts
from gdlab.errors import ConfigError, DataError, ShapeError
from gdlab.network import NetworkSpec
from gdlab.pitfalls import BATCH_LARGER_THAN_DATA, BatchLargerThanData
from gdlab.specs import TASKS, TrainConfig
from gdlab.validation import as_features, as_targets

#: Peak-memory budget for one program call, in bytes (the seed chunk is sized from it).
DEFAULT_MEMORY_BUDGET = 1 << 30


# ------------------------------------------------------------------------ data


@dataclass(frozen=True)
class TrainingData:
    """Arrays for a sweep: training rows, evaluation sets, and the task.

    ``y`` holds class indices ``0..k-1`` (classification) or values (regression);
    targets are encoded per loss when programs are built.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    evals: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    task: str
    n_outputs: int
    description: dict[str, Any]

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
    ``y_val``, ``x_test``, ``y_test``, ``task``), the same keys in a dict, or a
    tuple ``(x_train, y_train[, x_test, y_test])``.
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
    return TrainingData(x, y, tuple(evals), task, n_out, description)


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


def plan_programs(configs: Sequence[TrainConfig], data: TrainingData) -> list[ProgramPlan]:
    """Group configurations into programs and groups (see the module docstring)."""
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
            spec = _group_spec(key, [configs[i] for i in members], data)
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


def _group_spec(key: tuple, members: Sequence[TrainConfig], data: TrainingData
                ) -> _engine.GroupSpec:
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
        metric=metric_for(data.task, loss, net.n_outputs),
        optimizer=first.optimizer.kind,
        options=first.optimizer.static_options,
        n_configs=len(members),
        activation_choices=activation_choices,
        initializer_choices=initializer_choices,
    )


def _group_config(group: GroupPlan, configs: Sequence[TrainConfig],
                  lr_growth: Sequence[float] | None = None) -> _engine.GroupConfig:
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
    return _engine.group_config(
        spec, [c.optimizer for c in members], [c.batch_size for c in members],
        [c.epochs for c in members], act_idx, init_idx, growth,
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
    fast = _engine.estimated_flops(plan) < _engine.FAST_COMPILE_FLOPS
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
               + program.n_epochs * 8)
        worst = max(worst, per)
    return 4 * worst


# ---------------------------------------------------------------------- running


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


ProgressFn = Callable[[int, int], None]


def run_programs(configs: Sequence[TrainConfig], seeds: Sequence[int], data: TrainingData, *,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 max_models_per_call: int | None = None,
                 progress: ProgressFn | None = None,
                 keep_params: bool = True, tap_layers: Sequence[int] = (),
                 tap_set: str = "test", record_steps: bool = False, noise_rows: int = 0,
                 lr_growth: Sequence[float] | None = None,
                 early_stopping: _engine.EarlyStopRule | None = None) -> RawResult:
    """Train every configuration x seed on ``data``; return raw arrays in ``configs`` order.

    ``tap_layers`` records those layers' activations on evaluation set ``tap_set``
    ("val" or "test") after every epoch; ``record_steps`` each micro-batch's loss;
    ``noise_rows`` the gradient noise scale on that many training rows;
    ``lr_growth[c]`` multiplies configuration ``c``'s learning rate at every update
    (see :class:`gdlab.engine.Plan`).
    """
    if lr_growth is not None and len(lr_growth) != len(configs):
        raise ConfigError(f"lr_growth needs one value per configuration ({len(configs)}).")
    if early_stopping is not None:
        names = ["loss"] + [f"{name}_loss" for name, _, _ in data.evals]
        if data.task != "regression":
            names += ["accuracy"] + [f"{name}_accuracy" for name, _, _ in data.evals]
        if early_stopping.monitor not in names:
            raise ConfigError(
                f"Early stopping monitors {early_stopping.monitor!r}, which this training does "
                f"not report; it reports {', '.join(names)}."
                + (" Give validation data (validation_split) to monitor val_loss."
                   if early_stopping.monitor.startswith("val_") else "")
            )
    configs = list(configs)
    eval_names = [name for name, _, _ in data.evals]
    if tap_layers and tap_set not in eval_names:
        raise ConfigError(
            f"Cannot record activations on {tap_set!r}: the data has "
            f"{', '.join(eval_names) or 'no evaluation sets'}; give x_{tap_set}/y_{tap_set}."
        )
    for b in sorted({c.batch_size for c in configs if c.batch_size >= data.n_train}):
        warnings.warn(BATCH_LARGER_THAN_DATA.format(batch=b, n=data.n_train),
                      BatchLargerThanData, stacklevel=3)
    programs = plan_programs(configs, data)
    seeds = list(seeds)
    n_seeds, n_configs = len(seeds), len(configs)
    max_epochs = max(c.epochs for c in configs)
    history: dict[str, np.ndarray] = {}
    diverged = np.full((n_seeds, n_configs), -1, np.int32)
    stopped = np.full((n_seeds, n_configs), -1, np.int32)
    best = np.full((n_seeds, n_configs), -1, np.int32)
    params: list[Any] = [None] * n_configs
    taps: dict[int, list[np.ndarray | None]] = {}
    steps_history: dict[str, np.ndarray] = {}
    x = data.x_train
    eval_x = tuple(xe for _, xe, _ in data.evals)
    timings = {"compile_and_run_s": 0.0}

    calls = []
    for prog in programs:
        plan = program_plan(prog, data, n_seeds, tap_layers=tuple(tap_layers),
                            tap_eval_set=eval_names.index(tap_set) if tap_layers else 0,
                            lr_schedule=lr_growth is not None, record_steps=record_steps,
                            noise_rows=int(noise_rows), early_stopping=early_stopping)
        if not plan.fast_compile:
            per_seed = len(prog.config_ids)
            cap = max_models_per_call or max(1, memory_budget // bytes_per_model(prog, data))
            chunk = max(1, min(n_seeds, cap // max(per_seed, 1)))
            plan = dataclasses.replace(plan, n_seeds=chunk)
        calls.append((prog, plan))
    total_epochs = sum(p.n_epochs * math.ceil(n_seeds / plan.n_seeds) for p, plan in calls)
    done = [0]

    def on_epoch(_: int) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total_epochs)
        interrupts.check()  # a safe point: a stop asked for by a signal happens here

    for prog, plan in calls:
        chunk = plan.n_seeds
        groups = plan.groups
        cfgs = tuple(_group_config(g, configs, lr_growth) for g in prog.groups)
        ys = tuple(encode_targets(data.y_train, data.task, g.loss, g.network.n_outputs)
                   for g in groups)
        eval_y = tuple(
            tuple(encode_targets(ye, data.task, g.loss, g.network.n_outputs)
                  for g in groups)
            for _, _, ye in data.evals
        )
        program = _engine.fit_program(plan)
        batch = _engine.Data(x, ys, eval_x, eval_y)
        for start in range(0, n_seeds, chunk):
            chunk_seeds = seeds[start:start + chunk]
            real = len(chunk_seeds)
            padded = chunk_seeds + [chunk_seeds[-1]] * (chunk - real)
            t0 = time.perf_counter()
            states, hist = program(cfgs, batch, _engine.seed_array(padded), on_epoch)
            hist = jax.device_get(hist)
            timings["compile_and_run_s"] += time.perf_counter() - t0
            for g, (gp, state) in enumerate(zip(prog.groups, states, strict=True)):
                ids = list(gp.config_ids)
                for metric, values in hist[g].items():
                    if metric == "step_loss":
                        arr = np.asarray(values)[:, :, :real]  # [E, steps, seeds, configs]
                        if metric not in steps_history:
                            steps_history[metric] = np.full(
                                (max_epochs, arr.shape[1], n_seeds, n_configs), np.nan,
                                np.float32)
                        target = steps_history[metric]
                        if target.shape[1] != arr.shape[1]:
                            raise ConfigError(
                                "record_steps needs every configuration in one program "
                                "(one micro-batch size)."
                            )
                        target[: prog.n_epochs, :, start:start + real, ids] = arr
                        continue
                    if metric.startswith("tap_"):
                        layer = int(metric[4:])
                        per_config = taps.setdefault(layer, [None] * n_configs)
                        arr = np.asarray(values)[:, :real]
                        for col, cid in enumerate(ids):
                            piece = arr[:, :, col]
                            per_config[cid] = piece if per_config[cid] is None else \
                                np.concatenate([per_config[cid], piece], axis=1)
                        continue
                    if metric not in history:
                        history[metric] = np.full((max_epochs, n_seeds, n_configs), np.nan,
                                                  np.float32)
                    history[metric][: prog.n_epochs, start:start + real, ids] = \
                        np.asarray(values)[:, :real, :]
                diverged[start:start + real, ids] = np.asarray(state.diverged_epoch)[:real]
                if early_stopping is not None:
                    stops = state.stopping
                    stopped[start:start + real, ids] = np.where(
                        np.asarray(stops.stopped)[:real],
                        np.asarray(stops.stopped_epoch)[:real], -1)
                    best[start:start + real, ids] = np.where(
                        np.asarray(stops.has_best)[:real],
                        np.asarray(stops.best_epoch)[:real], -1)
                if keep_params:
                    host = jax.device_get(state.params)
                    for col, cid in enumerate(ids):
                        piece = jax.tree.map(lambda a, c=col, r=real: np.asarray(a)[:r, c], host)
                        if params[cid] is None:
                            params[cid] = piece
                        else:
                            params[cid] = jax.tree.map(
                                lambda a, b: np.concatenate([a, b]), params[cid], piece)
    return RawResult(history, diverged, params, timings, len(programs), taps, steps_history,
                     stopped if early_stopping is not None else None,
                     best if early_stopping is not None else None)


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
