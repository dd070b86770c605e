"""Weight initializers by Keras name, with Keras 3's distributions and defaults.

An initializer maps ``(key, shape)`` to a float32 array. For a Dense kernel of
shape ``(fan_in, fan_out)``:

* ``uniform`` / ``random_uniform``: U(-0.05, 0.05)
* ``normal`` / ``random_normal``: N(0, 0.05), not truncated
* ``truncated_normal``: N(0, 0.05) truncated at two standard deviations
* ``zeros``, ``ones``, and ``constant(v)`` (Keras's ``Constant(value=v)``)
* variance scaling (``glorot_*``, ``he_*``, ``lecun_*``): ``s = scale / max(1, n)``
  with ``n`` = fan_in, fan_out or their mean (by mode); the uniform form draws from
  U(-sqrt(3 s), sqrt(3 s)), the normal form from a normal truncated at 2 std
  whose std is ``sqrt(s) / 0.87962566103423978`` (so the result has variance s).

Keras's random streams cannot be reproduced outside Keras; gdlab draws from JAX
keys, so equal keys give equal weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp

from gdlab.errors import ConfigError, unknown_name

Initializer = Callable[[jax.Array, tuple[int, ...]], jax.Array]

#: Std of a unit normal truncated to [-2, 2] (Keras's correction constant).
TRUNCATED_STD = 0.87962566103423978


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def zeros(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """All zeros."""
    del key
    return jnp.zeros(shape, jnp.float32)


def ones(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """All ones."""
    del key
    return jnp.ones(shape, jnp.float32)


def random_uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """U(-0.05, 0.05), Keras's ``RandomUniform()``."""
    return jax.random.uniform(key, shape, jnp.float32, -0.05, 0.05)


def random_normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """N(0, 0.05), Keras's ``RandomNormal()``."""
    return 0.05 * jax.random.normal(key, shape, jnp.float32)


def truncated_normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """N(0, 0.05) truncated at 2 std, Keras's ``TruncatedNormal()``."""
    return 0.05 * jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)


def variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Keras's ``VarianceScaling(scale, mode, distribution)`` as an initializer."""

    def init(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        s = scale / max(1.0, fan)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * s)
            return jax.random.uniform(key, shape, jnp.float32, -limit, limit)
        std = math.sqrt(s) / TRUNCATED_STD
        return std * jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)

    return init


INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros,
    "ones": ones,
    "random_uniform": random_uniform,
    "random_normal": random_normal,
    "truncated_normal": truncated_normal,
    "glorot_uniform": variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": variance_scaling(1.0, "fan_avg", "truncated_normal"),
    "lecun_uniform": variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": variance_scaling(1.0, "fan_in", "truncated_normal"),
    "he_uniform": variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": variance_scaling(2.0, "fan_in", "truncated_normal"),
}

ALIASES: dict[str, str] = {
    "zero": "zeros",
    "one": "ones",
    "uniform": "random_uniform",
    "normal": "random_normal",
}


_SQUASHED = {n.replace("_", ""): n for n in INITIALIZERS} | {
    "randomuniform": "random_uniform", "randomnormal": "random_normal"}


def constant(value: float) -> Initializer:
    """Every weight equal to ``value``, Keras's ``Constant(value)``."""

    def init(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        del key
        return jnp.full(shape, value, jnp.float32)

    return init


#: Initializers that take a value, named ``"constant(0.3)"``; Keras has no bare
#: ``"constant"`` string (its ``Constant`` needs the value).
PARAMETRIZED: dict[str, Callable[[float], Initializer]] = {"constant": constant}

_VALUE = re.compile(r"^\s*constant\s*\(\s*(?:value\s*=\s*)?([-+0-9.eE]+)\s*\)\s*$",
                    re.IGNORECASE)


def constant_name(value: float) -> str:
    """The canonical name of ``Constant(value)``: ``"constant(0.3)"``."""
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"A constant initializer needs a finite value, got {value!r}.")
    return f"constant({v!r})"


def canonical_initializer(name: str) -> str:
    """The registry name for a Keras initializer identifier ('uniform' -> 'random_uniform').

    ``"constant(0.3)"`` or ``"Constant(value=0.3)"`` names Keras's ``Constant``.
    """
    valid = [*INITIALIZERS, *ALIASES, "constant(value)"]
    if not isinstance(name, str):
        identifier = getattr(name, "gdlab_name", None)  # gdlab.keras.initializers objects
        if isinstance(identifier, str):
            return canonical_initializer(identifier)
        raise unknown_name("initializer", name, valid)
    match = _VALUE.match(name)
    if match:
        try:
            return constant_name(float(match.group(1)))
        except ValueError:
            raise ConfigError(f"Cannot read the value of initializer {name!r}.") from None
    key = name.lower()
    if key.replace("_", "") == "constant":
        raise ConfigError(
            f"Initializer {name!r} needs its value, as Keras's Constant(value) does: write "
            "'constant(0.5)' (or gdlab.keras.initializers.Constant(0.5)).")
    key = ALIASES.get(key, key)
    key = _SQUASHED.get(key.replace("_", ""), key)  # Keras class names: 'HeNormal'
    if key not in INITIALIZERS:
        raise unknown_name("initializer", name, valid)
    return key


def get(name: str) -> Initializer:
    """The initializer registered under a Keras name or alias (or ``constant(value)``)."""
    key = canonical_initializer(name)
    if key in INITIALIZERS:
        return INITIALIZERS[key]
    return constant(float(_VALUE.match(key).group(1)))


def constant_value(name: str) -> float | None:
    """The value of a canonical ``constant(value)`` name, None for other initializers."""
    match = _VALUE.match(name)
    return float(match.group(1)) if match else None
