"""Optimizer registry, safe parsing of course-style strings, validation messages."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdlab import optimizers
from gdlab.errors import ConfigError, NotSupportedError
from gdlab.optimizers import OPTIMIZERS, parse_optimizer


def test_string_aliases_use_keras_default_learning_rates() -> None:
    assert parse_optimizer("sgd").learning_rate == 0.01
    for name in ["adam", "rmsprop", "adagrad", "adamax", "nadam", "adamw", "adadelta"]:
        assert parse_optimizer(name).learning_rate == 0.001, name
    assert parse_optimizer("AdamW").params["weight_decay"] == 0.004
    assert parse_optimizer("adagrad").params["initial_accumulator_value"] == 0.1
    assert parse_optimizer("rmsprop").params["rho"] == 0.9


def test_course_strings_parse_without_eval() -> None:
    spec = parse_optimizer("SGD(learning_rate=0.01, momentum=0.3, nesterov=True)")
    assert spec.kind == "sgd"
    assert spec.params["momentum"] == 0.3 and spec.params["nesterov"] is True
    assert parse_optimizer("Adam(0.05)").learning_rate == 0.05  # positional, Keras's order
    assert parse_optimizer("keras.optimizers.RMSprop(learning_rate=0.01)").kind == "rmsprop"
    assert spec.label() == "SGD(learning_rate=0.01, momentum=0.3, nesterov=True)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "expected a name or a call"),
        ("SGD(learning_rate=__import__('os'))", "must be literal"),
        ("SGD(**{'learning_rate': 1})", r"'\*\*' is not allowed"),
        ("SGD(lr=0.1)", "`learning_rate`, not `lr`"),
        ("SGD(learning_rate=0.1", "Cannot read optimizer"),
        ("Adamm(0.1)", "Did you mean 'Adam'"),
        ("SGD(learning_rate=0.1, momentun=0.3)", "Did you mean 'momentum'"),
        ("SGD(learning_rate=-1)", r"`learning_rate` of `SGD` must be a float > 0, got -1.0"),
        ("SGD(learning_rate=0)", "must be a float > 0"),
        ("SGD(momentum=1.5)", r"`momentum` of `SGD` must be a float in \[0, 1\]"),
        ("SGD(nesterov=1)", "must be True or False"),
        ("Adam(learning_rate='fast')", "must be a number"),
    ],
)
def test_bad_optimizer_text_is_refused_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_optimizer(text)


def test_unsupported_keras_arguments_say_so() -> None:
    with pytest.raises(NotSupportedError, match="use_ema"):
        optimizers.optimizer_spec("adam", use_ema=True)


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_every_optimizer_state_is_float32_and_shaped_like_params(kind: str) -> None:
    params = ({"kernel": jnp.ones((4, 3)), "bias": jnp.zeros(3)},)
    tx = parse_optimizer(kind).transformation()
    state = tx.init(params)
    updates, state2 = jax.jit(tx.update)(jax.tree.map(jnp.ones_like, params), state, params)
    assert jax.tree.structure(state) == jax.tree.structure(state2)
    for leaf in jax.tree.leaves(updates):
        assert leaf.dtype == jnp.float32
        assert np.all(np.asarray(leaf) < 0)  # a positive gradient moves weights down


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_hyperparameters_can_be_traced_without_recompiling(kind: str) -> None:
    """Per-model numbers are arrays: a new learning rate reuses the compiled update."""
    params = ({"kernel": jnp.ones((2, 2))},)
    spec = parse_optimizer(kind)
    names = [n for n, v in spec.hparams if isinstance(v, float)]
    compiles = []

    @jax.jit
    def step(hp, grads, params):
        compiles.append(1)
        tx = spec.transformation(**hp)
        return tx.update(grads, tx.init(params), params)[0]

    hp = {n: jnp.float32(spec.params[n]) for n in names}
    a = step(hp, params, params)
    hp2 = dict(hp, learning_rate=jnp.float32(spec.learning_rate * 2))
    b = step(hp2, params, params)
    assert len(compiles) == 1
    np.testing.assert_allclose(np.asarray(b[0]["kernel"]), 2 * np.asarray(a[0]["kernel"]),
                               rtol=1e-6)


def test_sgd_without_momentum_is_plain_gradient_descent_bit_for_bit() -> None:
    params = {"w": jnp.array([0.3, -1.7, 2.2], jnp.float32)}
    grads = {"w": jnp.array([0.11, 0.5, -3.0], jnp.float32)}
    tx = parse_optimizer("SGD(learning_rate=0.07)").transformation()
    updates, _ = tx.update(grads, tx.init(params), params)
    new = params["w"] + updates["w"]
    np.testing.assert_array_equal(np.asarray(new), np.asarray(params["w"] - grads["w"] * 0.07))
