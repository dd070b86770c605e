"""Keras 3's optimizers as optax gradient transformations.

Each optimizer is a factory returning an ``optax.GradientTransformation`` whose
state is a NamedTuple declared beside it. The docstrings give the **Keras**
update rule, which differs from optax's same-named transformations in places:

* Adam folds both bias corrections into the step size and adds epsilon to
  ``sqrt(v)`` ("epsilon hat"); optax adds epsilon to the bias-corrected root.
* Adagrad's accumulator starts at 0.1 and epsilon sits inside the square root.
* RMSprop puts epsilon inside the square root and its velocity starts at 0.
* SGD keeps the learning rate inside the momentum buffer, and its Nesterov form
  is ``w += mu * m - lr * g`` with the new ``m``.

Hyperparameters may be Python numbers or JAX arrays (traced per model inside a
vectorized sweep); boolean switches (``nesterov``, ``centered``, ``amsgrad``)
become ``jnp.where`` selections, which is exact: with ``momentum = 0`` the
momentum forms reduce to plain SGD bit for bit.

Keras applies gradient clipping first, then weight decay to the variable
(``w -= w * weight_decay * lr``), then the optimizer's step; :func:`keras_optimizer`
chains them in that order. Updates are returned optax-style (to be added).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gdlab.errors import ConfigError, NotSupportedError, unknown_name

Scalar = float | jax.Array

tree_map = jax.tree_util.tree_map


def _zeros(params: optax.Params) -> optax.Params:
    return tree_map(jnp.zeros_like, params)


def _step(count: jax.Array) -> jax.Array:
    return (count + 1).astype(jnp.float32)


# --------------------------------------------------------------------------- SGD


class SGDState(NamedTuple):
    """Momentum buffer ``m`` (zeros at the start)."""

    momentum: optax.Updates


def keras_sgd(learning_rate: Scalar = 0.01, momentum: Scalar = 0.0,
              nesterov: bool | jax.Array = False) -> optax.GradientTransformation:
    r"""Keras's SGD.

    .. math::
        m \leftarrow \mu m - \eta g, \qquad
        w \leftarrow w + m \;\; \text{(plain)}, \qquad
        w \leftarrow w + \mu m - \eta g \;\; \text{(Nesterov, new } m)

    With :math:`\mu = 0` this is :math:`w \leftarrow w - \eta g` exactly.
    """

    def init(params: optax.Params) -> SGDState:
        return SGDState(_zeros(params))

    def update(grads: optax.Updates, state: SGDState, params: optax.Params | None = None):
        del params
        m = tree_map(lambda m, g: m * momentum - g * learning_rate, state.momentum, grads)
        updates = tree_map(
            lambda m, g: jnp.where(nesterov, m * momentum - g * learning_rate, m), m, grads
        )
        return updates, SGDState(m)

    return optax.GradientTransformation(init, update)


# -------------------------------------------------------------------------- Adam


class AdamState(NamedTuple):
    """Iteration count, first moment, second moment, running max of v (amsgrad)."""

    count: jax.Array
    m: optax.Updates
    v: optax.Updates
    v_hat: optax.Updates


def keras_adam(learning_rate: Scalar = 0.001, beta_1: Scalar = 0.9, beta_2: Scalar = 0.999,
               epsilon: Scalar = 1e-7,
               amsgrad: bool | jax.Array = False) -> optax.GradientTransformation:
    r"""Keras's Adam (Kingma & Ba 2015, in the "epsilon hat" form).

    With :math:`t` the number of updates so far plus one:

    .. math::
        m \leftarrow m + (g - m)(1 - \beta_1), \quad
        v \leftarrow v + (g^2 - v)(1 - \beta_2), \quad
        \alpha = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t), \quad
        w \leftarrow w - \alpha m / (\sqrt{v} + \epsilon)

    With amsgrad, :math:`v` in the last step is the running maximum of :math:`v`.
    """

    def init(params: optax.Params) -> AdamState:
        z = _zeros(params)
        return AdamState(jnp.zeros([], jnp.int32), z, z, z)

    def update(grads: optax.Updates, state: AdamState, params: optax.Params | None = None):
        del params
        t = _step(state.count)
        alpha = learning_rate * jnp.sqrt(1 - jnp.power(beta_2, t)) / (1 - jnp.power(beta_1, t))
        m = tree_map(lambda m, g: m + (g - m) * (1 - beta_1), state.m, grads)
        v = tree_map(lambda v, g: v + (jnp.square(g) - v) * (1 - beta_2), state.v, grads)
        v_hat = tree_map(lambda vh, v: jnp.where(amsgrad, jnp.maximum(vh, v), vh), state.v_hat, v)
        v_used = tree_map(lambda vh, v: jnp.where(amsgrad, vh, v), v_hat, v)
        updates = tree_map(lambda m, v: -((m * alpha) / (jnp.sqrt(v) + epsilon)), m, v_used)
        return updates, AdamState(state.count + 1, m, v, v_hat)

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------------------------- Adagrad


class AdagradState(NamedTuple):
    """Sum of squared gradients, starting at ``initial_accumulator_value``."""

    accumulator: optax.Updates


def keras_adagrad(learning_rate: Scalar = 0.001, initial_accumulator_value: Scalar = 0.1,
                  epsilon: Scalar = 1e-7) -> optax.GradientTransformation:
    r"""Keras's Adagrad (Duchi et al. 2011).

    .. math::
        a_0 = 0.1, \quad a \leftarrow a + g^2, \quad
        w \leftarrow w - \eta g / \sqrt{a + \epsilon}
    """

    def init(params: optax.Params) -> AdagradState:
        return AdagradState(
            tree_map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update(grads: optax.Updates, state: AdagradState, params: optax.Params | None = None):
        del params
        acc = tree_map(lambda a, g: a + jnp.square(g), state.accumulator, grads)
        updates = tree_map(lambda a, g: -((learning_rate * g) / jnp.sqrt(a + epsilon)), acc, grads)
        return updates, AdagradState(acc)

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------------------------- RMSprop


class RMSpropState(NamedTuple):
    """Velocity (mean square), mean gradient (centered form) and momentum."""

    velocity: optax.Updates
    average_gradient: optax.Updates
    momentum: optax.Updates


def keras_rmsprop(learning_rate: Scalar = 0.001, rho: Scalar = 0.9, momentum: Scalar = 0.0,
                  epsilon: Scalar = 1e-7,
                  centered: bool | jax.Array = False) -> optax.GradientTransformation:
    r"""Keras's RMSprop (Hinton's lecture 6e).

    .. math::
        v \leftarrow \rho v + (1 - \rho) g^2, \quad
        \bar g \leftarrow \rho \bar g + (1 - \rho) g \;\text{(centered)}, \\
        \Delta = \eta g / \sqrt{v + \epsilon} \;\text{or}\;
        \eta g / \sqrt{v - \bar g^2 + \epsilon} \;\text{(centered)}, \quad
        m \leftarrow \mu m + \Delta, \quad w \leftarrow w - m

    With :math:`\mu = 0`, :math:`m = \Delta` exactly.
    """

    def init(params: optax.Params) -> RMSpropState:
        z = _zeros(params)
        return RMSpropState(z, z, z)

    def update(grads: optax.Updates, state: RMSpropState, params: optax.Params | None = None):
        del params
        vel = tree_map(lambda v, g: rho * v + (1 - rho) * jnp.square(g), state.velocity, grads)
        avg = tree_map(lambda a, g: rho * a + (1 - rho) * g, state.average_gradient, grads)
        denom = tree_map(
            lambda v, a: jnp.where(centered, v - jnp.square(a) + epsilon, v + epsilon), vel, avg
        )
        inc = tree_map(lambda g, d: (learning_rate * g) / jnp.sqrt(d), grads, denom)
        mom = tree_map(lambda m, i: momentum * m + i, state.momentum, inc)
        return tree_map(jnp.negative, mom), RMSpropState(vel, avg, mom)

    return optax.GradientTransformation(init, update)


# ---------------------------------------------------------------------- Adadelta


class AdadeltaState(NamedTuple):
    """Running means of squared gradients and of squared steps."""

    accumulated_grad: optax.Updates
    accumulated_delta: optax.Updates


def keras_adadelta(learning_rate: Scalar = 0.001, rho: Scalar = 0.95,
                   epsilon: Scalar = 1e-7) -> optax.GradientTransformation:
    r"""Keras's Adadelta (Zeiler 2012), scaled by the learning rate.

    .. math::
        A_g \leftarrow \rho A_g + (1 - \rho) g^2, \quad
        \delta = -\sqrt{A_\delta + \epsilon}\, g / \sqrt{A_g + \epsilon}, \quad
        A_\delta \leftarrow \rho A_\delta + (1 - \rho) \delta^2, \quad
        w \leftarrow w + \eta \delta
    """

    def init(params: optax.Params) -> AdadeltaState:
        z = _zeros(params)
        return AdadeltaState(z, z)

    def update(grads: optax.Updates, state: AdadeltaState, params: optax.Params | None = None):
        del params
        ag = tree_map(lambda a, g: rho * a + (1 - rho) * jnp.square(g), state.accumulated_grad,
                      grads)
        delta = tree_map(
            lambda ad, g, a: -((jnp.sqrt(ad + epsilon) * g) / jnp.sqrt(a + epsilon)),
            state.accumulated_delta, grads, ag,
        )
        ad = tree_map(lambda a, d: rho * a + (1 - rho) * jnp.square(d), state.accumulated_delta,
                      delta)
        return tree_map(lambda d: learning_rate * d, delta), AdadeltaState(ag, ad)

    return optax.GradientTransformation(init, update)


# ------------------------------------------------------------------------ Adamax


class AdamaxState(NamedTuple):
    """Iteration count, first moment and exponentially weighted infinity norm."""

    count: jax.Array
    m: optax.Updates
    u: optax.Updates


def keras_adamax(learning_rate: Scalar = 0.001, beta_1: Scalar = 0.9, beta_2: Scalar = 0.999,
                 epsilon: Scalar = 1e-7) -> optax.GradientTransformation:
    r"""Keras's Adamax (Kingma & Ba 2015, section 7).

    .. math::
        m \leftarrow m + (g - m)(1 - \beta_1), \quad
        u \leftarrow \max(\beta_2 u, |g|), \quad
        w \leftarrow w - \eta m / ((1 - \beta_1^t)(u + \epsilon))
    """

    def init(params: optax.Params) -> AdamaxState:
        z = _zeros(params)
        return AdamaxState(jnp.zeros([], jnp.int32), z, z)

    def update(grads: optax.Updates, state: AdamaxState, params: optax.Params | None = None):
        del params
        t = _step(state.count)
        b1p = jnp.power(beta_1, t)
        m = tree_map(lambda m, g: m + (g - m) * (1 - beta_1), state.m, grads)
        u = tree_map(lambda u, g: jnp.maximum(beta_2 * u, jnp.abs(g)), state.u, grads)
        updates = tree_map(lambda m, u: -((learning_rate * m) / ((1 - b1p) * (u + epsilon))), m, u)
        return updates, AdamaxState(state.count + 1, m, u)

    return optax.GradientTransformation(init, update)


# ------------------------------------------------------------------------- Nadam


class NadamState(NamedTuple):
    """Iteration count, product of momentum schedule terms, first and second moments."""

    count: jax.Array
    u_product: jax.Array
    m: optax.Updates
    v: optax.Updates


def keras_nadam(learning_rate: Scalar = 0.001, beta_1: Scalar = 0.9, beta_2: Scalar = 0.999,
                epsilon: Scalar = 1e-7) -> optax.GradientTransformation:
    r"""Keras's Nadam (Dozat 2016) with the 0.96 momentum schedule.

    With :math:`\mu_t = \beta_1 (1 - 0.5 \cdot 0.96^t)` and
    :math:`\Pi_t = \prod_{i \le t} \mu_i`:

    .. math::
        m \leftarrow m + (g - m)(1 - \beta_1), \quad
        v \leftarrow v + (g^2 - v)(1 - \beta_2), \\
        \hat m = \mu_{t+1} m / (1 - \Pi_t \mu_{t+1}) + (1 - \mu_t) g / (1 - \Pi_t), \quad
        \hat v = v / (1 - \beta_2^t), \quad
        w \leftarrow w - \eta \hat m / (\sqrt{\hat v} + \epsilon)
    """

    def init(params: optax.Params) -> NadamState:
        z = _zeros(params)
        return NadamState(jnp.zeros([], jnp.int32), jnp.ones([], jnp.float32), z, z)

    def update(grads: optax.Updates, state: NadamState, params: optax.Params | None = None):
        del params
        t = _step(state.count)
        u_t = beta_1 * (1.0 - 0.5 * jnp.power(0.96, t))
        u_t_1 = beta_1 * (1.0 - 0.5 * jnp.power(0.96, t + 1))
        u_product_t = state.u_product * beta_1 * (1.0 - 0.5 * jnp.power(0.96, t))
        u_product_t_1 = u_product_t * u_t_1
        b2p = jnp.power(beta_2, t)
        m = tree_map(lambda m, g: m + (g - m) * (1 - beta_1), state.m, grads)
        v = tree_map(lambda v, g: v + (jnp.square(g) - v) * (1 - beta_2), state.v, grads)

        def step(m, v, g):
            m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
            v_hat = v / (1 - b2p)
            return -((m_hat * learning_rate) / (jnp.sqrt(v_hat) + epsilon))

        updates = tree_map(step, m, v, grads)
        return updates, NadamState(state.count + 1, u_product_t, m, v)

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------- clipping and weight decay


def keras_clip(clipnorm: Scalar | None = None, global_clipnorm: Scalar | None = None,
               clipvalue: Scalar | None = None) -> optax.GradientTransformation:
    r"""Keras's gradient clipping; the first one set applies.

    * ``clipnorm`` c, per variable: :math:`g \leftarrow g\, c / \max(\lVert g \rVert, c)`
    * ``global_clipnorm`` c: :math:`g \leftarrow g\, c \min(1 / \lVert G \rVert, 1 / c)`
      with :math:`\lVert G \rVert` the norm over all variables
    * ``clipvalue`` c: :math:`g \leftarrow \mathrm{clip}(g, -c, c)`
    """

    def update(grads: optax.Updates, state: optax.EmptyState, params=None):
        del params
        if clipnorm is not None:
            def clip_one(g):
                l2sum = jnp.sum(jnp.square(g), keepdims=True)
                pred = l2sum > 0
                l2norm = jnp.where(pred, jnp.sqrt(jnp.where(pred, l2sum, 1.0)), l2sum)
                return (g * clipnorm) / jnp.maximum(l2norm, clipnorm)
            return tree_map(clip_one, grads), state
        if global_clipnorm is not None:
            leaves = jax.tree_util.tree_leaves(grads)
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in leaves))
            scale = global_clipnorm * jnp.minimum(1.0 / norm, 1.0 / global_clipnorm)
            scale = scale + (norm - norm)
            return tree_map(lambda g: g * scale, grads), state
        if clipvalue is not None:
            return tree_map(lambda g: jnp.clip(g, -clipvalue, clipvalue), grads), state
        return grads, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def keras_weight_decay(learning_rate: Scalar, weight_decay: Scalar) -> optax.GradientTransformation:
    r"""Keras's decoupled weight decay, added to the step: :math:`w \leftarrow w - w \lambda \eta`."""

    def update(updates: optax.Updates, state: optax.EmptyState, params: optax.Params | None = None):
        if params is None:
            raise ValueError("keras_weight_decay needs the parameters")
        return tree_map(lambda u, p: u - (p * weight_decay) * learning_rate, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


# ---------------------------------------------------------------------- registry


@dataclass(frozen=True)
class OptimizerKind:
    """One Keras optimizer class: its name, update factory and Keras defaults."""

    name: str
    keras_name: str
    factory: Callable[..., optax.GradientTransformation]
    defaults: Mapping[str, Any]


def _defaults(fn: Callable[..., Any], **override: Any) -> dict[str, Any]:
    sig = inspect.signature(fn)
    return {k: p.default for k, p in sig.parameters.items()} | override


_COMMON = {"weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None}

OPTIMIZERS: dict[str, OptimizerKind] = {
    k.name: k
    for k in [
        OptimizerKind("sgd", "SGD", keras_sgd, _defaults(keras_sgd) | _COMMON),
        OptimizerKind("adam", "Adam", keras_adam, _defaults(keras_adam) | _COMMON),
        OptimizerKind("adamw", "AdamW", keras_adam,
                      _defaults(keras_adam) | _COMMON | {"weight_decay": 0.004}),
        OptimizerKind("adagrad", "Adagrad", keras_adagrad, _defaults(keras_adagrad) | _COMMON),
        OptimizerKind("rmsprop", "RMSprop", keras_rmsprop, _defaults(keras_rmsprop) | _COMMON),
        OptimizerKind("adadelta", "Adadelta", keras_adadelta, _defaults(keras_adadelta) | _COMMON),
        OptimizerKind("adamax", "Adamax", keras_adamax, _defaults(keras_adamax) | _COMMON),
        OptimizerKind("nadam", "Nadam", keras_nadam, _defaults(keras_nadam) | _COMMON),
    ]
}

#: Keras keyword arguments that gdlab accepts but does not implement.
_UNSUPPORTED = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}

_BOOL_PARAMS = frozenset({"nesterov", "centered", "amsgrad"})
_KIND_BY_KEY = {k.lower(): k for k in OPTIMIZERS} | {
    v.keras_name.lower(): k for k, v in OPTIMIZERS.items()
}


def canonical_optimizer(name: str) -> str:
    """The registry key for a Keras optimizer name ('SGD', 'rmsprop' -> 'sgd', 'rmsprop')."""
    key = _KIND_BY_KEY.get(str(name).lower())
    if key is None:
        raise unknown_name("optimizer", name, [k.keras_name for k in OPTIMIZERS.values()])
    return key


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer as data: its kind and every hyperparameter (Keras defaults filled in).

    Frozen and hashable, so it can name a configuration in a sweep. Build it with
    :func:`optimizer_spec` (validated) or :func:`parse_optimizer` (from text).
    """

    kind: str
    hparams: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def params(self) -> dict[str, Any]:
        """The hyperparameters as a dict."""
        return dict(self.hparams)

    @property
    def learning_rate(self) -> float:
        """The learning rate."""
        return float(self.params["learning_rate"])

    @property
    def static_options(self) -> tuple[str, ...]:
        """Which optional stages (clipping kind, weight decay) this optimizer uses."""
        p = self.params
        opts = []
        for clip in ("clipnorm", "global_clipnorm", "clipvalue"):
            if p[clip] is not None:
                opts.append(clip)
                break
        if p["weight_decay"] is not None:
            opts.append("weight_decay")
        return tuple(opts)

    def label(self) -> str:
        """Course-style text, listing only what differs from Keras's defaults."""
        kind = OPTIMIZERS[self.kind]
        diffs = [
            f"{k}={v!r}" for k, v in self.hparams
            if k == "learning_rate" or kind.defaults.get(k) != v
        ]
        return f"{kind.keras_name}({', '.join(diffs)})"

    def transformation(self, **overrides: Any) -> optax.GradientTransformation:
        """The optax transformation; ``overrides`` may replace numbers by traced arrays."""
        return build_transformation(self.kind, self.params | overrides, self.static_options)


def build_transformation(kind: str, params: Mapping[str, Any],
                         static_options: tuple[str, ...]) -> optax.GradientTransformation:
    """Chain Keras's clipping, the optimizer step and weight decay, in Keras's order."""
    k = OPTIMIZERS[kind]
    step_args = {
        name: params[name] for name in inspect.signature(k.factory).parameters
    }
    parts = []
    clips = [c for c in ("clipnorm", "global_clipnorm", "clipvalue") if c in static_options]
    if clips:
        parts.append(keras_clip(**{clips[0]: params[clips[0]]}))
    parts.append(k.factory(**step_args))
    if "weight_decay" in static_options:
        parts.append(keras_weight_decay(params["learning_rate"], params["weight_decay"]))
    return parts[0] if len(parts) == 1 else optax.chain(*parts)


def _check_value(kind: str, name: str, value: Any) -> Any:
    keras_name = OPTIMIZERS[kind].keras_name
    if name in _BOOL_PARAMS:
        if not isinstance(value, bool):
            raise ConfigError(f"`{name}` of `{keras_name}` must be True or False, got {value!r}.")
        return value
    if value is None:
        if name in _COMMON and not (kind == "adamw" and name == "weight_decay"):
            return None
        raise ConfigError(f"`{name}` of `{keras_name}` must be a number, got None.")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"`{name}` of `{keras_name}` must be a number, got {type(value).__name__} {value!r}."
        )
    value = float(value)
    if name == "learning_rate" and not value > 0:
        raise ConfigError(f"`learning_rate` of `{keras_name}` must be a float > 0, got {value!r}.")
    if name in {"momentum", "beta_1", "beta_2", "rho"} and not 0 <= value <= 1:
        raise ConfigError(
            f"`{name}` of `{keras_name}` must be a float in [0, 1], got {value!r}."
        )
    if name in {"epsilon", "initial_accumulator_value", "weight_decay", "clipnorm",
                "clipvalue", "global_clipnorm"} and value < 0:
        raise ConfigError(f"`{name}` of `{keras_name}` must be a float >= 0, got {value!r}.")
    if name in {"clipnorm", "clipvalue", "global_clipnorm"} and value == 0:
        return None  # Keras treats 0 as "no clipping"
    return value


