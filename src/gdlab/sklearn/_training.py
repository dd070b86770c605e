"""One network, one seed, through the sweep path; and the continuation ``partial_fit`` needs.

:func:`fit_one` trains a configuration from a seed with
:func:`gdlab.executor.run_programs`, exactly as a sweep trains each of its
models, so a vectorized grid search (many configurations in one call) gives
each one the weights it gets alone, to float32 round-off. :func:`unpack`
reads one model out of a ``run_programs`` result; the grid search uses it too.

``run_programs`` returns weights, not optimizer states. :func:`continue_one`
(``partial_fit``) runs the engine's one-epoch training program from explicit
weights and optimizer state, numbering the epoch as the sweep would.

Estimators train with scikit-learn's weighted mean (:data:`REDUCTION`: a
batch's loss is divided by its sum of weights), and a fit whose batch is all
of its rows with the engine's ``reproducible_sums`` (:func:`reproducible`):
its gradient is then a function of the rows as a set, whatever their order,
and a row of integer weight k counts exactly as k copies of it, as the
mathematics of a full batch says. Mini-batch fits keep the engine's faster
sums (there a weight is not a repetition anyway: copies of a row land in
different batches).

Everything handed back lives on the host as NumPy arrays (picklable, no device
buffers).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from gdlab import engine as _engine
from gdlab import executor as _executor
from gdlab.network import NetworkSpec
from gdlab.pitfalls import BatchLargerThanData
from gdlab.specs import TrainConfig

#: Predictions run on row blocks of this fixed size (the last block padded), so a
#: row's output never depends on how many rows were passed with it (XLA picks its
#: kernels by shape) and each architecture compiles one prediction program.
PREDICT_BLOCK = 512

#: scikit-learn's loss reduction: a batch's weighted loss over its sum of weights.
REDUCTION = "mean_with_sample_weight"

Params = tuple[dict[str, np.ndarray], ...]


@dataclass
class Trained:
    """The outcome of training one model.

    ``params`` are the final weights (one dict per layer, no leading axes);
    ``opt_state`` the optimizer state with the engine's ``[seed, config]`` axes
    of size 1 (None after ``run_programs``, which keeps weights only);
    ``history[metric]`` one value per epoch run; ``diverged_epoch``,
    ``stopped_epoch`` and ``best_epoch`` are -1 when it did not happen.
    """

    params: Params
    opt_state: Any
    history: dict[str, list[float]]
    n_epochs: int
    diverged_epoch: int = -1
    stopped_epoch: int = -1
    best_epoch: int = -1


def reproducible(configs: list[TrainConfig], data: _executor.TrainingData) -> bool:
    """Whether configurations train with reproducible sums: each batch is all the rows."""
    full = [c.batch_size >= data.n_train for c in configs]
    if any(full) and not all(full):
        raise ValueError("Full-batch and mini-batch configurations train in separate calls.")
    return all(full)


def run(configs: list[TrainConfig], seeds: list[int], data: _executor.TrainingData,
        early_stopping: _engine.EarlyStopRule | None = None) -> _executor.RawResult:
    """``run_programs`` for estimators: every configuration x seed, in as few programs as possible.

    A batch at least as large as the data is one full batch, as in Keras; inside
    cross-validation the sweep's warning about it would fire on every small fold,
    so it is not raised here (the estimators document the rule instead). The
    configurations are all full-batch or all mini-batch (:func:`reproducible`).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BatchLargerThanData)
        return _executor.run_programs(configs, seeds, data, early_stopping=early_stopping,
                                      reduction=REDUCTION,
                                      reproducible_sums=reproducible(configs, data))


def unpack(raw: _executor.RawResult, config: int, seed: int, epochs: int) -> Trained:
    """Model ``(seed index, config index)`` of a ``run_programs`` result."""
    params = jax.tree.map(lambda a: np.asarray(a)[seed], raw.params[config])
    stopped = best = -1
    if raw.stopped_epoch is not None:
        stopped = int(raw.stopped_epoch[seed, config])
        best = int(raw.best_epoch[seed, config])
    n_run = stopped + 1 if stopped >= 0 else epochs
    history = {m: [float(v) for v in np.asarray(values)[:n_run, seed, config]]
               for m, values in raw.history.items()}
    return Trained(tuple(params), None, history, n_run, int(raw.diverged_epoch[seed, config]),
                   stopped, best)


