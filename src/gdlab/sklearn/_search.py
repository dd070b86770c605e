"""scikit-learn's ``GridSearchCV``, training every setting of a fold in one engine call.

scikit-learn fits one clone per parameter setting x fold. Here, for each fold,
every setting's estimator is set up as its own ``fit`` would set it up (same
validation, same seed, same data), and all of them train together in one
:func:`gdlab.executor.run_programs` call: the engine groups them into as few
compiled programs as their shapes allow, seeds on one axis and settings on
the other, and each model gets the weights it would get alone (to float32
round-off). Folds of equal size reuse the compiled programs. The fitted
estimators are then scored with scikit-learn's scorers and the results
assembled by scikit-learn's own code, so ``cv_results_``, ``best_params_``,
``best_estimator_`` and the rest mean exactly what they mean in scikit-learn.

Fit parameters are routed as scikit-learn routes them: ``sample_weight`` (or
``<network step>__sample_weight`` for a pipeline) is sliced to each fold's
training rows for its fits, and the test scores are weighted when the scorers
take weights. ``class_weight`` in the grid is per-model data in the engine, so
its settings train in the same call.

What it cannot vectorize (another estimator, other fit parameters, a grid that
swaps the network step of a pipeline) falls back to scikit-learn's loop of
plain fits, with a :class:`NotVectorized` warning saying why.
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Sequence
from traceback import format_exc
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection import GridSearchCV as _SklearnGridSearchCV
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.model_selection._validation import (
    _insert_error_scores,
    _score,
    _warn_or_raise_about_fit_failures,
)
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state, indexable
from sklearn.utils._metadata_requests import _routing_enabled
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import _check_method_params

from gdlab.pitfalls import GdlabWarning
from gdlab.sklearn import _training
from gdlab.sklearn._estimators import _DenseBase, _Setup

__all__ = ["GridSearchCV", "NotVectorized"]


class NotVectorized(GdlabWarning):
    """A grid search that runs as scikit-learn's loop of plain fits, and why."""

    name = "not-vectorized"


def _final_step(estimator: Any) -> tuple[str | None, Any]:
    """(step name, estimator) of a pipeline's last step; (None, estimator) otherwise."""
    if isinstance(estimator, Pipeline):
        name, step = estimator.steps[-1]
        return name, step
    return None, estimator


def _weight_key(final_name: str | None) -> str:
    """The fit parameter that carries sample weights to the network: scikit-learn's name."""
    return "sample_weight" if final_name is None else f"{final_name}__sample_weight"


def _hashable(value: Any) -> Any:
    """A grouping key for a parameter value: the value when hashable, else its identity."""
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    if hasattr(value, "get_params"):  # estimators compare by identity
        return ("id", id(value))
    return value


