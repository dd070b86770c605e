"""tf.keras 2.5's API on gdlab.keras: deprecated methods, 1-D inputs, the wrappers path, the rest.

The list these tests hold the code to is docs/keras-compat.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gdlab.keras as gk
from gdlab.errors import ConfigError, DataError, NotSupportedError, ShapeError
from gdlab.keras import _compat
from gdlab.keras import utils as ku
from gdlab.keras.layers import Activation, Dense, Input
from gdlab.keras.models import KerasDeprecated, Model, NotProbabilities, Sequential
from gdlab.pitfalls import GdlabWarning, quiet
from gdlab.validation import as_features

DOC = Path(__file__).resolve().parents[1] / "docs" / "keras-compat.md"


def data(n=48, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def logistic(features=4):
    model = Sequential([Dense(1, input_shape=(features,), activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
    return model


def softmax_model():
    """4 features -> 3 classes whose scores are the first three features."""
    model = Sequential([Dense(3, input_shape=(4,), activation="softmax")])
    model.set_weights([np.eye(4, 3, dtype=np.float32), np.zeros(3, np.float32)])
    return model


def caught(fn, *args, **kwargs):
    """``fn``'s result and every warning it raised."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, records


def of(records, category):
    return [r for r in records if issubclass(r.category, category)]


# ------------------------------------------------------ predict_classes / proba


def test_predict_classes_thresholds_one_sigmoid_unit_at_half() -> None:
    x, _ = data()
    model = logistic()
    model.set_weights([np.array([[1.0], [0.0], [0.0], [0.0]], np.float32),
                       np.zeros(1, np.float32)])  # p = sigmoid(x0): above 0.5 iff x0 > 0
    classes, records = caught(model.predict_classes, x)
    assert classes.dtype == np.int32 and classes.shape == (48, 1)  # tf.keras 2.5's shape
    np.testing.assert_array_equal(classes[:, 0], (x[:, 0] > 0).astype(np.int32))
    np.testing.assert_array_equal(classes, (model.predict(x, verbose=0) > 0.5).astype("int32"))
    assert 0 < classes.sum() < 48
    [warning] = of(records, KerasDeprecated)  # once per call
    assert '(model.predict(x) > 0.5).astype("int32")' in str(warning.message)


def test_predict_classes_takes_the_argmax_of_several_units() -> None:
    x, _ = data()
    model = softmax_model()
    classes, records = caught(model.predict_classes, x, batch_size=8)
    assert classes.shape == (48,)
    np.testing.assert_array_equal(classes, np.argmax(x[:, :3], axis=-1))
    np.testing.assert_array_equal(classes, np.argmax(model.predict(x, verbose=0), axis=-1))
    assert set(classes.tolist()) == {0, 1, 2}
    [warning] = of(records, KerasDeprecated)
    assert "np.argmax(model.predict(x), axis=-1)" in str(warning.message)


def test_predict_proba_returns_predict_and_warns_once() -> None:
    x, _ = data()
    model = softmax_model()
    proba, records = caught(model.predict_proba, x)
    np.testing.assert_array_equal(proba, model.predict(x, verbose=0))
    assert [r.category for r in records] == [KerasDeprecated]
    assert "use `model.predict(x)`" in str(records[0].message)


def test_predict_proba_warns_when_outputs_are_not_probabilities() -> None:
    x, _ = data()
    model = Sequential([Dense(2, input_shape=(4,))])  # linear outputs
    model.set_weights([np.full((4, 2), 3.0, np.float32), np.zeros(2, np.float32)])
    _, records = caught(model.predict_proba, x)
    [warning] = of(records, NotProbabilities)
    assert re.search(r"values from -\S+ to \S+, outside \[0, 1\].*'sigmoid' or 'softmax'",
                     str(warning.message))


def test_the_deprecation_warning_is_gdlabs_and_silenced_by_name() -> None:
    assert issubclass(KerasDeprecated, GdlabWarning) and KerasDeprecated.name == "keras-deprecated"
    assert issubclass(KerasDeprecated, FutureWarning)
    model, x = softmax_model(), data()[0]
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        quiet("keras-deprecated")
        model.predict_classes(x)
    assert records == []


def test_functional_models_have_no_predict_classes_as_in_tf_keras() -> None:
    inp = Input(shape=(4,))
    model = Model(inp, Dense(3, activation="softmax")(inp))
    with pytest.raises(NotSupportedError, match=r"np\.argmax\(model\.predict\(x\), axis=-1\)"):
        model.predict_classes(data()[0])
    with pytest.raises(NotSupportedError, match=r"Sequential only\): use `model\.predict\(x\)`"):
        model.predict_proba(data()[0])


