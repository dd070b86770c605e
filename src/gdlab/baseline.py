"""Simple models to beat: the course's RandomForest baseline and a logistic regression.

Each model is scored by k-fold cross-validation (the course's
``cross_val_score(RandomForestClassifier(), X, y)``) and, given a
:class:`~gdlab.preprocessing.Prepared` split, on the same test rows as the
networks, so the tables can sit side by side. Scaling happens inside a
scikit-learn Pipeline, fitted on each fold's training rows only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gdlab.datasets import Dataset
from gdlab.errors import ConfigError, ShapeError
from gdlab.preprocessing import Prepared

COLUMNS = ("model", "metric", "cv_folds", "cv_mean", "cv_std", "cv_scores", "test_score")


def _models(task: str, seed: int) -> dict[str, object]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "regression":
        return {
            "random_forest": make_pipeline(StandardScaler(),
                                           RandomForestRegressor(random_state=seed, n_jobs=1)),
            "linear_regression": make_pipeline(StandardScaler(), LinearRegression()),
        }
    return {
        "random_forest": make_pipeline(StandardScaler(),
                                       RandomForestClassifier(random_state=seed, n_jobs=1)),
        "logistic_regression": make_pipeline(StandardScaler(),
                                             LogisticRegression(max_iter=1000)),
    }


def baseline(dataset: Dataset, *, prepared: Prepared | None = None, cv: int = 5,
             seed: int = 0) -> pd.DataFrame:
    """Cross-validated scores of a RandomForest and a linear model, one row per model.

    Classification is scored by accuracy (RandomForest and logistic regression),
    regression by R^2 (RandomForest and linear regression). Folds are stratified
    for classification and shuffled with ``seed``, which also seeds the forest.
    With ``prepared``, each model is also fitted on its training rows and scored
    on its test rows (``test_score``), the networks' own split.

    Returns:
      a DataFrame with columns model, metric, cv_folds, cv_mean, cv_std (population),
      cv_scores (a tuple per row) and test_score (NaN without ``prepared``).
    """
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise ConfigError(f"`cv` must be an integer >= 2 (the number of folds), got {cv!r}.")
    classification = dataset.class_names is not None
    if classification:
        smallest = min(c for c in dataset.class_counts().values() if c > 0)
        if smallest < cv:
            fix = (f"Use cv={smallest}." if smallest >= 2
                   else "Drop that class or collect more rows.")
            raise ConfigError(
                f"{cv}-fold stratified cross-validation needs at least {cv} rows of every "
                f"class; the smallest class of {dataset.name!r} has {smallest}. {fix}"
            )
        folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    else:
        if dataset.n_rows < cv:
            raise ConfigError(f"{cv}-fold cross-validation needs at least {cv} rows; "
                              f"{dataset.name!r} has {dataset.n_rows}.")
        folds = KFold(n_splits=cv, shuffle=True, random_state=seed)
    if prepared is not None and (prepared.n_features != dataset.n_features
                                 or prepared.task != dataset.task):
        raise ShapeError(
            f"`prepared` does not come from {dataset.name!r}: it has {prepared.n_features} "
            f"features ({prepared.task}), the dataset {dataset.n_features} ({dataset.task})."
        )
    metric = "accuracy" if classification else "r2"
    x = dataset.x.astype(np.float64)
    rows = []
    for name, model in _models(dataset.task, seed).items():
        scores = cross_val_score(clone(model), x, dataset.y, cv=folds, scoring=metric)
        test_score = float("nan")
        if prepared is not None:
            fitted = clone(model).fit(prepared.x_train.astype(np.float64), prepared.y_train)
            test_score = float(fitted.score(prepared.x_test.astype(np.float64), prepared.y_test))
        rows.append({
            "model": name, "metric": metric, "cv_folds": cv,
            "cv_mean": float(np.mean(scores)), "cv_std": float(np.std(scores)),
            "cv_scores": tuple(float(s) for s in scores), "test_score": test_score,
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


__all__ = ["COLUMNS", "baseline"]
