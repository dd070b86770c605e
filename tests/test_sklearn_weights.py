"""Sample and class weights in gdlab.sklearn: scikit-learn's meaning, checked exactly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

from gdlab import engine
from gdlab.errors import ConfigError, DataError, ShapeError
from gdlab.sklearn import DenseClassifier, DenseRegressor, KerasClassifier

N = 120


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4))
    z = x[:, 0] - 0.7 * x[:, 1] + 0.4 * x[:, 2] + 0.2 * rng.normal(size=N)
    y = np.where(z > 0.6, "yes", "no")  # imbalanced: about a third are "yes"
    w = rng.integers(0, 4, size=N).astype(float)
    return x, y, z, w


def net(kind=DenseClassifier, **kw):
    settings = dict(hidden_layer_sizes=(6,), learning_rate=0.02, batch_size=16, epochs=6,
                    random_state=0)
    return kind(**(settings | kw))


def same_fit(a, b, history=("loss", "accuracy", "val_loss", "val_accuracy")) -> None:
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(p, q)
    for key in history:
        assert a.history_.get(key) == b.history_.get(key), key


# ------------------------------------------------------- weights as repeated rows


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_integer_weights_equal_repeated_rows_in_a_full_batch(seed, kind) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20, 5))
    y = {"binary": x[:, 0] > 0, "multiclass": np.arange(20) % 3,
         "regression": x @ [1.0, -2.0, 0.5, 0.0, 1.0]}[kind]
    w = rng.integers(0, 5, size=20)
    w[:3] = [0, 1, 4]  # a dropped row, a plain one and a fourfold one, whatever the draw
    if kind != "regression":
        w[np.unique(y, return_index=True)[1]] = 2  # every class keeps weight
    order = rng.permutation(int(w.sum()))  # the repeated rows in another order
    x_rep, y_rep = np.repeat(x, w, axis=0)[order], np.repeat(y, w, axis=0)[order]
    make = DenseRegressor if kind == "regression" else DenseClassifier
    # Defaults but fewer epochs, and one batch that holds every row of either fit.
    weighted = make(epochs=40, batch_size=256, random_state=seed).fit(x, y, sample_weight=w)
    repeated = make(epochs=40, batch_size=256, random_state=seed).fit(x_rep, y_rep)
    # Accuracy is Keras's, unweighted (a fraction of rows); the loss is the weighted mean.
    same_fit(weighted, repeated, history=("loss",))
    out = "predict" if kind == "regression" else "predict_proba"
    np.testing.assert_array_equal(getattr(weighted, out)(x), getattr(repeated, out)(x))


def test_weights_are_a_weighted_mean_in_mini_batches_too(data) -> None:
    # Keras divides a batch's weighted loss by its rows; scikit-learn (and gdlab.sklearn)
    # by its weights: doubling every weight changes nothing, halving one row's does.
    x, y, _, w = data
    w = w + 1.0
    base = net().fit(x, y, sample_weight=w)
    same_fit(net().fit(x, y, sample_weight=2 * w), base)
    half = w.copy()
    half[0] /= 2
    assert not np.array_equal(net().fit(x, y, sample_weight=half).coefs_[0], base.coefs_[0])


@pytest.mark.parametrize("batch_size", [16, 32, N])
@pytest.mark.parametrize("kind", [DenseClassifier, DenseRegressor])
def test_unit_weights_are_no_weights_bit_for_bit(data, kind, batch_size) -> None:
    x, y, z, _ = data
    target = z if kind is DenseRegressor else y
    for early in (False, True):
        plain = net(kind, batch_size=batch_size, early_stopping=early).fit(x, target)
        for ones in (np.ones(N), 1.0, [1] * N):
            same_fit(net(kind, batch_size=batch_size, early_stopping=early).fit(
                x, target, sample_weight=ones), plain)


def test_reproducible_sum_is_order_free_and_exact_for_integer_weights() -> None:
    rng = np.random.default_rng(0)
    t = (rng.normal(size=(40, 300)) * np.exp(3 * rng.normal(size=(40, 1)))).astype(np.float32)
    w = rng.integers(0, 5, size=40).astype(np.float32)
    t[w == 0] = np.nan  # rows of weight 0 take no part, whatever their terms
    total = jax.jit(engine.reproducible_sum)
    weighted = np.asarray(total(t, w))
    rep = np.repeat(t, w.astype(int), axis=0)
    for order in (np.arange(len(rep)), rng.permutation(len(rep)), np.arange(len(rep))[::-1]):
        np.testing.assert_array_equal(total(rep[order], np.ones(len(rep), np.float32)),
                                      weighted)
    exact = np.nansum(t.astype(np.float64) * w[:, None], axis=0)
    # Within an ulp of the exact sum, even where the terms cancel (a float32 sum: 1964).
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(weighted - exact) <= ulp)
    # Fractional weights: not exact, still order-free (the terms are put on a grid).
    f = rng.uniform(0.1, 2.0, size=40).astype(np.float32)
    a = total(np.nan_to_num(t), f)
    np.testing.assert_array_equal(a, total(np.nan_to_num(t)[::-1], f[::-1]))
    np.testing.assert_array_equal(engine.reproducible_sum(jnp.asarray(t.T), w[None], axis=1),
                                  weighted)


# --------------------------------------------------------------------- class weights


def test_balanced_equals_the_dict_and_hand_made_sample_weights(data) -> None:
    x, y, _, w = data
    classes = np.array(["no", "yes"])
    cw = compute_class_weight("balanced", classes=classes, y=y)
    balanced = net(class_weight="balanced").fit(x, y)
    same_fit(net(class_weight=dict(zip(classes, cw, strict=True))).fit(x, y), balanced)
    same_fit(net().fit(x, y, sample_weight=cw[(y == "yes").astype(int)]), balanced)
    # With sample weights, "balanced" counts them, as LogisticRegression does.
    w = w + 1.0
    cw_w = compute_class_weight("balanced", classes=classes, y=y, sample_weight=w)
    same_fit(net(class_weight="balanced").fit(x, y, sample_weight=w),
             net(class_weight=dict(zip(classes, cw_w, strict=True))).fit(x, y, sample_weight=w))
    assert not np.array_equal(balanced.coefs_[0], net().fit(x, y).coefs_[0])


def test_class_weight_keys_are_the_labels_and_shift_the_predictions(data) -> None:
    x, y, _, _ = data
    plain = net(epochs=30).fit(x, y)
    heavy = net(epochs=30, class_weight={"yes": 5.0}).fit(x, y)  # "no" keeps weight 1
    assert (heavy.predict(x) == "yes").mean() > (plain.predict(x) == "yes").mean()
    ints = (y == "yes").astype(int)
    same_fit(net(class_weight={1: 5.0}).fit(x, ints), net(class_weight={"yes": 5.0}).fit(x, y))


def test_partial_fit_takes_weights_and_a_class_weight_dict(data) -> None:
    x, y, _, w = data
    clf = net(epochs=3, class_weight={"yes": 2.0})
    for _ in range(3):
        clf.partial_fit(x, y, classes=["no", "yes"], sample_weight=w)
    whole = net(epochs=3, class_weight={"yes": 2.0}).fit(x, y, sample_weight=w)
    for a, b in zip(clf.coefs_ + clf.intercepts_, whole.coefs_ + whole.intercepts_,
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ConfigError, match="class_weight='balanced' is not supported by "
                                          "partial_fit"):
        net(class_weight="balanced").partial_fit(x, y, classes=["no", "yes"])


# ------------------------------------------------------------------ early stopping


def test_early_stopping_keeps_the_held_out_rows_weights(data) -> None:
    x, y, _, w = data
    w = w + 0.5
    clf = net(epochs=40, learning_rate=0.2, early_stopping=True, n_iter_no_change=3,
              validation_fraction=0.25, tol=0.0).fit(x, y, sample_weight=w)
    val = np.asarray(clf.history_["val_loss"])
    # The split is the unweighted fit's; its rows keep their weights (as MLPClassifier).
    _, x_val, _, y_val, _, w_val = train_test_split(
        x.astype(np.float32), y, w, test_size=0.25, random_state=0, stratify=y)
    p = clf.predict_proba(x_val)
    np.testing.assert_allclose(log_loss(y_val, p, sample_weight=w_val), val[clf.best_epoch_],
                               rtol=1e-5)
    assert not np.isclose(log_loss(y_val, p), val[clf.best_epoch_], rtol=1e-3)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(("weights", "error", "message"), [
    (np.ones(N + 1), ShapeError, f"sample_weight has {N + 1} weights for {N} rows"),
    (np.ones((N, 2)), ShapeError, r"1-D with one weight per row, shape \(120,\); got shape"),
    (np.ones((N, 1)), ShapeError, r"got shape \(120, 1\)"),
    (np.r_[-1.0, np.ones(N - 1)], DataError, r"negative weights \(rows \[0\]\)"),
    (np.r_[np.nan, np.ones(N - 1)], DataError, r"NaN or infinite values \(rows \[0\]\)"),
    (np.zeros(N), DataError, "sample_weight is zero for every row"),
    (["a"] * N, DataError, "sample_weight must hold numbers"),
])
@pytest.mark.parametrize("kind", [DenseClassifier, DenseRegressor])
def test_bad_sample_weights_are_named(data, kind, weights, error, message) -> None:
    x, y, z, _ = data
    with pytest.raises(error, match=message):
        net(kind).fit(x, z if kind is DenseRegressor else y, sample_weight=weights)
    with pytest.raises(error, match=message):
        net(kind).partial_fit(x, z if kind is DenseRegressor else y, sample_weight=weights,
                              **({"classes": ["no", "yes"]} if kind is DenseClassifier else {}))


@pytest.mark.parametrize(("setting", "message"), [
    ("balance", r"must be None, 'balanced' or a dict \{label: weight\}, got 'balance'"),
    ([1.0, 2.0], "must be None, 'balanced' or a dict"),
    ({"yes": -1.0}, r"finite numbers >= 0; class 'yes' has -1.0"),
    ({"maybe": 2.0}, r"names \['maybe'\], which are not classes of y, and leaves out"),
])
def test_bad_class_weights_are_named(data, setting, message) -> None:
    x, y, _, _ = data
    with pytest.raises(ConfigError, match=message):
        net(class_weight=setting).fit(x, y)


def test_weights_must_leave_two_classes(data) -> None:
    x, y, _, _ = data
    only_yes = (y == "yes").astype(float)
    with pytest.raises(DataError, match=r"leave weight on one class only \('yes'\)"):
        net().fit(x, y, sample_weight=only_yes)
    with pytest.raises(DataError, match="leave weight on one class only"):
        net(class_weight={"yes": 0.0}).fit(x, y)
    # Early stopping's split (seed 0) holds out these rows; each part needs some weight.
    _, held_out = train_test_split(np.arange(N), test_size=0.25, random_state=0, stratify=y)
    for part in ("validation", "training"):
        w = np.ones(N)
        w[held_out] = 0.0
        if part == "training":
            w = 1.0 - w
        with pytest.raises(DataError, match=f"weights of early stopping's {part} rows are "
                                            "all zero"):
            net(early_stopping=True, validation_fraction=0.25).fit(x, y, sample_weight=w)


# --------------------------------------------------------------------- the wrappers


def test_the_keras_wrapper_passes_sample_weight_to_fit(data) -> None:
    from gdlab.keras.layers import Dense
    from gdlab.keras.models import Sequential
    from gdlab.keras.utils import set_random_seed

    x, y, _, w = data

    def build():
        model = Sequential([Dense(1, input_shape=(4,), activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
        return model

    def wrapped(**fit):
        set_random_seed(0)
        return KerasClassifier(build_fn=build, epochs=3, verbose=0).fit(x, y, **fit)

    set_random_seed(0)
    direct = build()
    direct.fit(x, (y == "yes").astype(int), sample_weight=w, epochs=3, verbose=0)
    weighted = wrapped(sample_weight=w)
    for a, b in zip(weighted.model_.get_weights(), direct.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(wrapped().model_.get_weights()[0], direct.get_weights()[0])