# ----------------------------------------------------------------- 1-D inputs


def test_1d_predict_on_a_one_feature_model() -> None:
    model = Sequential([Dense(3, input_shape=(1,), activation="relu")])
    x = np.linspace(0, 4)
    out = model.predict(x, verbose=0)
    assert out.shape == (50, 3)
    np.testing.assert_array_equal(out, model.predict(x[:, None], verbose=0))
    np.testing.assert_array_equal(model.predict(pd.Series(x, name="height"), verbose=0), out)
    np.testing.assert_array_equal(model(list(x)), out)


def test_1d_fit_and_evaluate_on_a_one_feature_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 4, 48).astype(np.float32)
    y = 2 * x + 1
    model = Sequential([Dense(1)])  # unbuilt: a 1-D x builds it for one feature
    model.compile(loss="mse", optimizer=gk.optimizers.SGD(learning_rate=0.01))
    h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    assert model.input_shape == (None, 1)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        model.evaluate(x[:, None], y, verbose=0))
    assert h.history["val_loss"][-1] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_1d_x_for_a_model_of_four_features_names_both_shapes() -> None:
    x, y = data()
    model = logistic()
    with pytest.raises(ShapeError, match=re.escape(
            "`x` is 1-D (shape (48,)), but the model expects 4 features per row (input shape "
            "(None, 4)); a 1-D `x` is read as one feature column, as tf.keras 2.x did, so pass "
            "a 2-D array of shape (samples, 4).")):
        model.predict(x[:, 0], verbose=0)
    with pytest.raises(ShapeError, match=r"x\.reshape\(1, -1\) for a single row"):
        model.predict(x[0], verbose=0)  # four numbers: one row, most likely
    for call in (lambda: model.fit(x[:, 0], y, verbose=0),
                 lambda: model.evaluate(x[:, 0], y, verbose=0)):
        with pytest.raises(ShapeError, match=r"shape \(48,\)"):
            call()


def test_as_keras_features_expands_1d_only_for_one_feature() -> None:
    x = np.arange(5.0)
    assert _compat.as_keras_features(x, n_features=1).shape == (5, 1)
    assert _compat.as_keras_features(x).shape == (5, 1)  # unbuilt: builds for one feature
    assert _compat.as_keras_features([[1, 2], [3, 4]], n_features=2).shape == (2, 2)
    with pytest.raises(ShapeError, match=r"expects 3 features"):
        _compat.as_keras_features(x, n_features=3)
    with pytest.raises(DataError, match="missing or infinite"):
        _compat.as_keras_features([1.0, np.nan])


def test_scikit_learn_estimators_keep_requiring_2d() -> None:
    with pytest.raises(ShapeError, match=r"must be 2-D.*reshape\(-1, 1\)"):
        as_features(np.arange(5.0), n_features=1)
    from gdlab.sklearn import DenseClassifier

    with pytest.raises(ValueError, match="2D|2-D"):
        DenseClassifier().fit(np.arange(6.0), [0, 1, 0, 1, 0, 1])


# ------------------------------------------------- the wrappers' import path


def test_wrappers_path_is_gdlab_sklearns_classes() -> None:
    from gdlab.keras.wrappers import scikit_learn
    from gdlab.sklearn import KerasClassifier, KerasRegressor

    assert scikit_learn.KerasClassifier is KerasClassifier
    assert scikit_learn.KerasRegressor is KerasRegressor


