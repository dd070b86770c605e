"""scikit-learn estimators for dense networks: :class:`DenseClassifier` and :class:`DenseRegressor`.

They follow scikit-learn's conventions: the constructor stores its arguments
as given, everything is validated at ``fit`` (with scikit-learn's
``validate_data``), fitted attributes end in ``_``. ``fit`` trains one
configuration from one seed through the engine's compiled program, the same
program a sweep runs (:mod:`gdlab.sklearn._training`), so a vectorized grid
search (:class:`gdlab.sklearn.GridSearchCV`) that trains many settings at once
gives every setting the weights it gets alone, to float32 round-off.

Settings use Keras's names and meanings: ``batch_size`` rows per update (the
last partial batch kept), ``epochs`` passes over the data, ``optimizer`` a
Keras optimizer name or course-style string such as
``"SGD(learning_rate=0.01, momentum=0.9)"`` (parsed, never evaluated) or a
``gdlab.keras.optimizers`` object, ``learning_rate`` overriding its step size.

Sample weights follow scikit-learn: a batch's loss is the weighted mean of its
rows' losses (divided by the batch's sum of weights, as ``MLPClassifier``), so
a row of weight k counts as k copies of it. A fit whose batch is all of its
rows sums them in an order-free way (the engine's ``reproducible_sums``), so
there integer weights equal repeated rows exactly.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from gdlab import losses as _losses
from gdlab import weighting as _weighting
from gdlab.engine import EarlyStopRule
from gdlab.errors import ConfigError, DataError, NotSupportedError, ShapeError
from gdlab.executor import TrainingData, training_data
from gdlab.network import NetworkSpec
from gdlab.pitfalls import GdlabWarning
from gdlab.sklearn import _training
from gdlab.specs import TrainConfig, parse_hidden, resolve

__all__ = ["DenseClassifier", "DenseRegressor", "TrainingDiverged", "expected_failed_checks"]


class TrainingDiverged(GdlabWarning, ConvergenceWarning):
    """A fit's loss or weights became non-finite; the estimator keeps the last finite weights."""

    name = "training-diverged"


_CLASSIFIER_LOSSES = ("binary_crossentropy", "categorical_crossentropy",
                      "sparse_categorical_crossentropy")


@dataclass
class _Setup:
    """Everything one fit needs, worked out from the estimator's settings and the data."""

    config: TrainConfig
    seed: int
    data: TrainingData
    early_stopping: EarlyStopRule | None


def _seed_from(random_state: Any) -> int:
    """The engine seed for ``random_state``: the integer itself, or a draw from the generator."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) < 2**32:
            raise ConfigError(
                f"`random_state` must be an integer in [0, 2**32), got {random_state!r}."
            )
        return int(random_state)
    raise ConfigError(
        f"`random_state` must be None, an integer or a numpy RandomState, got {random_state!r}."
    )


def _sample_weights(sample_weight: Any, n_rows: int) -> np.ndarray | None:
    """scikit-learn's sample weights, checked: None, a number for every row, or one finite
    weight >= 0 per row, not all zero. Returns float64 weights (the engine trains on them
    as float32), or None when there are none or all are equal."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        w = np.full(n_rows, float(sample_weight))
    else:
        try:
            w = np.array(sample_weight, dtype=np.float64)  # a copy: the caller's stays as given
        except (TypeError, ValueError):
            raise DataError(
                f"sample_weight must hold numbers, got {type(sample_weight).__name__}."
            ) from None
        if w.ndim != 1:
            raise ShapeError(
                f"sample_weight must be 1-D with one weight per row, shape ({n_rows},); got "
                f"shape {w.shape}."
            )
        if w.shape[0] != n_rows:
            raise ShapeError(
                f"sample_weight has {w.shape[0]} weights for {n_rows} rows; give one per row."
            )
    _weighting.sample_weights(w, n_rows)  # finite and >= 0, as every gdlab weight
    if not np.any(w > 0):
        raise DataError("sample_weight is zero for every row: at least one weight must be "
                        "non-zero (a row of weight 0 counts as absent).")
    if np.all(w == w[0]):
        # Equal weights leave every weighted mean as it is: train unweighted, bit for bit.
        return None
    return w


