"""What to trust: paired comparisons over seeds, and the warnings a result can raise."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab.sweeps as gs
from gdlab.pitfalls import MajorityClass, RisingLoss, SingleSeed
from gdlab.results import SweepResult
from gdlab.specs import sweep_spec
from gdlab.trust import check_result, paired_comparison


def synthetic(values: np.ndarray, metric: str = "test_accuracy") -> SweepResult:
    """A result whose final ``metric`` is ``values[config, seed]``."""
    n_c, n_s = values.shape
    spec = sweep_spec("s", base={"epochs": 1}, grid={"learning_rate": [0.1 * (c + 1)
                                                                       for c in range(n_c)]},
                      seeds=n_s)
    hist = {metric: values.T[None].astype(np.float32),
            "loss": np.full((1, n_s, n_c), 0.5, np.float32)}
    return SweepResult(spec, hist, np.full((n_s, n_c), -1, np.int32))


def test_paired_interval_covers_a_known_difference() -> None:
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.2, size=30)  # large, shared by both settings of a seed
    a = 0.80 + seed_effect + rng.normal(0, 0.01, size=30)
    b = 0.75 + seed_effect + rng.normal(0, 0.01, size=30)  # truly 0.05 lower
    table = paired_comparison(synthetic(np.stack([a, b])))
    row = table.iloc[1]
    assert table.iloc[0].verdict == "best"
    assert row.ci_low < -0.05 < row.ci_high and row.ci_high < 0
    assert row.verdict == "distinguishable"
    # Unpaired, the seed effect would swamp the difference: the interval would cover 0.
    assert 2 * 1.96 * np.sqrt(2 * 0.2**2 / 30) > 0.05


def test_equal_settings_are_indistinguishable_and_one_seed_gives_no_verdict() -> None:
    rng = np.random.default_rng(1)
    same = rng.normal(0.9, 0.02, size=(2, 8))
    assert paired_comparison(synthetic(same)).iloc[1].verdict in {"indistinguishable"}
    one = paired_comparison(synthetic(np.array([[0.9], [0.8]])))
    assert list(one.verdict) == ["best", "no verdict"]


def test_losses_are_compared_downwards() -> None:
    table = paired_comparison(synthetic(np.array([[0.5, 0.6, 0.55], [0.3, 0.4, 0.35]]),
                                        "test_loss"))
    assert list(table.verdict) == ["distinguishable", "best"]


def test_single_seed_warns_only_when_settings_are_ranked() -> None:
    with pytest.warns(SingleSeed, match="compares 2 settings with a single seed"):
        check_result(synthetic(np.array([[0.9], [0.8]])))
    check_result(synthetic(np.array([[0.9, 0.8], [0.8, 0.7]])))  # clean: no warning


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0.3).astype(int)
    return x[:120], y[:120], x[120:], y[120:]


def test_majority_class_runs_are_named(data) -> None:
    # Two hidden relu units starting at zero never move: the net predicts one class.
    with pytest.warns(MajorityClass, match=r"'zeros' in 3 of 3 seeds"):
        gs.sweep(data, grid={"kernel_initializer": ["zeros", "glorot_uniform"]}, hidden="2",
                 optimizer="sgd", epochs=2, seeds=3, progress=False)


def test_rising_loss_names_the_learning_rate(data) -> None:
    # So high a rate also kills the relu units in some seeds: both warnings are right.
    with pytest.warns(MajorityClass), pytest.warns(RisingLoss, match=r"'30' \(loss"):
        gs.sweep(data, grid={"learning_rate": [0.05, 30.0]}, optimizer="sgd", hidden="8",
                 kernel_initializer="he_normal", epochs=4, seeds=2, progress=False)


def test_clean_sweep_raises_no_warning(data) -> None:
    r = gs.sweep(data, grid={"learning_rate": [0.05, 0.1]}, optimizer="adam", hidden="4",
                 epochs=3, seeds=3, progress=False)  # the suite turns warnings into errors
    assert set(r.compare().verdict) <= {"best", "distinguishable", "indistinguishable"}


def test_sorted_wine_with_keras_validation_split_warns_and_stratified_does_not() -> None:
    """The course's wine exercise: validation_split=0.2 on a file sorted by class."""
    import gdlab.keras as gk
    from gdlab import datasets, preprocessing
    from gdlab.pitfalls import SplitMissesClasses

    wine = datasets.wine()  # sorted by class, as the course's wines.csv
    from sklearn.preprocessing import scale

    x = scale(wine.x.astype(np.float64))  # the exercise scales all rows, then trains on all
    y = gk.utils.to_categorical(wine.y)

    def model():
        m = gk.Sequential([gk.layers.Dense(3, input_shape=(13,), activation="softmax")])
        m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return m

    with pytest.warns(SplitMissesClasses, match=r"validation part holds 36 of class 2.*"
                                                 r"single class"):
        model().fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    p = preprocessing.prepare(wine, test_size=0.2, stratify=True, validation_split=0.2,
                              validation="stratified")
    model().fit(p.x_train, gk.utils.to_categorical(p.y_train, 3), epochs=1, verbose=0,
                validation_data=(p.x_val, gk.utils.to_categorical(p.y_val, 3)))