def test_import_gdlab_keras_does_not_import_scikit_learn() -> None:
    code = ("import sys, gdlab.keras; a = 'sklearn' in sys.modules; "
            "import gdlab.keras.wrappers.scikit_learn; print(a, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


COURSE_CELL = """
import numpy as np
from gdlab.keras.models import Sequential
from gdlab.keras.layers import Dense
from gdlab.keras.optimizers import Adam, SGD
from gdlab.keras.wrappers.scikit_learn import KerasClassifier
from sklearn.model_selection import cross_val_score, KFold

model = Sequential()
model.add(Dense(1, input_shape=(4,), activation='sigmoid'))
model.compile(SGD(learning_rate=0.5), 'binary_crossentropy', metrics=['accuracy'])
model.fit(X, y, epochs=10, verbose=0)
y_pred = model.predict_classes(X)
train_accuracy = (y_pred.ravel() == y).mean()

line = Sequential()
line.add(Dense(1, input_shape=(1,)))
line.compile(Adam(learning_rate=0.5), 'mean_squared_error')
line.fit(x.reshape(-1, 1), y_true, epochs=40, verbose=0)
x_plot = np.linspace(0, 4)
y_plot = line.predict(x_plot)

def build_logistic_regression_model():
    model = Sequential()
    model.add(Dense(1, input_shape=(4,), activation='sigmoid'))
    model.compile(SGD(learning_rate=0.5), 'binary_crossentropy', metrics=['accuracy'])
    return model

model = KerasClassifier(build_fn=build_logistic_regression_model, epochs=10, verbose=0)
cv = KFold(3, shuffle=True, random_state=0)
scores = cross_val_score(model, X, y, cv=cv)
"""


@pytest.mark.filterwarnings("ignore::gdlab.keras.models.KerasDeprecated")
def test_course_style_cell_with_tf25_calls() -> None:
    X, y = data(n=90)  # noqa: N806 - the course's names
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 4, 60).astype(np.float32)
    ku.set_random_seed(0)
    ns = {"X": X, "y": y, "x": x, "y_true": 2 * x + 1 + rng.normal(0, 0.1, 60)}
    exec(compile(COURSE_CELL, "course_cell", "exec"), ns)  # the cell, as a student runs it
    assert ns["y_pred"].shape == (90, 1) and ns["train_accuracy"] > 0.9
    assert ns["y_plot"].shape == (50, 1)
    np.testing.assert_allclose(ns["y_plot"][:, 0], 2 * ns["x_plot"] + 1, atol=0.15)
    assert len(ns["scores"]) == 3 and np.mean(ns["scores"]) > 0.85


# ------------------------------------------------------- working equivalents


def test_get_layer_by_name_and_index() -> None:
    gk.backend.clear_session()
    model = Sequential([Dense(2, input_shape=(4,), name="hidden"), Dense(1, name="out")])
    assert model.get_layer("out") is model.layers[1]
    assert model.get_layer(index=0).name == "hidden"
    assert model.get_layer(index=-1).name == "out"
    with pytest.raises(ConfigError, match=r"No such layer: 'nope'\. Existing layers are: "
                                          r"'hidden', 'out'"):
        model.get_layer("nope")
    with pytest.raises(ConfigError, match="index 2 but the model only has 2 layers"):
        model.get_layer(index=2)
    with pytest.raises(ConfigError, match="only a layer name or a layer index"):
        model.get_layer("out", 1)
    with pytest.raises(ConfigError, match="either a layer name or a layer index"):
        model.get_layer()
    inp = Input(shape=(4,))
    functional = Model(inp, Dense(1, name="f_out")(inp))
    assert type(functional.get_layer(index=0)).__name__ == "InputLayer"  # as tf.keras


def test_pop_removes_the_last_layer() -> None:
    x, _ = data(n=5)
    model = Sequential([Dense(3, input_shape=(4,), activation="relu"), Dense(1)])
    hidden = model.layers[0]
    last = model.pop()
    assert isinstance(last, Dense) and last.units == 1
    assert model.layers == [hidden] and model.output_shape == (None, 3)
    w = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x @ w[0] + w[1], 0),
                               rtol=1e-5, atol=1e-6)
    model.add(Dense(2, activation="softmax"))
    assert model.output_shape == (None, 2) and len(model.get_weights()) == 4
    model.pop()
    model.pop()
    assert model.layers == [] and model.input_shape == (None, 4)  # the input size stays
    with pytest.raises(ConfigError, match="no layers in the model to pop"):
        model.pop()
    unbuilt = Sequential([Dense(2), Activation("relu")])
    assert isinstance(unbuilt.pop(), Activation) and len(unbuilt.layers) == 1


def generator(x, y, batch):
    while True:  # the course's style: an endless generator over arrays
        for i in range(0, len(x), batch):
            yield x[i:i + batch], y[i:i + batch]


class Batches(ku.Sequence):
    def __init__(self, x, y, batch):
        self.x, self.y, self.batch = x, y, batch

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, i):
        return self.x[i * self.batch:(i + 1) * self.batch], self.y[i * self.batch:(i + 1) * self.batch]


def twins():
    """Two compiled logistic models with the same initial weights."""
    a, b = logistic(), logistic()
    b.set_weights(a.get_weights())
    return a, b