def fit_one(config: TrainConfig, seed: int, data: _executor.TrainingData,
            early_stopping: _engine.EarlyStopRule | None = None) -> Trained:
    """Train one configuration from one seed, as a sweep would."""
    return unpack(run([config], [seed], data, early_stopping), 0, 0, config.epochs)


def continue_one(config: TrainConfig, seed: int, data: _executor.TrainingData,
                 params: Params | None, opt_state: Any, epoch: int) -> Trained:
    """One more epoch (number ``epoch``) from ``params`` and ``opt_state``.

    ``params=None`` starts from the seed's initial weights (as a sweep draws
    them); ``opt_state=None`` from a fresh optimizer state. The batch order is
    the one a sweep uses for that seed and epoch.
    """
    (program,) = _executor.plan_programs([config], data, reduction=REDUCTION,
                                         reproducible_sums=reproducible([config], data))
    (group,) = program.groups
    spec = group.spec
    plan = _engine.Plan(groups=(spec,), n_seeds=1, n_train=data.n_train,
                        micro_batch=program.micro_batch, accumulate=program.accumulate,
                        n_epochs=1, shuffle=True)
    if (_engine.estimated_flops(plan) < _engine.FAST_COMPILE_FLOPS
            and not spec.reproducible_sums):
        plan = dataclasses.replace(plan, fast_compile=True)  # the executor's rule
    # The epoch count is the total so far, whichever way the engine numbers epochs.
    schemes, weight_index = _executor.weight_schemes([config], data)
    cfg = _engine.group_config(spec, [config.optimizer], [config.batch_size], [epoch + 1],
                               weight_index=weight_index)
    if params is None:
        (initial,) = _executor.initial_params([config], [seed], data)
        params = tuple(jax.tree.map(lambda a: np.asarray(a)[0], initial))
    if opt_state is None:
        opt_state = jax.tree.map(lambda a: np.asarray(a)[None, None],
                                 config.optimizer.transformation().init(params))
    state = _engine.GroupState(jax.tree.map(lambda a: np.asarray(a)[None, None], params),
                               opt_state, np.full((1, 1), -1, np.int32))
    units = spec.network.n_outputs
    batch = _engine.Data(
        data.x_train, (_executor.encode_targets(data.y_train, data.task, spec.loss, units),),
        w=_executor.weight_rows(schemes, data))
    _, shuffle_keys = _engine.seed_keys([seed])
    (state,), (hist,) = _engine.train_program(plan)((state,), (cfg,), batch, shuffle_keys,
                                                     np.int32(epoch))
    state = jax.tree.map(np.asarray, jax.device_get(state))
    history = {k: [float(v) for v in np.asarray(values)[:, 0, 0]]
               for k, values in jax.device_get(hist).items()}
    diverged = int(state.diverged_epoch[0, 0])
    return Trained(tuple(jax.tree.map(lambda a: a[0, 0], state.params)), state.opt_state,
                   history, 1, diverged)


def network_of(config: TrainConfig, data: _executor.TrainingData) -> NetworkSpec:
    """The network a configuration trains on ``data``."""
    return config.network(data.n_features, data.task, data.n_outputs)


def predict(network: NetworkSpec, params: Params, x: np.ndarray) -> np.ndarray:
    """The network's float32 outputs for the rows of ``x``, in fixed-size blocks."""
    program = _engine.predict_program(network)
    n = x.shape[0]
    out = np.empty((n, network.n_outputs), np.float32)
    block = np.zeros((PREDICT_BLOCK, x.shape[1]), np.float32)
    for start in range(0, n, PREDICT_BLOCK):
        rows = min(PREDICT_BLOCK, n - start)
        block[:rows] = x[start:start + rows]
        block[rows:] = 0.0
        result, _ = program(params, block)
        out[start:start + rows] = np.asarray(result)[:rows]
    return out
