"""gdlab.keras against Keras 3 itself (JAX backend) as the oracle.

Same architecture, same initial weights (``set_weights``), same batch order
(``shuffle=False``): per-epoch History and final weights must agree to 1e-5.
Every optimizer, loss, activation and initializer is covered by the parity
suite (tests/test_parity_keras.py, tests/test_parity_sweep.py); this file keeps
the API-level comparisons (validation_data, evaluate, predict, a second fit).
The second half shows the comparison is sharp: classic mistakes (epsilon
placement, Adagrad's initial accumulator, the Nesterov form, end-of-epoch
metrics, a dropped last batch) each break it.
"""

from __future__ import annotations

import ast

import jax
import keras
import numpy as np
import optax
import pytest

import gdlab.keras as gk
from gdlab import engine, optimizers

RTOL, ATOL = 1e-5, 1e-5
N_ROWS = 103  # with validation_split=0.2: 82 training rows, batches 16*5 + 2 (partial)


def make_data(task: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_ROWS, 4)).astype(np.float32)
    w = rng.normal(size=(4, 3))
    scores = x @ w + 0.5 * rng.normal(size=(N_ROWS, 3))
    if task == "binary":
        return x, (scores[:, 0] > 0).astype(np.float32)
    labels = scores.argmax(1)
    if task == "sparse":
        return x, labels.astype(np.int64)
    if task == "mse":
        return x, scores[:, :1].astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[labels]


TASKS = {
    "binary": (1, "sigmoid", "binary_crossentropy"),
    "categorical": (3, "softmax", "categorical_crossentropy"),
    "sparse": (3, "softmax", "sparse_categorical_crossentropy"),
    "mse": (1, "linear", "mse"),
}


def initial_weights(task: str, seed: int = 1) -> list[np.ndarray]:
    units = TASKS[task][0]
    rng = np.random.default_rng(seed)
    return [
        rng.normal(scale=0.5, size=(4, 3)).astype(np.float32),
        rng.normal(scale=0.1, size=(3,)).astype(np.float32),
        rng.normal(scale=0.5, size=(3, units)).astype(np.float32),
        rng.normal(scale=0.1, size=(units,)).astype(np.float32),
    ]


def run(lib, task: str, optimizer: str, fit_kwargs: dict, x=None, y=None):
    """Build 4-3(tanh)-k, copy the initial weights in, fit, return (history, weights)."""
    if lib is keras:
        # Keras relies on NumPy rank promotion, which the suite forbids for gdlab.
        with jax.numpy_rank_promotion("allow"):
            return _run(lib, task, optimizer, fit_kwargs, x, y)
    return _run(lib, task, optimizer, fit_kwargs, x, y)


def _run(lib, task: str, optimizer: str, fit_kwargs: dict, x=None, y=None):
    units, act, loss = TASKS[task]
    if x is None:
        x, y = make_data(task)
    model = lib.Sequential([
        lib.Input(shape=(4,)),
        lib.layers.Dense(3, activation="tanh"),
        lib.layers.Dense(units, activation=act),
    ])
    model.set_weights(initial_weights(task))
    call = ast.parse(optimizer, mode="eval").body
    kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    opt = getattr(lib.optimizers, call.func.id)(**kwargs)
    metrics = [] if task == "mse" else ["accuracy"]
    model.compile(optimizer=opt, loss=loss, metrics=metrics)
    fit = {"epochs": 3, "batch_size": 16, "shuffle": False, "verbose": 0} | fit_kwargs
    h = model.fit(x, y, **fit)
    return h.history, model.get_weights()


