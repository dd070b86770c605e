"""gdlab.sklearn.GridSearchCV: scikit-learn's results, one engine call per fold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV as SklearnGridSearchCV
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from gdlab.errors import ConfigError
from gdlab.sklearn import (
    DenseClassifier,
    DenseRegressor,
    GridSearchCV,
    KerasClassifier,
    NotVectorized,
)

N = 126  # 3 folds of 42 rows (equal training parts); 4 folds give two training sizes


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4)) * [1.0, 3.0, 0.5, 2.0] + [0.0, 1.0, -2.0, 0.5]
    z = x[:, 0] - 0.4 * x[:, 1] + 1.5 * x[:, 2] + 0.3 * rng.normal(size=N)
    y = np.where(z > np.quantile(z, 0.66), "high", np.where(z > np.quantile(z, 0.33), "mid",
                                                                 "low"))
    return x, y


SCORING = {"nll": "neg_log_loss", "acc": "accuracy"}


def same_results(ours: dict, theirs: dict) -> None:
    """cv_results_ equal, except timings; scores to float32 round-off."""
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if "time" in key:
            continue
        if key == "params":
            assert ours[key] == value
        elif key.startswith(("split", "mean_", "std_")):
            np.testing.assert_allclose(ours[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
        else:  # parameter columns (masked arrays) and ranks
            np.testing.assert_array_equal(ours[key], value, err_msg=key)


def test_equals_scikit_learns_search_over_the_same_estimator(data) -> None:
    x, y = data
    est = Pipeline([("scale", StandardScaler()),
                    ("net", DenseClassifier(hidden_layer_sizes=(4,), batch_size=16, epochs=6,
                                            random_state=0))])
    grid = {
        "net__learning_rate": [0.003, 0.03],
        "net__batch_size": [16, 32],          # one program: micro-batches of 16
        "net__activation": ["relu", "tanh"],  # chosen per model inside the program
        "net__random_state": [0, 7],          # the seed axis
    }
    cv = KFold(3, shuffle=True, random_state=0)
    ours = GridSearchCV(est, grid, cv=cv, scoring=SCORING, refit="nll",
                        return_train_score=True).fit(x, y)
    theirs = SklearnGridSearchCV(est, grid, cv=cv, scoring=SCORING, refit="nll",
                                 return_train_score=True).fit(x, y)
    same_results(ours.cv_results_, theirs.cv_results_)
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_index_ == theirs.best_index_
    np.testing.assert_allclose(ours.best_score_, theirs.best_score_, rtol=1e-6)
    np.testing.assert_array_equal(ours.best_estimator_.predict_proba(x),
                                  theirs.best_estimator_.predict_proba(x))
    np.testing.assert_array_equal(ours.classes_, ["high", "low", "mid"])
    assert ours.multimetric_ and set(ours.scorer_) == {"nll", "acc"}
    # One engine call per fold holds all 8 settings x 2 seeds, in one program.
    assert ours.vectorized_ and ours.fallback_reason_ is None
    assert [(c["split"], c["configs"], c["seeds"], c["programs"])
            for c in ours.engine_calls_] == [(0, 8, 2, 1), (1, 8, 2, 1), (2, 8, 2, 1)]


def test_pipeline_preprocessing_settings_and_early_stopping(data) -> None:
    x, y = data
    est = Pipeline([("scale", StandardScaler()),
                    ("net", DenseClassifier(hidden_layer_sizes=(5,), learning_rate=0.05,
                                            batch_size=16, epochs=30, early_stopping=True,
                                            n_iter_no_change=2, random_state=1))])
    grid = [{"scale": [StandardScaler(), MinMaxScaler()], "net__learning_rate": [0.02, 0.05]},
            {"net__tol": [0.0, 0.01], "net__random_state": [1, 2]}]
    cv = KFold(3, shuffle=True, random_state=1)
    ours = GridSearchCV(est, grid, cv=cv, scoring="neg_log_loss").fit(x, y)
    theirs = SklearnGridSearchCV(est, grid, cv=cv, scoring="neg_log_loss").fit(x, y)
    same_results(ours.cv_results_, theirs.cv_results_)
    assert ours.best_params_ == theirs.best_params_
    # Per fold: one call per scaler, with its two learning rates (first grid); then one
    # per stopping rule and seed, since the seed draws the validation rows (second grid).
    assert [(c["configs"], c["seeds"]) for c in ours.engine_calls_ if c["split"] == 0] == \
        [(2, 1), (2, 1), (1, 1), (1, 1), (1, 1), (1, 1)]
    assert ours.best_estimator_.named_steps["net"].n_iter_ < 30


def test_regression_grid(data) -> None:
    x, _ = data
    target = x @ [0.5, -0.2, 1.0, 0.0]
    est = DenseRegressor(hidden_layer_sizes=(4,), batch_size=16, epochs=5, random_state=2)
    grid = {"learning_rate": [0.001, 0.01], "hidden_layer_sizes": [(4,), (3, 2)]}
    ours = GridSearchCV(est, grid, cv=4).fit(x, target)  # training parts of 94 and 95 rows
    theirs = SklearnGridSearchCV(est, grid, cv=4).fit(x, target)
    same_results(ours.cv_results_, theirs.cv_results_)
    assert ours.best_estimator_.predict(x).shape == (N,)
    # Two architectures are two groups of one program.
    assert [(c["configs"], c["programs"]) for c in ours.engine_calls_] == [(4, 1)] * 4


def test_one_seed_per_search_when_random_state_is_none(data) -> None:
    x, y = data
    est = DenseClassifier(hidden_layer_sizes=(3,), batch_size=16, epochs=3)  # random_state=None
    # tol only matters with early stopping: equal settings, and the same drawn seed.
    search = GridSearchCV(est, {"tol": [1e-4, 1e-3]}, cv=3, scoring="neg_log_loss").fit(x, y)
    scores = search.cv_results_
    for split in range(3):
        first, second = scores[f"split{split}_test_score"]
        assert first == second
    assert [c["configs"] for c in search.engine_calls_] == [1, 1, 1]  # deduplicated


def test_failed_fits_get_the_error_score_as_in_scikit_learn(data) -> None:
    x, y = data
    est = DenseClassifier(hidden_layer_sizes=(3,), batch_size=16, epochs=2, random_state=0)
    grid = {"learning_rate": [0.01, -1.0]}
    searches = []
    for search in (GridSearchCV, SklearnGridSearchCV):
        with pytest.warns(UserWarning, match="test scores are non-finite"), \
                pytest.warns(FitFailedWarning, match="3 fits failed out of a total of 6"):
            searches.append(search(est, grid, cv=3).fit(x, y))
    ours, theirs = searches
    same_results(ours.cv_results_, theirs.cv_results_)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    with pytest.raises(ConfigError, match="`learning_rate` must be > 0, got -1.0"):
        GridSearchCV(est, grid, cv=3, error_score="raise").fit(x, y)
    with pytest.raises(ValueError, match="'error_score' parameter of GridSearchCV must be"):
        GridSearchCV(est, grid, cv=3, error_score="bogus").fit(x, y)  # scikit-learn's check


def test_what_cannot_be_vectorized_falls_back_and_says_why(data) -> None:
    from gdlab.keras.layers import Dense
    from gdlab.keras.models import Sequential

    def build():
        model = Sequential([Dense(3, input_shape=(4,), activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        return model

    x, y = data
    wrapper = Pipeline([("scale", StandardScaler()),
                        ("net", KerasClassifier(build_fn=build, epochs=1, verbose=0))])
    with pytest.warns(NotVectorized, match="the estimator is a KerasClassifier"):
        search = GridSearchCV(wrapper, {"net__batch_size": [16]}, cv=2, refit=False).fit(x, y)
    assert not search.vectorized_ and "KerasClassifier" in search.fallback_reason_
    assert search.cv_results_["mean_test_score"].shape == (1,)
    assert search.engine_calls_ == []

    net = Pipeline([("scale", StandardScaler()),
                    ("net", DenseClassifier(epochs=1, random_state=0))])
    other = DenseClassifier(hidden_layer_sizes=(2,), epochs=1, random_state=0)
    with pytest.warns(NotVectorized, match="replaces the network step itself"):
        GridSearchCV(net, {"net": [other]}, cv=2, refit=False).fit(x, y)
    # Weights for another step go to scikit-learn's plain fits, which route them there.
    with pytest.warns(NotVectorized, match=r"fit parameters \(scale__sample_weight\)"):
        search = GridSearchCV(net, {"net__epochs": [1]}, cv=2).fit(
            x, y, scale__sample_weight=np.ones(N))
    assert not search.vectorized_ and search.engine_calls_ == []


def test_sample_weight_equals_scikit_learns_search(data) -> None:
    x, y = data
    w = np.random.default_rng(3).integers(0, 4, size=N).astype(float)
    cv = KFold(3, shuffle=True, random_state=0)
    est = Pipeline([("scale", StandardScaler()),
                    ("net", DenseClassifier(hidden_layer_sizes=(4,), batch_size=16, epochs=6,
                                            random_state=0))])
    grid = {"net__learning_rate": [0.003, 0.03], "net__random_state": [0, 7]}
    # scikit-learn cuts the weights to each fold's training rows for fit, and weighs the
    # test scores with the test rows' weights (both scorers take sample_weight).
    searches = [search(est, grid, cv=cv, scoring=SCORING, refit="nll",
                       return_train_score=True).fit(x, y, net__sample_weight=w)
                for search in (GridSearchCV, SklearnGridSearchCV)]
    ours, theirs = searches
    same_results(ours.cv_results_, theirs.cv_results_)
    np.testing.assert_array_equal(ours.best_estimator_.predict_proba(x),
                                  theirs.best_estimator_.predict_proba(x))
    assert ours.vectorized_
    assert [(c["configs"], c["seeds"]) for c in ours.engine_calls_] == [(2, 2)] * 3
    unweighted = GridSearchCV(est, grid, cv=cv, scoring=SCORING, refit="nll").fit(x, y)
    assert not np.allclose(unweighted.cv_results_["mean_test_nll"],
                           ours.cv_results_["mean_test_nll"])

    # A bare estimator takes `sample_weight`, and full batches train in calls of their own.
    net = DenseRegressor(hidden_layer_sizes=(3,), epochs=8, random_state=1)
    target = x @ [0.5, -0.2, 1.0, 0.0]
    grid = {"batch_size": [16, 32, 1000], "learning_rate": [0.01, 0.03]}
    ours = GridSearchCV(net, grid, cv=cv).fit(x, target, sample_weight=w)
    theirs = SklearnGridSearchCV(net, grid, cv=cv).fit(x, target, sample_weight=w)
    same_results(ours.cv_results_, theirs.cv_results_)
    assert [(c["split"], c["configs"]) for c in ours.engine_calls_] == \
        [(0, 4), (0, 2), (1, 4), (1, 2), (2, 4), (2, 2)]


def test_a_class_weight_axis_trains_in_one_call(data) -> None:
    x, y = data
    keep = np.r_[np.flatnonzero(y != "high"), np.flatnonzero(y == "high")[:15]]
    x, y = x[keep], y[keep]  # "high" is now the rare class
    est = Pipeline([("scale", StandardScaler()),
                    ("net", DenseClassifier(hidden_layer_sizes=(4,), batch_size=16, epochs=6,
                                            learning_rate=0.03, random_state=0))])
    grid = {"net__class_weight": [None, "balanced", {"high": 3.0}],
            "net__activation": ["relu", "tanh"]}
    cv = KFold(3, shuffle=True, random_state=0)
    ours = GridSearchCV(est, grid, cv=cv, scoring=SCORING, refit="nll").fit(x, y)
    theirs = SklearnGridSearchCV(est, grid, cv=cv, scoring=SCORING, refit="nll").fit(x, y)
    same_results(ours.cv_results_, theirs.cv_results_)
    # Class weights are per-model rows of weights: all 6 settings in one program per fold.
    assert [(c["configs"], c["programs"]) for c in ours.engine_calls_] == [(6, 1)] * 3
    scores = ours.cv_results_["mean_test_acc"]
    assert len(set(np.round(scores, 6))) > 1  # the weights change the models
