"""``gdlab.sweep``: one call trains every configuration x seed of a grid.

>>> result = gdlab.sweep(data, grid={"learning_rate": [0.01, 0.05, 0.1, 0.5]},
...                      optimizer="sgd", batch_size=16, epochs=10, seeds=10)
>>> result.wide()        # the course's layout, averaged over seeds
>>> result.summary()     # final metrics with spread and a 95 % interval
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gdlab import engine as _engine
from gdlab import executor as _executor
from gdlab.errors import ConfigError
from gdlab.results import SweepResult
from gdlab.specs import SweepSpec, format_hidden, sweep_spec
from gdlab.trust import check_result

#: The metrics a sweep reports unless told otherwise: accuracy for classes, and for
#: regression the mean absolute error, a number in the target's own units beside the
#: MSE loss.
DEFAULT_METRICS = {"classification": ("accuracy",), "regression": ("mae",)}


def sweep_metrics(metrics: Sequence[str] | None, task: str) -> tuple[str, ...]:
    """The metric names a sweep on ``task`` reports: ``metrics``, or the task's default."""
    if metrics is None:
        return DEFAULT_METRICS["regression" if task == "regression" else "classification"]
    if isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"`metrics` must be a list of metric names, e.g. ['mae', 'rmse'], "
                          f"got {metrics!r}.")
    from gdlab.losses import canonical_metric

    for m in metrics:
        canonical_metric(m)  # an unknown name gets the list of valid ones
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"`metrics` names a metric twice: {list(metrics)}.")
    return tuple(metrics)


def stop_rule(early_stopping: Any, data: Any = None) -> _engine.EarlyStopRule | None:
    """An :class:`~gdlab.engine.EarlyStopRule` from Keras's EarlyStopping arguments.

    Accepts None, a rule, a dict (``monitor``, ``min_delta``, ``patience``,
    ``mode``, ``baseline``, ``restore_best_weights``, ``start_from_epoch``) or a
    ``gdlab.keras.callbacks.EarlyStopping`` object.
    """
    from gdlab.early_stopping import early_stopping_params, resolve_minimize

    if early_stopping is None or isinstance(early_stopping, _engine.EarlyStopRule):
        return early_stopping
    if not isinstance(early_stopping, Mapping):
        fields = ("monitor", "min_delta", "patience", "mode", "baseline",
                  "restore_best_weights", "start_from_epoch")
        if not all(hasattr(early_stopping, f) for f in fields):
            raise ConfigError(
                "early_stopping must be a dict of EarlyStopping arguments (monitor, patience, "
                f"...) or a gdlab.keras.callbacks.EarlyStopping, got {early_stopping!r}."
            )
        early_stopping = {f: getattr(early_stopping, f) for f in fields}
    args = dict(early_stopping)
    valid = {"monitor", "min_delta", "patience", "mode", "baseline", "restore_best_weights",
             "start_from_epoch"}
    for key in args:
        if key not in valid:
            from gdlab.errors import unknown_name

            raise unknown_name("early_stopping argument", key, valid)
    monitor = args.get("monitor", "val_loss")
    minimize = resolve_minimize(monitor, args.get("mode", "auto"), ("accuracy",))
    params = early_stopping_params("min" if minimize else "max", args.get("min_delta", 0.0),
                                   args.get("patience", 0), args.get("baseline"),
                                   args.get("start_from_epoch", 0))
    baseline = None if params.baseline != params.baseline else float(params.baseline)
    return _engine.EarlyStopRule(str(monitor), bool(minimize), float(params.min_delta),
                                 int(params.patience), baseline, int(params.start_from_epoch),
                                 bool(args.get("restore_best_weights", False)))


def base_from_model(model: Any) -> dict[str, Any]:
    """Base settings read from a compiled ``gdlab.keras`` model.

    The hidden layers' sizes, their (common) activation and initializers, the
    output activation, the loss and the optimizer become sweep settings.
    """
    from gdlab.keras.models import Model

    if not isinstance(model, Model):
        raise ConfigError(f"`model` must be a gdlab.keras model, got {type(model).__name__}.")
    spec = model.network_spec()
    hidden = spec.layers[:-1]
    acts = {layer.activation for layer in hidden}
    if any(len(a) != 1 for a in acts) or len(acts) > 1:
        raise ConfigError(
            "A sweep's base model needs one activation shared by its hidden layers; "
            f"this model has {sorted(acts)}."
        )
    inits = {layer.kernel_initializer for layer in spec.layers}
    if len(inits) > 1:
        raise ConfigError(
            f"A sweep's base model needs one kernel initializer, this model has {sorted(inits)}."
        )
    base: dict[str, Any] = {
        "hidden": format_hidden(tuple(layer.units for layer in hidden)),
        "kernel_initializer": inits.pop(),
        "bias_initializer": spec.layers[0].bias_initializer,
        "output_activation": spec.output_activation,
    }
    if acts:
        base["activation"] = next(iter(acts))[0]
    if model.optimizer is not None:
        base["optimizer"] = model.optimizer.spec
        base["loss"] = model.loss
    return base


