"""Activation functions by Keras name, with Keras 3's definitions and defaults.

Each entry maps one pre-activation array to its activation, elementwise except
``softmax`` (over the last axis). Defaults follow ``keras.activations``:
``leaky_relu`` has negative slope 0.2, ``gelu`` is the exact (erf) form, ``elu``
has alpha 1.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gdlab.errors import unknown_name

Activation = Callable[[jax.Array], jax.Array]


def linear(x: jax.Array) -> jax.Array:
    """Identity: ``f(x) = x``."""
    return x


def leaky_relu(x: jax.Array) -> jax.Array:
    """``f(x) = x`` for x >= 0, ``0.2 x`` otherwise (Keras's default slope)."""
    return jax.nn.leaky_relu(x, negative_slope=0.2)


def gelu(x: jax.Array) -> jax.Array:
    """``f(x) = x * Phi(x)`` with the exact normal CDF (Keras: approximate=False)."""
    return jax.nn.gelu(x, approximate=False)


def softmax(x: jax.Array) -> jax.Array:
    """``exp(x) / sum(exp(x))`` over the last axis."""
    return jax.nn.softmax(x, axis=-1)


ACTIVATIONS: dict[str, Activation] = {
    "linear": linear,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "softmax": softmax,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "gelu": gelu,
    "softplus": jax.nn.softplus,
    "leaky_relu": leaky_relu,
}

#: Activations whose input Keras's TensorFlow backend keeps as logits, so that a
#: cross-entropy on their output is computed from the logits (stable, unclipped).
LOGIT_ACTIVATIONS = frozenset({"sigmoid", "softmax"})


def canonical_activation(name: str | None) -> str:
    """The registry name for a Keras activation identifier (None means linear)."""
    if name is None:
        return "linear"
    if not isinstance(name, str):
        fn_name = getattr(name, "__name__", None)
        if fn_name in ACTIVATIONS:
            return fn_name
        raise unknown_name("activation", name, ACTIVATIONS)
    key = name.lower()
    if key not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return key


def get(name: str | None) -> Activation:
    """The activation function registered under a Keras name."""
    return ACTIVATIONS[canonical_activation(name)]
