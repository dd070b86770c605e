"""Losses and accuracy metrics with Keras 3's definitions.

Every function returns one value per example (shape ``(n,)``); a batch's loss
is their mean, as in Keras's "sum_over_batch_size" reduction.

Cross-entropy on a sigmoid or softmax output is computed from the logits (the
output layer's input to that activation), as Keras's TensorFlow backend does:
stable and unclipped. On any other output it follows Keras's probability form:
outputs are clipped to ``[1e-7, 1 - 1e-7]`` before the log. The two agree until
predictions saturate beyond 1e-7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from gdlab.errors import unknown_name

EPSILON = 1e-7


def binary_crossentropy(y: jax.Array, logits: jax.Array, output: jax.Array,
                        from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`-y \log p - (1 - y) \log (1 - p)`."""
    if from_logits:
        # tf.nn.sigmoid_cross_entropy_with_logits
        z = logits
        per = jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))
    else:
        p = jnp.clip(output, EPSILON, 1.0 - EPSILON)
        per = -(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p))
    return jnp.mean(per, axis=-1)


def categorical_crossentropy(y: jax.Array, logits: jax.Array, output: jax.Array,
                             from_logits: bool) -> jax.Array:
    r""":math:`-\sum_k y_k \log p_k` with one-hot (or soft) targets."""
    if from_logits:
        log_p = jax.nn.log_softmax(logits, axis=-1)
    else:
        p = output / jnp.sum(output, axis=-1, keepdims=True)
        log_p = jnp.log(jnp.clip(p, EPSILON, 1.0 - EPSILON))
    return -jnp.sum(y * log_p, axis=-1)


def sparse_categorical_crossentropy(y: jax.Array, logits: jax.Array, output: jax.Array,
                                    from_logits: bool) -> jax.Array:
    r""":math:`-\log p_y` with integer class targets (given as a float column)."""
    idx = y[..., 0].astype(jnp.int32)
    if from_logits:
        log_p = jax.nn.log_softmax(logits, axis=-1)
    else:
        p = output / jnp.sum(output, axis=-1, keepdims=True)
        log_p = jnp.log(jnp.clip(p, EPSILON, 1.0 - EPSILON))
    return -jnp.take_along_axis(log_p, idx[..., None], axis=-1)[..., 0]


def mean_squared_error(y: jax.Array, logits: jax.Array, output: jax.Array,
                       from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`(y - \hat y)^2`."""
    del logits, from_logits
    return jnp.mean(jnp.square(y - output), axis=-1)


LossFn = Callable[[jax.Array, jax.Array, jax.Array, bool], jax.Array]


@dataclass(frozen=True)
class LossKind:
    """A loss: its function and the output activation whose logits it can use."""

    name: str
    fn: LossFn
    logit_activation: str | None


LOSSES: dict[str, LossKind] = {
    "binary_crossentropy": LossKind("binary_crossentropy", binary_crossentropy, "sigmoid"),
    "categorical_crossentropy": LossKind(
        "categorical_crossentropy", categorical_crossentropy, "softmax"
    ),
    "sparse_categorical_crossentropy": LossKind(
        "sparse_categorical_crossentropy", sparse_categorical_crossentropy, "softmax"
    ),
    "mean_squared_error": LossKind("mean_squared_error", mean_squared_error, None),
}

LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "binarycrossentropy": "binary_crossentropy",
    "categoricalcrossentropy": "categorical_crossentropy",
    "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy",
    "meansquarederror": "mean_squared_error",
}


def canonical_loss(name: str) -> str:
    """The registry name for a Keras loss identifier ('mse' -> 'mean_squared_error')."""
    key = str(name)
    if key in LOSSES:
        return key
    key = LOSS_ALIASES.get(key.lower().replace("_", ""), key.lower())
    if key not in LOSSES:
        raise unknown_name("loss", name, [*LOSSES, "mse"])
    return key


# ----------------------------------------------------------------------- metrics


def binary_accuracy(y: jax.Array, output: jax.Array) -> jax.Array:
    """1 where ``(output > 0.5) == y``, averaged over outputs."""
    return jnp.mean((y == (output > 0.5).astype(y.dtype)).astype(jnp.float32), axis=-1)


def categorical_accuracy(y: jax.Array, output: jax.Array) -> jax.Array:
    """1 where ``argmax(output) == argmax(y)``."""
    return (jnp.argmax(output, axis=-1) == jnp.argmax(y, axis=-1)).astype(jnp.float32)


def sparse_categorical_accuracy(y: jax.Array, output: jax.Array) -> jax.Array:
    """1 where ``argmax(output) == y``."""
    return (jnp.argmax(output, axis=-1) == y[..., 0].astype(jnp.int32)).astype(jnp.float32)


METRICS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
}


def resolve_accuracy(y_rank: int, y_last_dim: int, output_units: int) -> str:
    """Which accuracy Keras's ``'accuracy'`` becomes for these target and output shapes.

    One output unit: binary; a target of lower rank than the output, or one column
    against several outputs: sparse categorical; otherwise categorical.
    ``y_rank`` counts the batch axis; the output has rank 2.
    """
    if output_units == 1:
        return "binary_accuracy"
    if y_rank < 2 or (y_last_dim == 1 and output_units > 1):
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def canonical_metric(name: str) -> str:
    """Validate a metric identifier; 'accuracy'/'acc' are resolved later from shapes."""
    key = str(name).lower()
    if key in {"accuracy", "acc"} or key in METRICS:
        return key
    raise unknown_name("metric", name, ["accuracy", *METRICS])
