"""Every loss and metric, values and gradients, at ties and saturation.

Each loss of the registry is checked on both of its paths (from logits, from
probabilities or values) at the points where formulas break: a logit of
exactly 0 (a zeros-initialized output layer, a row whose last ReLU units are
dead), saturated logits, probabilities 0 and 1, one-hot and soft targets, and
the kinks of the regression losses. Gradients are compared with ``jax.grad`` of
a reference form written independently, and values and gradients with Keras's
own functions (JAX backend, so ``jax.grad`` runs through Keras).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from gdlab import engine, losses, network

RTOL, ATOL = 1e-5, 1e-6

# ---------------------------------------------------------------- test points

LOGITS = np.array([0.0, -0.0, 1e-7, -1e-7, 0.5, -2.0, 15.0, -15.0, 40.0, -40.0, 100.0, -100.0],
                  np.float32)
PROBS = np.array([0.0, 1e-9, 1e-7, 0.3, 0.5, 1 - 1e-7, 1.0], np.float32)
TARGETS_01 = np.array([0.0, 1.0, 0.25, 0.5], np.float32)  # hard and soft targets


def binary_points(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Every (target, logit-or-probability) pair, as (n, 1) columns."""
    grid = LOGITS if kind == "logits" else PROBS
    y, z = np.meshgrid(TARGETS_01, grid, indexing="ij")
    return y.reshape(-1, 1), z.reshape(-1, 1)


