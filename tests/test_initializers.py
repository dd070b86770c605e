"""Initializers: large draws match Keras's definitions (bounds, mean, std, truncation)."""

from __future__ import annotations

import math

import jax
import keras
import numpy as np
import pytest

from gdlab import initializers
from gdlab.errors import ConfigError

SHAPE = (400, 300)  # fan_in 400, fan_out 300: 120,000 draws
FAN_AVG = 350.0


def expected(name: str) -> tuple[str, float]:
    """(distribution, parameter): the uniform limit or the normal std Keras uses."""
    table = {
        "random_uniform": ("uniform", 0.05),
        "random_normal": ("normal", 0.05),
        "truncated_normal": ("truncated", 0.05),
        "glorot_uniform": ("uniform", math.sqrt(3 / FAN_AVG)),
        "glorot_normal": ("truncated", math.sqrt(1 / FAN_AVG) / initializers.TRUNCATED_STD),
        "lecun_uniform": ("uniform", math.sqrt(3 / 400)),
        "lecun_normal": ("truncated", math.sqrt(1 / 400) / initializers.TRUNCATED_STD),
        "he_uniform": ("uniform", math.sqrt(6 / 400)),
        "he_normal": ("truncated", math.sqrt(2 / 400) / initializers.TRUNCATED_STD),
    }
    return table[name]


RANDOM = [n for n in initializers.INITIALIZERS if n not in ("zeros", "ones")]


@pytest.mark.parametrize("name", RANDOM)
def test_distribution_matches_keras_definition(name: str) -> None:
    w = np.asarray(initializers.get(name)(jax.random.PRNGKey(0), SHAPE), np.float64)
    with jax.numpy_rank_promotion("allow"):
        keras.utils.set_random_seed(0)  # Keras's unseeded draw follows its global seed
        k = np.asarray(keras.initializers.get(name)(SHAPE), np.float64)
    dist, p = expected(name)
    n = w.size
    assert abs(w.mean()) < 5 * w.std() / math.sqrt(n)
    if dist == "uniform":
        assert w.min() >= -p and w.max() <= p
        assert w.max() > 0.999 * p and w.min() < -0.999 * p
        target_std = p / math.sqrt(3)
    elif dist == "normal":
        target_std = p
        assert np.abs(w).max() > 3 * p  # not truncated
    else:
        assert np.abs(w).max() <= 2 * p + 1e-7  # truncated at 2 std of the underlying normal
        assert np.abs(w).max() > 1.99 * p
        target_std = p * initializers.TRUNCATED_STD
    assert w.std() == pytest.approx(target_std, rel=0.01)
    # Keras's own draw has the same spread and range.
    assert w.std() == pytest.approx(k.std(), rel=0.02)
    if dist == "normal":  # unbounded: the largest of 120,000 draws is itself noisy
        assert np.quantile(np.abs(w), 0.999) == pytest.approx(np.quantile(np.abs(k), 0.999),
                                                             rel=0.04)
    else:
        assert np.abs(w).max() == pytest.approx(np.abs(k).max(), rel=0.01)


def test_constant_initializers_and_aliases() -> None:
    key = jax.random.PRNGKey(0)
    assert np.all(np.asarray(initializers.get("zeros")(key, (3, 2))) == 0)
    assert np.all(np.asarray(initializers.get("one")(key, (3, 2))) == 1)
    assert initializers.canonical_initializer("uniform") == "random_uniform"
    assert initializers.canonical_initializer("normal") == "random_normal"
    assert initializers.canonical_initializer("HeNormal") == "he_normal"


def test_same_key_same_weights() -> None:
    key = jax.random.PRNGKey(3)
    a = initializers.get("he_normal")(key, (4, 8))
    b = initializers.get("he_normal")(key, (4, 8))
    np.testing.assert_array_equal(a, b)


def test_unknown_initializer_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"Unknown initializer 'he_norml'.*Did you mean 'he_normal'.*glorot_uniform"):
        initializers.get("he_norml")
