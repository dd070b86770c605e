"""gdlab.keras callbacks and model files: EarlyStopping against Keras in real training,
ModelCheckpoint and save/load round trips, TensorBoard event files read back with
TensorBoard's reader, and the course's Exercise 4 with only its imports changed."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

import gdlab.keras as gk
from gdlab import checkpoint
from gdlab.errors import ConfigError, DataError, NotSupportedError, ShapeError
from gdlab.keras.callbacks import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    TensorBoard,
)
from gdlab.keras.models import load_model, model_from_json

RNG = np.random.default_rng(0)
N = 120
X = RNG.normal(size=(N, 4)).astype(np.float32)
Y = ((X @ RNG.normal(size=4) + RNG.normal(size=N)) > 0).astype(np.float32)
W0 = [RNG.normal(scale=0.5, size=(4, 8)).astype(np.float32), np.zeros(8, np.float32),
      RNG.normal(scale=0.5, size=(8, 1)).astype(np.float32), np.zeros(1, np.float32)]
TRAIN, VAL = slice(0, 80), slice(80, N)


def build(lib, lr: float = 0.2, optimizer: str = "SGD"):
    model = lib.Sequential([lib.Input(shape=(4,)), lib.layers.Dense(8, activation="tanh"),
                            lib.layers.Dense(1, activation="sigmoid")])
    model.set_weights(W0)
    model.compile(optimizer=getattr(lib.optimizers, optimizer)(learning_rate=lr),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def fit(model, epochs: int = 20, callbacks=(), **kwargs):
    return model.fit(X[TRAIN], Y[TRAIN], validation_data=(X[VAL], Y[VAL]), epochs=epochs,
                     batch_size=16, shuffle=False, verbose=0, callbacks=list(callbacks),
                     **kwargs)


def run_both(lr: float, epochs: int, **es_kwargs):
    """Train the same network in gdlab and in Keras with EarlyStopping(**es_kwargs)."""
    gd = build(gk, lr)
    gd_cb = EarlyStopping(**es_kwargs)
    h_gd = fit(gd, epochs, [gd_cb])
    with jax.numpy_rank_promotion("allow"):
        kr = build(keras, lr)
        kr_cb = keras.callbacks.EarlyStopping(**es_kwargs)
        h_kr = fit(kr, epochs, [kr_cb])
    return (h_gd, gd, gd_cb), (h_kr, kr, kr_cb)


# ------------------------------------------------------------ EarlyStopping vs Keras

# With SGD(0.2) val_loss falls until epoch 9 (0.4468), then rises; with SGD(0.05) it
# falls all the way, by less than 0.03 per epoch from epoch 6 on.
@pytest.mark.parametrize("lr, kwargs, epochs_run, best_epoch", [
    (0.2, {"patience": 1}, 11, 9),
    (0.2, {"patience": 3}, 13, 9),
    (0.2, {"patience": 3, "restore_best_weights": True}, 13, 9),
    (0.05, {"patience": 1, "min_delta": 0.03}, 7, 5),
    (0.05, {"patience": 2, "min_delta": 0.03}, 12, 9),  # 9 is 0.037 below 7, not below 8
    (0.2, {"patience": 3, "baseline": 0.44}, 11, 9),  # never beats 0.44: no reset
    (0.2, {"patience": 30, "restore_best_weights": True}, 20, 9),  # runs to the end
    (0.2, {"patience": 1, "start_from_epoch": 12}, 14, 12),
])
def test_early_stopping_matches_keras_in_training(lr, kwargs, epochs_run, best_epoch) -> None:
    (h_gd, gd, gd_cb), (h_kr, kr, kr_cb) = run_both(lr, 20, monitor="val_loss", **kwargs)
    assert len(h_gd.history["loss"]) == len(h_kr.history["loss"]) == epochs_run
    np.testing.assert_allclose(h_gd.history["val_loss"], h_kr.history["val_loss"], atol=1e-5)
    # The decisions did not hinge on float noise: every compared gap is far above 1e-5.
    val = np.array(h_gd.history["val_loss"])
    delta = kwargs.get("min_delta", 0.0)
    assert np.min(np.abs(np.subtract.outer(val, val) + delta)[~np.eye(len(val), dtype=bool)]) > 1e-4
    assert (gd_cb.stopped_epoch, gd_cb.best_epoch, gd_cb.wait) == \
        (kr_cb.stopped_epoch, kr_cb.best_epoch, kr_cb.wait)
    assert gd_cb.best_epoch == best_epoch
    assert gd_cb.best == pytest.approx(float(kr_cb.best), abs=1e-6)
    for a, b in zip(gd.get_weights(), kr.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    if kwargs.get("restore_best_weights"):
        restored = gd.evaluate(X[VAL], Y[VAL], verbose=0)[0]
        assert restored == pytest.approx(h_gd.history["val_loss"][best_epoch], abs=1e-6)


def test_early_stopping_on_accuracy_in_auto_mode() -> None:
    (h_gd, _, gd_cb), (h_kr, _, kr_cb) = run_both(0.2, 20, monitor="val_accuracy", patience=2)
    assert len(h_gd.history["loss"]) == len(h_kr.history["loss"]) < 20
    assert gd_cb.best == pytest.approx(max(h_gd.history["val_accuracy"]))
    assert (gd_cb.stopped_epoch, gd_cb.best_epoch) == (kr_cb.stopped_epoch, kr_cb.best_epoch)


def test_early_stopping_verbose_lines(capsys) -> None:
    model = build(gk)
    fit(model, 20, [EarlyStopping(patience=1, verbose=1, restore_best_weights=True)])
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 11: early stopping",
        "Restoring model weights from the end of the best epoch: 10.",
    ]


def test_early_stopping_missing_monitor_warns_like_keras() -> None:
    model = build(gk)
    with pytest.warns(UserWarning, match=r"Early stopping conditioned on metric `val_loss` which "
                                         r"is not available. Available metrics are: accuracy,loss"):
        h = model.fit(X, Y, epochs=2, verbose=0, callbacks=[EarlyStopping()])
    assert len(h.history["loss"]) == 2


def test_early_stopping_unknown_metric_direction() -> None:
    model = build(gk)
    with pytest.raises(ConfigError, match=r"Cannot tell whether `monitor='val_f1'` should be "
                                          r"minimized or maximized"):
        fit(model, 2, [EarlyStopping(monitor="val_f1")])


def test_one_early_stopping_serves_several_fits() -> None:
    cb = EarlyStopping(patience=1)
    model = build(gk)
    first = fit(model, 20, [cb])
    assert len(first.history["loss"]) == 11
    second = fit(model, 3, [cb])  # state was reset: a fresh run of the rule
    assert cb.best == pytest.approx(min(second.history["val_loss"]))


# ------------------------------------------------------------------ ModelCheckpoint


def test_save_best_only_keeps_the_best_epoch(tmp_path: Path, capsys) -> None:
    model = build(gk)
    path = tmp_path / "udemy" / "weights.hdf5"
    h = fit(model, 14, [ModelCheckpoint(filepath=str(path), verbose=1, save_best_only=True)])
    best = int(np.argmin(h.history["val_loss"]))
    assert best == 9
    loaded = load_model(path)
    assert checkpoint.load(path).settings["checkpoint"]["epoch"] == best + 1
    assert loaded.evaluate(X[VAL], Y[VAL], verbose=0)[0] == pytest.approx(
        h.history["val_loss"][best], abs=1e-6)
    out = capsys.readouterr().out
    assert f"\nEpoch 1: val_loss improved from None to {h.history['val_loss'][0]:.5f}, saving " \
           f"model to {path}\n" in out
    assert f"\nEpoch 11: val_loss did not improve from {h.history['val_loss'][9]:.5f}\n" in out
    assert f"\nEpoch 10: finished saving model to {path}\n" in out


def test_filepath_template_and_every_epoch(tmp_path: Path) -> None:
    model = build(gk)
    template = str(tmp_path / "w.{epoch:02d}-{val_loss:.2f}.keras")
    h = fit(model, 3, [ModelCheckpoint(template)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"w.{e + 1:02d}-{v:.2f}.keras" for e, v in enumerate(h.history["val_loss"])]


def test_save_weights_only(tmp_path: Path) -> None:
    model = build(gk)
    fit(model, 2, [ModelCheckpoint(tmp_path / "w.weights.h5", save_weights_only=True)])
    settings = checkpoint.load(tmp_path / "w.weights.h5").settings
    assert "optimizer" not in settings and settings["checkpoint"]["epoch"] == 2
    other = build(gk)
    other.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    uncompiled = load_model(tmp_path / "w.weights.h5")
    assert uncompiled.optimizer is None
    np.testing.assert_array_equal(uncompiled.predict(X, verbose=0), model.predict(X, verbose=0))


def test_checkpoint_mode_max_and_threshold_persist_across_fits(tmp_path: Path) -> None:
    cb = ModelCheckpoint(tmp_path / "best.keras", monitor="val_accuracy", save_best_only=True,
                         initial_value_threshold=0.6)
    model = build(gk)
    h = fit(model, 1, [cb])
    assert max(h.history["val_accuracy"]) <= 0.6 and not (tmp_path / "best.keras").exists()
    h = fit(model, 8, [cb])
    assert cb.best == max(h.history["val_accuracy"]) > 0.6
    assert (tmp_path / "best.keras").exists()


def test_checkpoint_missing_monitor_warns_and_saves(tmp_path: Path) -> None:
    model = build(gk)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available."):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ModelCheckpoint(tmp_path / "m.keras", save_best_only=True)])
    assert (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("filepath, message", [
    ("w.{epoch.real}.keras", r"has the field \{epoch.real\}; fields must be plain names"),
    ("w.{0}.keras", r"has the field \{0\}"),
    ("w.{epoch:{width}}.keras", r"fields must be plain names"),
    ("w.{epoch.keras", r"Cannot read the ModelCheckpoint filepath"),
])
def test_filepath_fields_are_plain_names(filepath: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelCheckpoint(filepath)


def test_filepath_with_an_unknown_metric(tmp_path: Path) -> None:
    model = build(gk)
    with pytest.raises(ConfigError, match=r"no value for \{val_auc\}. Available names: epoch, "
                                          r"accuracy, loss, val_accuracy, val_loss"):
        fit(model, 1, [ModelCheckpoint(str(tmp_path / "{val_auc:.2f}.keras"))])


def test_checkpoint_settings_errors() -> None:
    with pytest.raises(NotSupportedError, match=r"save_freq=5 \(every 5 batches\) is not available"):
        ModelCheckpoint("m.keras", save_freq=5)
    with pytest.raises(ConfigError, match="Unrecognized save_freq: 'batch'"):
        ModelCheckpoint("m.keras", save_freq="batch")
    with pytest.raises(ConfigError, match="`mode` of `ModelCheckpoint` must be 'auto', 'min' or "
                                          "'max', got 'maximum'"):
        ModelCheckpoint("m.keras", mode="maximum")


# ------------------------------------------------------------- save / load_model


def test_save_and_load_model_predict_identically_and_resume(tmp_path: Path) -> None:
    model = build(gk, lr=0.01, optimizer="Adam")
    fit(model, 3)
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.name == model.name
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert type(loaded.optimizer).__name__ == "Adam" and loaded.optimizer.learning_rate == 0.01
    assert loaded.optimizer.iterations == model.optimizer.iterations == 15
    # Adam's moments came back: two more epochs give the same weights as uninterrupted training.
    fit(model, 2)
    fit(loaded, 2)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_functional_model_round_trip(tmp_path: Path) -> None:
    gk.backend.clear_session()
    inputs = gk.Input(shape=(4,), name="features")
    hidden = gk.layers.Dense(3, activation="relu", kernel_initializer="he_normal")(inputs)
    act = gk.layers.Activation("tanh")(hidden)
    outputs = gk.layers.Dense(2, activation="softmax", use_bias=False)(act)
    model = gk.Model(inputs=inputs, outputs=outputs, name="net")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop")
    model.save(tmp_path / "net.h5")
    loaded = load_model(tmp_path / "net.h5")
    assert isinstance(loaded, gk.Model) and not isinstance(loaded, gk.Sequential)
    assert loaded.name == "net" and loaded.input._layer.name == "features"
    assert loaded.network_spec() == model.network_spec()
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.optimizer.iterations == 0 and loaded.loss == "sparse_categorical_crossentropy"


def test_load_model_of_a_plain_api_checkpoint(tmp_path: Path) -> None:
    model = build(gk)
    params = [{k: np.asarray(v) for k, v in p.items()} for p in model._params()]
    checkpoint.save(tmp_path / "c.safetensors", model.network_spec(), params, {"seed": 1})
    loaded = load_model(tmp_path / "c.safetensors")
    assert loaded.optimizer is None
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_loading_does_not_draw_from_the_random_stream(tmp_path: Path) -> None:
    model = build(gk)
    model.save(tmp_path / "m.keras")
    gk.utils.set_random_seed(3)
    load_model(tmp_path / "m.keras")
    after_load = gk.layers.Dense(2)
    gk.Sequential([gk.Input(shape=(4,)), after_load])
    gk.utils.set_random_seed(3)
    fresh = gk.layers.Dense(2)
    gk.Sequential([gk.Input(shape=(4,)), fresh])
    np.testing.assert_array_equal(after_load.kernel, fresh.kernel)


def test_load_weights_into_another_architecture(tmp_path: Path) -> None:
    model = build(gk)
    model.save_weights(tmp_path / "w.weights.h5")
    other = gk.Sequential([gk.Input(shape=(4,)), gk.layers.Dense(5), gk.layers.Dense(1)])
    with pytest.raises(ShapeError, match=r"w\.weights\.h5 holds weights for a 4-8-1 network .* "
                                         r"but the model is 4-5-1"):
        other.load_weights(tmp_path / "w.weights.h5")


def test_load_model_errors_name_the_file(tmp_path: Path) -> None:
    model = build(gk)
    model.save(tmp_path / "m.keras")
    data = (tmp_path / "m.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.keras is truncated"):
        load_model(tmp_path / "cut.keras")
    with pytest.raises(FileNotFoundError, match="No checkpoint file at"):
        load_model(tmp_path / "missing.keras")
    with pytest.raises(FileExistsError, match=r"m\.keras exists; pass overwrite=True"):
        model.save(tmp_path / "m.keras", overwrite=False)


def test_keras_written_files_are_refused_clearly(tmp_path: Path) -> None:
    with jax.numpy_rank_promotion("allow"):
        kr = build(keras)
        kr.save(tmp_path / "keras_model.keras")
        kr.save_weights(tmp_path / "keras.weights.h5")
    with pytest.raises(NotSupportedError, match=r"keras_model\.keras is a zip archive"):
        load_model(tmp_path / "keras_model.keras")
    with pytest.raises(NotSupportedError, match=r"keras\.weights\.h5 is an HDF5 file"):
        build(gk).load_weights(tmp_path / "keras.weights.h5")


def test_save_arguments() -> None:
    model = build(gk)
    with pytest.raises(ConfigError, match="Unknown argument"):
        model.save("m.keras", save_format="h5")
    with pytest.raises(NotSupportedError, match="zipped=False"):
        model.save("m.keras", zipped=False)


# ------------------------------------------------------------- Keras JSON configs


def test_keras_rebuilds_gdlab_architectures() -> None:
    gd = build(gk)
    with jax.numpy_rank_promotion("allow"):
        kr = keras.models.model_from_json(gd.to_json())
        kr.set_weights(gd.get_weights())
        want = np.asarray(kr.predict(X, verbose=0))
    assert [layer.name for layer in kr.layers] == [layer.name for layer in gd.layers]
    np.testing.assert_allclose(gd.predict(X, verbose=0), want, atol=1e-6)


def test_keras_rebuilds_a_functional_gdlab_model() -> None:
    inputs = gk.Input(shape=(4,))
    x = gk.layers.Dense(3, activation="relu")(inputs)
    x = gk.layers.Activation("tanh")(x)
    model = gk.Model(inputs, gk.layers.Dense(2, activation="softmax")(x))
    with jax.numpy_rank_promotion("allow"):
        kr = keras.models.model_from_json(model.to_json())
        kr.set_weights(model.get_weights())
        want = np.asarray(kr.predict(X, verbose=0))
    np.testing.assert_allclose(model.predict(X, verbose=0), want, atol=1e-6)


def test_gdlab_reads_keras_architectures() -> None:
    with jax.numpy_rank_promotion("allow"):
        kr = keras.Sequential([keras.Input(shape=(4,)),
                               keras.layers.Dense(3, activation="relu", name="hidden",
                                                  kernel_initializer="he_uniform"),
                               keras.layers.Dense(1, activation="sigmoid", use_bias=False)])
        text = kr.to_json()
        i = keras.Input(shape=(4,))
        branch = keras.layers.Dense(2)(i)
        fork = keras.Model(i, keras.layers.Add()([branch, keras.layers.Dense(2)(i)]))
        fork_text = fork.to_json()
    model = model_from_json(text)
    assert model.network_spec() == gk.Sequential([
        gk.Input(shape=(4,)), gk.layers.Dense(3, activation="relu", kernel_initializer="he_uniform"),
        gk.layers.Dense(1, activation="sigmoid", use_bias=False)]).network_spec()
    assert model.layers[0].name == "hidden"
    with pytest.raises(NotSupportedError, match=r"'Add' is not supported"):
        model_from_json(fork_text)


def test_get_config_is_kerass_inner_config() -> None:
    model = build(gk)
    config = model.get_config()
    assert config["name"] == model.name
    assert [layer["class_name"] for layer in config["layers"]] == ["InputLayer", "Dense", "Dense"]
    assert json.loads(model.to_json())["config"] == config


# ------------------------------------------------------------------- TensorBoard


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_writes_keras_layout(tmp_path: Path) -> None:
    model = build(gk)
    h = fit(model, 3, [TensorBoard(log_dir=tmp_path, histogram_freq=2,
                                   write_steps_per_second=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train", "validation"]
    train = scalars(tmp_path / "train")
    assert sorted(train) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss",
                             "epoch_steps_per_second"]
    for name in ("loss", "accuracy"):
        assert [s for s, _ in train[f"epoch_{name}"]] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{name}"]], h.history[name],
                                   rtol=1e-7)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.2] * 3)
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])
    validation = scalars(tmp_path / "validation")
    assert sorted(validation) == ["epoch_accuracy", "epoch_loss", "evaluation_accuracy_vs_iterations",
                                  "evaluation_loss_vs_iterations"]
    np.testing.assert_allclose([v for _, v in validation["epoch_loss"]], h.history["val_loss"],
                               rtol=1e-7)
    # Keras steps evaluation_* by the optimizer's update count: 5 batches per epoch.
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]] == [5, 10, 15]
    acc = event_accumulator.EventAccumulator(str(tmp_path / "train"),
                                             size_guidance={"histograms": 0})
    acc.Reload()
    assert sorted(acc.Tags()["histograms"]) == sorted(
        f"{model.name}/{layer.name}/{w}/histogram" for layer in model.layers
        for w in ("kernel", "bias"))
    assert [e.step for e in acc.Histograms(f"{model.name}/{model.layers[0].name}/kernel/histogram")] \
        == [0, 2]
    assert "keras" in acc.Tags()["tensors"]  # the model graph (write_graph=True)


def test_tensorboard_unsupported_arguments() -> None:
    with pytest.raises(NotSupportedError, match="update_freq='batch' .* is not available"):
        TensorBoard(update_freq="batch")
    with pytest.raises(NotSupportedError, match="`profile_batch` of TensorBoard"):
        TensorBoard(profile_batch=2)
    with pytest.raises(ConfigError, match="`histogram_freq` of `TensorBoard` must be an integer"):
        TensorBoard(histogram_freq=-1)


# ------------------------------------------------------------- Callback protocol


def test_hooks_are_called_with_keras_signatures() -> None:
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, logs)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: calls.append(("train_end", sorted(logs))),
    )
    fit(build(gk), 2, [cb], initial_epoch=0)
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert calls == [("train_begin", None), ("epoch_begin", 0, None), ("epoch_end", 0, keys),
                     ("epoch_begin", 1, None), ("epoch_end", 1, keys), ("train_end", keys)]


def test_subclass_sees_params_and_model() -> None:
    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            self.seen = (self.params, self.model)

    cb = Recorder()
    model = build(gk)
    fit(model, 1, [cb])
    assert cb.seen == ({"verbose": 0, "epochs": 1, "steps": 5}, model)


def test_overriding_a_hook_gdlab_never_calls_is_refused() -> None:
    class PerBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    with pytest.raises(NotSupportedError, match=r"PerBatch overrides on_train_batch_end, which "
                                                r"gdlab never calls"):
        fit(build(gk), 1, [PerBatch()])
    with pytest.raises(NotSupportedError, match="Batch-level hooks"):
        LambdaCallback(on_train_batch_end=print)
    with pytest.raises(NotSupportedError, match=r"on_test_end"):
        LambdaCallback(on_test_end=print)


# ----------------------------------------------------------- the course, Exercise 4

COURSE_EXERCISE_4 = """
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler
from sklearn.model_selection import train_test_split