def sweep(data: Any, grid: Mapping[str, Sequence[Any]] | None = None, *,
          configs: Sequence[Mapping[str, Any]] | None = None, seeds: int | Sequence[int] = 5,
          model: Any = None, name: str | None = None, progress: bool | str = "auto",
          memory_budget: int = _executor.DEFAULT_MEMORY_BUDGET,
          max_models_per_call: int | None = None, keep_params: bool = True,
          record_layers: Sequence[int] = (), record_on: str = "test",
          record_steps: bool = False, noise_rows: int = 0, early_stopping: Any = None,
          metrics: Sequence[str] | None = None, executor: _executor.Executor | None = None,
          **settings: Any) -> SweepResult:
    """Train every configuration of ``grid`` (or ``configs``) for every seed, at once.

    ``data`` is a prepared dataset (``gdlab.preprocessing.prepare``), a dict or a
    tuple ``(x_train, y_train[, x_test, y_test])``. ``settings`` are the base
    configuration (``optimizer``, ``learning_rate``, ``batch_size``, ``epochs``,
    ``hidden``, ``activation``, ``kernel_initializer``, ``loss``, ...); ``model``
    may give them as a compiled ``gdlab.keras`` model instead. ``record_layers``
    records those layers' activations on the ``record_on`` set ("test" or "val")
    after every epoch (``result.taps``); ``-2`` is the last hidden layer.
    ``record_steps`` keeps every micro-batch's loss (``result.steps``);
    ``noise_rows=k`` measures the gradient noise scale on ``k`` training rows at
    each epoch end (metrics ``noise_scale``, ``grad_sq_norm``, ``grad_var_trace``).
    ``early_stopping`` (a dict of Keras's EarlyStopping arguments, or a
    ``gdlab.keras.callbacks.EarlyStopping``) stops each model on its own.
    ``metrics`` are Keras metric names every model reports on every set
    (``["mae", "rmse"]``; default ``["accuracy"]`` for classification, ``["mae"]``
    for regression); history keys are the names as given (``val_mae``).
    Sample weights come with the data (``w_train``, ``w_val``, ``w_test``, as a
    prepared dataset with a weight column has them); ``class_weight`` is a
    setting like the others (``grid={"class_weight": [None, "balanced"]}``).
    ``executor`` runs the work (default: this process; ``gdlab.distributed.RayExecutor``
    runs it on a Ray cluster, with the same numbers).
    """
    base = dict(base_from_model(model)) if model is not None else {}
    base.update(settings)
    axes = list(grid) if grid else []
    spec = sweep_spec(name or (", ".join(axes) if axes else "sweep"), base=base, grid=grid,
                      configs=configs, seeds=seeds)
    return run(spec, data, progress=progress, memory_budget=memory_budget,
               max_models_per_call=max_models_per_call, keep_params=keep_params,
               record_layers=record_layers, record_on=record_on, record_steps=record_steps,
               noise_rows=noise_rows, early_stopping=early_stopping, metrics=metrics,
               executor=executor)


def run(spec: SweepSpec, data: Any, *, progress: bool | str = "auto",
        memory_budget: int = _executor.DEFAULT_MEMORY_BUDGET,
        max_models_per_call: int | None = None, keep_params: bool = True,
        record_layers: Sequence[int] = (), record_on: str = "test",
        record_steps: bool = False, noise_rows: int = 0,
        early_stopping: Any = None, metrics: Sequence[str] | None = None,
        executor: _executor.Executor | None = None) -> SweepResult:
    """Run a :class:`~gdlab.specs.SweepSpec` on ``data`` and return its results."""
    return run_many([spec], data, progress=progress, memory_budget=memory_budget,
                    max_models_per_call=max_models_per_call, keep_params=keep_params,
                    record_layers=record_layers, record_on=record_on,
                    record_steps=record_steps, noise_rows=noise_rows,
                    early_stopping=early_stopping, metrics=metrics, executor=executor)[0]


