"""Losses and metrics with Keras 3's definitions.

Every loss returns one value per example (shape ``(n,)``); a batch's loss is
their (weighted) sum divided by the batch size, Keras's "sum_over_batch_size"
reduction (the engine applies weights and reductions).

Cross-entropy on a sigmoid or softmax output is computed from the logits (the
output layer's input to that activation), as Keras's TensorFlow backend does:
stable and unclipped. With ``from_logits`` declared by the user (Keras's
``BinaryCrossentropy(from_logits=True)``) the output itself is the logits. On
any other output it follows Keras's probability form: outputs are clipped to
``[1e-7, 1 - 1e-7]`` before the log. The logits and probability forms agree
until predictions saturate beyond 1e-7.

Gradients at ties matter: a logit of exactly 0 is common (a zeros-initialized
output layer, a row whose last hidden ReLU units are all dead), so every
formula here is written so that ``jax.grad`` gives the true derivative there
(tests compare each loss's gradient with a reference form at ties and
saturation, and with Keras).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from gdlab.errors import unknown_name

EPSILON = 1e-7


def _sigmoid_cross_entropy_with_logits(y: jax.Array, z: jax.Array) -> jax.Array:
    r""":math:`\max(z, 0) - z y + \log(1 + e^{-|z|})`, TensorFlow's stable form.

    ``max`` and ``|z|`` are written as selections on the same side (``z >= 0``),
    as TensorFlow does, so the derivative at ``z = 0`` is ``sigmoid(0) - y``;
    ``jnp.maximum`` and ``jnp.abs`` would give JAX's ties (1/2 and 1) and a
    derivative of ``-y`` there. The values equal the plain formula bit for bit.
    """
    nonneg = z >= 0
    relu = jnp.where(nonneg, z, 0.0)
    neg_abs = jnp.where(nonneg, -z, z)
    return relu - z * y + jnp.log1p(jnp.exp(neg_abs))


def binary_crossentropy(y: jax.Array, logits: jax.Array, output: jax.Array,
                        from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`-y \log p - (1 - y) \log (1 - p)`."""
    if from_logits:
        per = _sigmoid_cross_entropy_with_logits(y, logits)
    else:
        p = jnp.clip(output, EPSILON, 1.0 - EPSILON)
        per = -(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p))
    return jnp.mean(per, axis=-1)