def optimizer_spec(name: str, **kwargs: Any) -> OptimizerSpec:
    """A validated OptimizerSpec from a Keras name and Keras keyword arguments."""
    kind = canonical_optimizer(name)
    defaults = OPTIMIZERS[kind].defaults
    for key, value in kwargs.items():
        if key in _UNSUPPORTED:
            if value != _UNSUPPORTED[key]:
                raise NotSupportedError(
                    f"`{key}` of `{OPTIMIZERS[kind].keras_name}` is not supported by gdlab; "
                    f"leave it at its default ({_UNSUPPORTED[key]!r})."
                )
            continue
        if key == "name":
            continue
        if key not in defaults:
            raise unknown_name(f"argument of {OPTIMIZERS[kind].keras_name}", key, defaults)
    if callable(kwargs.get("learning_rate")):
        raise NotSupportedError(
            "gdlab optimizers take a constant `learning_rate` (a number); "
            "learning-rate schedules are not supported."
        )
    values = {k: _check_value(kind, k, kwargs.get(k, v)) for k, v in defaults.items()}
    return OptimizerSpec(kind, tuple(sorted(values.items())))


def _dotted_name(node: ast.expr) -> str | None:
    """'SGD' for ``SGD`` or ``keras.optimizers.SGD``; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and _dotted_name(node.value) is not None:
        return node.attr
    return None


def parse_optimizer(text: str) -> OptimizerSpec:
    """Parse ``'adam'`` or course-style ``'SGD(learning_rate=0.01, momentum=0.3)'`` safely.

    The text is parsed with :mod:`ast` as a single call of a known optimizer
    with literal arguments (numbers, booleans, None); nothing is evaluated.
    Positional arguments follow Keras's order (learning rate first).
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"An optimizer must be a name such as 'adam', got {text!r}.")
    source = text.strip()
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise ConfigError(
            f"Cannot read optimizer {text!r}: write a name ('sgd') or a call with literal "
            "arguments ('SGD(learning_rate=0.01, momentum=0.3)')."
        ) from None
    if isinstance(node, ast.Name):
        return optimizer_spec(node.id)
    func_name = _dotted_name(node.func) if isinstance(node, ast.Call) else None
    if func_name is None:
        raise ConfigError(
            f"Cannot read optimizer {text!r}: expected a name or a call such as "
            "'Adam(learning_rate=0.01)'."
        )
    kind = canonical_optimizer(func_name)
    order = list(inspect.signature(OPTIMIZERS[kind].factory).parameters)
    if kind == "adamw":
        order = ["learning_rate", "weight_decay", *order[1:]]

    def literal(arg: ast.expr) -> Any:
        try:
            return ast.literal_eval(arg)
        except ValueError:
            raise ConfigError(
                f"Cannot read optimizer {text!r}: arguments must be literal numbers, "
                f"True/False or None, got {ast.unparse(arg)!r}."
            ) from None

    if len(node.args) > len(order):
        raise ConfigError(f"Too many positional arguments in optimizer {text!r}.")
    kwargs = {order[i]: literal(a) for i, a in enumerate(node.args)}
    for kw in node.keywords:
        if kw.arg is None:
            raise ConfigError(f"Cannot read optimizer {text!r}: '**' is not allowed.")
        if kw.arg == "lr":
            raise ConfigError(
                f"Optimizer {text!r}: Keras 3 names the step size `learning_rate`, not `lr`."
            )
        kwargs[kw.arg] = literal(kw.value)
    return optimizer_spec(func_name, **kwargs)


def as_optimizer_spec(optimizer: Any) -> OptimizerSpec:
    """An OptimizerSpec from a name, a course-style string, a spec or a ``gdlab.keras`` optimizer."""
    if isinstance(optimizer, OptimizerSpec):
        return optimizer
    if isinstance(optimizer, str):
        return parse_optimizer(optimizer)
    spec = getattr(optimizer, "spec", None)
    if isinstance(spec, OptimizerSpec):
        return spec
    raise ConfigError(
        f"Cannot use {optimizer!r} as an optimizer: give a name ('adam'), a string such as "
        "'SGD(learning_rate=0.01)', or a gdlab.keras.optimizers object."
    )
