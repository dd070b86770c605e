"""gdlab.keras's Keras-compatible surface: models, layers, shapes, output, errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import gdlab.keras as gk
from gdlab.errors import ConfigError, DataError, ShapeError
from gdlab.keras import backend as K
from gdlab.keras.layers import Activation, Dense, Input
from gdlab.keras.models import Model, Sequential


def data(n=60, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def logistic(features=4, **compile_kwargs):
    model = Sequential()
    model.add(Dense(1, input_shape=(features,), activation="sigmoid"))
    model.compile(**({"loss": "binary_crossentropy", "optimizer": "sgd",
                      "metrics": ["accuracy"]} | compile_kwargs))
    return model


def test_public_names_are_pinned() -> None:
    assert sorted(gk.__all__) == sorted([
        "Input", "Model", "Sequential", "backend", "callbacks", "initializers", "layers",
        "losses", "metrics", "models", "optimizers", "utils"])


def test_wrong_number_of_features_names_both_shapes() -> None:
    model = logistic()
    x, y = data(features=5)
    msg = r"`x` has 5 features \(shape \(60, 5\)\), but the model expects 4 \(input shape \(None, 4\)\)"
    with pytest.raises(ShapeError, match=msg):
        model.fit(x, y, verbose=0)
    with pytest.raises(ShapeError, match=msg):
        model.predict(x, verbose=0)
    with pytest.raises(ShapeError, match=msg):
        model.evaluate(x, y, verbose=0)


def test_rows_of_x_and_y_must_agree() -> None:
    x, y = data()
    with pytest.raises(ShapeError, match=r"`x` has 60 rows but `y` has 59"):
        logistic().fit(x, y[:-1], verbose=0)


def test_targets_that_do_not_fit_the_loss_are_explained() -> None:
    x, _ = data()
    model = Sequential([Dense(3, input_shape=(4,), activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    with pytest.raises(ShapeError, match=r"shape \(60,\) do not match.*\(None, 3\).*sparse_categorical"):
        model.fit(x, np.zeros(60), verbose=0)
    with pytest.raises(DataError, match="binary_crossentropy needs targets in"):
        logistic().fit(x, np.full(60, 2.0), verbose=0)


def test_nan_features_are_refused() -> None:
    x, y = data()
    x[3, 2] = np.nan
    with pytest.raises(DataError, match=r"1 missing or infinite values \(in columns 2\)"):
        logistic().fit(x, y, verbose=0)


def test_fit_requires_compile_and_loss() -> None:
    model = Sequential([Dense(1, input_shape=(4,))])
    with pytest.raises(ConfigError, match="compile"):
        model.fit(*data(), verbose=0)
    with pytest.raises(ConfigError, match="needs a loss"):
        model.compile(optimizer="sgd")


def test_get_dummies_bool_targets_and_dataframes_work() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(90, 3)), columns=list("abc"))
    labels = pd.Series(np.repeat(["x", "y", "z"], 30))
    y = pd.get_dummies(labels)
    assert y.dtypes.iloc[0] is np.dtype(bool)
    model = Sequential([Dense(3, input_shape=(3,), activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    h = model.fit(df, y, epochs=2, verbose=0)
    assert len(h.history["accuracy"]) == 2
    assert model.predict(df, verbose=0).shape == (90, 3)


def test_unbuilt_sequential_builds_on_fit() -> None:
    model = Sequential([Dense(2, activation="relu"), Dense(1, activation="sigmoid")])
    assert not model.built
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(*data(), epochs=1, verbose=0)
    assert [w.shape for w in model.get_weights()] == [(4, 2), (2,), (2, 1), (1,)]


def test_functional_api_and_submodel_share_weights() -> None:
    K.clear_session()
    inputs = Input(shape=(4,))
    x = Dense(8, activation="relu")(inputs)
    x = Dense(5, activation="relu")(x)
    second_to_last = Dense(2, activation="relu")(x)
    outputs = Dense(3, activation="softmax")(second_to_last)
    model = Model(inputs=inputs, outputs=outputs)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Dense", "Dense", "Dense", "Dense"]
    features = Model(inputs, second_to_last)
    xs, labels = data(n=30)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(xs, labels, epochs=2, verbose=0)
    w = model.get_weights()
    h = np.maximum(xs @ w[0] + w[1], 0)
    h = np.maximum(h @ w[2] + w[3], 0)
    h = np.maximum(h @ w[4] + w[5], 0)
    np.testing.assert_allclose(features.predict(xs, verbose=0), h, rtol=1e-5, atol=1e-6)
    f = K.function([inputs], [second_to_last])
    np.testing.assert_allclose(f([xs])[0], h, rtol=1e-5, atol=1e-6)


def test_activation_layer_after_dense() -> None:
    model = Sequential([Dense(1, input_shape=(4,)), Activation("sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    x, _ = data(n=5)
    w = model.get_weights()
    expected = 1 / (1 + np.exp(-(x @ w[0] + w[1])))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5)
    logits = K.function([model.layers[0].input], [model.layers[0].output])([x])[0]
    np.testing.assert_allclose(logits, x @ w[0] + w[1], rtol=1e-5, atol=1e-6)


def test_set_random_seed_makes_models_reproducible() -> None:
    x, y = data()
    runs = []
    for _ in range(2):
        gk.utils.set_random_seed(7)
        model = logistic()
        h = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
        runs.append((model.get_weights(), h.history["loss"]))
    np.testing.assert_array_equal(runs[0][0][0], runs[1][0][0])
    assert runs[0][1] == runs[1][1]
    other = logistic()  # the stream moves on: the next model differs
    assert not np.array_equal(other.get_weights()[0], runs[0][0][0])


def test_clear_session_resets_layer_names() -> None:
    K.clear_session()
    assert Dense(1).name == "dense"
    assert Dense(1).name == "dense_1"
    K.clear_session()
    assert Dense(1).name == "dense"


def test_verbose_output_looks_like_keras(capsys) -> None:
    x, y = data()
    logistic().fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2"
    assert re.fullmatch(r"3/3 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: "
                        r"\d\.\d{4} - val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}", out[1])
    logistic().fit(x, y, epochs=1, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}",
                        out[1])
    logistic().fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_summary_table(capsys) -> None:
    K.clear_session()
    model = Sequential()
    model.add(Dense(2, input_shape=(4,), activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=gk.optimizers.RMSprop(learning_rate=0.01))
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential"' in out
    assert re.search(r"dense \(Dense\)\s+│ \(None, 2\)\s+│\s+10 │", out)
    assert re.search(r"dense_1 \(Dense\)\s+│ \(None, 1\)\s+│\s+3 │", out)
    assert "Total params: 13 (52.00 B)" in out
    model.fit(*data(), epochs=1, verbose=0)
    model.summary()
    out = capsys.readouterr().out
    assert "Optimizer params: 15 (60.00 B)" in out  # iterations, learning rate, 13 velocities
    assert "Total params: 28 (112.00 B)" in out


def test_history_object_like_keras() -> None:
    x, y = data()
    h = logistic().fit(x, y, epochs=3, initial_epoch=1, verbose=0, validation_split=0.2)
    assert h.epoch == [1, 2]
    assert list(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert h.params == {"verbose": 0, "epochs": 3, "steps": 2}
    assert all(isinstance(v, float) for v in h.history["loss"])


def test_acc_metric_name_is_kept() -> None:
    h = logistic(metrics=["acc"]).fit(*data(), epochs=1, verbose=0, validation_split=0.2)
    assert sorted(h.history) == ["acc", "loss", "val_acc", "val_loss"]


def test_evaluate_without_metrics_returns_a_float() -> None:
    x, y = data()
    model = logistic(metrics=None)
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_divergence_freezes_the_model_and_fills_history_with_nan() -> None:
    x, y = data()
    model = Sequential([Dense(1, input_shape=(4,), activation="linear")])
    model.compile(loss="mse", optimizer=gk.optimizers.SGD(learning_rate=1e6))
    h = model.fit(x * 1e3, y.astype(float), epochs=4, verbose=0)
    assert np.isnan(h.history["loss"][-1])
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_callbacks_see_each_epoch_and_can_stop_training() -> None:
    seen = []

    def on_epoch_end(epoch, logs):
        seen.append((epoch, sorted(logs)))
        if epoch == 1:
            model.stop_training = True

    model = logistic()
    cb = gk.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)
    h = model.fit(*data(), epochs=10, verbose=0, callbacks=[cb])
    assert seen == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]
    assert h.epoch == [0, 1]


def test_optimizer_strings_and_objects() -> None:
    model = logistic(optimizer="SGD(learning_rate=0.05, momentum=0.3)")
    assert model.optimizer.momentum == 0.3 and model.optimizer.learning_rate == 0.05
    model.optimizer.learning_rate = 0.1
    assert model.optimizer.spec.learning_rate == 0.1
    with pytest.raises(ConfigError, match="must be a float > 0"):
        model.optimizer.learning_rate = -1


def test_to_categorical() -> None:
    np.testing.assert_array_equal(gk.utils.to_categorical([0, 2, 1]),
                                  np.eye(3, dtype=np.float32)[[0, 2, 1]])
