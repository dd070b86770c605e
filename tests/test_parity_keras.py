"""gdlab.keras against Keras 3 itself, across the whole space gdlab claims.

Cases come from gdlab's registries (``_parity.covering_cases``: every
activation, initializer, loss on each of its paths, optimizer with each
switch, metric) and from hypothesis (derandomized in CI; ``-m slow`` draws
more), plus the course's settings where mistakes hide: zeros-initialized
logistic regression on the banknotes with every optimizer, and ReLU nets whose
hidden units are dead on some rows at initialization. Every case compares
History and the weights after every epoch to 1e-5.
"""

from __future__ import annotations

import dataclasses

import _parity as P
import keras
import numpy as np
import pytest
from hypothesis import assume, given

import gdlab.keras as gk
from gdlab import optimizers

COVERING = P.covering_cases()


def test_the_cases_cover_every_registered_name() -> None:
    """A name added to a registry without a parity case fails here."""
    covered, registered = P.covered_names(COVERING), P.registered_names()
    for kind, names in registered.items():
        assert names <= covered[kind], f"{kind}s without a parity case: {names - covered[kind]}"
    # Every path of every loss, every validation and weighting mode.
    assert {(h.loss, h.from_logits, h.activation) for h in P.HEADS} <= {
        (c.head.loss, c.head.from_logits, c.head.activation) for c in COVERING}
    assert {c.validation for c in COVERING} == {"none", "split", "data", "weighted_data"}
    assert {c.weights for c in COVERING} == {"none", "sample", "class"}
    assert {len(c.hidden) for c in COVERING} == {0, 1, 2, 3, 4}


def check(case: P.Case) -> None:
    data = P.make_data(case)
    weights = P.initial_weights(case)
    assert not P.saturates(case, weights, data), f"case saturates at start: {case.label()}"
    P.compare(case, P.run(gk, case, weights, data), P.run(keras, case, weights, data))


@pytest.mark.parametrize("case", COVERING, ids=[c.label() for c in COVERING])
def test_covering_case_matches_keras(case: P.Case) -> None:
    check(case)


@given(case=P.cases_strategy())
def test_random_cases_match_keras(case: P.Case) -> None:
    """Random cases: 5 fixed ones in CI, 300 fresh ones with --hypothesis-profile=full."""
    data = P.make_data(case)
    weights = P.initial_weights(case)
    assume(not P.saturates(case, weights, data))
    P.compare(case, P.run(gk, case, weights, data), P.run(keras, case, weights, data))


# --------------------------------------------------------- the course's settings


def banknotes(path) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    df = pd.read_csv(path)
    x = df.iloc[:, :4].to_numpy(np.float64)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    return x, df.iloc[:, 4].to_numpy(np.float32)


ZEROS_CASES = [P.Case(seed=0, n_rows=0, n_features=4, hidden=(), kernel_initializers=("zeros",),
                      bias_initializers=("zeros",),
                      head=P.HEADS[0], optimizer=f"{k.keras_name}(learning_rate={lr})",
                      batch_size=16, epochs=4, metrics=("accuracy",))
               for k in optimizers.OPTIMIZERS.values()
               for lr in ({"sgd": 0.05, "adadelta": 1.0, "adagrad": 0.1}.get(k.name, 0.01),)]


@pytest.mark.parametrize("case", ZEROS_CASES, ids=[c.optimizer for c in ZEROS_CASES])
def test_zeros_initialized_logistic_regression_on_the_banknotes(case, banknotes_path) -> None:
    """The course's zeros-initializer sweep: every logit is exactly 0 at the first update."""
    x, y = banknotes(banknotes_path)
    data = {"x": x, "y": y[:, None], "w": None}
    weights = [np.zeros((4, 1), np.float32), np.zeros(1, np.float32)]
    got = P.run(gk, case, weights, data)
    want = P.run(keras, case, weights, data)
    P.compare(case, got, want)
    assert got[0]["loss"][0] < 0.69  # it learns from the first epoch on