def assert_same(h_gd, w_gd, h_k, w_k) -> None:
    assert sorted(h_gd) == sorted(h_k)
    for key in h_k:
        np.testing.assert_allclose(h_gd[key], h_k[key], rtol=RTOL, atol=ATOL, err_msg=key)
    for a, b in zip(w_gd, w_k, strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_validation_data_and_default_batch_size_match_keras() -> None:
    x, y = make_data("binary")
    fit = {"validation_data": (x[:20], y[:20]), "batch_size": None}
    h_gd, w_gd = run(gk, "binary", "RMSprop(learning_rate=0.01)", fit, x[20:], y[20:])
    h_k, w_k = run(keras, "binary", "RMSprop(learning_rate=0.01)", fit, x[20:], y[20:])
    assert "val_loss" in h_k
    assert_same(h_gd, w_gd, h_k, w_k)


def test_evaluate_and_predict_match_keras() -> None:
    x, y = make_data("categorical")
    results = []
    for lib in (gk, keras):
        ctx = jax.numpy_rank_promotion("allow" if lib is keras else "raise")
        with ctx:
            results.append(_evaluate_predict(lib, x, y))
    (ev_gd, pr_gd), (ev_k, pr_k) = results
    np.testing.assert_allclose(ev_gd, ev_k, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pr_gd, pr_k, rtol=RTOL, atol=1e-6)


def _evaluate_predict(lib, x, y):
    model = lib.Sequential([lib.Input(shape=(4,)), lib.layers.Dense(3, activation="tanh"),
                            lib.layers.Dense(3, activation="softmax")])
    model.set_weights(initial_weights("categorical"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model.evaluate(x, y, verbose=0), model.predict(x, verbose=0)


def test_second_fit_continues_optimizer_state_like_keras() -> None:
    """Keras keeps its optimizer's moments and iteration count across fit calls."""
    outs = []
    for lib in (gk, keras):
        with jax.numpy_rank_promotion("allow" if lib is keras else "raise"):
            outs.append(_two_fits(lib))
    (h_gd, w_gd, it_gd), (h_k, w_k, it_k) = outs
    assert it_gd == it_k == 4 * 7
    assert_same(h_gd, w_gd, h_k, w_k)


def _two_fits(lib):
    x, y = make_data("binary")
    units, act, loss = TASKS["binary"]
    model = lib.Sequential([lib.Input(shape=(4,)), lib.layers.Dense(3, activation="tanh"),
                            lib.layers.Dense(units, activation=act)])
    model.set_weights(initial_weights("binary"))
    model.compile(optimizer=lib.optimizers.Adam(learning_rate=0.01), loss=loss,
                  metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    h = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    return h.history, model.get_weights(), int(model.optimizer.iterations)


# ------------------------------------------------------------ classic mistakes


def _diverges_from_keras(task: str, optimizer: str, fit: dict | None = None) -> bool:
    fit = fit or {"validation_split": 0.2}
    engine.train_program.cache_clear()
    h_gd, w_gd = run(gk, task, optimizer, fit)
    h_k, w_k = run(keras, task, optimizer, fit)
    try:
        assert_same(h_gd, w_gd, h_k, w_k)
    except AssertionError:
        return True
    return False


def _swap_factory(monkeypatch, kind: str, factory) -> None:
    kinds = dict(optimizers.OPTIMIZERS)
    old = kinds[kind]
    kinds[kind] = optimizers.OptimizerKind(old.name, old.keras_name, factory, old.defaults)
    monkeypatch.setattr(optimizers, "OPTIMIZERS", kinds)
    engine.train_program.cache_clear()


def test_mistake_optax_adam_epsilon_placement_is_caught(monkeypatch) -> None:
    def optax_form(learning_rate, beta_1, beta_2, epsilon, amsgrad):
        return optax.adam(learning_rate, beta_1, beta_2, epsilon)

    _swap_factory(monkeypatch, "adam", optax_form)
    assert _diverges_from_keras("binary", "Adam(learning_rate=0.01, epsilon=0.001)")


def test_mistake_rmsprop_epsilon_outside_sqrt_is_caught(monkeypatch) -> None:
    def outside(learning_rate, rho, momentum, epsilon, centered):
        return optax.chain(optax.scale_by_rms(decay=rho, eps=epsilon, initial_scale=0.0,
                                              eps_in_sqrt=False),
                           optax.scale(-learning_rate))

    _swap_factory(monkeypatch, "rmsprop", outside)
    assert _diverges_from_keras("binary", "RMSprop(learning_rate=0.01, epsilon=0.001)")


def test_mistake_adagrad_zero_accumulator_is_caught(monkeypatch) -> None:
    def zero_start(learning_rate, initial_accumulator_value, epsilon):
        return optimizers.keras_adagrad(learning_rate, 0.0, epsilon)

    _swap_factory(monkeypatch, "adagrad", zero_start)
    assert _diverges_from_keras("binary", "Adagrad(learning_rate=0.1)")


def test_mistake_nesterov_with_old_momentum_is_caught(monkeypatch) -> None:
    def old_m(learning_rate, momentum, nesterov):
        def init(params):
            return optimizers.SGDState(optax.tree.zeros_like(params))

        def update(grads, state, params=None):
            import jax

            m_old = state.momentum
            m = jax.tree.map(lambda m, g: m * momentum - g * learning_rate, m_old, grads)
            upd = jax.tree.map(lambda m, g: m * momentum - g * learning_rate, m_old, grads)
            return upd, optimizers.SGDState(m)

        return optax.GradientTransformation(init, update)

    _swap_factory(monkeypatch, "sgd", old_m)
    assert _diverges_from_keras("binary", "SGD(learning_rate=0.1, momentum=0.5, nesterov=True)")


def test_mistake_end_of_epoch_training_metrics_is_caught() -> None:
    """History's training loss is a running mean, not the loss after the epoch."""
    x, y = make_data("binary")
    h_k, _ = run(keras, "binary", "SGD(learning_rate=0.1)", {"epochs": 1})
    model = gk.Sequential([gk.Input(shape=(4,)), gk.layers.Dense(3, activation="tanh"),
                           gk.layers.Dense(1, activation="sigmoid")])
    model.set_weights(initial_weights("binary"))
    model.compile(optimizer=gk.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    end_of_epoch_loss = model.evaluate(x, y, verbose=0)[0]
    np.testing.assert_allclose(h.history["loss"], h_k["loss"], rtol=RTOL, atol=ATOL)
    assert abs(end_of_epoch_loss - h_k["loss"][0]) > 100 * ATOL


def test_mistake_dropped_last_batch_is_caught() -> None:
    x, y = make_data("binary")
    full = (len(x) // 16) * 16
    h_k, w_k = run(keras, "binary", "SGD(learning_rate=0.1)", {}, x, y)
    h_gd, w_gd = run(gk, "binary", "SGD(learning_rate=0.1)", {}, x[:full], y[:full])
    with pytest.raises(AssertionError):
        assert_same(h_gd, w_gd, h_k, w_k)
    h_gd, w_gd = run(gk, "binary", "SGD(learning_rate=0.1)", {}, x, y)
    assert_same(h_gd, w_gd, h_k, w_k)
