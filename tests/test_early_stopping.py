"""gdlab.early_stopping against Keras 3's EarlyStopping as the oracle.

Both callbacks are driven by the same scripted logs (a stand-in model whose
weights are the epoch number, so a restored weight says which epoch it came
from); stop epoch, best value, best epoch, wait and restored weights must be
equal. Then the pure rule is run vectorized (jit + scan, per-model settings)
and must agree with the scalar runs, as a sweep will use it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdlab import early_stopping as es
from gdlab.errors import ConfigError
from gdlab.keras import callbacks as gcb


class ScriptedModel:
    """What a callback sees of a model: weights that name the epoch, stop_training."""

    def __init__(self) -> None:
        self.weights = [np.array([-1.0], np.float32)]
        self.stop_training = False
        self._metric_names = ["accuracy"]

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.weights = [np.asarray(w).copy() for w in weights]


def drive(callback, values: list[float], monitor: str = "val_loss") -> dict:
    """Keras's fit loop around one callback, on scripted monitored values."""
    model = ScriptedModel()
    callback.set_model(model)
    run = []
    with jax.numpy_rank_promotion("allow"):  # Keras's ops rely on rank promotion
        callback.on_train_begin()
        for epoch, value in enumerate(values):
            callback.on_epoch_begin(epoch)
            model.weights = [np.array([epoch], np.float32)]
            callback.on_epoch_end(epoch, {"loss": 1.0, monitor: value})
            run.append(epoch)
            if model.stop_training:
                break
        callback.on_train_end()
    best = callback.best
    return {"epochs_run": len(run), "stopped_epoch": callback.stopped_epoch,
            "best": None if best is None else float(best), "best_epoch": callback.best_epoch,
            "wait": callback.wait, "final_weight": float(model.weights[0][0])}


def both(values: list[float], **kwargs) -> tuple[dict, dict]:
    return (drive(gcb.EarlyStopping(**kwargs), values),
            drive(keras.callbacks.EarlyStopping(**kwargs), values))


# ------------------------------------------------------------ scripted cases

DOWN_THEN_UP = [1.0, 0.8, 0.7, 0.72, 0.71, 0.69, 0.75, 0.8, 0.9, 1.0]


@pytest.mark.parametrize("kwargs, epochs_run, best_epoch", [
    ({"patience": 0}, 4, 2),                         # first non-improvement stops
    ({"patience": 1}, 4, 2),                         # the course's: the same (wait counts first)
    ({"patience": 2}, 5, 2),                         # 0.71 beats 0.72 but not the best 0.7
    ({"patience": 3}, 9, 5),                         # 0.69 at epoch 5 resets the wait
    ({"patience": 2, "min_delta": 0.15}, 4, 1),      # 0.7 is not 0.15 better than 0.8
    ({"patience": 1, "start_from_epoch": 4}, 7, 5),  # epochs 0-3 not watched
    ({"patience": 3, "baseline": 0.695}, 4, 2),      # improvements above it keep waiting
    ({"patience": 20}, 10, 5),                       # runs to the end
])
@pytest.mark.parametrize("restore", [False, True])
def test_scripted_history_matches_keras(kwargs, epochs_run, best_epoch, restore) -> None:
    got, want = both(DOWN_THEN_UP, restore_best_weights=restore, **kwargs)
    assert got == want
    assert got["epochs_run"] == epochs_run
    assert got["best_epoch"] == best_epoch
    # With restore_best_weights the best epoch's weights come back, stopped or not.
    expected_weight = best_epoch if restore else epochs_run - 1
    assert got["final_weight"] == expected_weight


def test_improving_without_beating_the_baseline_never_stops() -> None:
    # The stop test only runs on epochs that do not improve (Keras returns early).
    got, want = both([1.0, 0.9, 0.8, 0.7, 0.6], patience=1, baseline=0.5)
    assert got == want
    assert got["epochs_run"] == 5 and got["wait"] == 5


