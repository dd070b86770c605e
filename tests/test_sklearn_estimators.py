"""gdlab.sklearn's estimators and the course's Keras wrappers."""

from __future__ import annotations

import pickle

import jax
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import KFold, cross_val_score, train_test_split
from sklearn.preprocessing import StandardScaler

from gdlab import executor
from gdlab.errors import ConfigError
from gdlab.sklearn import (
    DenseClassifier,
    DenseRegressor,
    KerasClassifier,
    KerasRegressor,
    TrainingDiverged,
)
from gdlab.specs import resolve

N = 120  # every test uses 120 rows and 4 features, so programs are shared


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4))
    y = (x[:, 0] - 0.7 * x[:, 1] + 0.4 * x[:, 2] + 0.2 * rng.normal(size=N) > 0).astype(int)
    return x, y


@pytest.fixture(scope="module")
def three():
    rng = np.random.default_rng(1)
    centers = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    y = np.arange(N) % 3
    x = centers[y] + 0.6 * rng.normal(size=(N, 4))
    return x, y


def small(**kw):
    settings = dict(hidden_layer_sizes=(5,), learning_rate=0.02, batch_size=16, epochs=8,
                    random_state=3)
    return DenseClassifier(**(settings | kw))


# ------------------------------------------------------------------ the sweep path


def test_fit_is_the_sweep_path_for_one_configuration_and_seed(binary) -> None:
    x, y = binary
    clf = small().fit(x, y)
    config = resolve({"hidden": (5,), "optimizer": "adam", "learning_rate": 0.02,
                      "batch_size": 16, "epochs": 8, "activation": "relu"})
    raw = executor.run_programs([config], [3], executor.training_data(
        (x.astype(np.float32), y), task="binary"))
    expected = jax.tree.leaves(raw.params[0])
    got = [w for k, b in zip(clf.coefs_, clf.intercepts_, strict=True) for w in (b, k)]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b[0])
    np.testing.assert_array_equal(clf.history_["loss"], raw.history["loss"][:, 0, 0])
    assert clf.n_iter_ == 8 and clf.diverged_epoch_ == -1
    assert clf.history_["accuracy"][-1] > 0.85


# ------------------------------------------------------------------------ labels


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog"]), np.array([False, True]), np.array([3, 7]),
    np.array([-1.0, 1.0]),
], ids=["str", "bool", "int", "float"])
def test_binary_labels_of_any_kind_give_the_same_model(binary, labels) -> None:
    x, y = binary
    reference = small().fit(x, y)
    clf = small().fit(x, labels[y])
    np.testing.assert_array_equal(clf.classes_, labels)
    np.testing.assert_array_equal(clf.predict_proba(x), reference.predict_proba(x))
    pred = clf.predict(x)
    assert pred.dtype == labels.dtype
    np.testing.assert_array_equal(pred, labels[reference.predict(x)])
    assert clf.score(x, labels[y]) == reference.score(x, y) > 0.85


def test_multiclass_string_labels(three) -> None:
    x, y = three
    names = np.array(["setosa", "versicolor", "virginica"])
    clf = small(epochs=10).fit(x, names[y])
    np.testing.assert_array_equal(clf.classes_, names)
    proba = clf.predict_proba(x)
    assert proba.shape == (N, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(x), names[np.argmax(proba, axis=1)])
    assert clf.network_.n_outputs == 3 and clf.network_.output_activation == "softmax"
    assert clf.score(x, names[y]) > 0.9


def test_loss_chooses_the_output_layer(binary, three) -> None:
    x, y = binary
    clf = small(loss="categorical_crossentropy").fit(x, y)
    assert clf.network_.n_outputs == 2 and clf.network_.output_activation == "softmax"
    assert clf.predict_proba(x).shape == (N, 2)
    assert small().fit(x, y).network_.n_outputs == 1
    with pytest.raises(ValueError, match="needs exactly two classes, y holds 3"):
        small(loss="binary_crossentropy").fit(*three)


def test_one_class_is_refused_naming_the_label(binary) -> None:
    x, _ = binary
    with pytest.raises(ValueError, match="one class only: 'spam'"):
        small().fit(x, np.array(["spam"] * N))


# -------------------------------------------------------------- scikit-learn API