def test_fit_generator_trains_as_fit_on_the_same_batches() -> None:
    x, y = data()
    xv, yv = data(n=16, seed=1)
    a, b = twins()
    expected = a.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                     validation_data=(xv, yv))
    with pytest.warns(KerasDeprecated, match=r"use `model\.fit\(x, y, batch_size=\.\.\.\)` "
                                             r"with arrays\. gdlab read 3 batch\(es\) of 16 rows"):
        h = b.fit_generator(generator(x, y, 16), steps_per_epoch=3, epochs=3, verbose=0,
                            validation_data=Batches(xv, yv, 8))
    assert h.history == expected.history
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_fit_generator_reads_a_sequence_to_its_length() -> None:
    x, y = data()
    a, b = twins()
    expected = a.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    with pytest.warns(KerasDeprecated, match="3 batch"):
        h = b.fit_generator(Batches(x, y, 16), epochs=2, shuffle=False, verbose=0)
    assert h.history == expected.history
    assert [next(iter(Batches(x, y, 16)))[0].shape, len(list(Batches(x, y, 20)))] == [(16, 4), 3]


def test_evaluate_and_predict_generator_match_evaluate_and_predict() -> None:
    x, y = data()
    model = logistic()
    with pytest.warns(KerasDeprecated, match=r"use `model\.evaluate\(x, y\)`"):
        got = model.evaluate_generator(generator(x, y, 16), steps=3)
    assert got == model.evaluate(x, y, verbose=0)
    with pytest.warns(KerasDeprecated, match=r"use `model\.predict\(x\)`"):
        pred = model.predict_generator(Batches(x, y, 16))
    np.testing.assert_array_equal(pred, model.predict(x, verbose=0))


def test_generators_with_uneven_or_no_batches_are_refused() -> None:
    x, y = data()
    model = logistic()
    uneven = iter([(x[:16], y[:16]), (x[16:24], y[16:24]), (x[24:40], y[24:40])])
    with pytest.raises(NotSupportedError, match=r"sizes \[16, 8, 16\]"):
        model.predict_generator(uneven)
    with pytest.raises(DataError, match="yielded no batches"):
        model.evaluate_generator(iter([]))
    with pytest.raises(DataError, match="must be a generator"):
        model.predict_generator(3)


def test_metrics_names_follow_evaluate() -> None:
    x, y = data()
    model = logistic()
    assert model.metrics_names == ["loss", "accuracy"]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert dict(zip(model.metrics_names, model.evaluate(x, y, verbose=0), strict=True)) == logs


def test_reset_metrics_and_states_change_nothing() -> None:
    x, y = data()
    model = logistic()
    before, weights = model.evaluate(x, y, verbose=0), model.get_weights()
    assert model.reset_metrics() is None and model.reset_states() is None
    assert model.evaluate(x, y, verbose=0) == before
    for w0, w1 in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)


def test_from_config_rebuilds_the_architecture() -> None:
    gk.backend.clear_session()
    model = Sequential([Dense(3, input_shape=(4,), activation="relu", name="h"),
                        Dense(1, activation="sigmoid", name="o")])
    again = Sequential.from_config(model.get_config())
    assert type(again) is Sequential and again.get_config() == model.get_config()
    assert [w.shape for w in again.get_weights()] == [(4, 3), (3,), (3, 1), (1,)]
    inp = Input(shape=(2,), name="i")
    functional = Model(inp, Dense(2, name="d")(inp))
    rebuilt = Model.from_config(functional.get_config())
    assert type(rebuilt) is Model and rebuilt.get_config() == functional.get_config()
    with pytest.raises(NotSupportedError, match="custom_objects"):
        Sequential.from_config(model.get_config(), custom_objects={"a": 1})


def test_compute_output_shape() -> None:
    model = softmax_model()
    assert model.compute_output_shape((None, 4)) == (None, 3)
    assert model.compute_output_shape((7, 4)) == (7, 3)
    with pytest.raises(ShapeError, match="takes 4 features"):
        model.compute_output_shape((None, 5))
    unbuilt = Sequential([Dense(8), Dense(2)])
    assert unbuilt.compute_output_shape((None, 5)) == (None, 2) and not unbuilt.built


def test_weight_and_dtype_properties() -> None:
    model = Sequential([Dense(3, input_shape=(4,)), Dense(1)])
    weights = model.get_weights()
    for prop in ("weights", "trainable_weights", "variables", "trainable_variables"):
        got = getattr(model, prop)
        assert [w.shape for w in got] == [(4, 3), (3,), (3, 1), (1,)]
        for a, b in zip(got, weights, strict=True):
            np.testing.assert_array_equal(a, b)
    assert model.non_trainable_weights == [] and model.non_trainable_variables == []
    assert Sequential([Dense(1)]).weights == []  # unbuilt, as tf.keras
    assert (model.dtype, model.compute_dtype, model.variable_dtype) == ("float32",) * 3
    assert (model.input_shape, model.output_shape) == ((None, 4), (None, 1))
    assert model.losses == [] and model.dynamic is False and model.stateful is False