def _label_keys(label: Any) -> list[Any]:
    """The keys a class's weight may have in a dict: the label itself, and scikit-learn's
    lookup (``int(label)``, else ``str(label)``)."""
    value = label.item() if isinstance(label, np.generic) else label
    try:
        return [value, int(value)]
    except (TypeError, ValueError):
        return [value, str(value)]


def _class_weight_pairs(class_weight: Any, classes: np.ndarray, y: np.ndarray,
                        w: np.ndarray | None) -> tuple[tuple[int, float], ...] | None:
    """A ``class_weight`` setting as ``(class index, weight)`` pairs for every class.

    ``y`` holds class indices into ``classes`` and ``w`` the rows' sample weights
    (None: 1 each). ``"balanced"`` gives class k ``total / (n * total_k)``, the
    totals summing sample weights and ``n`` counting the classes with weight;
    a class without weight gets 1 (it weighs no row). A dict gives labels
    it leaves out weight 1; as in scikit-learn, keys that are not classes are
    an error when some class has no key.
    """
    if class_weight is None:
        return None
    n = len(classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ConfigError(
                f"`class_weight` must be None, 'balanced' or a dict {{label: weight}}, got "
                f"{class_weight!r}.")
        totals = np.bincount(y, weights=None if w is None else w.astype(np.float64),
                             minlength=n).astype(np.float64)
        present = totals > 0
        total, n_present = totals.sum(), int(present.sum())
        # The engine's own "balanced" in the same operation order: unweighted, equal floats.
        return tuple((k, float(total / (n_present * totals[k])) if present[k] else 1.0)
                     for k in range(n))
    if not isinstance(class_weight, Mapping):
        raise ConfigError(
            f"`class_weight` must be None, 'balanced' or a dict {{label: weight}}, got "
            f"{type(class_weight).__name__}.")
    weights, used, missing = [], set(), []
    for label in classes:
        key = next((k for k in _label_keys(label) if k in class_weight), None)
        if key is None:
            weights.append(1.0)
            missing.append(label)
            continue
        value = class_weight[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                np.isfinite(value) and value >= 0):
            raise ConfigError(
                f"`class_weight` weights must be finite numbers >= 0; class {key!r} has "
                f"{value!r}.")
        weights.append(float(value))
        used.add(key)
    unknown = [k for k in class_weight if k not in used]
    if unknown and missing:
        raise ConfigError(
            f"`class_weight` names {unknown!r}, which are not classes of y, and leaves out "
            f"the classes {[_label_keys(c)[0] for c in missing]!r}; its keys are the labels "
            f"of y ({[_label_keys(c)[0] for c in classes]!r}).")
    return tuple(enumerate(weights))


def _check_weighted_classes(classes: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                            pairs: tuple[tuple[int, float], ...] | None) -> None:
    """At least two classes must keep some weight (a row of weight 0 counts as absent)."""
    row = np.ones(len(y)) if w is None else w.astype(np.float64)
    if pairs is not None:
        row = row * np.array([v for _, v in pairs])[y]
    kept = np.flatnonzero(np.bincount(y, weights=row, minlength=len(classes)) > 0)
    if len(kept) < 2:
        left = ("no class" if not len(kept) else
                f"one class only ({_label_keys(classes[kept[0]])[0]!r})")
        raise DataError(
            f"The sample and class weights leave weight on {left}: a classifier needs at "
            "least two classes with weight to learn.")


def _int_setting(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"`{name}` must be an integer >= 1, got {value!r}.")
    return int(value)


def _float_setting(name: str, value: Any, low: float, high: float | None = None,
                   low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"`{name}` must be a number, got {value!r}.")
    v = float(value)
    bad_low = v <= low if low_open else v < low
    if bad_low or (high is not None and v >= high) or np.isnan(v):
        bound = f"in ({low:g}, {high:g})" if high is not None else (
            f"> {low:g}" if low_open else f">= {low:g}")
        raise ConfigError(f"`{name}` must be {bound}, got {value!r}.")
    return v


class _DenseBase(BaseEstimator):
    """Settings, validation and training shared by the classifier and the regressor."""

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu",
                 kernel_initializer: str = "glorot_uniform", optimizer: Any = "adam",
                 learning_rate: float | None = None, batch_size: int = 32, epochs: int = 200,
                 loss: str | None = None, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 10,
                 tol: float = 1e-4, random_state: Any = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.loss = loss
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state

    # ------------------------------------------------------------ settings

    def _loss_name(self) -> str | None:
        """The canonical loss, or None for the task's default; checked against the task."""
        raise NotImplementedError

    def _train_config(self, n_rows: int,
                      class_weight: tuple[tuple[int, float], ...] | None = None) -> TrainConfig:
        """The TrainConfig of these settings for ``n_rows`` training rows.

        A batch larger than the data is one full batch: that is Keras's
        behaviour, so the batch size is clipped to the rows (same updates, and
        no warning about it inside cross-validation). ``class_weight`` is the
        resolved ``(class index, weight)`` pairs.
        """
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, np.ndarray):
            hidden = hidden.tolist()
        if isinstance(hidden, list | tuple):  # NumPy integers from parameter grids
            hidden = [int(h) if isinstance(h, numbers.Integral) and not isinstance(h, bool)
                      else h for h in hidden]
        elif isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
            hidden = int(hidden)
        settings: dict[str, Any] = {
            "hidden": parse_hidden(hidden),
            "activation": self.activation,
            "kernel_initializer": self.kernel_initializer,
            "optimizer": self.optimizer,
            "batch_size": min(_int_setting("batch_size", self.batch_size), n_rows),
            "epochs": _int_setting("epochs", self.epochs),
        }
        if self.learning_rate is not None:
            settings["learning_rate"] = _float_setting("learning_rate", self.learning_rate, 0.0,
                                                       low_open=True)
        loss = self._loss_name()
        if loss is not None:
            settings["loss"] = loss
        if class_weight is not None:
            settings["class_weight"] = class_weight
        return resolve(settings)

    def _early_stopping(self) -> EarlyStopRule | None:
        if not isinstance(self.early_stopping, bool | np.bool_):
            raise ConfigError(f"`early_stopping` must be True or False, got {self.early_stopping!r}.")
        if not self.early_stopping:
            return None
        _float_setting("validation_fraction", self.validation_fraction, 0.0, 1.0, low_open=True)
        return EarlyStopRule(
            monitor="val_loss", minimize=True, min_delta=_float_setting("tol", self.tol, 0.0),
            patience=_int_setting("n_iter_no_change", self.n_iter_no_change), restore_best=True,
        )

    def _class_weights(self, data: TrainingData) -> tuple[tuple[int, float], ...] | None:
        """The resolved class weights for ``data``'s training rows (none for a regressor)."""
        return None

    # ------------------------------------------------------------- training

    def _setup_data(self, x: np.ndarray, y: np.ndarray, task: str, seed: int,
                    early: EarlyStopRule | None, stratify: bool,
                    sample_weight: np.ndarray | None = None) -> TrainingData:
        weights = () if sample_weight is None else (sample_weight,)
        if early is None:
            parts = {"x_train": x, "y_train": y}
            if sample_weight is not None:
                parts["w_train"] = sample_weight
            return training_data(parts, task=task)
        try:  # the held-out rows keep their sample weights, as in MLPClassifier
            x_tr, x_val, y_tr, y_val, *w_parts = train_test_split(
                x, y, *weights, test_size=float(self.validation_fraction), random_state=seed,
                stratify=y if stratify else None)
        except ValueError as e:
            raise ValueError(
                f"early_stopping=True cannot hold out validation_fraction="
                f"{self.validation_fraction} of {x.shape[0]} rows: {e}"
            ) from None
        parts = {"x_train": x_tr, "y_train": y_tr, "x_val": x_val, "y_val": y_val}
        if w_parts:
            w_tr, w_val = w_parts
            for part, w in (("training", w_tr), ("validation", w_val)):
                if not np.any(w > 0):
                    raise DataError(
                        f"The sample weights of early stopping's {part} rows are all zero "
                        f"({len(w)} rows); use another random_state or validation_fraction.")
            parts |= {"w_train": w_tr, "w_val": w_val}
        return training_data(parts, task=task)

    def _setup_from(self, x: np.ndarray, y: np.ndarray, task: str | Callable[[], str],
                    seed: int | None, stratify: bool,
                    sample_weight: Any = None) -> _Setup:
        """Check the settings and the weights, split off early stopping's validation rows.

        Nothing trains. ``task`` may be a function: it is called after the settings
        are checked, so a bad setting is reported before what it implies for the labels.
        """
        config = self._train_config(x.shape[0])
        early = self._early_stopping()
        task = task() if callable(task) else task
        weights = _sample_weights(sample_weight, x.shape[0])
        seed = _seed_from(self.random_state) if seed is None else seed
        data = self._setup_data(x, y, task, seed, early, stratify, weights)
        class_weight = self._class_weights(data)
        if early is not None or class_weight is not None:
            config = self._train_config(data.n_train, class_weight)
        return _Setup(config, seed, data, early)

    def _partial_epoch(self, config: TrainConfig, data: TrainingData, first: bool) -> Self:
        """One partial_fit epoch: from ``random_state``'s weights, or from the current ones."""
        if first:
            self._start_partial(_Setup(config, _seed_from(self.random_state), data, None))
        else:
            self._continue(_Setup(config, self._seed, data, None))
        return self

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Train from ``random_state`` for ``epochs`` epochs; returns the estimator.

        ``sample_weight`` (one weight >= 0 per row, or a number) weighs each row's
        loss; a batch's loss is the weighted mean of its rows' losses.
        """
        self._fit(self._setup(X, y, sample_weight=sample_weight))
        return self

    def _finish(self, setup: _Setup, trained: _training.Trained) -> None:
        """Store a training outcome as fitted attributes (also used by GridSearchCV)."""
        self._config = setup.config
        self._seed = setup.seed
        self._task = setup.data.task
        self._network = _training.network_of(setup.config, setup.data)
        self._opt_state = trained.opt_state
        self.coefs_ = [np.asarray(p["kernel"], np.float32) for p in trained.params]
        self.intercepts_ = [np.asarray(p["bias"], np.float32) for p in trained.params]
        self.history_ = {k: list(v) for k, v in trained.history.items()}
        self.n_iter_ = int(trained.n_epochs)
        self.diverged_epoch_ = int(trained.diverged_epoch)
        if setup.early_stopping is not None:
            self.best_epoch_ = int(trained.best_epoch)
        elif hasattr(self, "best_epoch_"):  # from an earlier fit with early stopping
            del self.best_epoch_
        self._warn_diverged()

    def _continue(self, setup: _Setup) -> None:
        """One more epoch from the current weights (``partial_fit``).

        Successive ``partial_fit`` calls carry the optimizer state; after ``fit``
        (which trains through the sweep path, returning weights only) the first
        ``partial_fit`` starts a fresh optimizer state from fit's weights.
        """
        network = _training.network_of(setup.config, setup.data)
        same_optimizer = (setup.config.optimizer.kind == self._config.optimizer.kind and
                          setup.config.optimizer.static_options ==
                          self._config.optimizer.static_options)
        if network != self._network or not same_optimizer:
            raise ValueError(
                "partial_fit cannot continue: the network or the optimizer kind changed since "
                "the last fit (hidden_layer_sizes, activation, loss or optimizer). Call fit to "
                "start again."
            )
        params = tuple({"kernel": k, "bias": b}
                       for k, b in zip(self.coefs_, self.intercepts_, strict=True))
        trained = _training.continue_one(setup.config, self._seed, setup.data, params,
                                         self._opt_state, self.n_iter_)
        history = {k: list(v) for k, v in self.history_.items()}
        for k, v in trained.history.items():
            history.setdefault(k, []).extend(v)
        self._config = setup.config
        self._opt_state = trained.opt_state
        self.coefs_ = [np.asarray(p["kernel"], np.float32) for p in trained.params]
        self.intercepts_ = [np.asarray(p["bias"], np.float32) for p in trained.params]
        self.history_ = history
        if trained.diverged_epoch >= 0 and self.diverged_epoch_ < 0:
            self.diverged_epoch_ = trained.diverged_epoch
        self.n_iter_ += 1
        self._warn_diverged()

    def _start_partial(self, setup: _Setup) -> None:
        """The first ``partial_fit`` call: epoch 0 from the seed's initial weights."""
        self._finish(setup, _training.continue_one(setup.config, setup.seed, setup.data,
                                                   None, None, 0))

    def _warn_diverged(self) -> None:
        if self.diverged_epoch_ >= 0:
            warnings.warn(
                f"{type(self).__name__} diverged at epoch {self.diverged_epoch_} (the loss or "
                "the weights became infinite or NaN); it keeps the last finite weights. Lower "
                "the learning_rate or scale the features.",
                TrainingDiverged, stacklevel=3,
            )

    def _fit(self, setup: _Setup) -> None:
        self._finish(setup, _training.fit_one(setup.config, setup.seed, setup.data,
                                              setup.early_stopping))

    # ----------------------------------------------------------- prediction

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        x = validate_data(self, X, reset=False, dtype=np.float32)
        params = tuple({"kernel": k, "bias": b}
                       for k, b in zip(self.coefs_, self.intercepts_, strict=True))
        return _training.predict(self._network, params, x)

    @property
    def network_(self) -> NetworkSpec:
        """The fitted network's architecture."""
        check_is_fitted(self)
        return self._network

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn's tags hook
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class DenseClassifier(ClassifierMixin, _DenseBase):
    """A dense network classifier trained with Keras's math (binary or multi-class).

    Two classes train one sigmoid unit with binary cross-entropy; more classes
    a softmax layer with categorical cross-entropy (``loss`` may choose
    ``"categorical_crossentropy"`` for two classes too: two softmax units).
    Labels may be strings, integers or booleans; ``classes_`` holds them sorted.

    ``early_stopping=True`` holds out ``validation_fraction`` of the rows
    (stratified, drawn from ``random_state``), applies Keras's EarlyStopping
    rule to ``val_loss`` (``patience=n_iter_no_change``, ``min_delta=tol``) and
    keeps the best epoch's weights, as ``MLPClassifier`` does.

    ``class_weight`` (None, ``"balanced"`` or ``{label: weight}`` keyed by the
    labels of ``y``) multiplies each training row's sample weight by its
    class's weight, as scikit-learn's classifiers do; ``"balanced"`` weighs
    class k by ``total weight / (n_classes * weight of class k)`` over the
    training rows (``LogisticRegression``'s rule, counting sample weights).

    Fitted attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_``
    (for tables with string column names), ``coefs_``/``intercepts_`` (each
    layer's kernel and bias, as ``MLPClassifier``), ``history_`` (Keras's
    ``History.history``: ``loss``, ``accuracy`` and, with early stopping,
    ``val_loss``, ``val_accuracy``), ``n_iter_`` (epochs run),
    ``diverged_epoch_`` (-1: never).
    """

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu",
                 kernel_initializer: str = "glorot_uniform", optimizer: Any = "adam",
                 learning_rate: float | None = None, batch_size: int = 32, epochs: int = 200,
                 loss: str | None = None, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 10,
                 tol: float = 1e-4, random_state: Any = None, class_weight: Any = None) -> None:
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                         kernel_initializer=kernel_initializer, optimizer=optimizer,
                         learning_rate=learning_rate, batch_size=batch_size, epochs=epochs,
                         loss=loss, early_stopping=early_stopping,
                         validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change, tol=tol, random_state=random_state)
        self.class_weight = class_weight

    def _class_weights(self, data: TrainingData) -> tuple[tuple[int, float], ...] | None:
        pairs = _class_weight_pairs(self.class_weight, self.classes_, data.y_train,
                                    data.w_train)
        if pairs is not None or data.w_train is not None:
            _check_weighted_classes(self.classes_, data.y_train, data.w_train, pairs)
        return pairs

    def _loss_name(self) -> str | None:
        if self.loss is None:
            return None
        name = _losses.canonical_loss(self.loss)
        if name not in _CLASSIFIER_LOSSES:
            raise ConfigError(
                f"A classifier's loss must be one of {', '.join(_CLASSIFIER_LOSSES)} (or None "
                f"for the default), got {self.loss!r}."
            )
        return name

    def _task_for(self, n_classes: int) -> str:
        loss = self._loss_name()
        if loss == "binary_crossentropy" and n_classes != 2:
            raise ValueError(
                f"loss='binary_crossentropy' needs exactly two classes, y holds {n_classes}; "
                "use loss=None or 'categorical_crossentropy'."
            )
        return "binary" if n_classes == 2 and loss in (None, "binary_crossentropy") \
            else "multiclass"

    def _encode_labels(self, y: np.ndarray) -> np.ndarray:
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise NotSupportedError(
                f"{type(self).__name__} predicts one label per row; y is {kind!r}."
            )
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least two classes to learn; y holds one "
                f"class only: {self.classes_.tolist()[0]!r}."
            )
        return y_idx.astype(np.int64)

    def _setup(self, X: Any, y: Any, seed: int | None = None,
               sample_weight: Any = None) -> _Setup:
        """Validate data and settings; set ``n_features_in_``, ``classes_``. Nothing trains."""
        x, y = validate_data(self, X, y, dtype=np.float32)
        y_idx = self._encode_labels(y)
        return self._setup_from(x, y_idx, lambda: self._task_for(len(self.classes_)), seed,
                                stratify=True, sample_weight=sample_weight)

    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> DenseClassifier:
        """One epoch on ``(X, y)`` from the current weights and optimizer state.

        The first call needs ``classes`` (every label that will ever appear);
        it starts from ``random_state``'s initial weights. Early stopping does
        not apply to ``partial_fit``, nor ``class_weight="balanced"`` (one call
        sees a part of the data only; pass the weights as a dict).
        """
        first = not hasattr(self, "coefs_")
        x, y = validate_data(self, X, y, dtype=np.float32, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            all_classes = np.unique(np.asarray(classes))
            if len(all_classes) < 2:
                raise ValueError(f"`classes` must hold at least two labels, got {classes!r}.")
        else:
            all_classes = self.classes_
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                          self.classes_):
                raise ValueError(
                    f"`classes={np.unique(np.asarray(classes))!r}` differs from the classes of "
                    f"the first partial_fit call, {self.classes_!r}."
                )
        unknown = np.setdiff1d(np.unique(y), all_classes)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()!r} that are not in classes "
                f"{all_classes.tolist()!r}."
            )
        task = self._task_for(len(all_classes))
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ConfigError(
                "class_weight='balanced' is not supported by partial_fit: one call sees part "
                "of the rows only. Compute the weights once from the labels (sklearn.utils."
                "class_weight.compute_class_weight) and pass them as a dict {label: weight}.")
        weights = _sample_weights(sample_weight, x.shape[0])
        y_idx = np.searchsorted(all_classes, y).astype(np.int64)
        data = TrainingData(np.ascontiguousarray(x), y_idx, (), task, len(all_classes) if task
                            == "multiclass" else 2, {"n_train": int(x.shape[0])},
                            None if weights is None else weights.astype(np.float32))
        pairs = _class_weight_pairs(self.class_weight, all_classes, y_idx, data.w_train)
        config = self._train_config(x.shape[0], pairs)
        if first:
            self.classes_ = all_classes
        return self._partial_epoch(config, data, first)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order (float64)."""
        out = self._outputs(X).astype(np.float64)
        if out.shape[1] == 1:
            p = out[:, 0]
            return np.column_stack([1.0 - p, p])
        # A float32 softmax sums to 1 within float32 round-off; scikit-learn's metrics
        # (log_loss) check the sum in float64, so renormalize (the ranking is unchanged).
        return out / out.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (a sigmoid output above 0.5 is the second class)."""
        proba = self.predict_proba(X)  # checks fitted-ness before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]


