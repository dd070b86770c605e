"""Figures of the inside of networks: representations, decision boundaries, convergence."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import animation  # noqa: E402

from gdlab import plots, sweeps  # noqa: E402
from gdlab import representations as rep  # noqa: E402
from gdlab.errors import ConfigError  # noqa: E402
from gdlab.results import SweepResult  # noqa: E402
from gdlab.specs import sweep_spec  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def frames(epochs: int = 6, rows: int = 12, units: int = 2) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(rows, units))
    return np.stack([base * (1 + e) for e in range(epochs)])


def test_scatter_is_colored_by_class_with_named_classes() -> None:
    f = frames()[0]
    y = np.arange(12) % 3
    fig = plots.plot_representation(f, y, class_names=["1", "2", "3"], title="features")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), f)
    np.testing.assert_array_equal(ax.collections[0].get_array(), y)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1", "2", "3"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("unit 1", "unit 2",
                                                                  "features")
    wide = plots.plot_representation(frames(units=4)[0], y)
    assert wide.axes[0].get_xlabel().startswith("PC1 (")
    with pytest.raises(ConfigError, match="12 points but 5 labels"):
        plots.plot_representation(f, y[:5])
    values = np.linspace(0.0, 1.0, 12)  # a regression target: colored by value, no legend
    ax = plots.plot_representation(f, values).axes[0]
    np.testing.assert_allclose(ax.collections[0].get_array(), values)
    assert ax.get_legend() is None


def test_the_course_grid_titles_each_epoch_with_its_accuracy_on_shared_axes() -> None:
    f = frames(epochs=6)
    acc = np.array([0.5, 0.6, 0.852, 0.9, 0.95, 1.0])
    fig = plots.plot_representation_grid(f, np.arange(12) % 2, accuracy=acc, ncols=5)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 6 and len(fig.axes) == 10
    assert [ax.get_title() for ax in shown][:3] == [
        "Epoch: 1, Test Acc: 50.0 %", "Epoch: 2, Test Acc: 60.0 %", "Epoch: 3, Test Acc: 85.2 %"]
    assert len({ax.get_xlim() for ax in shown}) == 1 and len({ax.get_ylim() for ax in shown}) == 1
    np.testing.assert_allclose(shown[4].collections[0].get_offsets(), f[4])
    # a wider layer: one PCA for every epoch, so panel e is projection(frames[e])
    wide = frames(epochs=3, units=5)
    proj = rep.fit_projection(wide)
    fig = plots.plot_representation_grid(wide, None, epochs=[1, 3], set_name="Val")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["Epoch: 1", "Epoch: 3"]
    np.testing.assert_allclose(panels[1].collections[0].get_offsets(), proj.transform(wide[2]))
    with pytest.raises(ConfigError, match="Epochs are counted from 1 to 3; got 4"):
        plots.plot_representation_grid(wide, epochs=[4])
    with pytest.raises(ConfigError, match=r"`accuracy` needs one value per epoch \(3\)"):
        plots.plot_representation_grid(wide, accuracy=[0.5])


def test_twenty_five_panels_at_most_by_default() -> None:
    fig = plots.plot_representation_grid(frames(epochs=40, rows=4))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 25 and titles[0] == "Epoch: 1" and titles[-1] == "Epoch: 40"


def test_the_animation_is_a_gif_with_one_frame_per_epoch(tmp_path, monkeypatch) -> None:
    from PIL import Image

    path = plots.animate_representation(frames(epochs=5), np.arange(12) % 2,
                                        tmp_path / "anim.gif", accuracy=np.linspace(0.5, 1, 5))
    with Image.open(path) as im:
        assert (im.format, im.n_frames) == ("GIF", 5)
    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    with pytest.raises(ConfigError) as info:
        plots.animate_representation(frames(), None, tmp_path / "anim.mp4")
    assert str(info.value) == ("Writing .mp4 needs ffmpeg on the PATH, which is not installed; "
                               "write a .gif instead (Pillow) or install ffmpeg.")
    with pytest.raises(ConfigError, match="Animations are written as .gif or .mp4, got 'a.avi'"):
        plots.animate_representation(frames(), None, tmp_path / "a.avi")


@pytest.mark.skipif(not animation.writers.is_available("ffmpeg"),
                    reason="ffmpeg is not installed (MP4 is optional; GIF is always written)")
def test_the_animation_is_an_mp4_when_ffmpeg_is_present(tmp_path) -> None:
    path = plots.animate_representation(frames(epochs=3), np.arange(12) % 2,
                                        tmp_path / "anim.mp4", fps=2)
    assert path.read_bytes()[4:8] == b"ftyp"  # an ISO media file


def test_decision_boundary_of_two_classes_over_the_input_plane() -> None:
    x = np.array([[-1.0, 0.0], [1.0, 0.5], [0.5, -1.0], [-0.5, 1.0]])
    y = np.array([0, 1, 1, 0])

    def predict(v):  # class 1 right of x1 = 0.2
        return 1 / (1 + np.exp(-10 * (v[:, :1] - 0.2)))

    fig = plots.plot_decision_boundary(predict, x, y, resolution=41)
    ax = fig.axes[0]
    boundary = ax.collections[-2]  # the 0.5 contour, drawn before the points
    xs = np.concatenate([p.vertices[:, 0] for p in boundary.get_paths()])
    np.testing.assert_allclose(xs, 0.2, atol=0.02)
    np.testing.assert_allclose(ax.collections[-1].get_offsets(), x)
    assert fig.axes[1].get_ylabel() == "P(class 1)"
    assert (ax.get_xlabel(), ax.get_title()) == ("x1", "Decision boundary")


def test_decision_boundary_over_two_chosen_features_holds_the_others() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4)) + np.array([0.0, 5.0, 0.0, -3.0])
    seen = []

    def predict(v):
        seen.append(v.copy())
        z = np.stack([v[:, 0], v[:, 2], -v[:, 0] - v[:, 2]], axis=1)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    fig = plots.plot_decision_boundary(predict, x, np.arange(30) % 3, features=(0, 2),
                                       resolution=10, feature_names=["a", "b", "c", "d"])
    grid = seen[0]
    assert grid.shape == (100, 4)
    np.testing.assert_allclose(grid[:, 1], x[:, 1].mean(), rtol=1e-6)
    np.testing.assert_allclose(grid[:, 3], x[:, 3].mean(), rtol=1e-6)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("a", "c")
    assert ax.get_title() == "Decision boundary (other features at their mean)"
    image = ax.get_images()[0].get_array()
    assert image.shape == (10, 10, 4)
    with pytest.raises(ConfigError, match=r"two different feature indices in 0..3, got \(1, 1\)"):
        plots.plot_decision_boundary(predict, x, features=(1, 1))


def test_decision_boundary_of_a_trained_keras_model() -> None:
    import gdlab.keras as gk
    from gdlab import datasets

    d = datasets.blobs(n_samples=60)
    gk.utils.set_random_seed(0)
    model = gk.Sequential([gk.layers.Dense(1, input_shape=(2,), activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(d.x, d.y, epochs=2, verbose=0)
    fig = plots.plot_decision_boundary(model, d.x, d.y, resolution=20)
    assert fig.axes[1].get_ylabel() == "P(class 1)"


@pytest.fixture(scope="module")
def sweep():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    # tanh: no dead units, so no seed ends on one class (the subject here is the figure).
    return sweeps.sweep((x[:60], y[:60], x[60:], y[60:]), grid={"hidden": ["4-2", "3"]},
                        optimizer="adam", activation="tanh", epochs=3, batch_size=20, seeds=2,
                        record_layers=(-2,), progress=False), y[60:], x[60:]


def test_one_panel_per_configuration_at_a_chosen_epoch(sweep) -> None:
    result, y_test, x_test = sweep
    fig = plots.plot_sweep_representations(result, y_test, epoch=2, seed=1)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    acc = result.history["test_accuracy"][1, 1]
    assert [ax.get_title() for ax in panels] == [f"4-2\ntest_accuracy {acc[0]:.3g}",
                                                 f"3\ntest_accuracy {acc[1]:.3g}"]
    np.testing.assert_allclose(panels[0].collections[0].get_offsets(),
                               result.taps[-2][0][1, 1])
    assert panels[1].get_xlabel().startswith("PC1")  # 3 units, projected
    final = plots.plot_sweep_representations(result, y_test, x=x_test)
    np.testing.assert_allclose(final.axes[0].collections[0].get_offsets(),
                               rep.config_activations(result, 0, x_test)[0], rtol=1e-5)
    with pytest.raises(ConfigError, match=r"`epoch` is counted from 1 to 3"):
        plots.plot_sweep_representations(result, y_test, epoch=0)


def test_convergence_figure_shows_reach_speed_and_verdict() -> None:
    spec = sweep_spec("lr", base={"epochs": 4}, grid={"learning_rate": [0.01, 0.1]}, seeds=3)
    h = np.array([[[0.5, 1.0], [0.5, 1.0], [0.5, 1.0]],
                  [[1.0, 1.0], [0.5, 1.0], [0.5, 1.0]],
                  [[1.0, 1.0], [1.0, 1.0], [0.5, 1.0]],
                  [[1.0, 1.0], [1.0, 1.0], [0.6, 1.0]]], np.float32)
    result = SweepResult(spec, {"val_accuracy": h}, np.full((3, 2), -1, np.int32))
    fig = plots.plot_convergence(result, "val_accuracy>=1")
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["0.01", "0.1"]
    notes = [t.get_text() for t in left.texts]
    assert notes == ["2/3", "3/3"]
    assert [t.get_text() for t in right.texts] == ["unstable", "stable"]
    only = plots.plot_convergence(result, "val_accuracy>=1", configs=[1])
    assert [t.get_text() for t in only.axes[0].texts] == ["3/3"]
    with pytest.raises(ConfigError, match=r"`configs` are configuration indices in 0..1"):
        plots.plot_convergence(result, "val_accuracy>=1", configs=[2])


def test_the_course_grid_of_a_4_3_2_1_network_on_banknotes(banknotes_path) -> None:
    """The course's figure: the 2-unit layer on the test rows after each of 25 epochs."""
    from gdlab import datasets, preprocessing
    from gdlab.pitfalls import LeakyScaling, collect

    with pytest.warns(LeakyScaling):  # the course scales before splitting
        p = preprocessing.prepare(datasets.banknotes(banknotes_path), scale="course")
    with collect():  # gdlab's advice on the run (a 2-unit relu layer may die) aside
        r = sweeps.sweep(p, hidden="3-2", activation="relu",
                         optimizer="RMSprop(learning_rate=0.01)", batch_size=16, epochs=25,
                         seeds=1, record_layers=(-2,), progress=False)
    acc = r.history["test_accuracy"][:, 0, 0]
    fig = plots.plot_representation_grid(rep.recorded_frames(r), p.y_test, accuracy=acc,
                                         class_names=p.class_names)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 25 and panels[0].get_subplotspec().get_gridspec().get_geometry() \
        == (5, 5)
    assert panels[24].get_title() == f"Epoch: 25, Test Acc: {acc[24] * 100:3.1f} %"
    np.testing.assert_allclose(panels[24].collections[0].get_offsets(),
                               rep.config_activations(r, 0, p.x_test)[0], rtol=1e-5,
                               atol=1e-6)
