"""The vectorized sweep engine against Keras 3 itself, model by model.

What ``gdlab study`` and ``gdlab.sweep`` train is held to the standard of
``gdlab.keras``: several parity cases (every activation, initializer,
optimizer with its switches, loss, metric; sample and class weights; mixed
batch sizes and epoch counts, so gradient accumulation over micro-batches and
per-model masking are in play) train together in one sweep over two seeds.
Each model is then trained by Keras from the sweep's own initial weights on the
sweep's own batch order (``engine.batch_order``), and History (training,
validation and test sets) and final weights must agree to 1e-5. A few models
are also trained alone and must equal their place in the sweep.
"""

from __future__ import annotations

import warnings

import _parity as P
import jax
import keras
import numpy as np
import pytest

from gdlab import engine, executor, initializers, losses
from gdlab.optimizers import parse_optimizer
from gdlab.pitfalls import GdlabWarning
from gdlab.specs import TrainConfig

SEEDS = (0, 1)
N_TRAIN, N_VAL, N_TEST, N_FEATURES = 61, 19, 23, 4

#: The sweeps: a task, its losses (and the heads they mean), and its metrics.
TASKS = {
    "binary": (("binary_crossentropy",), ("accuracy",)),
    "multiclass": (("categorical_crossentropy", "sparse_categorical_crossentropy"),
                   ("accuracy",)),
    "regression": (("mean_squared_error", "mean_absolute_error",
                    "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
                    "huber", "log_cosh"),
                   ("mae", "mse", "root_mean_squared_error", "mape", "msle")),
}


def task_data(task: str) -> executor.TrainingData:
    rng = np.random.default_rng({"binary": 1, "multiclass": 2, "regression": 3}[task])
    n = N_TRAIN + N_VAL + N_TEST
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    s = x @ rng.normal(size=(N_FEATURES, 3)) + 0.5 * rng.normal(size=(n, 3))
    if task == "binary":
        y = (s[:, 0] > 0).astype(np.int64)
    elif task == "multiclass":
        y = s.argmax(1).astype(np.int64)
    else:
        y = (np.abs(s[:, :1]) + 0.5).astype(np.float32)  # positive: MSLE and MAPE behave
    w = np.round(rng.uniform(0, 2, n), 2).astype(np.float32)
    w[rng.random(n) < 0.1] = 0.0
    a, b = N_TRAIN, N_TRAIN + N_VAL
    return executor.training_data({
        "x_train": x[:a], "y_train": y[:a], "w_train": w[:a],
        "x_val": x[a:b], "y_val": y[a:b], "w_val": w[a:b],
        "x_test": x[b:], "y_test": y[b:], "task": task})


def sweep_configs(task: str) -> list[TrainConfig]:
    """The covering cases, dealt out to the three tasks' sweeps, as the settings a sweep
    takes (one activation and one initializer for every layer), with the task's losses."""
    task_losses, _ = TASKS[task]
    out = []
    mine = [c for i, c in enumerate(P.covering_cases())
            if i % len(TASKS) == list(TASKS).index(task)]
    for i, case in enumerate(mine):  # i counts this task's configurations
        kernel = case.kernel_initializers[0]
        symmetric = kernel in P.DETERMINISTIC or initializers.constant_value(kernel) is not None
        hidden = () if symmetric else tuple(u for u, _ in case.hidden)
        activation = case.hidden[0][1] if case.hidden else "tanh"
        if activation == "softmax":
            hidden = tuple(max(u, 2) for u in hidden)
        class_weight = None
        if task != "regression" and i % 2:
            class_weight = "balanced" if i % 4 == 1 else tuple(
                sorted(P.class_weights(case).items()))[:3 if task == "multiclass" else 2]
        out.append(TrainConfig(
            hidden=hidden, activation=activation, kernel_initializer=kernel,
            bias_initializer=case.bias_initializers[0],
            optimizer=parse_optimizer(case.optimizer), batch_size=case.batch_size,
            epochs=1 + i % 3, loss=task_losses[i % len(task_losses)],
            class_weight=class_weight))
    return out