def run_many(specs: Sequence[SweepSpec], data: Any, *, progress: bool | str = "auto",
             memory_budget: int = _executor.DEFAULT_MEMORY_BUDGET,
             max_models_per_call: int | None = None, keep_params: bool = True,
             record_layers: Sequence[int] = (), record_on: str = "test",
             record_steps: bool = False, noise_rows: int = 0,
             early_stopping: Any = None, metrics: Sequence[str] | None = None,
             executor: _executor.Executor | None = None,
             shard_store: _executor.ShardStore | None = None) -> list[SweepResult]:
    """Run several sweeps on the same data in as few compiled programs as possible.

    Sweeps with the same seeds are trained together, and a configuration that
    several sweeps share (the course's SGD(0.01) with batch 16 appears in two) is
    trained once. Each sweep's result equals what :func:`run` gives it alone.
    ``executor`` runs the shards (default: this process); with ``shard_store``,
    finished shards are saved as they arrive and saved ones are not trained again
    (how a run directory resumes inside a batch). ``metrics`` are the metrics
    every model reports (see :func:`sweep`), recorded in ``result.meta["metrics"]``.
    """
    import jax

    from gdlab import __version__
    from gdlab.progress import progress_bar

    td = _executor.training_data(data)
    metric_names = sweep_metrics(metrics, td.task)
    description = dict(td.description)
    weight_column = (data.get("weight_column") if isinstance(data, Mapping)
                     else getattr(data, "weight_column", None))
    if weight_column is not None:  # which column weighs the rows, for reports
        description["weight_column"] = str(weight_column)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"Sweep names must be unique, got {names}.")
    results: list[SweepResult | None] = [None] * len(specs)
    by_seeds: dict[tuple[int, ...], list[int]] = {}
    for i, spec in enumerate(specs):
        by_seeds.setdefault(spec.seeds, []).append(i)
    n_models = sum(s.n_models for s in specs)
    label = specs[0].name if len(specs) == 1 else f"{len(specs)} sweeps"
    with progress_bar(f"{label}: {n_models} models", progress) as update:
        for seeds, members in by_seeds.items():
            t0 = time.perf_counter()
            unique: dict[Any, int] = {}
            where: list[list[int]] = []
            for i in members:
                cols = []
                for cfg in specs[i].configs():
                    cols.append(unique.setdefault(cfg, len(unique)))
                where.append(cols)
            raw = _executor.run_programs(list(unique), seeds, td,
                                         memory_budget=memory_budget,
                                         max_models_per_call=max_models_per_call,
                                         progress=update, keep_params=keep_params,
                                         tap_layers=tuple(record_layers), tap_set=record_on,
                                         record_steps=record_steps, noise_rows=noise_rows,
                                         early_stopping=stop_rule(early_stopping, td),
                                         metrics=metric_names, executor=executor,
                                         shard_store=shard_store)
            seconds = round(time.perf_counter() - t0, 3)
            for i, cols in zip(members, where, strict=True):
                spec = specs[i]
                n_epochs = max(c.epochs for c in spec.configs())
                history = {m: v[:n_epochs][:, :, cols] for m, v in raw.history.items()}
                meta = {
                    "data": description,
                    "metrics": list(metric_names),
                    "noise_rows": min(noise_rows, td.n_train) if noise_rows else 0,
                    "programs": raw.n_programs,
                    "trained_with": [specs[j].name for j in members],
                    "versions": {"gdlab": __version__, "jax": jax.__version__},
                }
                params = [raw.params[c] for c in cols] if keep_params else None
                taps = {layer: [None if v[c] is None else v[c][:n_epochs] for c in cols]
                        for layer, v in raw.taps.items()}
                steps = {m: v[:n_epochs][:, :, :, cols] for m, v in raw.steps.items()}
                result = SweepResult(spec, history, raw.diverged_epoch[:, cols], meta, params,
                                     taps, seconds, steps)
                if raw.stopped_epoch is not None:
                    result.stopped_epoch = raw.stopped_epoch[:, cols]
                    result.best_epoch = raw.best_epoch[:, cols]
                    result.meta["early_stopping"] = dataclasses.asdict(
                        stop_rule(early_stopping, td))
                check_result(result, {name: (x, y) for name, x, y in td.evals}, stacklevel=4)
                results[i] = result
    return [r for r in results if r is not None]
