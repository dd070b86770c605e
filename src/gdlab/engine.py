"""The training engine: many dense networks trained in one compiled program.

This is the only module that knows about the models axis. Networks are
organised in *groups*: the networks of a group share an architecture, a loss
and an optimizer kind, so their parameters stack into arrays with leading axes
``[seed, config]``. A program trains any number of groups side by side on the
same data, so a whole sweep compiles once.

A training program is ``jit`` of a ``lax.scan`` over epochs (one epoch per call
when run by :func:`fit_program`, so progress is reported between calls without
host callbacks, which would keep programs out of the persistent compilation
cache), holding a ``lax.scan`` over micro-batches, holding (per group) a
``vmap`` over seeds of a ``vmap`` over configurations of one network's training
step. Keras's semantics, per model:

* batches: a new permutation per epoch (one per seed, shared by every
  configuration of that seed: common random numbers), the last partial batch
  kept. Batch sizes that differ between models are exact multiples of one
  micro-batch; a model accumulates gradients over its micro-batches and
  applies its update when its own batch is complete (or the epoch ends);
* training ``loss``/``accuracy`` are running means over the epoch, each batch
  evaluated with the weights *before* its update, weighted by batch size;
* evaluation sets (validation, test) are scored at each epoch end;
* a model whose loss or weights become non-finite is marked diverged at that
  epoch and frozen; its history is NaN from then on. A model whose own epoch
  count is reached is frozen too. Neither disturbs the others.

Inside training, each model's parameters and optimizer slots are one flat
vector (``[seed, config, n]``), so an update is one fused kernel per group
rather than one per weight array; evaluation cuts the vectors back into layers.

Hyperparameters that only change numbers (learning rate, momentum, betas, ...)
and the choice of hidden activation or initializer are per-model arrays;
whatever changes array shapes or the update rule's structure is static.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from gdlab import activations as _activations
from gdlab import initializers as _initializers
from gdlab import losses as _losses
from gdlab import network as _network
from gdlab.errors import ConfigError
from gdlab.optimizers import OPTIMIZERS, OptimizerSpec, build_transformation

tree_map = jax.tree_util.tree_map


# ------------------------------------------------------------------- cache setup


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache (in the user cache dir by default).

    Called when this module is imported, before anything compiles, so a repeated
    study loads its programs instead of compiling them. The cache lives in
    ``$GDLAB_CACHE_DIR/jax`` (default: the platform's user cache dir for gdlab);
    set ``GDLAB_COMPILATION_CACHE=0`` to keep it off. Returns the directory used.
    """
    if os.environ.get("GDLAB_COMPILATION_CACHE", "1") in {"0", "false", "no"}:
        return None
    if path is None:
        import platformdirs

        root = os.environ.get("GDLAB_CACHE_DIR") or platformdirs.user_cache_dir("gdlab")
        path = os.path.join(root, "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return path


enable_compilation_cache()


# ------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Metric:
    """A metric a group reports: its history name, its kind, whether sample weights apply.

    ``kind`` names a :data:`gdlab.losses.METRIC_KINDS` entry. Keras reports the
    metrics of ``compile(metrics=...)`` unweighted and those of
    ``weighted_metrics=...`` as sample-weighted means.
    """

    key: str
    kind: str
    weighted: bool = False


#: Keras's loss reductions the engine implements: the weighted sum over a batch divided
#: by the batch's rows (Keras's default), or by the batch's sum of weights
#: (scikit-learn's weighted mean; Keras's ``"mean_with_sample_weight"``).
REDUCTIONS = ("sum_over_batch_size", "mean_with_sample_weight")


@dataclass(frozen=True)
class GroupSpec:
    """The static part of one group of models: everything that shapes its program.

    ``activation_choices[l]`` (when given) lists the activations that layer ``l``
    takes across the group's models, chosen per model by index; likewise
    ``initializer_choices`` for kernel initializers. ``None`` keeps the layer's
    own (static) setting. ``accumulate=False`` says every model of the group
    updates after each micro-batch (its batch size is the program's micro-batch).
    ``loss_from_logits`` says the network's output *is* the logits (Keras's
    ``from_logits=True``); ``reduction`` is one of :data:`REDUCTIONS`.
    ``reproducible_sums`` computes each row's loss and gradient on its own and
    sums the rows with :func:`reproducible_sum`: a batch's gradient then does
    not depend on the order of its rows, and a row of integer weight k counts
    exactly as k copies of it (the estimators' full-batch fits; slower).
    """

    network: _network.NetworkSpec
    loss: str
    metrics: tuple[Metric, ...] = ()
    optimizer: str = "sgd"
    options: tuple[str, ...] = ()
    n_configs: int = 1
    activation_choices: tuple[tuple[str, ...] | None, ...] | None = None
    initializer_choices: tuple[tuple[str, ...] | None, ...] | None = None
    accumulate: bool = True
    loss_from_logits: bool = False
    reduction: str = "sum_over_batch_size"
    reproducible_sums: bool = False

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise ConfigError(
                f"Unknown loss reduction {self.reduction!r}; valid: {', '.join(REDUCTIONS)}.")

    @property
    def from_logits(self) -> bool:
        """Whether the loss is computed from logits (the output layer's, or the output itself)."""
        if self.loss_from_logits:
            return True
        kind = _losses.LOSSES[self.loss]
        if kind.logit_activation is None:
            return False
        if self.activation_choices and self.activation_choices[-1] is not None:
            return False
        return self.network.output_activation == kind.logit_activation

    @property
    def hparam_names(self) -> tuple[str, ...]:
        """The optimizer hyperparameters carried as per-model arrays."""
        factory = OPTIMIZERS[self.optimizer].factory
        names = list(inspect.signature(factory).parameters)
        for opt in self.options:
            names.append(opt)
        if "weight_decay" in self.options and "learning_rate" not in names:
            names.append("learning_rate")
        return tuple(names)


@dataclass(frozen=True)
class Plan:
    """The static description of one compiled program.

    ``tap_layers`` asks for the outputs (after activation) of those layers on
    evaluation set ``tap_eval_set`` after every epoch: ``history[g]["tap_<l>"]``
    has shape ``[epochs, seeds, configs, rows, units]`` (negative ``l`` counts
    from the output layer; groups without such a layer record nothing). Without
    taps, nothing extra is computed.

    ``lr_schedule`` applies each model's ``lr_growth`` (the learning-rate range
    test); ``record_steps`` records every micro-batch's mean loss
    (``history[g]["step_loss"]``, ``[epochs, steps, seeds, configs]``); with
    ``noise_rows = k``, the gradient noise scale is measured at each epoch end on
    the first ``k`` training rows (``noise_scale``, ``grad_sq_norm``,
    ``grad_var_trace``, each ``[epochs, seeds, configs]``).

    With ``flat_state``, :func:`init_program` makes and :func:`train_program`
    takes and returns states whose parameters and optimizer slots are one
    ``[seed, config, n]`` vector per model (groups that :func:`_flattens`), so a
    program called once per epoch does not cut them up and join them again at
    every call; :func:`fit_program` uses it and returns the layers' arrays.
    """

    groups: tuple[GroupSpec, ...]
    n_seeds: int
    n_train: int
    micro_batch: int
    accumulate: bool
    n_epochs: int
    shuffle: bool = True
    eval_sets: tuple[tuple[str, int], ...] = ()
    fast_compile: bool = False
    tap_layers: tuple[int, ...] = ()
    tap_eval_set: int = 0
    lr_schedule: bool = False
    record_steps: bool = False
    noise_rows: int = 0
    early_stopping: EarlyStopRule | None = None
    flat_state: bool = False

    @property
    def compiler_options(self) -> dict[str, Any] | None:
        """XLA options: small programs compile at optimization level 0 (3x faster to build).

        Larger ones keep XLA's CPU matrix products out of YNNPACK fusions, which
        ran this engine's thousands of tiny products slower, and schedule kernels
        one after another rather than for concurrency: a program's shards already
        run side by side (docs/design.md).
        """
        if self.fast_compile:
            return {"xla_backend_optimization_level": 0}
        return dict(_cpu_options()) or None

    @property
    def steps_per_epoch(self) -> int:
        """Micro-batches per epoch (the last one may be partial)."""
        return math.ceil(self.n_train / self.micro_batch)


#: XLA CPU options for training programs (:attr:`Plan.compiler_options`).
_CPU_OPTIONS = (("xla_cpu_experimental_ynn_fusion_type", ""),
                ("xla_cpu_enable_concurrency_optimized_scheduler", False))


@lru_cache(maxsize=1)
def _cpu_options() -> tuple[tuple[str, Any], ...]:
    """Those of :data:`_CPU_OPTIONS` this jaxlib's XLA knows (tried on a tiny program)."""

    def accepted(options: tuple[tuple[str, Any], ...]) -> bool:
        try:
            jax.jit(lambda x: x + 1, compiler_options=dict(options)).lower(
                np.float32(0)).compile()
        except Exception:  # an XLA older or newer than ours: keep its defaults
            return False
        return True

    if accepted(_CPU_OPTIONS):
        return _CPU_OPTIONS
    return tuple(o for o in _CPU_OPTIONS if accepted((o,)))


class GroupConfig(NamedTuple):
    """Per-configuration numbers of a group; every array has a leading config axis.

    ``lr_growth`` (used when the plan has ``lr_schedule``) multiplies the learning
    rate by itself at every update: update ``t`` (from 0) uses ``lr * growth**t``.
    ``weight_index`` picks each configuration's row of training weights
    (``Data.w``); it is unused when the data have no weights.
    """

    optimizer: dict[str, jax.Array]
    batch_size: jax.Array
    epochs: jax.Array
    activation_index: jax.Array
    initializer_index: jax.Array
    lr_growth: Any = None
    weight_index: Any = None


class GroupState(NamedTuple):
    """Per-model training state; every array has leading axes ``[seed, config]``.

    ``stopping`` and ``best_params`` exist only in programs with early stopping.
    """

    params: _network.Params
    opt_state: Any
    diverged_epoch: jax.Array
    stopping: Any = None
    best_params: Any = None


@dataclass(frozen=True)
class EarlyStopRule:
    """Keras's EarlyStopping, applied to every model of a program on its own.

    ``monitor`` is a history name (``val_loss``, ``val_accuracy``, ``loss``, ...).
    A stopped model is frozen, as a diverged one; with ``restore_best``, each
    model ends with the weights of its best epoch (Keras 3 restores them whether
    or not training stopped early).
    """

    monitor: str = "val_loss"
    minimize: bool = True
    min_delta: float = 0.0
    patience: int = 0
    baseline: float | None = None
    start_from_epoch: int = 0
    restore_best: bool = False

    def params(self) -> Any:
        """The rule's numbers for :func:`gdlab.early_stopping.update`."""
        from gdlab.early_stopping import EarlyStoppingParams

        return EarlyStoppingParams(self.minimize, abs(self.min_delta), self.patience,
                                   math.nan if self.baseline is None else self.baseline,
                                   self.start_from_epoch)


class Data(NamedTuple):
    """The arrays a program trains and evaluates on.

    ``y[g]`` is the training target encoded for group ``g``'s loss;
    ``eval_y[k][g]`` the same for evaluation set ``k``. Per-row loss weights
    (Keras's ``sample_weight``, with class weights folded in): ``w`` is
    ``[schemes, n_train]`` (configuration ``c`` trains with row
    ``configs.weight_index[c]``, so a sweep can compare weighting schemes), and
    ``eval_w[k]`` is ``[rows]`` or None for evaluation set ``k`` (shared by every
    model, as Keras weighs validation rows by their sample weights only). None
    means unweighted, and traces the unweighted program.
    """

    x: jax.Array
    y: tuple[jax.Array, ...]
    eval_x: tuple[jax.Array, ...] = ()
    eval_y: tuple[tuple[jax.Array, ...], ...] = ()
    w: jax.Array | None = None
    eval_w: tuple[jax.Array | None, ...] = ()


# ------------------------------------------------------------- building configs


def group_config(group: GroupSpec, optimizers: Sequence[OptimizerSpec],
                 batch_sizes: Sequence[int], epochs: Sequence[int],
                 activation_index: np.ndarray | None = None,
                 initializer_index: np.ndarray | None = None,
                 lr_growth: Sequence[float] | None = None,
                 weight_index: Sequence[int] | None = None) -> GroupConfig:
    """Stack per-configuration settings into a GroupConfig (host side, float32)."""
    n = group.n_configs
    if not (len(optimizers) == len(batch_sizes) == len(epochs) == n):
        raise ConfigError(
            f"A group of {n} configurations needs {n} optimizers, batch sizes and epoch counts."
        )
    hp: dict[str, np.ndarray] = {}
    for name in group.hparam_names:
        values = [spec.params[name] for spec in optimizers]
        if any(v is None for v in values):
            raise ConfigError(f"Optimizer setting {name!r} is missing in some configurations.")
        if isinstance(values[0], bool):
            hp[name] = np.array(values, dtype=bool)
        else:
            hp[name] = np.array(values, dtype=np.float64).astype(np.float32)
    n_layers = len(group.network.layers)
    act = np.zeros((n, n_layers), np.int32) if activation_index is None else activation_index
    ini = np.zeros((n, n_layers), np.int32) if initializer_index is None else initializer_index
    # NumPy arrays: a jitted program takes them as they are (jnp.asarray would compile).
    return GroupConfig(
        optimizer=hp,
        batch_size=np.asarray(batch_sizes, np.int32),
        epochs=np.asarray(epochs, np.int32),
        activation_index=np.asarray(act, np.int32),
        initializer_index=np.asarray(ini, np.int32),
        lr_growth=np.ones(n, np.float32) if lr_growth is None else np.asarray(lr_growth,
                                                                               np.float32),
        weight_index=np.zeros(n, np.int32) if weight_index is None else np.asarray(
            weight_index, np.int32),
    )


def micro_batch_size(batch_sizes: Sequence[int]) -> int:
    """The micro-batch that divides every batch size (their greatest common divisor)."""
    return math.gcd(*(int(b) for b in batch_sizes))


def seed_array(seeds: Sequence[int]) -> np.ndarray:
    """Seeds as the ``uint32[S]`` array that :func:`init_program` takes."""
    arr = np.asarray([int(s) for s in seeds], np.int64)
    if (arr < 0).any() or (arr >= 2**32).any():
        raise ConfigError(f"Seeds must be integers in [0, 2**32), got {list(seeds)}.")
    return arr.astype(np.uint32)


def keys_from_seeds(seeds: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(init keys, shuffle keys), one of each per seed: ``fold_in(PRNGKey(seed), 0 | 1)``."""
    base = jax.vmap(jax.random.PRNGKey)(seeds)
    init = jax.vmap(lambda k: jax.random.fold_in(k, 0))(base)
    shuffle = jax.vmap(lambda k: jax.random.fold_in(k, 1))(base)
    return init, shuffle


def seed_keys(seeds: Sequence[int]) -> tuple[jax.Array, jax.Array]:
    """(init keys, shuffle keys) for ``seeds``, computed eagerly (for one-off use)."""
    return keys_from_seeds(jnp.asarray(seed_array(seeds)))


def epoch_permutation(shuffle_key: jax.Array, epoch: jax.Array | int, n: int) -> jax.Array:
    """The order of the ``n`` training rows in ``epoch`` for one seed's shuffle key."""
    return jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n)


def batch_order(seed: int, epoch: int, n_train: int) -> np.ndarray:
    """The training rows' order in ``epoch`` for every model of ``seed``, as a sweep shuffles.

    Models of one seed share it (common random numbers); batches are its
    consecutive slices, the last one partial.
    """
    _, keys = seed_keys([seed])
    return np.asarray(epoch_permutation(keys[0], epoch, n_train))


# --------------------------------------------------------------- per-model math


def _select(pred: jax.Array, new: Any, old: Any) -> Any:
    return tree_map(lambda a, b: jnp.where(pred, a, b), new, old)


def _all_finite(tree: Any) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _flattens(group: GroupSpec) -> bool:
    """Whether a group's models train on one flat parameter vector each.

    One vector per model turns the optimizer's update, the finiteness check and
    the frozen-model selects into one fused kernel instead of one per parameter
    array (docs/design.md). Clipping by a norm is per variable (``clipnorm``) or
    sums variables in their order (``global_clipnorm``), so those keep the tree.
    """
    return not {"clipnorm", "global_clipnorm"} & set(group.options)


def _flatten_models(tree: Any, lead: int = 2) -> jax.Array:
    """A params-like tree with ``lead`` model axes -> one ``[*models, n]`` array."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.concatenate([a.reshape(*a.shape[:lead], -1) for a in leaves], axis=-1)


def _unflatten_models(flat: jax.Array, like: Any, lead: int = 2) -> Any:
    """The inverse of :func:`_flatten_models`; ``like`` gives the tree and, after its
    first ``lead`` axes, each leaf's shape (``flat`` may have any model axes)."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    out, start = [], 0
    for a in leaves:
        shape = a.shape[lead:]
        size = math.prod(shape)
        piece = flat[..., start:start + size]  # NumPy or JAX: a host copy unflattens too
        out.append(piece.reshape(*flat.shape[:flat.ndim - 1], *shape))
        start += size
    return jax.tree_util.tree_unflatten(treedef, out)


def _split_slots(opt_state: Any, params: Any) -> tuple[list[Any], Any, list[bool]]:
    """An optimizer state's parts: subtrees shaped like ``params`` (slots) and the rest."""
    pdef = jax.tree_util.tree_structure(params)

    def is_slot(x: Any) -> bool:
        return jax.tree_util.tree_structure(x) == pdef

    parts, outer = jax.tree_util.tree_flatten(opt_state, is_leaf=is_slot)
    return parts, outer, [is_slot(x) for x in parts]


def _flatten_state(state: GroupState) -> GroupState:
    """Parameters and optimizer slots as ``[seed, config, n]`` vectors."""
    parts, outer, slots = _split_slots(state.opt_state, state.params)
    opt = outer.unflatten([_flatten_models(x) if s else x
                           for x, s in zip(parts, slots, strict=True)])
    out = state._replace(params=_flatten_models(state.params), opt_state=opt)
    if state.best_params is not None:
        out = out._replace(best_params=_flatten_models(state.best_params))
    return out


def _unflatten_state(state: GroupState, like: GroupState) -> GroupState:
    """The inverse of :func:`_flatten_state`; ``like`` is the state before flattening."""
    parts, outer, slots = _split_slots(like.opt_state, like.params)
    flat_parts = outer.flatten_up_to(state.opt_state)
    opt = outer.unflatten([_unflatten_models(f, x) if s else f
                           for f, x, s in zip(flat_parts, parts, slots, strict=True)])
    out = state._replace(params=_unflatten_models(state.params, like.params), opt_state=opt)
    if state.best_params is not None:
        out = out._replace(best_params=_unflatten_models(state.best_params, like.params))
    return out


def _model_like(group: GroupSpec) -> Any:
    """One model's parameter shapes, as a tree (to cut a flat vector into layers)."""
    return tuple({name: jax.ShapeDtypeStruct(shape, jnp.float32) for name, shape in d.items()}
                 for d in group.network.shapes())


def _chains(group: GroupSpec, activation_index: jax.Array) -> list[list[Callable]]:
    chains = []
    for layer_i, layer in enumerate(group.network.layers):
        choices = group.activation_choices[layer_i] if group.activation_choices else None
        if choices is None:
            chains.append([_activations.get(a) for a in layer.activation])
        else:
            fns = [_activations.get(a) for a in choices]
            idx = activation_index[layer_i]
            chains.append([lambda z, fns=fns, idx=idx: lax.switch(idx, fns, z)])
    return chains


def _transformation(group: GroupSpec, hp: Mapping[str, jax.Array]) -> optax.GradientTransformation:
    return build_transformation(group.optimizer, hp, group.options)


def _init_params(group: GroupSpec, cfg: GroupConfig, init_keys: jax.Array,
                 draws: dict[tuple, jax.Array]) -> _network.Params:
    """Initial parameters ``[seed, config, ...]`` of a group's models.

    A draw depends only on the seed, the layer and the initializer (common random
    numbers), so each is made once per seed and shared by every configuration and
    group that uses it (``draws`` caches them while the program is traced): the
    configurations then pick theirs by index, instead of every model evaluating
    every candidate initializer.
    """

    def draw(layer: int, name: str, shape: tuple[int, ...], bias: bool) -> jax.Array:
        key = (layer, name, shape, bias)
        if key not in draws:
            def one(k, fn=_initializers.get(name)):
                kk, bk = _network.layer_keys(k, layer)
                return fn(bk if bias else kk, shape)

            draws[key] = jax.vmap(one)(init_keys)
        return draws[key]

    n_configs = cfg.batch_size.shape[0]
    params = []
    for i, (layer, shapes) in enumerate(zip(group.network.layers, group.network.shapes(),
                                            strict=True)):
        choices = group.initializer_choices[i] if group.initializer_choices else None
        names = choices or (layer.kernel_initializer,)
        stacked = jnp.stack([draw(i, n, shapes["kernel"], False) for n in names], axis=1)
        index = cfg.initializer_index[:, i] if choices else jnp.zeros(n_configs, jnp.int32)
        d = {"kernel": jnp.take(stacked, index, axis=1)}  # [seed, config, ...]
        if layer.use_bias:
            bias = draw(i, layer.bias_initializer, shapes["bias"], True)
            d["bias"] = jnp.broadcast_to(bias[:, None], (bias.shape[0], n_configs, *bias.shape[1:]))
        params.append(d)
    return tuple(params)


def _with_stopping(state: GroupState) -> GroupState:
    from gdlab import early_stopping as es

    return state._replace(stopping=es.init((), xp=jnp), best_params=state.params)


#: Evaluation forward passes unroll layers with at most this many inputs
#: (:func:`gdlab.network.unrolled_matmul`).
UNROLL_FAN_IN = 16


def _forward_loss(group: GroupSpec, params, x, y, cfg: GroupConfig, taps: tuple[int, ...] = (),
                  unroll_fan_in: int = 0):
    logits, out, stages = _network.apply(params, x, group.network,
                                         _chains(group, cfg.activation_index), unroll_fan_in)
    if group.loss_from_logits:  # Keras's from_logits=True: the output is the logits
        logits = out
    per = _losses.LOSSES[group.loss].fn(y, logits, out, group.from_logits)
    values = tuple(_losses.METRICS[m.kind](y, out) for m in group.metrics)
    if taps:  # negative indices count from the output layer, as in Python
        return per, values, tuple(stages[layer][-1] for layer in taps)
    return per, values


def _divide_no_nan(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a / b``, and 0 where ``b`` is 0 (Keras's weighted means of no weight)."""
    zero = b == 0
    return jnp.where(zero, 0.0, a / jnp.where(zero, 1.0, b))


#: Sums run as one fused chain of adds over blocks of this many terms.
_CHAIN_TERMS = 32


def fixed_sum(x: jax.Array, axis: int = 0) -> jax.Array:
    """Sum over ``axis`` in a fixed order: ``x[0] + x[1] + ...``, elementwise over the rest.

    XLA orders the terms of its own reductions by the shape of the whole array
    (how many seeds and configurations a call holds), which changes float32
    round-off; a chain of elementwise adds has one order, so a model's numbers
    never depend on how a sweep was cut. It is fastest on batched arrays (outside
    ``vmap``), where the chain's terms are contiguous slices. Long sums loop over
    blocks of :data:`_CHAIN_TERMS` terms (the same order).
    """
    t = jnp.moveaxis(x, axis, 0)
    n = t.shape[0]
    if n == 0:
        return jnp.zeros(t.shape[1:], t.dtype)

    def chain(total, block):
        for i in range(block.shape[0]):
            total = block[i] if total is None else total + block[i]
        return total

    if n <= _CHAIN_TERMS:
        return chain(None, t)
    whole = n // _CHAIN_TERMS * _CHAIN_TERMS
    blocks = t[:whole].reshape(-1, _CHAIN_TERMS, *t.shape[1:])
    total = lax.scan(lambda acc, b: (chain(acc, b), None), chain(None, blocks[0]), blocks[1:])[0]
    return chain(total, t[whole:])


def _power_of_two(e: jax.Array) -> jax.Array:
    """``2.0 ** e`` in float32 for integers ``e`` in [-126, 127], built from the exponent bits."""
    return lax.bitcast_convert_type((e.astype(jnp.int32) + 127) << 23, jnp.float32)


def _on_grid(x: jax.Array, e: jax.Array) -> jax.Array:
    """``x`` rounded to the nearest multiple of ``2**e`` (the rounding is the only inexact step)."""
    return jnp.round(x * _power_of_two(-e)) * _power_of_two(e)


def reproducible_sum(t: jax.Array, w: jax.Array, axis: int = 0) -> jax.Array:
    """``sum_i w_i t_i`` over ``axis`` (the rows), the same in any order of the rows.

    Demmel and Nguyen's reproducible summation: every weighted term is split,
    in three parts, onto three grids set by the largest live term and the
    weights' total, so that each part sums exactly, in any order. A row of
    integer weight k counts exactly as k copies of it (its terms times k are
    still on the grids). The parts keep ``3 * (23 - log2(total))`` bits below
    the largest term: 48 for a total weight below 128, against a float32 sum's
    24 below its largest partial sum. Rows of weight 0 take no part, whatever
    their terms. ``w`` has the rows on ``axis`` too and broadcasts against ``t``.
    """
    t = jnp.moveaxis(t, axis, 0)
    w = jnp.moveaxis(w, axis, 0)
    w = w.reshape(w.shape + (1,) * (t.ndim - w.ndim))
    live = w > 0
    t = jnp.where(live, t, 0.0)
    w = jnp.where(live, w, 0.0)
    # Every part's sum stays below max|t| * scale (plus rounding slack), so below 2**24
    # steps of its grid: exact. With integer weights (>= 1) the scale is the total
    # weight, the same as for the rows repeated.
    scale = jnp.maximum(fixed_sum(w, 0), jnp.sum(live, 0).astype(jnp.float32))[None]
    _, e_w = jnp.frexp(scale)
    _, e_m = jnp.frexp(jnp.max(jnp.abs(t), axis=0, keepdims=True))
    e = jnp.clip(e_m + e_w - 23, -100, 126)  # the first grid is 2**e
    sums, carry = [], 0.0
    for _ in range(3):
        q = _on_grid(t, e)  # this part of the terms; t keeps the rest (exact)
        t = t - q
        wq = w * q + carry  # with what the previous grid left of the weighted term
        p = _on_grid(wq, e)
        carry = wq - p  # exact
        sums.append(jnp.sum(p, 0))  # exact terms on a grid: exact in any order
        e = jnp.clip(e + e_w - 23, -126, 126)
    return sums[0] + (sums[1] + sums[2])


def _row_grads(group: GroupSpec, params, cfg: GroupConfig, xb, yb, wb, mask, like=None):
    """A batch's per-row terms and gradient for a group with ``reproducible_sums``.

    Each row's loss and gradient are computed alone, one row at a time (the
    same arithmetic whatever batch the row is in; a batched matrix product may
    round a row differently with the batch's shape), then summed over the rows
    by :func:`reproducible_sum`. Returns ``((loss terms, metric terms, row
    weights), gradient sum)``; the loss terms are unweighted (the caller sums
    them with the row weights, 1 where unweighted).
    """
    tree = params if like is None else _unflatten_models(params, like, lead=0)

    def row(xy):
        def loss(p):
            per, values = _forward_loss(group, p, xy[0][None, :], xy[1][None, :], cfg)
            return per[0], tuple(v[0] for v in values)

        (per, values), g = jax.value_and_grad(loss, has_aux=True)(tree)
        return per, values, _flatten_models(g, lead=0)

    per, values, g = lax.map(row, (xb, yb))
    w = mask.astype(jnp.float32) if wb is None else jnp.where(mask, wb, 0.0)
    flat = reproducible_sum(g, w)
    grads = flat if like is not None else _unflatten_models(flat, params, lead=0)
    values = tuple(jnp.where(mask, v * wb if m.weighted and wb is not None else v, 0.0)
                   for m, v in zip(group.metrics, values, strict=True))
    return (jnp.where(mask, per, 0.0), values, w), grads


def per_example_grads(group: GroupSpec, params, x, y, cfg: GroupConfig,
                      w: jax.Array | None = None) -> jax.Array:
    """Each example's (weighted, with ``w``) loss gradient, flattened: ``[rows, n_params]``."""

    def one(xi, yi, wi):
        def loss(p):
            per = _forward_loss(group, p, xi[None, :], yi[None, :], cfg)[0][0]
            return per if wi is None else per * wi

        g = jax.grad(loss)(params)
        return jnp.concatenate([leaf.reshape(-1) for leaf in jax.tree_util.tree_leaves(g)])

    if w is None:
        return jax.vmap(lambda xi, yi: one(xi, yi, None))(x, y)
    return jax.vmap(one)(x, y, w)


def noise_scale(group: GroupSpec, params, x, y, cfg: GroupConfig,
                w: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""The simple gradient noise scale (McCandlish et al. 2018) on the rows ``x``.

    With per-example gradients :math:`g_i` (of the weighted loss, given row
    weights ``w``) and their mean :math:`G`:
    :math:`\operatorname{tr}\Sigma = \sum_i \lVert g_i - G \rVert^2 / (k - 1)` and
    :math:`B_{simple} = \operatorname{tr}\Sigma / \lVert G \rVert^2`. Returns
    ``(B_simple, |G|^2, tr Sigma)``.
    """
    grads = per_example_grads(group, params, x, y, cfg, w)
    k = grads.shape[0]
    mean = jnp.mean(grads, axis=0)
    trace = jnp.sum(jnp.square(grads - mean[None, :])) / max(k - 1, 1)
    sq = jnp.sum(jnp.square(mean))
    return trace / sq, sq, trace


def _evaluate_rows(group: GroupSpec, params, x, y, cfg: GroupConfig,
                   taps: tuple[int, ...] = ()):
    """Per-row loss and metric values (and tapped layers) of one network on ``x``."""
    return _forward_loss(group, params, x, y, cfg, taps, UNROLL_FAN_IN)


def _reduce_rows(group: GroupSpec, per: jax.Array, values: Sequence[jax.Array],
                 w: jax.Array | None) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """A set's mean loss and metrics from per-row values (rows on the last axis).

    As Keras scores a set: the loss is the sum of ``w * loss`` divided by the
    rows (or by the weights' sum, for the ``mean_with_sample_weight``
    reduction); unweighted metrics are plain means, weighted ones ``sum(w v) /
    sum(w)``; then each metric is finished (the root of RMSE). ``w`` is
    ``[rows]`` (shared by every model) or None.
    """
    rows = per.shape[-1]
    wsum = None
    if w is not None:
        w = w.reshape((1,) * (per.ndim - 1) + (rows,))
        wsum = fixed_sum(w, -1)
        per = per * w
    loss = fixed_sum(per, -1)
    if wsum is not None and group.reduction == "mean_with_sample_weight":
        loss = _divide_no_nan(loss, wsum)
    else:
        loss = loss / rows
    metrics = []
    for m, v in zip(group.metrics, values, strict=True):
        if m.weighted and wsum is not None:
            mean = _divide_no_nan(fixed_sum(v * w, -1), wsum)
        else:
            mean = fixed_sum(v, -1) / rows
        metrics.append(_losses.METRIC_KINDS[m.kind].finalize(mean))
    return loss, tuple(metrics)


def _evaluate_model(group: GroupSpec, params, x, y, cfg: GroupConfig,
                    w: jax.Array | None = None) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """One network's ``(mean loss, (metrics...))`` on ``x`` (rows weighted by ``w``)."""
    per, values = _evaluate_rows(group, params, x, y, cfg)
    return _reduce_rows(group, per, values, w)


# ------------------------------------------------------------------- programs


def _init_states(plan: Plan, configs: tuple[GroupConfig, ...],
                 init_keys: jax.Array) -> tuple[GroupState, ...]:
    states = []
    draws: dict[tuple, jax.Array] = {}
    for group, cfg in zip(plan.groups, configs, strict=True):
        params = _init_params(group, cfg, init_keys, draws)
        init_opt = jax.vmap(lambda p, c, g=group: _transformation(g, c.optimizer).init(p))
        opt_state = jax.vmap(init_opt, in_axes=(0, None))(params, cfg)
        diverged = jnp.full((plan.n_seeds, group.n_configs), -1, jnp.int32)
        state = GroupState(params, opt_state, diverged)
        if plan.early_stopping is not None:
            state = jax.vmap(jax.vmap(_with_stopping))(state)
        states.append(state)
    return tuple(states)


def _train(plan: Plan, states: tuple[GroupState, ...], configs: tuple[GroupConfig, ...],
           data: Data, shuffle_keys: jax.Array, epoch_offset: jax.Array):
    n, u, steps = plan.n_train, plan.micro_batch, plan.steps_per_epoch
    n_pad = steps * u
    row_mask = jnp.arange(n_pad) < n

    def permutation(e):
        if plan.shuffle:
            perm = jax.vmap(lambda k: epoch_permutation(k, e, n))(shuffle_keys)
        else:
            perm = jnp.broadcast_to(jnp.arange(n), (plan.n_seeds, n))
        return jnp.pad(perm, ((0, 0), (0, n_pad - n)))

    weighted = data.w is not None
    # Reproducible groups divide by their rows' weights even unweighted (1 a row), so
    # weighted and unweighted batches share one formula, bit for bit.
    by_weight = tuple((weighted or g.reproducible_sums)
                      and g.reduction == "mean_with_sample_weight" for g in plan.groups)

    def model_grads(group, params, cfg, xb, yb, wb, mask, like=None):
        if group.reproducible_sums:
            return _row_grads(group, params, cfg, xb, yb, wb, mask, like)

        def objective(p):
            per, values = _forward_loss(group, p, xb, yb, cfg)
            if wb is not None:
                per = per * wb
                values = tuple(v * wb if m.weighted else v
                               for m, v in zip(group.metrics, values, strict=True))
            per = jnp.where(mask, per, 0.0)
            values = tuple(jnp.where(mask, v, 0.0) for v in values)
            wrows = None if wb is None else jnp.where(mask, wb, 0.0)
            # The gradient of a sum is the same in any order; the reported sums are
            # taken in a fixed order from the rows (fixed_sum, outside vmap).
            return jnp.sum(per), (per, values, wrows)

        if like is None:
            (_, rows), grads = jax.value_and_grad(objective, has_aux=True)(params)
            return rows, grads
        # Differentiate the layers' own arrays and concatenate: a gradient taken
        # through the slices of the flat vector pads and adds every piece.
        tree = _unflatten_models(params, like, lead=0)
        (_, rows), grads = jax.value_and_grad(objective, has_aux=True)(tree)
        return rows, _flatten_models(grads, lead=0)

    def model_step(group, g, state, sums, acc, cfg, lsum, msums, wsum, grads, mask, i, e):
        params, opt_state, div = state.params, state.opt_state, state.diverged_epoch
        loss_sum, metric_sums, weight_sum = sums
        count = jnp.sum(mask).astype(jnp.float32)
        # The batch's loss is divided by its rows (Keras's default) or its weights.
        if plan.accumulate and group.accumulate:
            acc_g, acc_n, acc_w = acc
            acc_g = tree_map(jnp.add, acc_g, grads)
            acc_n = acc_n + count
            if by_weight[g]:
                acc_w = acc_w + wsum
            rows_done = jnp.minimum((i + 1) * u, n)
            end = (rows_done % cfg.batch_size == 0) | (i == steps - 1)
            if by_weight[g]:
                mean_g = tree_map(lambda x: _divide_no_nan(x, acc_w), acc_g)
            else:
                mean_g = tree_map(lambda x: x / acc_n, acc_g)
        else:
            end = jnp.array(True)
            if by_weight[g]:
                mean_g = tree_map(lambda x: _divide_no_nan(x, wsum), grads)
            else:
                mean_g = tree_map(lambda x: x / count, grads)
        active = (e < cfg.epochs) & (div < 0)
        if plan.early_stopping is not None:
            active = active & ~state.stopping.stopped
        hp = cfg.optimizer
        if plan.lr_schedule:
            b = cfg.batch_size
            per_epoch = (n + b - 1) // b
            done_rows = jnp.minimum((i + 1) * u, n)
            t = e * per_epoch + (done_rows + b - 1) // b - 1  # this update's index
            hp = dict(hp, learning_rate=hp["learning_rate"]
                      * cfg.lr_growth ** t.astype(jnp.float32))
        updates, new_opt = _transformation(group, hp).update(mean_g, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        finite = _all_finite(new_params)
        apply = end & active & finite
        bad = active & (~jnp.isfinite(lsum) | (end & ~finite))
        params = _select(apply, new_params, params)
        opt_state = _select(apply, new_opt, opt_state)
        div = jnp.where(bad & (div < 0), e, div)
        sums = (loss_sum + jnp.where(active, lsum, 0.0),
                tuple(total + jnp.where(active, part, 0.0)
                      for total, part in zip(metric_sums, msums, strict=True)),
                None if weight_sum is None else weight_sum + jnp.where(active, wsum, 0.0))
        if plan.accumulate and group.accumulate:
            acc = (_select(end, tree_map(jnp.zeros_like, acc_g), acc_g),
                   jnp.where(end, 0.0, acc_n),
                   jnp.where(end, 0.0, acc_w) if by_weight[g] else None)
        step_loss = jnp.where(active & (count > 0), lsum / jnp.maximum(count, 1.0), jnp.nan)
        new_state = state._replace(params=params, opt_state=opt_state, diverged_epoch=div)
        return new_state, sums, acc, step_loss

    def epoch_body(states, local_e):
        e = epoch_offset + local_e
        perm = permutation(e)
        tree_states = states
        flat = tuple(_flattens(g) for g in plan.groups)
        likes = tuple(_model_like(g) if f else None for g, f in zip(plan.groups, flat, strict=True))
        if not plan.flat_state:
            states = tuple(_flatten_state(s) if f else s
                           for s, f in zip(states, flat, strict=True))
        def zeros(g):
            return jnp.zeros((plan.n_seeds, g.n_configs))

        sums = tuple((zeros(g), tuple(zeros(g) for _ in g.metrics),
                      zeros(g) if weighted or g.reproducible_sums else None)
                     for g in plan.groups)
        accs = tuple(
            (tree_map(jnp.zeros_like, s.params), zeros(g), zeros(g) if by_weight[i] else None)
            if plan.accumulate and g.accumulate else ()
            for i, (g, s) in enumerate(zip(plan.groups, states, strict=True))
        )

        def step_body(carry, i):
            states, sums, accs = carry
            idx = lax.dynamic_slice_in_dim(perm, i * u, u, axis=1)
            mask = lax.dynamic_slice_in_dim(row_mask, i * u, u)
            xb = data.x[idx]
            # Each weighting scheme's weights of these rows, [seed, scheme, u].
            wb = jnp.moveaxis(data.w[:, idx], 0, 1) if weighted else None
            out = []
            for g, group in enumerate(plan.groups):
                yb = data.y[g][idx]
                grad = jax.vmap(lambda p, c, x, y, w, grp=group, lk=likes[g]: model_grads(
                    grp, p, c, x, y, None if w is None else w[c.weight_index], mask, lk),
                                in_axes=(0, 0, None, None, None))
                grad = jax.vmap(grad, in_axes=(0, None, 0, 0, 0))
                (per, values, wrows), grads = grad(states[g].params, configs[g], xb, yb, wb)
                step = jax.vmap(
                    lambda s, sm, a, c, ls, ms, ws, gr, grp=group, gi=g: model_step(
                        grp, gi, s, sm, a, c, ls, ms, ws, gr, mask, i, e
                    ),
                    in_axes=(0, 0, 0, 0, 0, 0, 0, 0),
                )
                step = jax.vmap(step, in_axes=(0, 0, 0, None, 0, 0, 0, 0))
                # Reproducible groups: unweighted loss terms and the rows' weights.
                lsum = (reproducible_sum(per, wrows, -1) if group.reproducible_sums
                        else fixed_sum(per, -1))
                out.append(step(states[g], sums[g], accs[g], configs[g],
                                lsum, tuple(fixed_sum(v, -1) for v in values),
                                None if wrows is None else fixed_sum(wrows, -1), grads))
            carry = (tuple(o[0] for o in out), tuple(o[1] for o in out),
                     tuple(o[2] for o in out))
            return carry, (tuple(o[3] for o in out) if plan.record_steps else None)

        (states, sums, _), step_losses = lax.scan(step_body, (states, sums, accs),
                                                  jnp.arange(steps))
        if not plan.flat_state:
            states = tuple(_unflatten_state(s, t) if f else s
                           for s, t, f in zip(states, tree_states, flat, strict=True))
            likes = (None,) * len(states)

        scores = _score_eval_sets(plan, states, likes, configs, data)
        history = []
        for g, group in enumerate(plan.groups):
            cfg, st = configs[g], states[g]
            valid = (e < cfg.epochs)[None, :] & ((st.diverged_epoch < 0) |
                                                      (e < st.diverged_epoch))
            if plan.early_stopping is not None:
                valid = valid & ~st.stopping.stopped  # stopped at an earlier epoch's end
            loss_sum, metric_sums, weight_sum = sums[g]
            # Keras's running means: the weighted loss over the rows (or the weights,
            # for the mean_with_sample_weight reduction), metrics unweighted or
            # weighted as declared, then finished (RMSE's root).
            h = {"loss": _divide_no_nan(loss_sum, weight_sum) if by_weight[g]
                 else loss_sum / n}
            for m, total in zip(group.metrics, metric_sums, strict=True):
                mean = (_divide_no_nan(total, weight_sum) if m.weighted and weighted
                        else total / n)
                h[m.key] = _losses.METRIC_KINDS[m.kind].finalize(mean)
            tapped = {}
            for k, (prefix, _) in enumerate(plan.eval_sets):
                loss, metrics, taps = scores[g][k]
                h[f"{prefix}loss"] = loss
                for m, value in zip(group.metrics, metrics, strict=True):
                    h[f"{prefix}{m.key}"] = value
                for layer, acts in taps.items():
                    tapped[f"tap_{layer}"] = jnp.where(valid[:, :, None, None], acts, jnp.nan)
            if plan.noise_rows:
                k_rows = min(plan.noise_rows, n)
                ns = jax.vmap(
                    lambda p, c, x, y, w, grp=group: noise_scale(
                        grp, p, x, y, c, None if w is None else w[c.weight_index]),
                    in_axes=(0, 0, None, None, None))
                ns = jax.vmap(ns, in_axes=(0, None, None, None, None))
                layers = st.params if likes[g] is None else _unflatten_models(
                    st.params, likes[g], lead=0)
                h["noise_scale"], h["grad_sq_norm"], h["grad_var_trace"] = ns(
                    layers, cfg, data.x[:k_rows], data.y[g][:k_rows],
                    data.w[:, :k_rows] if weighted else None)
            record = {k: jnp.where(valid, v, jnp.nan) for k, v in h.items()}
            if plan.early_stopping is not None:
                states = _stop_early(plan, states, g, record, valid, e)
            if plan.record_steps:
                record["step_loss"] = step_losses[g]
            history.append(record | tapped)
        return states, tuple(history)

    states, history = lax.scan(epoch_body, states, jnp.arange(plan.n_epochs))
    return states, history


def _score_eval_sets(plan: Plan, states: tuple[GroupState, ...], likes: tuple[Any, ...],
                     configs: tuple[GroupConfig, ...], data: Data
                     ) -> list[list[tuple[jax.Array, tuple[jax.Array, ...],
                                          dict[int, jax.Array]]]]:
    """Every model's mean loss and metrics (and tapped layers) on each evaluation set.

    Groups that differ only in their optimizer are scored together, as one batch
    of models: the same numbers (each model's forward pass and sums are its own),
    with one set of kernels instead of one per group. ``out[g][k]`` is group
    ``g``'s ``(loss, metrics, {layer: activations})`` on set ``k``; ``likes[g]``
    is one model's parameter tree where group ``g``'s states are flat, else None.
    """
    families: dict[tuple, list[int]] = {}
    for g, group in enumerate(plan.groups):
        key = (group.network, group.loss, group.metrics, group.activation_choices,
               group.from_logits, group.loss_from_logits, group.reduction)
        families.setdefault(key, []).append(g)
    out: list[list[Any]] = [[None] * len(plan.eval_sets) for _ in plan.groups]
    for members in families.values():
        group = plan.groups[members[0]]

        if all(likes[g] is not None for g in members):  # join the vectors, then cut once
            params = _unflatten_models(
                jnp.concatenate([states[g].params for g in members], axis=1), likes[members[0]],
                lead=0)
        else:
            params = tree_map(lambda *a: jnp.concatenate(a, axis=1), *(
                states[g].params if likes[g] is None else
                _unflatten_models(states[g].params, likes[g], lead=0) for g in members))
        # Only the activation choice matters to a forward pass.
        act = jnp.concatenate([configs[g].activation_index for g in members])
        cfg = configs[members[0]]._replace(optimizer={}, batch_size=act[:, 0], epochs=act[:, 0],
                                           activation_index=act, initializer_index=act,
                                           lr_growth=None, weight_index=None)
        n_layers = len(group.network.layers)
        group_taps = tuple(t for t in plan.tap_layers if -n_layers <= t < n_layers)
        for k in range(len(plan.eval_sets)):
            taps = group_taps if k == plan.tap_eval_set else ()
            ev = jax.vmap(lambda p, c, x, y, t=taps, grp=group: _evaluate_rows(grp, p, x, y, c, t),
                          in_axes=(0, 0, None, None))
            ev = jax.vmap(ev, in_axes=(0, None, 0, None))
            # One copy of the inputs per seed, as in training: each seed's matrix
            # products then have the same shapes however many seeds a call holds.
            xe = jnp.broadcast_to(data.eval_x[k], (plan.n_seeds, *data.eval_x[k].shape))
            rows_out = ev(params, cfg, xe, data.eval_y[k][members[0]])
            w = data.eval_w[k] if data.eval_w else None
            loss, metrics = _reduce_rows(group, rows_out[0], rows_out[1], w)
            start = 0
            for g in members:
                part = slice(start, start + plan.groups[g].n_configs)
                start = part.stop
                out[g][k] = (loss[:, part], tuple(m[:, part] for m in metrics),
                             {layer: acts[:, part] for layer, acts in
                              zip(taps, rows_out[2] if taps else (), strict=True)})
    return out


def _where_models(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per model (``mask`` is ``[seed, config]``), ``new`` where True, else ``old``."""
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim)), a, b),
        new, old)


def _stop_early(plan: Plan, states: tuple[GroupState, ...], g: int,
                record: dict[str, jax.Array], valid: jax.Array, e: jax.Array
                ) -> tuple[GroupState, ...]:
    """Keras's EarlyStopping rule at an epoch end, for every model of group ``g``."""
    from gdlab import early_stopping as es

    rule = plan.early_stopping
    st = states[g]
    current = record[rule.monitor]
    stopping, improved = es.update(st.stopping, current, e, rule.params(), active=valid)
    best = _where_models(improved, st.params, st.best_params)
    return (*states[:g], st._replace(stopping=stopping, best_params=best), *states[g + 1:])


@lru_cache(maxsize=64)
def init_program(plan: Plan) -> Callable:
    """Compiled ``(configs, seeds) -> (states, shuffle_keys)``: every model's initial state.

    ``seeds`` is a ``uint32[S]`` array (:func:`seed_array`); keys are derived inside.
    """

    def run(configs, seeds):
        init_keys, shuffle_keys = keys_from_seeds(seeds)
        states = _init_states(plan, configs, init_keys)
        if plan.flat_state:
            states = tuple(_flatten_state(s) if _flattens(g) else s
                           for g, s in zip(plan.groups, states, strict=True))
        return states, shuffle_keys

    # Always at XLA optimization level 0: the program runs once and is cheap, but at the
    # default level its many initializer branches took longer to build than training.
    return jax.jit(run, compiler_options={"xla_backend_optimization_level": 0})


@lru_cache(maxsize=64)
def train_program(plan: Plan) -> Callable:
    """Compiled ``(states, configs, data, shuffle_keys, first_epoch) -> (states, history)``.

    Trains ``plan.n_epochs`` epochs numbered from ``first_epoch`` (which picks the
    batch order and decides who is still active); ``history[g][metric]`` has
    shape ``[plan.n_epochs, seeds, configs]``.
    """
    return jax.jit(lambda s, c, d, k, e: _train(plan, s, c, d, k, e),
                   compiler_options=plan.compiler_options)


@jax.jit
def _restore_best(states: tuple[GroupState, ...]) -> tuple[GroupState, ...]:
    return tuple(st._replace(params=_where_models(st.stopping.has_best, st.best_params,
                                                  st.params)) for st in states)


def fit_program(plan: Plan) -> Callable:
    """``(configs, data, seeds, on_epoch=None) -> (states, history)``: init, then train.

    Two compiled programs: the initial states, and one epoch of training called
    once per epoch (``on_epoch(e)`` runs between calls: progress bars are fed
    without host callbacks inside the program, which would keep it out of JAX's
    persistent compilation cache). History arrays have shape
    ``[plan.n_epochs, seeds, configs]``. Between calls the states stay flat
    (``Plan.flat_state``); the final states come back on the host, with the
    layers' arrays.
    """
    flat_plan = dataclasses.replace(plan, flat_state=True)
    init = init_program(flat_plan)
    step_plan = dataclasses.replace(flat_plan, n_epochs=1)

    def run(configs, data, seeds, on_epoch: Callable[[int], None] | None = None):
        # On the device once: NumPy inputs would be copied again at every epoch's call.
        configs, data = jax.device_put(configs), jax.device_put(data)
        shapes = jax.eval_shape(init, configs, seeds)

        def build() -> Callable:
            step = train_program(step_plan)
            step.lower(shapes[0], configs, data, shapes[1], np.int32(0)).compile()
            return step

        # The training program is built while the initial states are: it needs only
        # their shapes, and the two builds then share the cores (docs/design.md).
        with ThreadPoolExecutor(1, thread_name_prefix="gdlab-build") as pool:
            built = pool.submit(build)
            states, keys = init(configs, seeds)
            # The states' shapes with the layers' arrays, to unflatten the final ones
            # (traced here, off the build's path).
            tree_states = jax.eval_shape(init_program(plan), configs, seeds)[0]
            step = built.result()
        epochs = []
        for e in range(plan.n_epochs):
            states, history = step(states, configs, data, keys, np.int32(e))
            epochs.append(history)
            if on_epoch is not None:
                on_epoch(e)
        if plan.early_stopping is not None and plan.early_stopping.restore_best:
            states = _restore_best(states)
        states = tuple(_unflatten_state(s, like) if _flattens(g) else s for g, s, like in
                       zip(plan.groups, jax.device_get(states), tree_states, strict=True))
        epochs = jax.device_get(epochs)
        history = jax.tree_util.tree_map(lambda *h: np.concatenate(h), *epochs)
        return states, history

    return run


def estimated_flops(plan: Plan, n_seeds: int | None = None) -> float:
    """Rough arithmetic of a program: about 6 flops per parameter per example per epoch."""
    seeds = plan.n_seeds if n_seeds is None else n_seeds
    per_example = sum(g.n_configs * g.network.n_params() for g in plan.groups)
    evals = sum(n for _, n in plan.eval_sets)
    return 6.0 * seeds * per_example * plan.n_epochs * (plan.n_train + evals / 3)


#: Below this much arithmetic, compile time dominates: build at XLA optimization level 0.
FAST_COMPILE_FLOPS = 2e9


# ------------------------------------------------------ one network, outside training


@lru_cache(maxsize=64)
def predict_program(spec: _network.NetworkSpec) -> Callable:
    """Compiled ``(params, x) -> (output, stages)`` for one network."""

    def run(params, x):
        _, out, stages = _network.apply(params, x, spec)
        return out, stages

    return jax.jit(run)


@lru_cache(maxsize=64)
def evaluate_program(group: GroupSpec) -> Callable:
    """Compiled ``(params, x, y, config, w=None) -> (mean loss, (metrics...))`` for one network."""
    return jax.jit(lambda p, x, y, c, w=None: _evaluate_model(group, p, x, y, c, w))

