"""The parity suite's cases and runners: gdlab against Keras 3 (JAX backend) as the oracle.

A :class:`Case` is one training run described as data: layers (units,
activation, kernel and bias initializer), an output head (loss, activation,
targets, from_logits), an optimizer with its switches, batch size and epochs,
validation (none, split, data with or without weights), sample or class
weights, and metrics. :func:`covering_cases` builds cases from gdlab's
registries (activations, initializers, losses, optimizers, metrics) so that
every registered name is trained in at least one case: a new name cannot be
registered without parity cases. :func:`cases_strategy` draws random cases
for hypothesis.

Both libraries get the same initial weights (gdlab draws them with the case's
initializers; Keras receives them with ``set_weights``, and for deterministic
initializers its own draw is checked equal), the same batches and the same
weights; History and the weights after every epoch are compared.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import keras
import numpy as np

import gdlab.keras as gk
from gdlab import activations, initializers, losses, optimizers
from gdlab.pitfalls import GdlabWarning

RTOL, ATOL = 1e-5, 1e-5

#: Initializers drawn the same by any library (Keras's own draw is checked equal).
DETERMINISTIC = {"zeros", "ones"}


@dataclass(frozen=True)
class Head:
    """The output layer and its loss: what the targets are and how the loss reads the output."""

    loss: str
    activation: str
    units: int
    targets: str  # binary, soft, multilabel, onehot, soft_onehot, labels, values, positive
    from_logits: bool = False

    @property
    def classes(self) -> bool:
        """Whether the targets are classes (class weights and accuracy apply)."""
        return self.targets in {"binary", "onehot", "labels"}


#: Every loss on each of its paths: logits (by activation or declared), probabilities, values.
HEADS = (
    Head("binary_crossentropy", "sigmoid", 1, "binary"),
    Head("binary_crossentropy", "sigmoid", 1, "soft"),
    Head("binary_crossentropy", "sigmoid", 3, "multilabel"),
    Head("binary_crossentropy", "linear", 1, "binary", from_logits=True),
    Head("binary_crossentropy", "softmax", 2, "onehot"),  # probabilities, clipped
    Head("categorical_crossentropy", "softmax", 3, "onehot"),
    Head("categorical_crossentropy", "softmax", 3, "soft_onehot"),
    Head("categorical_crossentropy", "sigmoid", 3, "onehot"),  # probabilities, normalized
    Head("categorical_crossentropy", "linear", 3, "onehot", from_logits=True),
    Head("sparse_categorical_crossentropy", "softmax", 3, "labels"),
    Head("sparse_categorical_crossentropy", "linear", 3, "labels", from_logits=True),
    Head("mean_squared_error", "linear", 1, "values"),
    Head("mean_squared_error", "sigmoid", 2, "soft_onehot"),
    Head("mean_absolute_error", "linear", 2, "values"),
    Head("mean_absolute_percentage_error", "linear", 1, "values"),
    Head("mean_squared_logarithmic_error", "softplus", 1, "positive"),
    Head("huber", "linear", 1, "values"),
    Head("log_cosh", "tanh", 1, "values"),
)

REGRESSION_METRICS = ("mse", "mae", "root_mean_squared_error", "mape", "msle")


@dataclass(frozen=True)
class Case:
    """One training run, as data (see the module docstring)."""

    seed: int
    n_rows: int
    n_features: int
    hidden: tuple[tuple[int, str], ...]  # (units, activation) per hidden layer
    kernel_initializers: tuple[str, ...]  # one per Dense layer (hidden + output)
    bias_initializers: tuple[str, ...]
    head: Head
    optimizer: str  # a course-style call, e.g. "SGD(learning_rate=0.1, momentum=0.5)"
    batch_size: int
    epochs: int = 3
    validation: str = "none"  # none, split, data, weighted_data
    weights: str = "none"  # none, sample, class
    metrics: tuple[str, ...] = ()
    weighted_metrics: tuple[str, ...] = ()

    def label(self) -> str:
        """A readable one-line id (for pytest ids and failure messages)."""
        layers = "-".join(f"{u}{a[:4]}" for u, a in self.hidden) or "lr"
        inits = ",".join(sorted(set(self.kernel_initializers)))
        return (f"s{self.seed}|{layers}|{self.head.loss}:{self.head.activation}:"
                f"{self.head.targets}{':logits' if self.head.from_logits else ''}|"
                f"{self.optimizer}|b{self.batch_size}|{inits}|v:{self.validation}|"
                f"w:{self.weights}")


# ---------------------------------------------------------------- data


def make_data(case: Case) -> dict[str, Any]:
    """Features, targets, weights and validation data for a case (float32, seeded)."""
    rng = np.random.default_rng(case.seed)
    n_val = 17 if case.validation in {"data", "weighted_data"} else 0
    n = case.n_rows + n_val
    x = rng.normal(size=(n, case.n_features)).astype(np.float32)
    scores = x @ rng.normal(size=(case.n_features, 3)) + 0.5 * rng.normal(size=(n, 3))
    y = _targets(case.head, scores, rng)
    w = np.round(rng.uniform(0.0, 2.0, size=n), 2).astype(np.float32)
    w[rng.random(n) < 0.1] = 0.0  # some rows weigh nothing
    out = {"x": x[:case.n_rows], "y": y[:case.n_rows], "w": w[:case.n_rows]}
    if n_val:
        out["val"] = (x[case.n_rows:], y[case.n_rows:], w[case.n_rows:])
    return out


def _targets(head: Head, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k = head.units
    if head.targets == "binary":
        return (scores[:, :1] > 0).astype(np.float32)
    if head.targets == "soft":
        return (1 / (1 + np.exp(-scores[:, :1]))).astype(np.float32)
    if head.targets == "multilabel":
        return (scores[:, :k] > 0).astype(np.float32)
    labels = scores[:, :max(k, 2)].argmax(1)
    if head.targets == "labels":
        return labels.astype(np.int64)
    if head.targets == "onehot":
        return np.eye(k, dtype=np.float32)[labels]
    if head.targets == "soft_onehot":
        e = np.exp(scores[:, :k] - scores[:, :k].max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True)).astype(np.float32)
    if head.targets == "positive":
        return np.abs(scores[:, :k]).astype(np.float32)
    return (scores[:, :k] + 3.0).astype(np.float32)  # values away from 0 (MAPE divides by y)


def class_weights(case: Case) -> dict[int, float]:
    """The class weights a case uses (classes 0..k-1)."""
    k = max(case.head.units, 2)
    return {c: [0.5, 2.0, 1.3][c % 3] for c in range(k)}


# ---------------------------------------------------------------- building


def _optimizer(lib: Any, text: str) -> Any:
    call = ast.parse(text, mode="eval").body
    kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    return getattr(lib.optimizers, call.func.id)(**kwargs)


def _initializer(lib: Any, name: str) -> Any:
    value = initializers.constant_value(name)
    if value is not None:
        return lib.initializers.Constant(value)
    return name


def build(lib: Any, case: Case) -> Any:
    """The case's model in ``lib`` (gdlab.keras or keras), compiled."""
    layers = [lib.Input(shape=(case.n_features,))]
    widths = [*(u for u, _ in case.hidden), case.head.units]
    acts = [*(a for _, a in case.hidden), case.head.activation]
    for units, act, kinit, binit in zip(widths, acts, case.kernel_initializers,
                                        case.bias_initializers, strict=True):
        layers.append(lib.layers.Dense(units, activation=act,
                                       kernel_initializer=_initializer(lib, kinit),
                                       bias_initializer=_initializer(lib, binit)))
    model = lib.Sequential(layers)
    loss: Any = case.head.loss
    if case.head.from_logits:
        cls = {"binary_crossentropy": "BinaryCrossentropy",
               "categorical_crossentropy": "CategoricalCrossentropy",
               "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy"}[loss]
        loss = getattr(lib.losses, cls)(from_logits=True)
    model.compile(optimizer=_optimizer(lib, case.optimizer), loss=loss,
                  metrics=list(case.metrics) or None,
                  weighted_metrics=list(case.weighted_metrics) or None)
    return model


