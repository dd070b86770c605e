"""Layer taps: any layer, any inputs, from a sweep's weights, a recording or a Keras model."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import gdlab.keras as gk
from gdlab import representations as rep
from gdlab import sweeps
from gdlab.errors import ConfigError, ShapeError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(130, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(int) + (x[:, 1] > 0.8)  # 3 classes
    return x[:90], y[:90], x[90:], y[90:]


@pytest.fixture(scope="module")
def result(data):
    return sweeps.sweep(data, configs=[{"hidden": "5-2", "activation": "tanh"},
                                       {"hidden": "3"}],
                        optimizer="Adam(learning_rate=0.05)", batch_size=16, epochs=4,
                        seeds=[3, 7], record_layers=(-2, 0), progress=False)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_taps_equal_a_hand_computed_forward_pass(result, data) -> None:
    x = data[2]
    p = jax.tree.map(lambda a: np.asarray(a, np.float64)[1], result.params[0])  # seed 7
    h1 = np.tanh(x @ p[0]["kernel"] + p[0]["bias"])
    h2 = np.tanh(h1 @ p[1]["kernel"] + p[1]["bias"])
    out = softmax(h2 @ p[2]["kernel"] + p[2]["bias"])
    acts = rep.config_activations(result, 0, x, layer=-2)
    assert acts.shape == (2, 40, 2)
    np.testing.assert_allclose(acts[1], h2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rep.config_activations(result, 0, x, layer=0)[1], h1,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rep.config_activations(result, 0, x, layer=-1)[1], out,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rep.predictor(result, 0, seed=7)(x), out, rtol=1e-5, atol=1e-6)
    one = rep.activations(p, x, rep.network_of(result, 0), layer=1)
    np.testing.assert_allclose(one, h2, rtol=1e-5, atol=1e-6)
    # relu network, any inputs
    q = jax.tree.map(lambda a: np.asarray(a, np.float64)[0], result.params[1])
    rows = np.array([[1.0, -2.0, 0.5, 3.0]], np.float32)
    np.testing.assert_allclose(rep.config_activations(result, 1, rows, layer=0)[0],
                               np.maximum(rows @ q[0]["kernel"] + q[0]["bias"], 0),
                               rtol=1e-5, atol=1e-6)


def test_every_configuration_and_missing_layers(result, data) -> None:
    acts = rep.sweep_activations(result, data[2][:5], layer=-3)
    assert acts[0].shape == (2, 5, 5) and acts[1] is None
    with pytest.raises(ConfigError) as info:
        rep.config_activations(result, 1, data[2], layer=-3)
    assert str(info.value) == ("Configuration 1 (3, -) has 2 Dense layers (indices 0..1, or -2..-1 "
                               "from the output); got layer -3.")
    with pytest.raises(ShapeError, match="`x` has 3 features"):
        rep.config_activations(result, 0, data[2][:, :3])
    with pytest.raises(ConfigError, match=r"`config` must be a configuration index in 0..1"):
        rep.config_activations(result, 2, data[2])
    with pytest.raises(ConfigError, match=r"Seed 4 is not one of this sweep's seeds \(3, 7\)"):
        rep.predictor(result, 0, seed=4)


def test_recorded_epochs_equal_the_saved_weights_of_that_epoch(result, data) -> None:
    """Train for 4 epochs recording the layers; retrain the same config and seeds for k < 4
    epochs: its final weights give the recorded frame of epoch k - 1."""
    x_test = data[2]
    shorter = sweeps.sweep(data, configs=[{"hidden": "5-2", "activation": "tanh",
                                           "epochs": k} for k in (1, 2, 3)],
                           optimizer="Adam(learning_rate=0.05)", batch_size=16, seeds=[3, 7],
                           progress=False)
    for c, k in enumerate((1, 2, 3)):
        for layer in (-2, 0):
            again = rep.config_activations(shorter, c, x_test, layer=layer)
            recorded = result.taps[layer][0][k - 1]
            np.testing.assert_allclose(again, recorded, rtol=1e-5, atol=1e-6,
                                       err_msg=f"epoch {k}, layer {layer}")
    # the frames move: epoch 1 and epoch 4 differ
    frames = rep.recorded_frames(result, 0, seed=7, layer=-2)
    assert frames.shape == (4, 40, 2)
    assert np.abs(frames[0] - frames[-1]).max() > 1e-3
    np.testing.assert_allclose(frames[-1], rep.config_activations(result, 0, x_test)[1],
                               rtol=1e-5, atol=1e-6)


def test_recorded_frames_say_how_to_record(result) -> None:
    with pytest.raises(ConfigError) as info:
        rep.recorded_frames(result, 0, layer=1)
    assert str(info.value) == ("This sweep did not record layer 1 (recorded: -2, 0); run it "
                               "with record_layers=(1,).")
    # in a 1-hidden-layer network, layers 0 and -2 are the same layer
    np.testing.assert_array_equal(rep.recorded_frames(result, 1, 3, layer=0),
                                  rep.recorded_frames(result, 1, 3, layer=-2))


def test_a_keras_model_taps_any_layer_by_index_or_name(data) -> None:
    gk.utils.set_random_seed(1)
    model = gk.Sequential()
    model.add(gk.layers.Dense(3, input_shape=(4,), activation="relu", name="hidden_a"))
    model.add(gk.layers.Dense(2, activation="relu", name="features"))
    model.add(gk.layers.Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    model.fit(data[0], (data[1] > 0).astype(int), epochs=2, batch_size=16, verbose=0)
    w = [np.asarray(a, np.float64) for a in model.get_weights()]
    h1 = np.maximum(data[2] @ w[0] + w[1], 0)
    h2 = np.maximum(h1 @ w[2] + w[3], 0)
    np.testing.assert_allclose(rep.model_activations(model, data[2], 1), h2, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(rep.model_activations(model, data[2], "features"), h2,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rep.model_activations(model, data[2], 0), h1, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ConfigError, match="Unknown layer 'feature'. Did you mean 'features'?"):
        rep.model_activations(model, data[2], "feature")
    with pytest.raises(ConfigError, match=r"The model has 3 layers \(model.layers\[0..2\]\); "
                                          "got layer 3."):
        rep.model_activations(model, data[2], 3)


def test_one_pca_for_all_epochs() -> None:
    rng = np.random.default_rng(2)
    frames = rng.normal(size=(4, 30, 5)) * np.array([3.0, 1.0, 0.5, 0.1, 0.1])
    frames[2, 0] = np.nan  # a diverged row is ignored by the fit
    proj = rep.fit_projection(frames)
    from sklearn.decomposition import PCA

    rows = frames.reshape(-1, 5)
    pca = PCA(2, svd_solver="full").fit(rows[np.isfinite(rows).all(axis=1)])
    xy = proj.transform(frames)
    assert xy.shape == (4, 30, 2) and np.isnan(xy[2, 0]).all()
    for e in range(4):  # every epoch through the same components
        np.testing.assert_allclose(xy[e, 1:], pca.transform(frames[e, 1:]), atol=1e-10)
    assert proj.labels[0].startswith("PC1 (") and proj.labels[0].endswith("% of variance)")
    assert proj.explained[0] > proj.explained[1]
    two = rep.fit_projection(frames[..., :2])
    assert not two.is_pca and two.labels == ("unit 1", "unit 2")
    np.testing.assert_array_equal(two.transform(frames[1, :, :2]), frames[1, :, :2])
    one = rep.fit_projection(frames[..., :1]).transform(frames[0, :, :1])
    np.testing.assert_array_equal(one[:, 1], 0.0)
    with pytest.raises(ShapeError, match="This projection maps 5 units"):
        proj.transform(frames[..., :3])