def test_mode_max_on_accuracy_matches_keras() -> None:
    values = [0.5, 0.6, 0.6, 0.65, 0.64, 0.63]
    for mode in ("auto", "max"):
        got = drive(gcb.EarlyStopping(monitor="val_accuracy", mode=mode, patience=2), values,
                    monitor="val_accuracy")
        want = drive(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                   patience=2), values, monitor="val_accuracy")
        assert got == want
        assert got["best"] == pytest.approx(0.65) and got["epochs_run"] == 6


def test_nan_first_value_counts_as_best_then_nothing_improves() -> None:
    got, want = both([math.nan, 0.5, 0.4, 0.3], patience=2, restore_best_weights=True)
    assert got["epochs_run"] == want["epochs_run"] == 3
    assert math.isnan(got["best"]) and math.isnan(want["best"])
    assert got["final_weight"] == want["final_weight"] == 0


def test_comparisons_happen_in_float32_like_keras() -> None:
    # 0.5 + 1e-9 rounds to 0.5 in float32: not an improvement on 0.5 for either.
    values = [0.5, 0.5 - 1e-9, 0.5 - 1e-9]
    got, want = both(values, patience=1)
    assert got == want
    assert got["epochs_run"] == 2


# ------------------------------------------------------- property-based oracle

values_st = st.lists(st.sampled_from([0.3, 0.5, 0.52, 0.55, 0.6, 0.61, 0.9, math.nan]),
                     min_size=1, max_size=9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=values_st,
       patience=st.integers(0, 3),
       min_delta=st.sampled_from([0.0, 0.01, 0.02, 0.1, -0.05]),
       baseline=st.sampled_from([None, 0.4, 0.55, 0.95]),
       start=st.integers(0, 3),
       mode=st.sampled_from(["min", "max"]),
       restore=st.booleans())
def test_any_history_matches_keras(values, patience, min_delta, baseline, start, mode,
                                   restore) -> None:
    got, want = both(values, patience=patience, min_delta=min_delta, baseline=baseline,
                     start_from_epoch=start, mode=mode, restore_best_weights=restore)
    if got["best"] is not None and math.isnan(got["best"]):
        assert math.isnan(want["best"])
        got["best"] = want["best"] = "nan"
    assert got == want


# ----------------------------------------------------------- the pure rule


def scalar_run(values: list[float], params: es.EarlyStoppingParams) -> es.EarlyStoppingState:
    state = es.init()
    for epoch, value in enumerate(values):
        state, _ = es.update(state, value, epoch, params)
        if state.stopped:
            break
    return state


def test_vectorized_rule_in_a_compiled_scan_matches_scalar_runs() -> None:
    rng = np.random.default_rng(0)
    n_models, n_epochs = 64, 12
    losses = np.round(rng.uniform(0.3, 0.9, size=(n_epochs, n_models)), 2).astype(np.float32)
    losses[3, :5] = np.nan  # a model whose value is missing at one epoch
    active = ~np.isnan(losses)
    params = es.EarlyStoppingParams(
        minimize=rng.random(n_models) < 0.5,
        min_delta=rng.choice([0.0, 0.01, 0.05], n_models).astype(np.float32),
        patience=rng.integers(0, 4, n_models).astype(np.int32),
        baseline=rng.choice([np.nan, 0.5, 0.7], n_models).astype(np.float32),
        start_from_epoch=rng.integers(0, 3, n_models).astype(np.int32),
    )

    @jax.jit
    def run(losses, active, params):
        def step(state, inputs):
            epoch, value, act = inputs
            state, improved = es.update(state, value, epoch, params, active=act)
            return state, improved

        epochs = jnp.arange(n_epochs, dtype=jnp.int32)
        return jax.lax.scan(step, es.init((n_models,), xp=jnp), (epochs, losses, active))

    final, improved = run(jnp.asarray(losses), jnp.asarray(active),
                          jax.tree_util.tree_map(jnp.asarray, params))
    assert improved.shape == (n_epochs, n_models)
    assert 0 < int(final.stopped.sum()) < n_models  # the case mix stops some models, not all
    for m in range(n_models):
        p = es.EarlyStoppingParams(bool(params.minimize[m]), float(params.min_delta[m]),
                                   int(params.patience[m]), float(params.baseline[m]),
                                   int(params.start_from_epoch[m]))
        state = es.init()
        for epoch in range(n_epochs):
            state, _ = es.update(state, float(losses[epoch, m]), epoch, p,
                                 active=bool(active[epoch, m]))
        for field in es.EarlyStoppingState._fields:
            np.testing.assert_array_equal(np.asarray(getattr(final, field))[m],
                                          np.asarray(getattr(state, field)), err_msg=field)


