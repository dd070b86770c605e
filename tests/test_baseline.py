"""gdlab.baseline: RandomForest and a linear model, cross-validated and on the test split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from gdlab import datasets
from gdlab.baseline import COLUMNS, _models, baseline
from gdlab.errors import ConfigError, ShapeError
from gdlab.preprocessing import prepare


@pytest.fixture(scope="module")
def notes(banknotes_path) -> datasets.Dataset:
    return datasets.load_csv(banknotes_path, target="class")


def test_banknote_baselines_with_the_networks_split(notes) -> None:
    table = baseline(notes, prepared=prepare(notes), seed=0)
    assert tuple(table.columns) == COLUMNS
    assert table["model"].tolist() == ["random_forest", "logistic_regression"]
    assert (table["metric"] == "accuracy").all() and (table["cv_folds"] == 5).all()
    for row in table.itertuples():
        assert len(row.cv_scores) == 5
        assert row.cv_mean == pytest.approx(np.mean(row.cv_scores))
        assert row.cv_std == pytest.approx(np.std(row.cv_scores))
    # the course's point: a random forest nearly solves this data
    assert table.loc[0, "cv_mean"] > 0.98 and table.loc[0, "test_score"] > 0.98
    assert 0.95 < table.loc[1, "test_score"] < 1.0


def test_baseline_is_seeded() -> None:
    moons = datasets.moons(n_samples=120, noise=0.3)
    a, b = baseline(moons, seed=3), baseline(moons, seed=3)
    assert a["cv_scores"].tolist() == b["cv_scores"].tolist()
    assert a["cv_scores"].tolist() != baseline(moons, seed=4)["cv_scores"].tolist()
    assert a["test_score"].isna().all()  # no split given


def test_scaling_lives_inside_the_pipeline() -> None:
    # fitted per fold, so the held-out fold never informs the scaler
    for task in ("binary", "regression"):
        for model in _models(task, 0).values():
            assert isinstance(model, Pipeline)
            assert isinstance(model.steps[0][1], StandardScaler)


def test_regression_baselines_use_r2() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    ds = datasets.from_arrays(x, 3 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=80))
    table = baseline(ds, cv=4, prepared=prepare(ds))
    assert table["model"].tolist() == ["random_forest", "linear_regression"]
    assert (table["metric"] == "r2").all()
    assert table.loc[1, "cv_mean"] > 0.99 and table.loc[1, "test_score"] > 0.99


def test_baseline_errors(notes) -> None:
    with pytest.raises(ConfigError, match=r"`cv` must be an integer >= 2 \(the number of folds\), "
                                          r"got 1"):
        baseline(notes, cv=1)
    small = datasets.from_arrays(np.arange(12.0).reshape(6, 2), [0, 0, 0, 0, 1, 1])
    with pytest.raises(ConfigError, match=r"5-fold stratified cross-validation needs at least 5 "
                                          r"rows of every class; the smallest class of 'arrays' "
                                          r"has 2\. Use cv=2"):
        baseline(small)
    with pytest.raises(ShapeError, match=r"`prepared` does not come from 'moons'"):
        baseline(datasets.moons(n_samples=50), prepared=prepare(notes))
