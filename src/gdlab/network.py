"""One dense network: its architecture as data, its parameters, its forward pass.

Written for a single network; only :mod:`gdlab.engine` knows that many networks
train at once. Parameters are a tuple with one dict per layer,
``{"kernel": (fan_in, units), "bias": (units,)}`` (no ``"bias"`` without one),
so Keras's ``get_weights()`` order is the flattened tuple.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from gdlab import activations as _activations
from gdlab import initializers as _initializers
from gdlab.errors import ConfigError

Params = tuple[dict[str, jax.Array], ...]


@dataclass(frozen=True)
class DenseSpec:
    """One Dense layer: ``activation(x @ kernel + bias)``.

    ``activation`` is a chain of activation names applied in order (a Dense
    layer followed by Keras ``Activation`` layers); usually one name.
    """

    units: int
    activation: tuple[str, ...] = ("linear",)
    kernel_initializer: str = "glorot_uniform"
    bias_initializer: str = "zeros"
    use_bias: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.units, bool) or not isinstance(self.units, int) or self.units < 1:
            raise ConfigError(f"`units` of a Dense layer must be an integer >= 1, got {self.units!r}.")
        object.__setattr__(
            self, "activation",
            tuple(_activations.canonical_activation(a) for a in self.activation) or ("linear",),
        )
        object.__setattr__(
            self, "kernel_initializer", _initializers.canonical_initializer(self.kernel_initializer)
        )
        object.__setattr__(
            self, "bias_initializer", _initializers.canonical_initializer(self.bias_initializer)
        )


@dataclass(frozen=True)
class NetworkSpec:
    """A chain of Dense layers on ``n_inputs`` features."""

    n_inputs: int
    layers: tuple[DenseSpec, ...]

    def __post_init__(self) -> None:
        if isinstance(self.n_inputs, bool) or not isinstance(self.n_inputs, int) or self.n_inputs < 1:
            raise ConfigError(f"A network needs at least one input feature, got {self.n_inputs!r}.")
        if not self.layers:
            raise ConfigError("A network needs at least one Dense layer (the output layer).")

    @property
    def widths(self) -> tuple[int, ...]:
        """``(n_inputs, units_1, ..., units_out)``."""
        return (self.n_inputs, *(layer.units for layer in self.layers))

    @property
    def n_outputs(self) -> int:
        """Units of the output layer."""
        return self.layers[-1].units

    @property
    def output_activation(self) -> str:
        """The last activation applied by the output layer."""
        return self.layers[-1].activation[-1]

    def shapes(self) -> Params:
        """The parameter shapes, in the layout of :func:`init_params`."""
        out = []
        for fan_in, layer in zip(self.widths[:-1], self.layers, strict=True):
            d = {"kernel": (fan_in, layer.units)}
            if layer.use_bias:
                d["bias"] = (layer.units,)
            out.append(d)
        return tuple(out)

    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(math.prod(s) for d in self.shapes() for s in d.values())


def layer_keys(key: jax.Array, layer: int) -> tuple[jax.Array, jax.Array]:
    """The (kernel, bias) keys of one layer: the same for a given seed and layer index."""
    k = jax.random.fold_in(key, layer)
    kk, bk = jax.random.split(k)
    return kk, bk


def init_params(spec: NetworkSpec, key: jax.Array) -> Params:
    """Initial parameters drawn from each layer's initializers."""
    params = []
    for i, (layer, shapes) in enumerate(zip(spec.layers, spec.shapes(), strict=True)):
        kk, bk = layer_keys(key, i)
        d = {"kernel": _initializers.get(layer.kernel_initializer)(kk, shapes["kernel"])}
        if layer.use_bias:
            d["bias"] = _initializers.get(layer.bias_initializer)(bk, shapes["bias"])
        params.append(d)
    return tuple(params)


ActivationChain = Sequence[Callable[[jax.Array], jax.Array]]


def unrolled_matmul(h: jax.Array, kernel: jax.Array) -> jax.Array:
    """``h @ kernel`` as a fixed-order chain of multiply-adds over the fan-in.

    Same sum as the matrix product up to float32 round-off. For the narrow
    layers of small networks under ``vmap`` over thousands of models, XLA fuses
    this chain (with the bias and activation that follow) into one loop, where a
    batch of tiny matrix products plus the transposes around them cost several
    times more (docs/design.md, "What made the large grid fast").
    """
    lead = (1,) * (h.ndim - 1)
    z = h[..., 0:1] * kernel[0].reshape(*lead, -1)
    for i in range(1, kernel.shape[0]):
        z = z + h[..., i:i + 1] * kernel[i].reshape(*lead, -1)
    return z


def apply(params: Params, x: jax.Array, spec: NetworkSpec,
          chains: Sequence[ActivationChain] | None = None, unroll_fan_in: int = 0
          ) -> tuple[jax.Array, jax.Array, list[list[jax.Array]]]:
    """Forward pass. Returns ``(logits, output, stages)``.

    ``logits`` is the input of the output layer's last activation (what a
    cross-entropy "from logits" uses), ``output`` the network's output, and
    ``stages[l]`` the list ``[x @ W + b, after activation 1, ...]`` of layer ``l``.
    ``chains`` may replace the activation functions (the engine passes
    per-model selections); by default each layer's named chain is used. Layers
    with at most ``unroll_fan_in`` inputs use :func:`unrolled_matmul`.
    """
    h = x
    stages: list[list[jax.Array]] = []
    for i, (layer, p) in enumerate(zip(spec.layers, params, strict=True)):
        if p["kernel"].shape[0] <= unroll_fan_in:
            z = unrolled_matmul(h, p["kernel"])
        else:
            z = h @ p["kernel"]
        if layer.use_bias:
            z = z + p["bias"][None, :]
        chain = chains[i] if chains is not None else [
            _activations.get(a) for a in layer.activation
        ]
        layer_stages = [z]
        for f in chain:
            layer_stages.append(f(layer_stages[-1]))
        stages.append(layer_stages)
        h = layer_stages[-1]
    last = stages[-1]
    logits = last[-2] if len(last) > 1 else last[-1]
    return logits, h, stages


def flatten(params: Params) -> list[jax.Array]:
    """Keras's ``get_weights()`` order: ``[kernel0, bias0, kernel1, ...]``."""
    out = []
    for d in params:
        out.append(d["kernel"])
        if "bias" in d:
            out.append(d["bias"])
    return out


def unflatten(spec: NetworkSpec, weights: Sequence[jax.Array]) -> Params:
    """The inverse of :func:`flatten`, checking every shape against ``spec``."""
    shapes = spec.shapes()
    expected = [s for d in shapes for s in d.values()]
    if len(weights) != len(expected):
        raise ConfigError(
            f"Expected {len(expected)} weight arrays ({_fmt_shapes(expected)}), got {len(weights)}."
        )
    out, it = [], iter(weights)
    for d in shapes:
        layer = {}
        for name, shape in d.items():
            w = jnp.asarray(next(it), jnp.float32)
            if tuple(w.shape) != tuple(shape):
                raise ConfigError(
                    f"Weight {name!r} of layer {len(out)} must have shape {tuple(shape)}, "
                    f"got {tuple(w.shape)}."
                )
            layer[name] = w
        out.append(layer)
    return tuple(out)


def _fmt_shapes(shapes: Sequence[tuple[int, ...]]) -> str:
    return ", ".join(str(tuple(s)) for s in shapes)