class GridSearchCV(_SklearnGridSearchCV):
    """scikit-learn's ``GridSearchCV`` for gdlab's estimators, one engine call per fold.

    Same constructor, attributes and meaning as
    :class:`sklearn.model_selection.GridSearchCV`. When ``estimator`` is a
    :class:`~gdlab.sklearn.DenseClassifier`/:class:`~gdlab.sklearn.DenseRegressor`,
    or a ``Pipeline`` ending in one, every setting x fold (x seed, with
    ``random_state`` in the grid) trains in as few compiled programs as
    possible; its ``cv_results_`` equal scikit-learn's ``GridSearchCV`` over
    the same estimator, folds and seeds, to float32 round-off. Preprocessing
    steps are fitted once per fold and distinct preprocessing setting.
    ``fit(X, y, sample_weight=w)`` (``<network step>__sample_weight`` for a
    pipeline) stays vectorized and is routed as scikit-learn routes it; a
    ``class_weight`` axis trains in the same calls as the rest of the grid.

    Differences, on purpose: with ``random_state=None`` one seed is drawn per
    search and shared by every setting and fold (scikit-learn's loop draws one
    per fit); ``fit_time`` is each engine call's time shared equally by its
    models; ``n_jobs`` is not used (one process runs the programs). Anything
    else runs scikit-learn's own loop, with a :class:`NotVectorized` warning.

    Extra fitted attributes: ``vectorized_`` (bool), ``fallback_reason_``
    (None, or why it fell back) and ``engine_calls_`` (one dict per
    ``run_programs`` call: split, configurations, seeds, programs, seconds).
    """

    # ------------------------------------------------------------------ why not

    def _why_not_vectorized(self, params: dict[str, Any]) -> str | None:
        final_name, final = _final_step(self.estimator)
        if not isinstance(final, _DenseBase):
            kind = type(final).__name__
            return (f"the estimator is a {kind}, not a gdlab DenseClassifier or DenseRegressor "
                    "(or a Pipeline ending in one)")
        weights = _weight_key(final_name)
        extra = sorted(k for k in params if k not in ("groups", weights))
        if extra:
            return f"fit parameters ({', '.join(extra)}) are passed to every fit"
        if final_name is not None and weights in params and _routing_enabled():
            return ("metadata routing sends the pipeline's fit parameters to whichever steps "
                    "request them")
        grids = self.param_grid if isinstance(self.param_grid, Sequence) else [self.param_grid]
        for grid in grids:
            if not hasattr(grid, "keys"):
                return None  # scikit-learn's ParameterGrid reports the error itself
            for key in grid:
                if final_name is not None and key in (final_name, "steps"):
                    return (f"the grid replaces the network step itself ({key!r}); give the "
                            f"network's settings as '{final_name}__<setting>'")
        return None

    # --------------------------------------------------------------------- fit

    def fit(self, X: Any, y: Any = None, **params: Any) -> GridSearchCV:
        """Run fit with every setting; vectorized over settings (and seeds) within each fold."""
        reason = self._why_not_vectorized(params)
        if reason is not None:
            warnings.warn(
                f"gdlab's GridSearchCV runs scikit-learn's plain fits here, one at a time: "
                f"{reason}.", NotVectorized, stacklevel=2)
            super().fit(X, y, **params)
            self.vectorized_, self.fallback_reason_, self.engine_calls_ = False, reason, []
            return self
        self._fit_vectorized(X, y, params)
        self.vectorized_, self.fallback_reason_ = True, None
        return self

    def _fit_vectorized(self, X: Any, y: Any, params: dict[str, Any]) -> None:
        self._validate_params()  # scikit-learn's fit validates its parameters first
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        # Fit, split and score parameters routed exactly as scikit-learn's fit routes them.
        params = _check_method_params(X, params=params)
        routed = self._get_routed_params_for_fit(params)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, **routed.splitter.split))
        self.n_splits_ = n_splits = len(splits)
        candidates = list(ParameterGrid(self.param_grid))
        n_candidates = len(candidates)
        if n_splits == 0 or n_candidates == 0:
            raise ValueError("No fits were performed. Was the CV iterator empty? "
                             "Were there no candidates?")
        if self.verbose > 0:
            print(f"Fitting {n_splits} folds for each of {n_candidates} candidates, totalling "
                  f"{n_splits * n_candidates} fits (vectorized: one engine call per fold)")
        base = clone(self.estimator)
        final_name, _ = _final_step(base)
        # random_state=None: one seed for the whole search (common random numbers).
        shared_seed = int(check_random_state(None).randint(0, 2**31 - 1))
        out: list[dict[str, Any] | None] = [None] * (n_candidates * n_splits)
        self.engine_calls_ = []
        for split, (train, test) in enumerate(splits):
            self._fit_split(base, final_name, candidates, X, y, train, test, split, n_splits,
                            scorers, shared_seed, out, routed)

        results_out = [o for o in out if o is not None]
        _warn_or_raise_about_fit_failures(results_out, self.error_score)
        if callable(self.scoring):
            _insert_error_scores(results_out, self.error_score)
        results = self._format_results(candidates, n_splits, results_out)
        first_test_score = results_out[0]["test_scores"]
        self.multimetric_ = isinstance(first_test_score, dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(first_test_score)
            refit_metric = self.refit
        self._finish_search(base, results, refit_metric, scorers, X, y,
                            routed.estimator.fit)

    def _fit_split(self, base: Any, final_name: str | None, candidates: list[dict[str, Any]],
                   X: Any, y: Any, train: np.ndarray, test: np.ndarray, split: int,
                   n_splits: int, scorers: Any, shared_seed: int,
                   out: list[dict[str, Any] | None], routed: Any) -> None:
        """Set up, train (grouped engine calls) and score every candidate on one split."""
        x_train, y_train = _safe_split(base, X, y, train)
        x_test, y_test = _safe_split(base, X, y, test, train)
        # As scikit-learn's _fit_and_score: fit and score parameters cut to the fold's rows.
        fit_params = _check_method_params(X, params=routed.estimator.fit, indices=train)
        weights = fit_params.get(_weight_key(final_name))
        score_train = _check_method_params(X, params=routed.scorer.score, indices=train)
        score_test = _check_method_params(X, params=routed.scorer.score, indices=test)

        # Preprocessing (a pipeline's other steps) is fitted once per distinct setting.
        by_prep: dict[tuple, list[int]] = {}
        for c, cand in enumerate(candidates):
            prep = {k: v for k, v in cand.items()
                    if final_name is not None and not k.startswith(final_name + "__")}
            by_prep.setdefault(tuple(sorted((k, _hashable(v)) for k, v in prep.items())),
                               []).append(c)

        fitted: dict[int, Any] = {}           # candidate -> estimator (pipeline or network)
        setups: dict[int, _Setup] = {}
        prep_of: dict[int, int] = {}          # candidate -> its preprocessing group
        fit_time: dict[int, float] = {}
        errors: dict[int, str] = {}
        for group, members in enumerate(by_prep.values()):
            t0 = time.perf_counter()
            x_net = x_train
            prep_steps: list[tuple[str, Any]] = []
            try:
                if final_name is not None:
                    cand = candidates[members[0]]
                    prep_params = {k: v for k, v in cand.items()
                                   if not k.startswith(final_name + "__")}
                    pipe = clone(base).set_params(**clone(prep_params, safe=False))
                    head = pipe[:-1]
                    x_net = head.fit_transform(x_train, y_train)
                    prep_steps = list(head.steps)
            except Exception:
                if self.error_score == "raise":
                    raise
                for c in members:
                    errors[c] = format_exc()
                    fit_time[c] = time.perf_counter() - t0
                continue
            prep_share = (time.perf_counter() - t0) / len(members)
            for c in members:
                t1 = time.perf_counter()
                try:
                    est = clone(base).set_params(**clone(candidates[c], safe=False))
                    net = est.steps[-1][1] if final_name is not None else est
                    if final_name is not None:
                        est.steps = [*prep_steps, est.steps[-1]]
                    seed = shared_seed if net.random_state is None else None
                    setups[c] = net._setup(x_net, y_train, seed=seed, sample_weight=weights)
                    fitted[c], prep_of[c] = est, group
                except Exception:
                    if self.error_score == "raise":
                        raise
                    errors[c] = format_exc()
                fit_time[c] = prep_share + time.perf_counter() - t1

        self._train_split(fitted, setups, prep_of, fit_time, split, final_name)

        for c in range(len(candidates)):
            result: dict[str, Any] = {"n_test_samples": len(test), "fit_time": fit_time[c]}
            if c in errors:
                result.update(fit_error=errors[c], score_time=0.0)
                if isinstance(self.error_score, numbers.Number):
                    error = ({name: self.error_score for name in scorers._scorers}
                             if isinstance(scorers, _MultimetricScorer) else self.error_score)
                    result["test_scores"] = error
                    if self.return_train_score:
                        result["train_scores"] = error
            else:
                t0 = time.perf_counter()
                est = fitted[c]
                result["fit_error"] = None
                result["test_scores"] = _score(est, x_test, y_test, scorers, score_test,
                                               self.error_score)
                result["score_time"] = time.perf_counter() - t0
                if self.return_train_score:
                    result["train_scores"] = _score(est, x_train, y_train, scorers,
                                                    score_train, self.error_score)
            out[c * n_splits + split] = result

    def _train_split(self, fitted: dict[int, Any], setups: dict[int, _Setup],
                     prep_of: dict[int, int], fit_time: dict[int, float], split: int,
                     final_name: str | None) -> None:
        """Train every set-up candidate of a split: one engine call per data and rule."""
        # Candidates share an engine call when they train on the same arrays (same
        # task and encoding; with early stopping, the same validation rows) under the
        # same early-stopping rule, and all in full batches (reproducible sums) or
        # none; within it, settings x seeds. Class weights are per-model data.
        calls: dict[tuple, list[int]] = {}
        for c, setup in setups.items():
            net = fitted[c].steps[-1][1] if final_name is not None else fitted[c]
            split_key = None
            if setup.early_stopping is not None:
                split_key = (setup.seed, float(net.validation_fraction))
            key = (prep_of[c], setup.data.task, setup.data.n_outputs, split_key,
                   setup.early_stopping, setup.config.batch_size >= setup.data.n_train)
            calls.setdefault(key, []).append(c)
        for members in calls.values():
            data = setups[members[0]].data
            rule = setups[members[0]].early_stopping
            # Seeds that train the same configurations go in one call (a full grid over
            # random_state is a single call).
            per_seed: dict[int, list] = {}
            for c in members:
                cfgs = per_seed.setdefault(setups[c].seed, [])
                if setups[c].config not in cfgs:
                    cfgs.append(setups[c].config)
            by_configs: dict[tuple, list[int]] = {}
            for seed, cfgs in per_seed.items():
                by_configs.setdefault(tuple(cfgs), []).append(seed)
            for cfgs, seeds in by_configs.items():
                t0 = time.perf_counter()
                raw = _training.run(list(cfgs), seeds, data, rule)
                seconds = time.perf_counter() - t0
                self.engine_calls_.append({"split": split, "configs": len(cfgs),
                                           "seeds": len(seeds), "programs": raw.n_programs,
                                           "seconds": seconds})
                share = seconds / (len(cfgs) * len(seeds))
                for c in members:
                    setup = setups[c]
                    if setup.seed not in seeds or setup.config not in cfgs:
                        continue
                    col, row = cfgs.index(setup.config), seeds.index(setup.seed)
                    net = fitted[c].steps[-1][1] if final_name is not None else fitted[c]
                    net._finish(setup, _training.unpack(raw, col, row, setup.config.epochs))
                    fit_time[c] += share

    def _finish_search(self, base: Any, results: dict[str, Any], refit_metric: str,
                       scorers: Any, X: Any, y: Any, fit_params: dict[str, Any]) -> None:
        """Best candidate, refit and the remaining attributes, as scikit-learn sets them."""
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(base).set_params(
                **clone(self.best_params_, safe=False))
            t0 = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **fit_params)
            else:
                self.best_estimator_.fit(X, **fit_params)
            self.refit_time_ = time.time() - t0
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = scorers._scorers if isinstance(scorers, _MultimetricScorer) else scorers
        self.cv_results_ = results