def keras_run(cfg: TrainConfig, seed: int, data: executor.TrainingData, task: str,
              initial: list[np.ndarray], metrics: tuple[str, ...],
              row_weights: np.ndarray) -> tuple[dict[str, list[float]], list[np.ndarray]]:
    """Keras trains one model of the sweep: same weights, the sweep's batch order per epoch."""
    net = cfg.network(data.n_features, task, data.n_outputs)
    layers = [keras.Input(shape=(net.n_inputs,))]
    for layer in net.layers:
        layers.append(keras.layers.Dense(layer.units, activation=layer.activation[0]))
    model = keras.Sequential(layers)
    model.set_weights(initial)
    loss = cfg.output_layer(task, data.n_outputs)[2]
    model.compile(optimizer=P._optimizer(keras, cfg.optimizer.label()), loss=loss,
                  metrics=list(metrics))

    def enc(y: np.ndarray) -> np.ndarray:
        return executor.encode_targets(y, task, loss, net.n_outputs)

    (_, xv, yv), (_, xt, yt) = data.evals
    history: dict[str, list[float]] = {}
    for e in range(cfg.epochs):
        order = engine.batch_order(seed, e, data.n_train)
        h = model.fit(data.x_train[order], enc(data.y_train)[order],
                      sample_weight=row_weights[order], batch_size=cfg.batch_size, epochs=1,
                      shuffle=False, verbose=0,
                      validation_data=(xv, enc(yv), data.w_evals[0]))
        for key, values in h.history.items():
            history.setdefault(key, []).extend(values)
        test = model.evaluate(xt, enc(yt), verbose=0, return_dict=True,
                              batch_size=cfg.batch_size)
        for key, value in test.items():
            history.setdefault(f"test_{key}", []).append(float(value))
    return history, model.get_weights()


def keras_order(params, seed: int) -> list[np.ndarray]:
    """One seed's weights of a sweep's model, in Keras's order (kernel, bias per layer)."""
    return [np.asarray(layer[name])[seed] for layer in params
            for name in ("kernel", "bias") if name in layer]


@pytest.fixture(scope="module", params=list(TASKS))
def trained(request):
    task = request.param
    data = task_data(task)
    configs = sweep_configs(task)
    metrics = TASKS[task][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GdlabWarning)
        raw = executor.run_programs(configs, SEEDS, data, metrics=list(metrics))
    initial = executor.initial_params(configs, SEEDS, data)
    return task, data, configs, metrics, raw, initial


def test_the_sweep_covers_the_engine_paths(trained) -> None:
    task, data, configs, metrics, raw, _ = trained
    # Batch sizes 8, 12, 16 and 32 share one program, on micro-batches of 4: every model
    # accumulates gradients over several micro-batches, and most end on a partial batch.
    plans = executor.plan_programs(configs, data)
    assert raw.n_programs == len(plans) == 1 and plans[0].micro_batch == 4
    assert plans[0].accumulate
    assert len({c.batch_size for c in configs}) >= 3
    assert len({c.epochs for c in configs}) == 3
    kinds = {losses.canonical_metric(m) for m in metrics}
    if task == "regression":
        assert kinds == set(losses.METRIC_KINDS) - {
            "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"}
        assert {c.loss for c in configs} == {k for k, v in losses.LOSSES.items()
                                             if v.targets == "values"}
    else:
        assert {c.class_weight is None for c in configs} == {True, False}


def test_the_three_sweeps_cover_every_optimizer_and_switch() -> None:
    configs = [c for task in TASKS for c in sweep_configs(task)]
    assert {c.optimizer.kind for c in configs} == set(P.registered_names()["optimizer"])
    switches = {k for c in configs for k, v in c.optimizer.params.items()
                if k != "learning_rate" and v != parse_optimizer(c.optimizer.kind).params[k]}
    assert P.registered_names()["switch"] <= switches
    assert {c.kernel_initializer for c in configs} >= set(initializers.INITIALIZERS)


def test_every_model_of_the_sweep_matches_keras(trained) -> None:
    """Each configuration against Keras at one of the two seeds (alternating)."""
    task, data, configs, metrics, raw, initial = trained
    schemes, index = executor.weight_schemes(configs, data)
    rows = executor.weight_rows(schemes, data)
    for c, cfg in enumerate(configs):
        seed = c % len(SEEDS)
        first = keras_order(initial[c], seed)
        with jax.numpy_rank_promotion("allow"):
            want, final = keras_run(cfg, SEEDS[seed], data, task, first, metrics,
                                    rows[index[c]])
        msg = f"{task} config {c} ({cfg.settings()}), seed {SEEDS[seed]}"
        for key, values in want.items():
            got = raw.history[key][:cfg.epochs, seed, c]
            np.testing.assert_allclose(got, values, rtol=P.RTOL, atol=P.ATOL,
                                       err_msg=f"{msg}: {key}")
        assert np.isnan(raw.history["loss"][cfg.epochs:, seed, c]).all()
        ours = keras_order(raw.params[c], seed)
        for i, (a, b) in enumerate(zip(ours, final, strict=True)):
            np.testing.assert_allclose(a, b, rtol=P.RTOL, atol=P.ATOL,
                                       err_msg=f"{msg}: weight {i}")


def test_a_model_alone_equals_its_place_in_the_sweep(trained) -> None:
    task, data, configs, metrics, raw, _ = trained
    for c in (0, len(configs) - 1):  # the first and last configurations of the program
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GdlabWarning)
            alone = executor.run_programs([configs[c]], SEEDS[:1], data, metrics=list(metrics))
        for key, values in alone.history.items():
            n = values.shape[0]
            np.testing.assert_allclose(values[:, 0, 0], raw.history[key][:n, 0, c],
                                       rtol=P.RTOL, atol=P.ATOL, err_msg=f"config {c}: {key}")