def categorical_points(kind: str, soft: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 3 classes: ties (all logits equal, two equal maxima), saturation, zeros."""
    if kind == "logits":
        z = np.array([[0, 0, 0], [0, 0, 5], [3, 3, -1], [100, 0, -100], [-40, -40, 40],
                      [1e-7, 0, -1e-7]], np.float32)
    else:
        z = np.array([[1 / 3, 1 / 3, 1 / 3], [1, 0, 0], [0, 0, 1], [0.5, 0.5, 0],
                      [1e-8, 1 - 1e-8, 0], [0.2, 0.3, 0.5]], np.float32)
    rows = np.repeat(z, 3, axis=0)
    labels = np.tile(np.arange(3), len(z))
    y = np.eye(3, dtype=np.float32)[labels]
    if soft:
        y = 0.8 * y + 0.2 / 3
    return y, rows, labels


REGRESSION_ERRORS = np.array([0.0, 1.0, -1.0, 1e-3, -1e-3, 0.5, 50.0, -50.0], np.float32)
REGRESSION_TARGETS = np.array([0.0, 1e-8, 1.0, -2.0, 3.0], np.float32)


def regression_points() -> tuple[np.ndarray, np.ndarray]:
    y, e = np.meshgrid(REGRESSION_TARGETS, REGRESSION_ERRORS, indexing="ij")
    y = y.reshape(-1, 1)
    return y, y + e.reshape(-1, 1)


# ------------------------------------------------------------- reference forms


def _clip(p):
    return jnp.clip(p, 1e-7, 1 - 1e-7)


def ref_bce_logits(y, z):
    # log sigmoid, the textbook form; its derivative is sigmoid(z) - y everywhere.
    return jnp.mean(-(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z)), axis=-1)


def ref_bce_probs(y, p):
    return jnp.mean(-(y * jnp.log(_clip(p)) + (1 - y) * jnp.log(1 - _clip(p))), axis=-1)


def ref_cce_logits(y, z):
    return -jnp.sum(y * (z - jax.scipy.special.logsumexp(z, axis=-1, keepdims=True)), axis=-1)


def ref_cce_probs(y, p):
    return -jnp.sum(y * jnp.log(_clip(p / jnp.sum(p, axis=-1, keepdims=True))), axis=-1)


#: loss -> {path: reference}; smooth reference forms, written apart from gdlab's.
REFERENCES = {
    "binary_crossentropy": {"logits": ref_bce_logits, "probabilities": ref_bce_probs},
    "categorical_crossentropy": {"logits": ref_cce_logits, "probabilities": ref_cce_probs},
    "sparse_categorical_crossentropy": {"logits": ref_cce_logits,
                                        "probabilities": ref_cce_probs},
    "mean_squared_error": {"values": lambda y, p: jnp.mean((p - y) ** 2, axis=-1)},
    "mean_absolute_error": {"values": lambda y, p: jnp.mean(jnp.abs(p - y), axis=-1)},
    "mean_absolute_percentage_error": {"values": lambda y, p: jnp.mean(
        100 * jnp.abs(p - y) / jnp.maximum(jnp.abs(y), 1e-7), axis=-1)},
    "mean_squared_logarithmic_error": {"values": lambda y, p: jnp.mean(
        (jnp.log1p(jnp.maximum(p, 1e-7)) - jnp.log1p(jnp.maximum(y, 1e-7))) ** 2, axis=-1)},
    "huber": {"values": lambda y, p: jnp.mean(jnp.where(
        jnp.abs(p - y) <= 1, 0.5 * (p - y) ** 2, jnp.abs(p - y) - 0.5), axis=-1)},
    "log_cosh": {"values": lambda y, p: jnp.mean(jnp.log(jnp.cosh(p - y)), axis=-1)},
}

#: Keras's own function for each loss.
KERAS_LOSSES = {
    "binary_crossentropy": keras.losses.binary_crossentropy,
    "categorical_crossentropy": keras.losses.categorical_crossentropy,
    "sparse_categorical_crossentropy": keras.losses.sparse_categorical_crossentropy,
    "mean_squared_error": keras.losses.mean_squared_error,
    "mean_absolute_error": keras.losses.mean_absolute_error,
    "mean_absolute_percentage_error": keras.losses.mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": keras.losses.mean_squared_logarithmic_error,
    "huber": keras.losses.huber,
    "log_cosh": keras.losses.log_cosh,
}


def test_every_loss_has_a_reference_and_a_keras_oracle() -> None:
    assert set(REFERENCES) == set(losses.LOSSES) == set(KERAS_LOSSES)
    for name, kind in losses.LOSSES.items():
        expected = {"logits", "probabilities"} if kind.logit_activation else {"values"}
        assert set(REFERENCES[name]) == expected, name


def cases(name: str):
    """(path, y, input, labels) for one loss: every point of its kind."""
    kind = losses.LOSSES[name]
    if kind.targets == "values":
        y, p = regression_points()
        yield "values", y, p
        return
    for path in ("logits", "probabilities"):
        if name == "binary_crossentropy":
            y, z = binary_points(path)
            yield path, y, z
        else:
            for soft in (False, True):
                y, z, labels = categorical_points(path, soft)
                if name == "sparse_categorical_crossentropy":
                    if soft:
                        continue
                    yield path, labels.astype(np.float32)[:, None], z
                else:
                    yield path, y, z


def gdlab_loss(name: str, path: str):
    fn = losses.LOSSES[name].fn
    if path == "logits":
        def f(y, z):
            act = jax.nn.sigmoid if name == "binary_crossentropy" else jax.nn.softmax
            return fn(y, z, act(z), True)
    else:
        def f(y, p):
            return fn(y, p, p, False)
    return f


def grad_of(f, y, z):
    return np.asarray(jax.grad(lambda t: jnp.sum(f(jnp.asarray(y), t)))(jnp.asarray(z)))


def reference_input(name: str, y: np.ndarray) -> np.ndarray:
    if name == "sparse_categorical_crossentropy":
        return np.eye(3, dtype=np.float32)[y[:, 0].astype(int)]
    return y


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_gradients_match_the_reference_form_at_ties_and_saturation(name: str) -> None:
    for path, y, z in cases(name):
        ours = gdlab_loss(name, path)
        ref = REFERENCES[name][path]
        y_ref = reference_input(name, y)
        np.testing.assert_allclose(np.asarray(ours(jnp.asarray(y), jnp.asarray(z))),
                                   np.asarray(ref(jnp.asarray(y_ref), jnp.asarray(z))),
                                   rtol=RTOL, atol=ATOL, err_msg=f"{name} {path} values")
        g = grad_of(ours, y, z)
        g_ref = grad_of(ref, y_ref, z)
        smooth = np.ones(len(z), bool)
        if name in {"mean_absolute_error", "mean_absolute_percentage_error", "huber"}:
            # At a kink the derivative is a convention; Keras's test below fixes it.
            smooth = np.abs(z - y)[:, 0] != (1.0 if name == "huber" else 0.0)
        if name == "mean_squared_logarithmic_error":
            smooth = z[:, 0] != 1e-7
        np.testing.assert_allclose(g[smooth], g_ref[smooth], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name} {path} gradients")


def test_binary_crossentropy_from_logits_has_the_true_derivative_at_zero() -> None:
    """The derivative at a logit of 0 is sigmoid(0) - y = 0.5 - y, for hard and soft targets."""
    y = jnp.asarray(TARGETS_01)[:, None]
    g = grad_of(gdlab_loss("binary_crossentropy", "logits"), y, np.zeros_like(y))
    np.testing.assert_array_equal(g, 0.5 - np.asarray(y))
    gn = grad_of(gdlab_loss("binary_crossentropy", "logits"), y, -np.zeros_like(y))
    np.testing.assert_array_equal(gn, 0.5 - np.asarray(y))


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_values_and_gradients_match_keras(name: str) -> None:
    """Keras's functions on the same path: from_logits=True, or probabilities (clipped)."""
    keras_fn = KERAS_LOSSES[name]
    for path, y, z in cases(name):
        ours = gdlab_loss(name, path)
        if losses.LOSSES[name].targets == "values":
            def theirs(yy, zz):
                return keras_fn(yy, zz)
        else:
            def theirs(yy, zz, logits=path == "logits"):
                return keras_fn(yy, zz, from_logits=logits)
        y_k = y[:, 0].astype(np.int32) if name == "sparse_categorical_crossentropy" else y
        with jax.numpy_rank_promotion("allow"):
            v_k = np.asarray(theirs(jnp.asarray(y_k), jnp.asarray(z)))
            g_k = np.asarray(jax.grad(lambda t, yk=y_k: jnp.sum(theirs(jnp.asarray(yk), t)))(
                jnp.asarray(z)))
        np.testing.assert_allclose(np.asarray(ours(jnp.asarray(y), jnp.asarray(z))), v_k,
                                   rtol=RTOL, atol=ATOL, err_msg=f"{name} {path} values")
        np.testing.assert_allclose(grad_of(ours, y, z), g_k, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name} {path} gradients")


def test_sigmoid_output_gradient_equals_keras_where_predictions_do_not_saturate() -> None:
    """gdlab's logits path vs Keras's clipped probabilities through the sigmoid (JAX backend)."""
    y, z = binary_points("logits")
    keep = np.abs(z[:, 0]) <= 15
    y, z = y[keep], z[keep]
    ours = grad_of(gdlab_loss("binary_crossentropy", "logits"), y, z)
    with jax.numpy_rank_promotion("allow"):
        theirs = np.asarray(jax.grad(lambda t: jnp.sum(keras.losses.binary_crossentropy(
            jnp.asarray(y), keras.activations.sigmoid(t))))(jnp.asarray(z)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=ATOL)


# ------------------------------------------------------ through the engine's network


def test_dead_relu_rows_give_the_hand_computed_output_bias_gradient() -> None:
    """A 4-3-1 ReLU net whose hidden units are all dead on some rows, output bias 0.

    On those rows the logit is exactly 0; the output-bias gradient of the mean
    loss is the mean of ``sigmoid(z_i) - y_i`` over the batch.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    x[:2] = -np.abs(x[:2]) - 1.0  # with a positive first kernel and negative biases: dead
    x[2:] = np.abs(x[2:]) + 0.5  # the others live
    kernel0 = np.abs(rng.normal(size=(4, 3))).astype(np.float32)
    bias0 = np.array([-0.5, -0.2, -0.8], np.float32)
    kernel1 = rng.normal(size=(3, 1)).astype(np.float32)
    params = ({"kernel": jnp.asarray(kernel0), "bias": jnp.asarray(bias0)},
              {"kernel": jnp.asarray(kernel1), "bias": jnp.zeros(1)})
    y = (rng.random(16) < 0.5).astype(np.float32)[:, None]
    net = network.NetworkSpec(4, (network.DenseSpec(3, ("relu",)),
                                  network.DenseSpec(1, ("sigmoid",))))
    hidden = np.maximum(x @ kernel0 + bias0, 0)
    assert (hidden[:2] == 0).all() and (hidden[2:].sum(1) > 0).all()
    z = hidden @ kernel1
    assert (z[:2] == 0).all()
    expected = np.mean(1 / (1 + np.exp(-z)) - y)
    group = engine.GroupSpec(net, "binary_crossentropy")
    per_example = engine.per_example_grads(group, params, jnp.asarray(x), jnp.asarray(y),
                                           _config(group))
    # Flattened in the tree's leaf order: bias0, kernel0, bias1 (index 15), kernel1.
    bias_grad = float(np.mean(np.asarray(per_example)[:, 3 + 12]))
    np.testing.assert_allclose(bias_grad, expected, rtol=1e-6)


def _config(group: engine.GroupSpec) -> engine.GroupConfig:
    from gdlab.optimizers import parse_optimizer

    cfg = engine.group_config(group, [parse_optimizer("sgd")], [16], [1])
    return jax.tree_util.tree_map(lambda a: a[0], cfg)


# ------------------------------------------------------------------------ metrics

#: Keras's metric for each registry metric: a function of (y_true, y_pred) -> per row,
#: or a Metric class whose result over the rows is compared with the mean.
KERAS_METRICS = {
    "binary_accuracy": keras.metrics.binary_accuracy,
    "categorical_accuracy": keras.metrics.categorical_accuracy,
    "sparse_categorical_accuracy": keras.metrics.sparse_categorical_accuracy,
    "mean_squared_error": keras.metrics.MeanSquaredError,
    "root_mean_squared_error": keras.metrics.RootMeanSquaredError,
    "mean_absolute_error": keras.metrics.MeanAbsoluteError,
    "mean_absolute_percentage_error": keras.metrics.MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": keras.metrics.MeanSquaredLogarithmicError,
}


def test_every_metric_has_a_keras_oracle() -> None:
    assert set(KERAS_METRICS) == set(losses.METRIC_KINDS)


@pytest.mark.parametrize("name", sorted(losses.METRIC_KINDS))
@pytest.mark.parametrize("weighted", [False, True])
def test_metrics_match_keras_including_ties(name: str, weighted: bool) -> None:
    kind = losses.METRIC_KINDS[name]
    if name == "binary_accuracy":
        y, p = binary_points("probabilities")
        y = np.round(y)
    elif kind.targets == "classes":
        y, p, labels = categorical_points("probabilities", soft=False)
        if name == "sparse_categorical_accuracy":
            y = labels.astype(np.float32)[:, None]
    else:
        y, p = regression_points()
    w = np.random.default_rng(1).integers(0, 4, len(y)).astype(np.float32)
    rows = np.asarray(kind.fn(jnp.asarray(y), jnp.asarray(p)))
    if weighted:
        ours = kind.finalize(jnp.asarray(np.sum(rows * w) / np.sum(w)))
    else:
        ours = kind.finalize(jnp.asarray(np.mean(rows)))
    oracle = KERAS_METRICS[name]
    y_k = y[:, 0].astype(np.int32) if name == "sparse_categorical_accuracy" else y
    with jax.numpy_rank_promotion("allow"):
        if isinstance(oracle, type):
            m = oracle()
            m.update_state(y_k, p, sample_weight=w if weighted else None)
            theirs = float(m.result())
        else:
            per = np.asarray(oracle(y_k, p)).reshape(-1)
            np.testing.assert_array_equal(rows, per)
            theirs = float(np.sum(per * w) / np.sum(w)) if weighted else float(np.mean(per))
    np.testing.assert_allclose(float(ours), theirs, rtol=1e-5, atol=1e-6)


def test_canonical_names_follow_keras() -> None:
    assert losses.canonical_loss("mae") == "mean_absolute_error"
    assert losses.canonical_loss("MeanSquaredLogarithmicError") == "mean_squared_logarithmic_error"
    assert losses.canonical_metric("rmse") == "root_mean_squared_error"
    assert losses.canonical_metric("RootMeanSquaredError") == "root_mean_squared_error"
    assert losses.canonical_metric("acc") == "acc"
    with pytest.raises(ValueError, match="Unknown metric 'maee'.*mae"):
        losses.canonical_metric("maee")