@pytest.mark.parametrize("setting, message", [
    ({"epochs": 0}, "`epochs` must be an integer >= 1, got 0"),
    ({"batch_size": 2.5}, "`batch_size` must be an integer >= 1, got 2.5"),
    ({"learning_rate": -0.1}, "`learning_rate` must be > 0, got -0.1"),
    ({"hidden_layer_sizes": "8-x"}, "Cannot read hidden layer sizes '8-x'"),
    ({"activation": "relux"}, "Did you mean 'relu'"),
    ({"optimizer": "__import__('os').getcwd()"}, "Cannot read optimizer"),  # parsed, never run
    ({"loss": "mse"}, "A classifier's loss must be one of"),
    ({"random_state": -1}, r"`random_state` must be an integer in \[0, 2\*\*32\)"),
    ({"early_stopping": True, "validation_fraction": 1.5},
     r"`validation_fraction` must be in \(0, 1\)"),
    ({"early_stopping": "yes"}, "`early_stopping` must be True or False"),
])
def test_constructor_stores_settings_and_fit_validates_them(binary, setting, message) -> None:
    clf = small(**setting)  # storing never fails
    for key, value in setting.items():
        assert clf.get_params()[key] == value
    with pytest.raises(ConfigError, match=message):
        clf.fit(*binary)


def test_regressor_loss_must_be_mse(binary) -> None:
    x, y = binary
    with pytest.raises(ConfigError, match="A regressor's loss must be 'mean_squared_error'"):
        DenseRegressor(loss="binary_crossentropy", epochs=1).fit(x, y.astype(float))
    assert DenseRegressor(loss="mse").get_params()["loss"] == "mse"


def test_numpy_numbers_from_parameter_grids_are_accepted(binary) -> None:
    x, y = binary
    a = small(epochs=np.int64(8), batch_size=np.int32(16), learning_rate=np.float32(0.02),
              hidden_layer_sizes=np.array([5])).fit(x, y)
    b = small(learning_rate=float(np.float32(0.02))).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    c = small(learning_rate=float(np.float32(0.02)), hidden_layer_sizes=(np.int64(5),))
    np.testing.assert_array_equal(c.fit(x, y).predict_proba(x), b.predict_proba(x))


def test_clone_set_params_and_pickle(binary) -> None:
    x, y = binary
    clf = small()
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and twin is not clf
    assert clf.set_params(epochs=5) is clf and clf.epochs == 5
    clf.fit(x, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(x), clf.predict_proba(x))
    assert restored.history_ == clf.history_
    # a pickled model continues training as the original does
    np.testing.assert_array_equal(restored.partial_fit(x, y).coefs_[0],
                                  clf.partial_fit(x, y).coefs_[0])


def test_feature_names_from_a_table(binary) -> None:
    x, y = binary
    table = pd.DataFrame(x, columns=["variance", "skewness", "curtosis", "entropy"])
    clf = small().fit(table, y)
    np.testing.assert_array_equal(clf.feature_names_in_, table.columns)
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict(table), small().fit(x, y).predict(x))
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(table.rename(columns={"entropy": "other"}))


def test_predictions_do_not_depend_on_the_other_rows(binary) -> None:
    x, y = binary
    clf = small().fit(x, y)
    full = clf.predict_proba(x)
    for rows in (slice(0, 1), slice(7, 40), slice(None, None, -1)):
        np.testing.assert_array_equal(clf.predict_proba(x[rows]), full[rows])
    big = np.tile(x, (6, 1))  # more rows than one prediction block
    np.testing.assert_array_equal(clf.predict_proba(big), np.tile(full, (6, 1)))


def test_batch_larger_than_the_data_is_one_full_batch(binary) -> None:
    x, y = binary
    a = small(batch_size=1000).fit(x, y)  # no BatchLargerThanData warning (warnings are errors)
    b = small(batch_size=N).fit(x, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])


# ------------------------------------------------------------------- partial_fit