def test_trainable_and_run_eagerly_accept_only_what_gdlab_does() -> None:
    model = logistic()
    assert model.trainable is True and model.run_eagerly is False
    model.trainable = True
    model.run_eagerly = False
    with pytest.raises(NotSupportedError, match="cannot freeze weights"):
        model.trainable = False
    with pytest.raises(NotSupportedError, match="no eager mode"):
        model.run_eagerly = True


def test_apply_is_call_with_a_deprecation_warning() -> None:
    x, _ = data()
    model = softmax_model()
    with pytest.warns(KerasDeprecated, match=r"use `model\(x\)`"):
        out = model.apply(x)
    np.testing.assert_array_equal(out, model.predict(x, verbose=0))


def test_normalize_is_tf_keras_lp_normalization() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    x[2] = 0.0
    out = ku.normalize(x)
    np.testing.assert_allclose(np.linalg.norm(out[[0, 1, 3, 4]], axis=1), 1.0)
    np.testing.assert_array_equal(out[2], 0.0)  # a zero row stays zero
    np.testing.assert_allclose(ku.normalize(x, axis=0, order=1),
                               x / np.abs(x).sum(axis=0, keepdims=True))
    # TF 2.5's formula gives a 1-D input back as one row: (2,) -> (1, 2).
    np.testing.assert_allclose(ku.normalize([3.0, 4.0]), [[0.6, 0.8]])


def test_pack_and_unpack_x_y_sample_weight() -> None:
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    assert ku.pack_x_y_sample_weight(x) is x
    assert ku.pack_x_y_sample_weight([x, x]) == ([x, x],)
    for args in [(x,), (x, y), (x, y, w)]:
        unpacked = ku.unpack_x_y_sample_weight(ku.pack_x_y_sample_weight(*args))
        assert all(a is b for a, b in zip(unpacked, (*args, None, None), strict=False))
    with pytest.raises(DataError, match=r"`\(x, y, sample_weight\)`, found a tuple of 4"):
        ku.unpack_x_y_sample_weight((x, y, w, w))


def test_to_categorical_takes_a_dtype() -> None:
    out = ku.to_categorical([0, 2], num_classes=3, dtype="int32")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1]])


# -------------------------------------------------------- clear errors instead

# (name, the replacement the message must name), written here apart from the code's table.
MODEL_METHOD_ERRORS = {
    "add_loss": "compile(loss=", "add_metric": "metrics=[...]", "add_update": "no state updates",
    "add_variable": "Dense layers", "add_weight": "Dense layers", "call": "model.predict(x)",
    "compute_mask": "no masks", "compute_output_signature": "compute_output_shape",
    "get_input_at": "model.input", "get_input_mask_at": "no masks",
    "get_input_shape_at": "model.input_shape", "get_output_at": "model.output",
    "get_output_mask_at": "no masks", "get_output_shape_at": "model.output_shape",
    "get_losses_for": "model.losses", "get_updates_for": "no state updates",
    "make_predict_function": "`predict`", "make_test_function": "`evaluate`",
    "make_train_function": "`fit`", "predict_step": "Sequential or functional Model",
    "test_step": "Sequential or functional Model", "train_step": "Sequential or functional Model",
    "to_yaml": "model.to_json()", "with_name_scope": "name=",
}
MODEL_PROPERTY_ERRORS = {
    "activity_regularizer": "weight_decay", "distribute_strategy": "gdlab.sweep",
    "dtype_policy": "'float32'", "inbound_nodes": "model.input", "outbound_nodes": "model.output",
    "input_mask": "no masks", "output_mask": "no masks", "input_spec": "model.input_shape",
    "metrics": "model.metrics_names", "name_scope": "model.name", "state_updates": "no state",
    "submodules": "model.layers", "supports_masking": "no masks", "updates": "no state",
}
UTILS_ERRORS = {
    "CustomObjectScope": "model.to_json()", "custom_object_scope": "model.to_json()",
    "get_custom_objects": "model_from_json", "register_keras_serializable": "model.to_json()",
    "get_registered_name": "model.to_json()", "get_registered_object": "model.to_json()",
    "serialize_keras_object": "model.get_config()", "deserialize_keras_object": "from_config",
    "GeneratorEnqueuer": "fit_generator", "OrderedEnqueuer": "fit_generator",
    "SequenceEnqueuer": "model.fit", "Progbar": "verbose=1", "get_file": "gdlab.datasets",
    "get_source_inputs": "model.inputs", "model_to_dot": "model.summary()",
    "plot_model": "model.summary()",
}