def _log_probabilities(logits: jax.Array, output: jax.Array, from_logits: bool) -> jax.Array:
    if from_logits:
        return jax.nn.log_softmax(logits, axis=-1)
    p = output / jnp.sum(output, axis=-1, keepdims=True)
    return jnp.log(jnp.clip(p, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(y: jax.Array, logits: jax.Array, output: jax.Array,
                             from_logits: bool) -> jax.Array:
    r""":math:`-\sum_k y_k \log p_k` with one-hot (or soft) targets."""
    return -jnp.sum(y * _log_probabilities(logits, output, from_logits), axis=-1)


def sparse_categorical_crossentropy(y: jax.Array, logits: jax.Array, output: jax.Array,
                                    from_logits: bool) -> jax.Array:
    r""":math:`-\log p_y` with integer class targets (given as a float column)."""
    idx = y[..., 0].astype(jnp.int32)
    log_p = _log_probabilities(logits, output, from_logits)
    return -jnp.take_along_axis(log_p, idx[..., None], axis=-1)[..., 0]


def mean_squared_error(y: jax.Array, logits: jax.Array, output: jax.Array,
                       from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`(y - \hat y)^2`."""
    del logits, from_logits
    return jnp.mean(jnp.square(y - output), axis=-1)


def mean_absolute_error(y: jax.Array, logits: jax.Array, output: jax.Array,
                        from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`|y - \hat y|` (derivative 0 where they are equal)."""
    del logits, from_logits
    return jnp.mean(jnp.abs(y - output), axis=-1)


def mean_absolute_percentage_error(y: jax.Array, logits: jax.Array, output: jax.Array,
                                   from_logits: bool) -> jax.Array:
    r""":math:`100 \cdot` mean over outputs of :math:`|y - \hat y| / \max(|y|, 10^{-7})`."""
    del logits, from_logits
    diff = jnp.abs((y - output) / jnp.maximum(jnp.abs(y), EPSILON))
    return 100.0 * jnp.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y: jax.Array, logits: jax.Array, output: jax.Array,
                                   from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`(\log(\max(\hat y, \epsilon) + 1) - \log(\max(y, \epsilon) + 1))^2`."""
    del logits, from_logits
    first = jnp.log(jnp.maximum(output, EPSILON) + 1.0)
    second = jnp.log(jnp.maximum(y, EPSILON) + 1.0)
    return jnp.mean(jnp.square(first - second), axis=-1)


def huber(y: jax.Array, logits: jax.Array, output: jax.Array, from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`e^2/2` where :math:`|e| \le 1`, else :math:`|e| - 1/2` (Keras's delta 1)."""
    del logits, from_logits
    error = output - y
    abs_error = jnp.abs(error)
    return jnp.mean(jnp.where(abs_error <= 1.0, 0.5 * jnp.square(error), abs_error - 0.5),
                    axis=-1)


def log_cosh(y: jax.Array, logits: jax.Array, output: jax.Array,
             from_logits: bool) -> jax.Array:
    r"""Mean over outputs of :math:`\log\cosh(\hat y - y)`, as Keras: :math:`x + \mathrm{softplus}(-2x) - \log 2`."""
    del logits, from_logits
    x = output - y
    return jnp.mean(x + jax.nn.softplus(x * -2.0) - jnp.log(2.0).astype(x.dtype), axis=-1)


LossFn = Callable[[jax.Array, jax.Array, jax.Array, bool], jax.Array]


@dataclass(frozen=True)
class LossKind:
    """A loss: its function, the output activation whose logits it can use, its targets.

    ``targets`` is ``"classes"`` (0/1 columns, one-hot or soft rows, or class
    indices) or ``"values"`` (regression).
    """

    name: str
    fn: LossFn
    logit_activation: str | None
    targets: str = "values"


LOSSES: dict[str, LossKind] = {
    "binary_crossentropy": LossKind("binary_crossentropy", binary_crossentropy, "sigmoid",
                                    "classes"),
    "categorical_crossentropy": LossKind(
        "categorical_crossentropy", categorical_crossentropy, "softmax", "classes"
    ),
    "sparse_categorical_crossentropy": LossKind(
        "sparse_categorical_crossentropy", sparse_categorical_crossentropy, "softmax", "classes"
    ),
    "mean_squared_error": LossKind("mean_squared_error", mean_squared_error, None),
    "mean_absolute_error": LossKind("mean_absolute_error", mean_absolute_error, None),
    "mean_absolute_percentage_error": LossKind(
        "mean_absolute_percentage_error", mean_absolute_percentage_error, None),
    "mean_squared_logarithmic_error": LossKind(
        "mean_squared_logarithmic_error", mean_squared_logarithmic_error, None),
    "huber": LossKind("huber", huber, None),
    "log_cosh": LossKind("log_cosh", log_cosh, None),
}

#: Keras's short names and class names of the losses, squashed (lower case, no underscores).
LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "bce": "binary_crossentropy",
    "logcosh": "log_cosh",
    **{name.replace("_", ""): name for name in LOSSES},
}


def _squash(name: str) -> str:
    return name.lower().replace("_", "")


def canonical_loss(name: str) -> str:
    """The registry name for a Keras loss identifier ('mse' -> 'mean_squared_error')."""
    key = str(name)
    if key in LOSSES:
        return key
    key = LOSS_ALIASES.get(_squash(key), key.lower())
    if key not in LOSSES:
        raise unknown_name("loss", name, [*LOSSES, "mse", "mae", "mape", "msle"])
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


def _on_output(loss: LossFn) -> Callable[[jax.Array, jax.Array], jax.Array]:
    def metric(y: jax.Array, output: jax.Array) -> jax.Array:
        return loss(y, output, output, False)

    metric.__doc__ = loss.__doc__
    return metric


@dataclass(frozen=True)
class MetricKind:
    """A metric: a value per example, averaged over the epoch or set, then ``finish``ed.

    Keras's metrics are (weighted) means of per-example values; the root mean
    squared error takes the square root of that mean (``finish="sqrt"``).
    """

    name: str
    fn: Callable[[jax.Array, jax.Array], jax.Array]
    finish: str | None = None
    targets: str = "values"

    def finalize(self, mean: jax.Array) -> jax.Array:
        """The metric from the mean of its per-example values."""
        return jnp.sqrt(mean) if self.finish == "sqrt" else mean


METRIC_KINDS: dict[str, MetricKind] = {
    "binary_accuracy": MetricKind("binary_accuracy", binary_accuracy, targets="classes"),
    "categorical_accuracy": MetricKind("categorical_accuracy", categorical_accuracy,
                                       targets="classes"),
    "sparse_categorical_accuracy": MetricKind("sparse_categorical_accuracy",
                                              sparse_categorical_accuracy, targets="classes"),
    "mean_squared_error": MetricKind("mean_squared_error", _on_output(mean_squared_error)),
    "root_mean_squared_error": MetricKind("root_mean_squared_error",
                                          _on_output(mean_squared_error), finish="sqrt"),
    "mean_absolute_error": MetricKind("mean_absolute_error", _on_output(mean_absolute_error)),
    "mean_absolute_percentage_error": MetricKind(
        "mean_absolute_percentage_error", _on_output(mean_absolute_percentage_error)),
    "mean_squared_logarithmic_error": MetricKind(
        "mean_squared_logarithmic_error", _on_output(mean_squared_logarithmic_error)),
}

#: The per-example functions of the metrics, by registry name.
METRICS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    name: kind.fn for name, kind in METRIC_KINDS.items()
}

#: Keras's short names and class names of the metrics, squashed; ``rmse`` is gdlab's.
METRIC_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "rmse": "root_mean_squared_error",
    **{name.replace("_", ""): name for name in METRIC_KINDS},
}

#: Identifiers that Keras resolves to an accuracy from the shapes of targets and outputs.
ACCURACY_NAMES = frozenset({"accuracy", "acc"})


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
    """The registry name of a metric identifier; 'accuracy'/'acc' are resolved later from shapes."""
    key = str(name)
    if key.lower() in ACCURACY_NAMES:
        return key.lower()
    if key in METRIC_KINDS:
        return key
    found = METRIC_ALIASES.get(_squash(key))
    if found is None:
        raise unknown_name("metric", name, ["accuracy", *METRIC_KINDS, "mae", "mse", "rmse",
                                            "mape", "msle"])
    return found