def test_partial_fit_from_scratch_equals_fit_epoch_by_epoch(binary) -> None:
    x, y = binary
    clf = small(epochs=3)
    for _ in range(3):
        clf.partial_fit(x, y, classes=[0, 1])
    whole = small(epochs=3).fit(x, y)
    assert clf.n_iter_ == 3
    for a, b in zip(clf.coefs_ + clf.intercepts_, whole.coefs_ + whole.intercepts_,
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(clf.history_["loss"], whole.history_["loss"], rtol=1e-6)


def test_partial_fit_after_fit_continues_from_its_weights(binary) -> None:
    x, y = binary
    # Plain SGD has no optimizer state, so fit(2) + partial_fit == fit(3).
    sgd = {"optimizer": "sgd", "learning_rate": 0.1}
    clf = small(epochs=2, **sgd).fit(x, y).partial_fit(x, y)
    whole = small(epochs=3, **sgd).fit(x, y)
    assert clf.n_iter_ == 3 and len(clf.history_["loss"]) == 3
    np.testing.assert_allclose(clf.coefs_[0], whole.coefs_[0], rtol=1e-6, atol=1e-7)


def test_partial_fit_checks_its_labels(binary) -> None:
    x, y = binary
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        small().partial_fit(x, y)
    clf = small().partial_fit(x[:10], np.zeros(10, int), classes=[0, 1])  # one class is fine
    with pytest.raises(ValueError, match=r"y holds labels \[2\] that are not in classes"):
        clf.partial_fit(x[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="differs from the classes of the first"):
        clf.partial_fit(x, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="network or the optimizer kind changed"):
        clf.set_params(hidden_layer_sizes=(3,)).partial_fit(x, y)


def test_regressor_partial_fit_keeps_the_target_columns(binary) -> None:
    x, _ = binary
    reg = DenseRegressor(hidden_layer_sizes=(5,), epochs=2, random_state=0)
    reg.partial_fit(x, x[:, :2]).partial_fit(x, x[:, :2])
    assert reg.n_iter_ == 2 and reg.predict(x).shape == (N, 2)
    with pytest.raises(ValueError, match="y has 1 target columns, but DenseRegressor was fitted "
                                         "with 2"):
        reg.partial_fit(x, x[:, 0])


# ---------------------------------------------------------------- early stopping


def test_early_stopping_stops_and_keeps_the_best_weights(binary) -> None:
    x, y = binary
    clf = small(epochs=60, learning_rate=0.2, early_stopping=True, n_iter_no_change=3,
                validation_fraction=0.25, tol=0.0).fit(x, y)
    val = np.asarray(clf.history_["val_loss"])
    assert clf.n_iter_ < 60 and len(val) == clf.n_iter_
    assert clf.best_epoch_ == int(np.argmin(val)) and clf.n_iter_ == clf.best_epoch_ + 4
    # The kept weights are the best epoch's: their loss on the held-out rows is its val_loss.
    _, x_val, _, y_val = train_test_split(x.astype(np.float32), y, test_size=0.25,
                                          random_state=3, stratify=y)
    p = clf.predict_proba(x_val)
    np.testing.assert_allclose(log_loss(y_val, p), val[clf.best_epoch_], rtol=1e-5)
    assert set(clf.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}


# ---------------------------------------------------------------------- regressor


def test_regressor_one_and_several_targets(binary) -> None:
    x, _ = binary
    target = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3
    reg = DenseRegressor(hidden_layer_sizes=(8,), learning_rate=0.01, batch_size=8, epochs=40,
                         random_state=0).fit(x, target)
    pred = reg.predict(x)
    assert pred.shape == (N,) and pred.dtype == np.float64 and reg.n_outputs_ == 1
    assert reg.score(x, target) > 0.9
    two = np.column_stack([target, -target])
    reg2 = clone(reg).fit(x, two)
    assert reg2.predict(x).shape == (N, 2) and reg2.n_outputs_ == 2
    assert set(reg.history_) == {"loss"}


def test_divergence_warns_and_keeps_the_last_finite_weights(binary) -> None:
    x, _ = binary
    reg = DenseRegressor(hidden_layer_sizes=(5,), optimizer="sgd", learning_rate=1e6,
                         epochs=3, random_state=0)
    with pytest.warns(TrainingDiverged, match="diverged at epoch 0"):
        reg.fit(x, x[:, 0] * 1e3)
    assert reg.diverged_epoch_ == 0
    assert all(np.isfinite(w).all() for w in reg.coefs_ + reg.intercepts_)
    assert np.isnan(reg.history_["loss"]).all()


# ------------------------------------------------------------ the course's wrappers


def course_model(optimizer="sgd", hidden=0):
    """The course's logistic regression (optionally with a hidden layer), compiled."""
    from gdlab.keras.layers import Dense
    from gdlab.keras.models import Sequential

    model = Sequential()
    if hidden:
        model.add(Dense(hidden, input_shape=(4,), activation="relu"))
        model.add(Dense(1, activation="sigmoid"))
    else:
        model.add(Dense(1, input_shape=(4,), activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def test_the_course_cross_validation_cell_runs(banknotes_path) -> None:
    from gdlab.keras.utils import set_random_seed

    df = pd.read_csv(banknotes_path)
    X = StandardScaler().fit_transform(df.drop(columns="class").to_numpy())
    y = df["class"].to_numpy()
    set_random_seed(0)
    model = KerasClassifier(build_fn=course_model, epochs=20, batch_size=16, verbose=0)
    scores = cross_val_score(model, X, y, cv=KFold(3, shuffle=True))
    assert scores.shape == (3,) and (scores > 0.85).all()


def test_wrapper_routes_keyword_arguments_by_name(binary) -> None:
    x, y = binary
    clf = KerasClassifier(build_fn=course_model, hidden=3, optimizer="adam", epochs=2,
                          batch_size=16, verbose=0)
    assert clf.get_params() == {"build_fn": course_model, "hidden": 3, "optimizer": "adam",
                                "epochs": 2, "batch_size": 16, "verbose": 0}
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    clf.fit(x, y)
    assert [layer.units for layer in clf.model.layers] == [3, 1]
    assert len(clf.history_["loss"]) == 2 and clf.model is clf.model_
    clf.set_params(hidden=4).fit(x, y)
    assert [layer.units for layer in clf.model.layers] == [4, 1]
    with pytest.raises(ConfigError, match="'hiden' is not a legal parameter"):
        KerasClassifier(build_fn=course_model, hiden=3)


def test_wrapper_labels_probabilities_and_accuracy(binary) -> None:
    x, y = binary
    names = np.array(["forged", "genuine"])
    clf = KerasClassifier(build_fn=course_model, optimizer="adam", epochs=3, verbose=0)
    clf.fit(x, names[y])
    np.testing.assert_array_equal(clf.classes_, names)
    proba = clf.predict_proba(x)
    assert proba.shape == (N, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    pred = clf.predict(x)
    np.testing.assert_array_equal(pred, names[(proba[:, 1] > 0.5).astype(int)])
    assert clf.score(x, names[y]) == accuracy_score(names[y], pred)


def test_wrapper_one_hot_targets_with_categorical_crossentropy(three) -> None:
    from gdlab.keras.layers import Dense
    from gdlab.keras.models import Sequential

    def build():
        model = Sequential([Dense(3, input_shape=(4,), activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        return model

    x, y = three
    clf = KerasClassifier(build_fn=build, epochs=2, verbose=0).fit(x, y)  # labels one-hot encoded
    assert clf.n_classes_ == 3 and clf.predict_proba(x).shape == (N, 3)


def test_keras_regressor_score_is_the_negative_loss(binary) -> None:
    from gdlab.keras.layers import Dense
    from gdlab.keras.models import Sequential

    def build(units=4):
        model = Sequential([Dense(units, input_shape=(4,), activation="relu"), Dense(1)])
        model.compile(loss="mse", optimizer="adam")
        return model

    x, _ = binary
    target = x[:, 0] - x[:, 1]
    reg = KerasRegressor(build_fn=build, epochs=2, verbose=0).fit(x, target)
    assert reg.predict(x).shape == (N,)
    assert reg.score(x, target) == -reg.model_.evaluate(x, target, verbose=0)


def test_wrapper_needs_a_compiled_gdlab_model(binary) -> None:
    from gdlab.keras.layers import Dense
    from gdlab.keras.models import Sequential

    x, y = binary
    with pytest.raises(ConfigError, match="must be compiled"):
        KerasClassifier(build_fn=lambda: Sequential([Dense(1, input_shape=(4,))]),
                        verbose=0).fit(x, y)
    with pytest.raises(ConfigError, match="must return a gdlab.keras model, got str"):
        KerasClassifier(build_fn=lambda: "model").fit(x, y)
    with pytest.raises(ConfigError, match="needs build_fn"):
        KerasClassifier().fit(x, y)