class _Recorder:
    """Weights after every epoch (a callback for either library)."""

    def __init__(self, base: type) -> None:
        self.weights: list[list[np.ndarray]] = []
        weights = self.weights

        def on_epoch_end(cb: Any, epoch: int, logs: Any = None) -> None:
            weights.append([np.asarray(w).copy() for w in cb.model.get_weights()])

        self.cb = type("WeightsRecorder", (base,), {"on_epoch_end": on_epoch_end})()


def fit_kwargs(case: Case, data: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"batch_size": case.batch_size, "epochs": case.epochs,
                              "shuffle": False, "verbose": 0}
    if case.weights == "sample":
        kwargs["sample_weight"] = data["w"]
    elif case.weights == "class":
        kwargs["class_weight"] = class_weights(case)
    if case.validation == "split":
        kwargs["validation_split"] = 0.2
    elif case.validation == "data":
        kwargs["validation_data"] = data["val"][:2]
    elif case.validation == "weighted_data":
        kwargs["validation_data"] = data["val"]
    return kwargs


def initial_weights(case: Case) -> list[np.ndarray]:
    """The case's initial weights, drawn by gdlab with the case's initializers."""
    gk.utils.set_random_seed(case.seed)
    return build(gk, case).get_weights()


def run(lib: Any, case: Case, weights: Sequence[np.ndarray], data: dict[str, Any]
        ) -> tuple[dict[str, list[float]], list[list[np.ndarray]], Any]:
    """Fit ``case`` in ``lib`` from ``weights``: (History, weights after each epoch, model)."""
    if lib is keras:
        with jax.numpy_rank_promotion("allow"):  # Keras relies on NumPy-style promotion
            return _run(lib, case, weights, data)
    return _run(lib, case, weights, data)