import tensorflow.keras.backend as K
from tensorflow.keras.models import Model
from tensorflow.keras.layers import Input, Dense
from tensorflow.keras.optimizers import RMSprop
from tensorflow.keras.callbacks import ModelCheckpoint, EarlyStopping, TensorBoard

wine = load_wine(as_frame=True)
df = wine.frame.rename(columns={'target': 'Class'})
y = df['Class']
y_cat = pd.get_dummies(y)
X = df.drop('Class', axis=1)
sc = StandardScaler()
Xsc = sc.fit_transform(X)

checkpointer = ModelCheckpoint(filepath="/tmp/udemy/weights.hdf5", verbose=1, save_best_only=True)
earlystopper = EarlyStopping(monitor='val_loss', min_delta=0, patience=1, verbose=1, mode='auto')
tensorboard = TensorBoard(log_dir='/tmp/udemy/tensorboard/')

X_train, X_test, y_train, y_test = train_test_split(Xsc, y_cat.values,
                                                    test_size=0.3, random_state=42)

K.clear_session()
inputs = Input(shape=(13,))
x = Dense(8, kernel_initializer='he_normal', activation='tanh')(inputs)
x = Dense(5, kernel_initializer='he_normal', activation='tanh')(x)
second_to_last = Dense(2, kernel_initializer='he_normal', activation='tanh')(x)
outputs = Dense(3, activation='softmax')(second_to_last)
model = Model(inputs=inputs, outputs=outputs)
model.compile(RMSprop(learning_rate=0.05), 'categorical_crossentropy', metrics=['accuracy'])
h = model.fit(X_train, y_train, batch_size=32, epochs=20, verbose=2,
              validation_data=(X_test, y_test),
              callbacks=[checkpointer, earlystopper, tensorboard])
