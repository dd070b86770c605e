"""The course's Keras wrappers: ``KerasClassifier(build_fn=..., epochs=..., verbose=0)``.

TensorFlow's ``tensorflow.keras.wrappers.scikit_learn`` (removed from TensorFlow;
SciKeras is its separate successor) wrapped a function returning a compiled
Keras model so that scikit-learn could cross-validate it. These classes do the
same for ``gdlab.keras`` models, with the old wrapper's conventions, so course
cells such as::

    from gdlab.sklearn import KerasClassifier
    model = KerasClassifier(build_fn=build_model, epochs=10, verbose=0)
    cross_val_score(model, X, y, cv=KFold(3, shuffle=True))

run with the import changed. Keyword arguments are routed by name, as the old
wrapper did: those of ``build_fn`` build the model, those of ``fit``,
``predict`` and ``evaluate`` go to those calls; any other name is an error.

Like Keras, each ``fit`` builds a new model whose initial weights come from
``gdlab.keras``'s global random stream (``gdlab.keras.utils.set_random_seed``
makes a run reproducible). For seeded estimators that pass scikit-learn's
checks and vectorize in ``gdlab.sklearn.GridSearchCV``, use
``DenseClassifier``/``DenseRegressor``.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from gdlab.errors import ConfigError
from gdlab.keras.models import Model, Sequential
from gdlab.keras.utils import to_categorical

__all__ = ["KerasClassifier", "KerasRegressor"]


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (the old wrapper's ``has_arg``)."""
    params = inspect.signature(fn).parameters
    return name in params and params[name].kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class _KerasWrapper(BaseEstimator):
    """Shared parts: parameters routed by name, building the model, fitting it."""

    def __init__(self, build_fn: Callable[..., Any] | None = None, **sk_params: Any) -> None:
        self.build_fn = build_fn
        self.sk_params = sk_params
        self._check_params(sk_params)

    # The parameters are build_fn plus whatever keyword arguments were given, so
    # scikit-learn's get_params/set_params (which read __init__'s signature) are
    # replaced, as in the old wrapper; clone() works through them.
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``build_fn`` and every keyword argument given."""
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params: Any) -> _KerasWrapper:
        """Change keyword arguments (checked against build_fn, fit, predict and evaluate)."""
        if "build_fn" in params:
            self.build_fn = params.pop("build_fn")
        self._check_params(params)
        self.sk_params.update(params)
        return self

    def _builder(self) -> Callable[..., Any]:
        if self.build_fn is None:
            if type(self).__call__ is _KerasWrapper.__call__:
                raise ConfigError(
                    f"{type(self).__name__} needs build_fn: a function that returns a compiled "
                    "gdlab.keras model."
                )
            return self.__call__
        if not callable(self.build_fn):
            raise ConfigError(f"build_fn must be a function, got {self.build_fn!r}.")
        return self.build_fn

    def __call__(self, **kwargs: Any) -> Any:  # overridden by subclasses without build_fn
        raise NotImplementedError

    def _check_params(self, params: dict[str, Any]) -> None:
        fns = [Sequential.fit, Sequential.predict, Sequential.evaluate]
        if self.build_fn is not None and callable(self.build_fn):
            fns.append(self.build_fn)
        elif self.build_fn is None:
            fns.append(self.__call__)
        for name in params:
            if not any(_accepts(fn, name) for fn in fns):
                raise ConfigError(
                    f"{name!r} is not a legal parameter: it is neither an argument of build_fn "
                    "nor of the model's fit, predict or evaluate."
                )

    def _filter(self, fn: Callable[..., Any], override: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        out = {k: v for k, v in self.sk_params.items() if _accepts(fn, k)}
        out.update(override or {})
        return out

    def _build(self) -> Model:
        builder = self._builder()
        model = builder(**self._filter(builder))
        if not isinstance(model, Model):
            raise ConfigError(
                f"build_fn must return a gdlab.keras model, got {type(model).__name__}. Build it "
                "with gdlab.keras.models.Sequential and gdlab.keras.layers.Dense."
            )
        if model.optimizer is None or model.loss is None:
            raise ConfigError("The model from build_fn must be compiled (call model.compile).")
        return model

    def _fit_model(self, x: Any, y: np.ndarray, kwargs: dict[str, Any],
                   sample_weight: Any = None) -> None:
        model = self._build()
        if model.loss == "categorical_crossentropy" and y.ndim != 2:
            units = model.network_spec().n_outputs if model.built else None
            y = to_categorical(y, num_classes=units)
        fit_args = copy.deepcopy(self._filter(Sequential.fit))
        fit_args.update(kwargs)
        if sample_weight is not None:  # Keras's meaning: each row's loss times its weight
            fit_args["sample_weight"] = sample_weight
        history = model.fit(x, y, **fit_args)
        self.model = self.model_ = model
        self.history_ = {k: list(v) for k, v in history.history.items()}


class KerasClassifier(ClassifierMixin, _KerasWrapper):
    """The old ``tensorflow.keras.wrappers.scikit_learn.KerasClassifier``, for gdlab.keras models.

    ``fit(X, y)`` builds a model with ``build_fn`` and trains it; labels may
    be any values (``classes_`` holds them sorted) or one-hot columns.
    ``predict_proba`` gives one column per class (two for a sigmoid output),
    ``predict`` the labels, ``score`` the accuracy. Fitted attributes:
    ``model`` (as the old wrapper; also ``model_``), ``classes_``,
    ``n_classes_``, ``history_``.
    """

    def fit(self, x: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> KerasClassifier:
        """Build a new model and train it; returns the wrapper.

        ``sample_weight`` and other keyword arguments go to the model's ``fit``.
        """
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif (y.ndim == 2 and y.shape[1] == 1) or y.ndim == 1:
            y = y.reshape(-1)
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError(f"Invalid shape for y: {y.shape}.")
        self.n_classes_ = len(self.classes_)
        self._fit_model(x, y, kwargs, sample_weight)
        return self

    def predict_proba(self, x: Any, **kwargs: Any) -> np.ndarray:
        """Class probabilities; a single sigmoid output becomes two columns ``[1 - p, p]``."""
        check_is_fitted(self, "model_")
        probs = self.model_.predict(x, **self._filter(Sequential.predict, kwargs))
        if probs.shape[1] == 1:
            probs = np.hstack([1 - probs, probs])
        return probs

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray:
        """Labels: argmax of a softmax, or a sigmoid output above 0.5."""
        check_is_fitted(self, "model_")
        proba = self.model_.predict(x, **self._filter(Sequential.predict, kwargs))
        if proba.shape[-1] > 1:
            classes = proba.argmax(axis=-1)
        else:
            classes = (proba[:, 0] > 0.5).astype(np.int64)
        return self.classes_[classes]


class KerasRegressor(RegressorMixin, _KerasWrapper):
    """The old ``tensorflow.keras.wrappers.scikit_learn.KerasRegressor``, for gdlab.keras models.

    ``predict`` squeezes a single output column; ``score`` is the *negative
    loss* (``-model.evaluate(X, y)``), as the old wrapper defined it, so that
    greater is better (not R², scikit-learn's regressor default).
    """

    def fit(self, x: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> KerasRegressor:
        """Build a new model and train it; returns the wrapper.

        ``sample_weight`` and other keyword arguments go to the model's ``fit``.
        """
        self._fit_model(x, np.asarray(y), kwargs, sample_weight)
        return self

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray:
        """The model's outputs, with a single output column squeezed away."""
        check_is_fitted(self, "model_")
        out = self.model_.predict(x, **self._filter(Sequential.predict, kwargs))
        return np.squeeze(out, axis=-1) if out.shape[-1] == 1 else out

    def score(self, x: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> float:
        """``-loss`` on ``(x, y)`` (the old wrapper's score)."""
        check_is_fitted(self, "model_")
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        loss = self.model_.evaluate(x, y, **self._filter(Sequential.evaluate, kwargs))
        return -float(loss[0] if isinstance(loss, list) else loss)