def one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and message.count(". ") <= 1


@pytest.mark.parametrize("model_type", [Sequential, Model])
@pytest.mark.parametrize(("name", "replacement"), sorted(MODEL_METHOD_ERRORS.items()))
def test_unsupported_methods_name_the_replacement(model_type, name, replacement) -> None:
    model = logistic() if model_type is Sequential else Model(inp := Input(shape=(4,)),
                                                             Dense(1)(inp))
    with pytest.raises(NotSupportedError, match=re.escape(replacement)) as info:
        getattr(model, name)()
    assert str(info.value).startswith(f"`model.{name}` is not supported by gdlab: ")
    assert one_sentence(str(info.value))


@pytest.mark.parametrize(("name", "replacement"), sorted(MODEL_PROPERTY_ERRORS.items()))
def test_unsupported_properties_name_the_replacement(name, replacement) -> None:
    model = logistic()
    with pytest.raises(NotSupportedError, match=re.escape(replacement)) as info:
        getattr(model, name)
    assert one_sentence(str(info.value))
    with pytest.raises(NotSupportedError, match=re.escape(replacement)):
        setattr(model, name, None)


@pytest.mark.parametrize(("name", "replacement"), sorted(UTILS_ERRORS.items()))
def test_unsupported_utils_name_the_replacement(name, replacement) -> None:
    with pytest.raises(NotSupportedError, match=re.escape(replacement)) as info:
        getattr(ku, name)("x")
    assert str(info.value).startswith(f"tf.keras.utils.{name} is not supported by gdlab: ")
    assert one_sentence(str(info.value))


def test_experimental_dataset_creator_says_use_fit() -> None:
    with pytest.raises(NotSupportedError, match=r"pass arrays to model\.fit"):
        ku.experimental.DatasetCreator(lambda ctx: None)


def test_unsupported_classes_fail_when_instantiated_not_when_subclassed() -> None:
    class MyQueue(ku.OrderedEnqueuer):
        pass

    with pytest.raises(NotSupportedError, match="fit_generator"):
        MyQueue()


def test_the_error_tables_match_these_tests_and_stub_nothing_gdlab_implements() -> None:
    assert set(_compat.UNSUPPORTED_METHODS) == set(MODEL_METHOD_ERRORS)
    assert set(_compat.UNSUPPORTED_PROPERTIES) == set(MODEL_PROPERTY_ERRORS)
    assert set(ku.UNSUPPORTED) == set(UTILS_ERRORS) | {"experimental.DatasetCreator"}
    own = set(vars(Model)) | set(vars(Sequential))
    assert own.isdisjoint(set(_compat.UNSUPPORTED_METHODS) | set(_compat.UNSUPPORTED_PROPERTIES))


# ------------------------------------------------------------------ the doc page


def doc_rows() -> dict[str, str]:
    """``name -> status`` from the table of docs/keras-compat.md."""
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| `([^`]+)` \| ([^|]+) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


def test_the_doc_page_lists_every_name_and_says_how_it_behaves() -> None:
    rows = doc_rows()
    inp = Input(shape=(4,))
    instances = {"Model": Model(inp, Dense(1)(inp)), "Sequential": logistic(), "utils": ku}
    documented_errors = {n for n, s in rows.items() if s.startswith("error")}
    expected_errors = ({f"Model.{n}" for n in (*MODEL_METHOD_ERRORS, *MODEL_PROPERTY_ERRORS)}
                       | {f"utils.{n}" for n in (*UTILS_ERRORS, "experimental.DatasetCreator")})
    assert documented_errors == expected_errors
    for name, status in rows.items():
        owner, attr = name.split(".", 1)
        assert attr.split(".")[0] in dir(instances[owner]), name  # dir() reads no property
        assert status in {"works", "works, deprecated in TF 2.x (warns)"} or status.startswith(
            "error"), name
    assert len([n for n in rows if n.startswith("Model.")]) >= 80
    readme = (DOC.parents[1] / "README.md").read_text()
    assert "docs/keras-compat.md" in readme