class DenseRegressor(RegressorMixin, _DenseBase):
    """A dense network regressor trained with Keras's math (one or several targets).

    A linear output layer with mean squared error (Keras's ``"mse"``), one unit
    per target column. ``early_stopping`` as in :class:`DenseClassifier`
    (the validation rows are a random sample). ``predict`` returns float64,
    1-D when ``y`` was 1-D. Fitted attributes as the classifier's, with
    ``n_outputs_`` instead of ``classes_``.
    """

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu",
                 kernel_initializer: str = "glorot_uniform", optimizer: Any = "adam",
                 learning_rate: float | None = None, batch_size: int = 32, epochs: int = 200,
                 loss: str = "mean_squared_error", early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 10,
                 tol: float = 1e-4, random_state: Any = None) -> None:
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                         kernel_initializer=kernel_initializer, optimizer=optimizer,
                         learning_rate=learning_rate, batch_size=batch_size, epochs=epochs,
                         loss=loss, early_stopping=early_stopping,
                         validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change, tol=tol, random_state=random_state)

    def _loss_name(self) -> str | None:
        name = _losses.canonical_loss("mse" if self.loss is None else self.loss)
        if name != "mean_squared_error":
            raise ConfigError(
                f"A regressor's loss must be 'mean_squared_error' ('mse'), got {self.loss!r}."
            )
        return name

    def _targets(self, y: np.ndarray, first: bool) -> np.ndarray:
        y2 = np.asarray(y, np.float64).reshape(y.shape[0], -1)
        if first:
            self.n_outputs_ = y2.shape[1]
            self._y_ndim = y.ndim
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} target columns, but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}."
            )
        return y2.astype(np.float32)

    def _setup(self, X: Any, y: Any, seed: int | None = None,
               sample_weight: Any = None) -> _Setup:
        """Validate data and settings; set ``n_features_in_``, ``n_outputs_``. Nothing trains."""
        x, y = validate_data(self, X, y, dtype=np.float32, multi_output=True, y_numeric=True)
        y2 = self._targets(y, first=True)
        return self._setup_from(x, y2, "regression", seed, stratify=False,
                                sample_weight=sample_weight)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> DenseRegressor:
        """One epoch on ``(X, y)`` from the current weights and optimizer state."""
        first = not hasattr(self, "coefs_")
        x, y = validate_data(self, X, y, dtype=np.float32, multi_output=True, y_numeric=True,
                             reset=first)
        y2 = self._targets(y, first=first)
        weights = _sample_weights(sample_weight, x.shape[0])
        parts = {"x_train": x, "y_train": y2}
        if weights is not None:
            parts["w_train"] = weights
        data = training_data(parts, task="regression")
        return self._partial_epoch(self._train_config(x.shape[0]), data, first)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets (float64): shape ``(n,)`` when fitted on 1-D ``y``, else ``(n, k)``."""
        out = self._outputs(X).astype(np.float64)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn's tags hook
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The estimator checks expected to fail on ``estimator``: none, every check passes.

    scikit-learn's ``expected_failed_checks`` hook (for ``parametrize_with_checks``
    and ``check_estimator``), kept so code that passes it goes on working.
    """
    return {}