def dead_relu_case(optimizer: str, hidden: tuple[int, ...]) -> tuple[P.Case, list, dict]:
    """A ReLU net with every hidden unit dead on some rows at initialization, output bias 0."""
    case = P.Case(seed=3, n_rows=48, n_features=4, hidden=tuple((u, "relu") for u in hidden),
                  kernel_initializers=("he_normal",) * (len(hidden) + 1),
                  # Biases are set below (negative first-layer biases, output bias 0).
                  bias_initializers=("random_normal",) * (len(hidden) + 1), head=P.HEADS[0],
                  optimizer=optimizer, batch_size=16, epochs=4, metrics=("accuracy",))
    data = P.make_data(case)
    weights = P.initial_weights(case)
    rng = np.random.default_rng(0)
    weights[0] = np.abs(weights[0]) * 0.5
    weights[1] = -np.abs(rng.normal(0.5, 0.1, weights[1].shape)).astype(np.float32)
    weights[-1] = np.zeros_like(weights[-1])
    data["x"][:12] = -np.abs(data["x"][:12]) - 0.5  # dead rows: every first-layer unit < 0
    return case, weights, data


@pytest.mark.parametrize("optimizer", ["SGD(learning_rate=0.05, momentum=0.9, nesterov=True)",
                                       "Adam(learning_rate=0.01)"])
@pytest.mark.parametrize("hidden", [(2,), (3, 2)], ids=["4-2-1", "4-3-2-1"])
def test_relu_nets_with_dead_units_at_initialization(optimizer, hidden) -> None:
    case, weights, data = dead_relu_case(optimizer, hidden)
    first = np.maximum(data["x"] @ weights[0] + weights[1], 0)
    assert (first[:12] == 0).all(), "the test needs rows with every hidden unit dead"
    assert not P.saturates(case, weights, data)
    P.compare(case, P.run(gk, case, weights, data), P.run(keras, case, weights, data))


def test_the_comparison_sees_the_old_zero_logit_gradient(monkeypatch, banknotes_path) -> None:
    """With the gradient of max/abs at 0 (the bug this suite was built for), cases fail."""
    import jax.numpy as jnp

    from gdlab import engine, losses

    monkeypatch.setattr(losses, "_sigmoid_cross_entropy_with_logits",
                        lambda y, z: jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
    engine.train_program.cache_clear()
    try:
        case = ZEROS_CASES[0]
        x, y = banknotes(banknotes_path)
        data = {"x": x, "y": y[:, None], "w": None}
        weights = [np.zeros((4, 1), np.float32), np.zeros(1, np.float32)]
        with pytest.raises(AssertionError):
            P.compare(case, P.run(gk, case, weights, data), P.run(keras, case, weights, data))
        case, weights, data = dead_relu_case("SGD(learning_rate=0.1)", (2,))
        with pytest.raises(AssertionError):
            P.compare(case, P.run(gk, case, weights, data), P.run(keras, case, weights, data))
    finally:
        engine.train_program.cache_clear()


def test_a_weighting_mistake_is_caught(monkeypatch) -> None:
    """Dividing a weighted batch by its weights' sum instead of its rows breaks parity."""
    from gdlab.keras import models

    case = next(c for c in COVERING if c.weights == "sample" and c.head.loss.startswith("binary"))
    data = P.make_data(case)
    weights = P.initial_weights(case)
    want = P.run(keras, case, weights, data)
    P.compare(case, P.run(gk, case, weights, data), want)
    group = models.Model._group
    monkeypatch.setattr(models.Model, "_group", lambda self, m: dataclasses.replace(
        group(self, m), reduction="mean_with_sample_weight"))
    with pytest.raises(AssertionError):
        P.compare(case, P.run(gk, case, weights, data), want)


def test_zero_and_unit_weights_match_keras() -> None:
    case = dataclasses.replace(next(c for c in COVERING if c.weights == "sample"), epochs=2)
    data = P.make_data(case)
    weights = P.initial_weights(case)
    for w in (np.zeros_like(data["w"]), np.ones_like(data["w"])):
        d = dict(data, w=w)
        P.compare(case, P.run(gk, case, weights, d), P.run(keras, case, weights, d))