"""


def test_course_exercise_4(tmp_path: Path, capsys) -> None:
    source = COURSE_EXERCISE_4.replace("tensorflow.keras", "gdlab.keras")
    source = source.replace("/tmp/udemy", str(tmp_path / "udemy"))
    assert "tensorflow" not in source and "/tmp/udemy" not in source
    # The test adds one callback of its own, to see the weights at each epoch's end.
    source = source.replace("tensorboard])", "tensorboard, recorder])")
    weights: list[list[np.ndarray]] = []
    recorder = LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(
        ns["model"].get_weights()))
    gk.utils.set_random_seed(42)
    ns: dict = {"recorder": recorder}
    exec(compile(source, "exercise_4", "exec"), ns)  # the course's code, imports changed
    h, model = ns["h"], ns["model"]
    val_loss = h.history["val_loss"]
    out = capsys.readouterr().out

    # EarlyStopping(patience=1) ends training at the first epoch that does not improve
    # (with this seed, epoch 15 of 20).
    n = len(val_loss)
    assert n < 20
    assert val_loss[-1] >= min(val_loss[:-1])
    assert all(b < a for a, b in zip(val_loss[:-2], val_loss[1:-1], strict=True))
    assert f"Epoch {n}: early stopping" in out

    # The checkpoint holds the best epoch: it loads and predicts as the model did then.
    path = tmp_path / "udemy" / "weights.hdf5"
    best = int(np.argmin(val_loss))
    assert best == n - 2
    assert checkpoint.load(path).settings["checkpoint"]["epoch"] == best + 1
    loaded = load_model(path)
    for a, b in zip(loaded.get_weights(), weights[best], strict=True):
        np.testing.assert_array_equal(a, b)
    x_test, y_test = ns["X_test"], ns["y_test"]
    model.set_weights(weights[best])
    np.testing.assert_array_equal(loaded.predict(x_test, verbose=0),
                                  model.predict(x_test, verbose=0))
    loss, acc = loaded.evaluate(x_test, y_test, verbose=0)
    assert loss == pytest.approx(val_loss[best], abs=1e-6)
    assert acc == pytest.approx(h.history["val_accuracy"][best], abs=1e-6)

    # TensorBoard: Keras's layout and tags, values equal to the History.
    logdir = tmp_path / "udemy" / "tensorboard"
    train, validation = scalars(logdir / "train"), scalars(logdir / "validation")
    assert sorted(train) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert sorted(validation) == ["epoch_accuracy", "epoch_loss",
                                  "evaluation_accuracy_vs_iterations",
                                  "evaluation_loss_vs_iterations"]
    assert [s for s, _ in train["epoch_loss"]] == list(range(n))
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], h.history["loss"], rtol=1e-7)
    np.testing.assert_allclose([v for _, v in validation["epoch_loss"]], val_loss, rtol=1e-7)
    np.testing.assert_allclose([v for _, v in validation["epoch_accuracy"]],
                               h.history["val_accuracy"], rtol=1e-7)