def test_vectorized_rule_matches_keras_per_model() -> None:
    rng = np.random.default_rng(1)
    n_models, n_epochs = 8, 10
    losses = np.round(rng.uniform(0.3, 0.9, size=(n_epochs, n_models)), 2)
    params = es.early_stopping_params("min", min_delta=0.02, patience=2)
    state = es.init((n_models,))
    for epoch in range(n_epochs):
        state, _ = es.update(state, losses[epoch], epoch, params)
    for m in range(n_models):
        want = drive(keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0.02,
                                                   patience=2), list(losses[:, m]))
        assert int(state.stopped_epoch[m]) == want["stopped_epoch"]
        assert int(state.best_epoch[m]) == want["best_epoch"]
        assert float(state.best[m]) == pytest.approx(want["best"], abs=0)
        assert bool(state.stopped[m]) == (want["epochs_run"] < n_epochs)


def test_stopped_models_stay_frozen() -> None:
    params = es.early_stopping_params("min", patience=0)
    state = scalar_run([0.5, 0.6], params)
    assert bool(state.stopped) and int(state.stopped_epoch) == 1
    after, improved = es.update(state, 0.1, 2, params)
    assert not bool(improved)
    assert after == state


def test_is_improvement_directions() -> None:
    assert bool(es.is_improvement(0.4, 0.5, True))
    assert not bool(es.is_improvement(0.5, 0.5, True))
    assert not bool(es.is_improvement(0.45, 0.5, True, 0.1))
    assert bool(es.is_improvement(0.7, 0.5, False, 0.1))
    assert not bool(es.is_improvement(math.nan, 0.5, True))
    np.testing.assert_array_equal(
        es.is_improvement(np.array([0.4, 0.6]), 0.5, np.array([True, False])), [True, True])


def test_resolve_minimize() -> None:
    assert es.resolve_minimize("val_loss", "auto") is True
    assert es.resolve_minimize("val_acc", "auto", ("acc",)) is False
    assert es.resolve_minimize("val_acc", "min", ("acc",)) is True
    with pytest.raises(ConfigError, match="Pass mode='min' or mode='max'"):
        es.resolve_minimize("val_f1", "auto", ("accuracy",))
    with pytest.raises(ConfigError, match="`mode` must be 'auto', 'min' or 'max', got 'best'"):
        es.resolve_minimize("val_loss", "best")


@pytest.mark.parametrize("kwargs, message", [
    ({"patience": -1}, r"`patience` of `EarlyStopping` must be an integer >= 0, got -1"),
    ({"patience": 1.5}, r"`patience` of `EarlyStopping` must be an integer, got 1.5"),
    ({"min_delta": "0.1"}, r"`min_delta` of `EarlyStopping` must be a number, got '0.1'"),
    ({"baseline": math.nan}, r"`baseline` of `EarlyStopping` must be a number, got nan"),
    ({"start_from_epoch": -2}, r"`start_from_epoch` of `EarlyStopping` must be an integer >= 0"),
])
def test_invalid_settings_are_refused(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        es.early_stopping_params("min", **kwargs)
    with pytest.raises(ConfigError, match=message):
        gcb.EarlyStopping(**kwargs)


def test_params_take_keras_arguments() -> None:
    p = es.early_stopping_params("max", min_delta=-0.1, patience=3, baseline=0.8,
                                 start_from_epoch=2)
    assert p == es.EarlyStoppingParams(False, 0.1, 3, 0.8, 2)
    assert math.isnan(es.early_stopping_params().baseline)