def _run(lib: Any, case: Case, weights: Sequence[np.ndarray], data: dict[str, Any]):
    model = build(lib, case)
    own = model.get_weights()
    for i, (a, name) in enumerate(zip(own, _weight_initializers(case), strict=True)):
        if name in DETERMINISTIC or initializers.constant_value(name) is not None:
            # Deterministic draws must agree without copying.
            np.testing.assert_array_equal(a, weights[i], err_msg=f"initial weight {i} ({name})")
    model.set_weights(list(weights))
    rec = _Recorder(lib.callbacks.Callback)
    with warnings.catch_warnings():
        # gdlab's advice (a validation part missing a class, ...) is not the subject here.
        warnings.simplefilter("ignore", GdlabWarning)
        h = model.fit(data["x"], data["y"], callbacks=[rec.cb], **fit_kwargs(case, data))
    return {k: [float(v) for v in vals] for k, vals in h.history.items()}, rec.weights, model


def _weight_initializers(case: Case) -> list[str]:
    return [n for k, b in zip(case.kernel_initializers, case.bias_initializers, strict=True)
            for n in (k, b)]


def compare(case: Case, got: tuple, want: tuple, what: str = "gdlab.keras") -> None:
    """History and per-epoch weights equal within RTOL/ATOL, with the case in the message."""
    (h_g, w_g), (h_k, w_k) = got[:2], want[:2]
    msg = f"{what} vs Keras, case {case.label()}"
    assert sorted(h_g) == sorted(h_k), f"{msg}: History keys {sorted(h_g)} != {sorted(h_k)}"
    for key in h_k:
        np.testing.assert_allclose(h_g[key], h_k[key], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{msg}: History[{key!r}]")
    assert len(w_g) == len(w_k) == case.epochs, msg
    for e, (a_list, b_list) in enumerate(zip(w_g, w_k, strict=True)):
        for i, (a, b) in enumerate(zip(a_list, b_list, strict=True)):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{msg}: weight {i} after epoch {e}")


# ---------------------------------------------------------- registry-driven cases


def optimizer_variants() -> list[str]:
    """Every registered optimizer with each of its switches and the options all share.

    Per kind: its defaults; each boolean switch on (Nesterov with momentum);
    momentum where it has one; a non-default epsilon where it has one. Then the
    options every Keras optimizer takes (clipnorm, clipvalue, global_clipnorm,
    weight_decay), each on two kinds.
    """
    out = []
    kinds = list(optimizers.OPTIMIZERS.values())
    for kind in kinds:
        lr = _lr(kind.name)
        out.append(f"{kind.keras_name}(learning_rate={lr})")
        for name, default in kind.defaults.items():
            if isinstance(default, bool):
                extra = f"{name}=True" + (", momentum=0.5" if name == "nesterov" else "")
                out.append(f"{kind.keras_name}(learning_rate={lr}, {extra})")
            elif name == "momentum":
                out.append(f"{kind.keras_name}(learning_rate={lr}, momentum=0.5)")
            elif name == "epsilon":
                out.append(f"{kind.keras_name}(learning_rate={lr}, epsilon=0.001)")
    common = [("clipnorm", 0.05), ("clipvalue", 0.01), ("global_clipnorm", 0.05),
              ("weight_decay", 0.1)]
    for i, (name, value) in enumerate(common):
        for kind in (kinds[i % len(kinds)], kinds[(i + 4) % len(kinds)]):
            out.append(f"{kind.keras_name}(learning_rate={_lr(kind.name)}, {name}={value})")
    return out


def _lr(kind: str) -> float:
    return {"sgd": 0.1, "adagrad": 0.1, "adadelta": 1.0}.get(kind, 0.01)


#: Hidden activations: every registered one (softmax too: Keras allows it anywhere).
HIDDEN_ACTIVATIONS = tuple(activations.ACTIVATIONS)
#: Kernel initializers: every registered one, and a constant.
KERNEL_INITIALIZERS = (*initializers.INITIALIZERS, "constant(0.3)")
BIAS_INITIALIZERS = ("zeros", "ones", "constant(-0.2)", "random_normal", "glorot_uniform")


def metrics_for(head: Head, weights: str, i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Metrics and weighted metrics a case of ``head`` reports."""
    if head.targets in {"values", "positive"}:
        metrics = tuple(REGRESSION_METRICS[j % len(REGRESSION_METRICS)] for j in (i, i + 1, i + 2))
        return metrics, (("mae",) if weights != "none" else ())
    explicit = {"binary": "binary_accuracy", "multilabel": "binary_accuracy",
                "soft": "binary_accuracy", "onehot": "categorical_accuracy",
                "soft_onehot": "categorical_accuracy", "labels": "sparse_categorical_accuracy"}
    metrics = ("accuracy",) if i % 2 == 0 else (explicit[head.targets],)
    return metrics, (("accuracy",) if weights != "none" else ())


def _layers_for(i: int, kernel: str) -> tuple[tuple[int, ...], int]:
    """Hidden widths for case ``i``: logistic regression up to 4 hidden layers.

    Ones and constants keep to shallow, narrow nets: with every weight equal,
    deep sums saturate the output, where gdlab's logits and Keras's clipped
    probabilities part by design.
    """
    if kernel == "ones" or kernel.startswith("constant"):
        return ((), (2,))[i % 2], 4
    depth = i % 5
    widths = [(3, 5, 2, 4, 1)[(i + j) % 5] for j in range(depth)]
    return tuple(widths), 3 + i % 2


def covering_cases() -> list[Case]:
    """A design in which every registered name appears: case ``i`` takes the ``i``-th
    activation, initializer, optimizer variant, head, ... (cycling)."""
    variants = optimizer_variants()
    n = max(len(variants), len(HIDDEN_ACTIVATIONS), len(KERNEL_INITIALIZERS), len(HEADS))
    out = []
    for i in range(n):
        kernel = KERNEL_INITIALIZERS[i % len(KERNEL_INITIALIZERS)]
        widths, n_features = _layers_for(i, kernel)
        acts = [HIDDEN_ACTIVATIONS[(i + j) % len(HIDDEN_ACTIVATIONS)] for j in range(len(widths))]
        if not widths:  # the hidden activation of this turn goes into the next case
            acts = []
        widths = _softmax_widths(widths, acts)
        head = HEADS[i % len(HEADS)]
        weights = ("none", "sample", "class")[i % 3]
        if weights == "class" and not head.classes:
            weights = "sample"
        metrics, weighted = metrics_for(head, weights, i)
        n_layers = len(widths) + 1
        out.append(Case(
            seed=i, n_rows=53 + i % 11, n_features=n_features,
            hidden=tuple(zip(widths, acts, strict=True)),
            kernel_initializers=_symmetry_safe((kernel,) * n_layers),
            bias_initializers=tuple(BIAS_INITIALIZERS[(i + j) % len(BIAS_INITIALIZERS)]
                                    for j in range(n_layers)),
            head=head, optimizer=variants[i % len(variants)],
            batch_size=(8, 16, 32, 12)[i % 4], epochs=3,
            validation=("none", "split", "data", "weighted_data")[i % 4],
            weights=weights, metrics=metrics, weighted_metrics=weighted,
        ))
    return _cover_hidden_activations(out)


def _symmetry_safe(kernels: Sequence[str]) -> tuple[str, ...]:
    """An output kernel of equal columns behind hidden layers gets a random initializer.

    With equal output columns, the gradient reaching the hidden layers cancels
    exactly in exact arithmetic (a softmax's probabilities sum to 1), so what
    arrives is float32 round-off; Adam-like optimizers divide it by its own
    size and turn round-off, which differs between any two libraries, into
    steps of the learning rate's size.
    """
    kernels = tuple(kernels)
    last = kernels[-1]
    if len(kernels) > 1 and (last in DETERMINISTIC
                             or initializers.constant_value(last) is not None):
        return (*kernels[:-1], "glorot_uniform")
    return kernels


def _softmax_widths(widths: Sequence[int], acts: Sequence[str]) -> tuple[int, ...]:
    """Keras refuses a softmax over one unit (always 1): such layers get two."""
    return tuple(max(w, 2) if a == "softmax" else w for w, a in zip(widths, acts, strict=True))


def _cover_hidden_activations(cases: list[Case]) -> list[Case]:
    """Give any hidden activation that no case uses yet to a case with hidden layers."""
    used = {a for c in cases for _, a in c.hidden}
    missing = [a for a in HIDDEN_ACTIVATIONS if a not in used]
    deep = [i for i, c in enumerate(cases) if c.hidden and c.kernel_initializers[0]
            not in DETERMINISTIC]
    for act, i in zip(missing, itertools.cycle(deep)):
        c = cases[i]
        width = max(c.hidden[0][0], 2) if act == "softmax" else c.hidden[0][0]
        cases[i] = dataclasses.replace(c, hidden=((width, act), *c.hidden[1:]))
    return cases


def registered_names() -> dict[str, set[str]]:
    """What every parity case list must cover, read from gdlab's registries."""
    return {
        "activation": set(activations.ACTIVATIONS),
        "initializer": set(initializers.INITIALIZERS) | set(initializers.PARAMETRIZED),
        "loss": set(losses.LOSSES),
        "optimizer": set(optimizers.OPTIMIZERS),
        "metric": set(losses.METRIC_KINDS),
        "switch": {"momentum", "nesterov", "centered", "amsgrad", "clipnorm", "clipvalue",
                   "global_clipnorm", "weight_decay", "epsilon"},
    }


def covered_names(cases: Sequence[Case]) -> dict[str, set[str]]:
    """The registry names a list of cases trains."""
    out: dict[str, set[str]] = {k: set() for k in registered_names()}
    for c in cases:
        out["activation"] |= {a for _, a in c.hidden} | {c.head.activation}
        for name in (*c.kernel_initializers, *c.bias_initializers):
            out["initializer"].add("constant" if initializers.constant_value(name) is not None
                                   else initializers.canonical_initializer(name))
        out["loss"].add(c.head.loss)
        call = ast.parse(c.optimizer, mode="eval").body
        out["optimizer"].add(optimizers.canonical_optimizer(call.func.id))
        out["switch"] |= {kw.arg for kw in call.keywords} - {"learning_rate"}
        for m in (*c.metrics, *c.weighted_metrics):
            kind = losses.canonical_metric(m)
            if kind in losses.ACCURACY_NAMES:
                y_rank = 1 if c.head.targets == "labels" else 2
                last = 1 if c.head.targets == "labels" else c.head.units
                kind = losses.resolve_accuracy(y_rank, last, c.head.units)
            out["metric"].add(kind)
    return out


# ------------------------------------------------------------------ hypothesis


def cases_strategy():
    """Random cases for hypothesis: any activation, initializer, head, optimizer, ..."""
    from hypothesis import strategies as st

    variants = optimizer_variants()

    @st.composite
    def draw(d: Any) -> Case:
        seed = d(st.integers(0, 10_000))
        kernel = d(st.sampled_from(KERNEL_INITIALIZERS))
        shallow = kernel == "ones" or kernel.startswith("constant")
        depth = d(st.integers(0, 1 if shallow else 4))
        widths = [d(st.integers(1, 2 if shallow else 5)) for _ in range(depth)]
        acts = [d(st.sampled_from(HIDDEN_ACTIVATIONS)) for _ in range(depth)]
        widths = list(_softmax_widths(widths, acts))
        head = d(st.sampled_from(HEADS))
        weights = d(st.sampled_from(("none", "sample", "class") if head.classes
                                    else ("none", "sample")))
        metrics, weighted = metrics_for(head, weights, d(st.integers(0, 9)))
        n_layers = depth + 1
        return Case(
            seed=seed, n_rows=d(st.integers(20, 70)), n_features=d(st.integers(1, 4)),
            hidden=tuple(zip(widths, acts, strict=True)),
            kernel_initializers=_symmetry_safe(
                d(st.sampled_from(KERNEL_INITIALIZERS)) if not shallow else kernel
                for _ in range(n_layers)),
            bias_initializers=tuple(d(st.sampled_from(BIAS_INITIALIZERS))
                                    for _ in range(n_layers)),
            head=head, optimizer=d(st.sampled_from(variants)),
            batch_size=d(st.sampled_from((1, 5, 8, 16, 32, 100))),
            epochs=d(st.integers(1, 3)),
            validation=d(st.sampled_from(("none", "split", "data", "weighted_data"))),
            weights=weights, metrics=metrics, weighted_metrics=weighted,
        )

    return draw()


def saturates(case: Case, weights: Sequence[np.ndarray], data: dict[str, Any]) -> bool:
    """Whether the initial output's logits are so large that Keras's probability clipping
    (JAX backend) and gdlab's logits part by design (|logit| > 12), or outputs overflow."""
    h = data["x"]
    for i in range(0, len(weights), 2):
        z = h @ weights[i] + weights[i + 1]
        layer = i // 2
        act = case.hidden[layer][1] if layer < len(case.hidden) else None
        if act is None:
            return not np.all(np.isfinite(z)) or bool(np.abs(z).max() > 12)
        h = np.asarray(activations.get(act)(jax.numpy.asarray(z)))
        if not np.all(np.isfinite(h)) or np.abs(h).max() > 1e3:
            return True
    return False
