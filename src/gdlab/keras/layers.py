"""Keras's ``Dense``, ``Activation`` and ``Input`` for dense networks.

Layers hold their weights (NumPy arrays in Keras's layout) and build them from
the global random stream when their input size becomes known. Calling a layer
on a :class:`KerasTensor` records a chain (the functional API); models read the
chain back as a :class:`gdlab.network.NetworkSpec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab import activations as _activations
from gdlab import initializers as _initializers
from gdlab.errors import ConfigError, NotSupportedError, ShapeError
from gdlab.keras import _state
from gdlab.keras import initializers as _keras_initializers

__all__ = ["Layer", "Dense", "Activation", "InputLayer", "Input", "KerasTensor"]


class KerasTensor:
    """A symbolic tensor: the output of a layer in a chain, or a model input."""

    def __init__(self, shape: tuple[int | None, ...], layer: Layer,
                 parent: KerasTensor | None, name: str | None = None) -> None:
        self.shape = tuple(shape)
        self.dtype = "float32"
        self._layer = layer
        self._parent = parent
        self.name = name or _state.unique_name("keras_tensor")

    @property
    def units(self) -> int:
        """Size of the last axis."""
        return int(self.shape[-1])

    def chain(self) -> list[Layer]:
        """The layers from the input to this tensor, input layer first."""
        layers, t = [], self
        while t is not None:
            layers.append(t._layer)
            t = t._parent
        return layers[::-1]

    def __repr__(self) -> str:
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, "
                f"ragged=False, name={self.name}>")


class Layer:
    """Base class: a name, an input and an output tensor once called."""

    _base_name = "layer"

    def __init__(self, name: str | None = None, input_shape: Sequence[int] | None = None,
                 input_dim: int | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise ConfigError(
                f"Unknown argument(s) for {type(self).__name__}: {', '.join(sorted(kwargs))}."
            )
        self.name = name or _state.unique_name(self._base_name)
        if input_dim is not None:
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = tuple(input_shape)
            if len(input_shape) != 1 or not isinstance(input_shape[0], int | np.integer):
                raise NotSupportedError(
                    f"gdlab networks take flat feature vectors: input_shape must be (n_features,), "
                    f"got {input_shape}."
                )
        self._input_shape = input_shape
        self._input: KerasTensor | None = None
        self._output: KerasTensor | None = None

    @property
    def input(self) -> KerasTensor:
        """The tensor this layer was called on."""
        if self._input is None:
            raise AttributeError(
                f"Layer {self.name!r} has never been called and thus has no defined input."
            )
        return self._input

    @property
    def output(self) -> KerasTensor:
        """The tensor this layer produced."""
        if self._output is None:
            raise AttributeError(
                f"Layer {self.name!r} has never been called and thus has no defined output."
            )
        return self._output

    def build(self, n_inputs: int) -> None:
        """Create weights for ``n_inputs`` input features (no-op for weightless layers)."""

    @property
    def built(self) -> bool:
        """Whether the layer has its weights."""
        return True

    def output_units(self, n_inputs: int) -> int:
        """Size of the output for ``n_inputs`` input features."""
        return n_inputs

    def __call__(self, tensor: KerasTensor) -> KerasTensor:
        if not isinstance(tensor, KerasTensor):
            raise NotSupportedError(
                f"gdlab.keras layers are called on symbolic tensors (from Input(...)) to build "
                f"models; to compute with arrays, build a Model and call predict. Got "
                f"{type(tensor).__name__}."
            )
        if self._output is not None:
            raise NotSupportedError(
                f"Layer {self.name!r} is already used in a model; gdlab supports chains in "
                "which each layer appears once (no shared layers)."
            )
        n_in = tensor.units
        self.build(n_in)
        self._input = tensor
        self._output = KerasTensor((None, self.output_units(n_in)), self, tensor)
        return self._output

    def get_weights(self) -> list[np.ndarray]:
        """Weights in Keras's order (none for weightless layers)."""
        return []

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Replace the weights (none for weightless layers)."""
        if len(weights):
            raise ConfigError(f"Layer {self.name!r} has no weights, got {len(weights)} arrays.")

    def count_params(self) -> int:
        """Number of weights."""
        return sum(int(w.size) for w in self.get_weights())

    @property
    def weights(self) -> list[np.ndarray]:
        """Same as :meth:`get_weights`."""
        return self.get_weights()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``, Keras's fully connected layer."""

    _base_name = "dense"

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for arg, value in [("kernel_regularizer", kernel_regularizer),
                           ("bias_regularizer", bias_regularizer),
                           ("activity_regularizer", activity_regularizer),
                           ("kernel_constraint", kernel_constraint),
                           ("bias_constraint", bias_constraint)]:
            if value is not None:
                raise NotSupportedError(f"`{arg}` of Dense is not supported by gdlab.")
        if isinstance(units, bool) or not isinstance(units, int | np.integer) or units < 1:
            raise ConfigError(f"`units` of Dense must be a positive integer, got {units!r}.")
        self.units = int(units)
        self.activation = _activations.canonical_activation(activation)
        self.use_bias = bool(use_bias)
        # Names, objects of gdlab.keras.initializers, or their classes.
        self.kernel_initializer = _keras_initializers.get(kernel_initializer)
        self.bias_initializer = _keras_initializers.get(bias_initializer)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None

    @property
    def built(self) -> bool:
        return self.kernel is not None

    def output_units(self, n_inputs: int) -> int:
        return self.units

    def build(self, n_inputs: int) -> None:
        if self.kernel is not None:
            if self.kernel.shape[0] != n_inputs:
                raise ShapeError(
                    f"Layer {self.name!r} expects {self.kernel.shape[0]} inputs, got {n_inputs}."
                )
            return
        kk = _state.next_key()
        self.kernel = np.asarray(
            _initializers.get(self.kernel_initializer)(kk, (n_inputs, self.units))
        )
        if self.use_bias:
            bk = _state.next_key()
            self.bias = np.asarray(_initializers.get(self.bias_initializer)(bk, (self.units,)))

    def get_weights(self) -> list[np.ndarray]:
        if self.kernel is None:
            return []
        out = [self.kernel.copy()]
        if self.use_bias:
            out.append(self.bias.copy())
        return out

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        if self.kernel is None:
            raise ConfigError(
                f"Layer {self.name!r} is not built yet: give the model an input shape first."
            )
        expected = [self.kernel.shape] + ([self.bias.shape] if self.use_bias else [])
        if len(weights) != len(expected):
            raise ConfigError(
                f"Layer {self.name!r} expects {len(expected)} weight arrays, got {len(weights)}."
            )
        arrays = [np.asarray(w, np.float32) for w in weights]
        for w, shape, what in zip(arrays, expected, ["kernel", "bias"], strict=False):
            if w.shape != shape:
                raise ShapeError(
                    f"The {what} of layer {self.name!r} has shape {shape}, got {w.shape}."
                )
        self.kernel = arrays[0].copy()
        if self.use_bias:
            self.bias = arrays[1].copy()

    def get_config(self) -> dict[str, Any]:
        """Keras-style configuration dict."""
        return {"name": self.name, "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}


class Activation(Layer):
    """Applies an activation to its input (``Activation('sigmoid')``)."""

    _base_name = "activation"

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = _activations.canonical_activation(activation)

    def get_config(self) -> dict[str, Any]:
        """Keras-style configuration dict."""
        return {"name": self.name, "activation": self.activation}


class InputLayer(Layer):
    """The layer behind :func:`Input`."""

    _base_name = "input_layer"

    def __init__(self, shape: Sequence[int], name: str | None = None) -> None:
        super().__init__(name=name, input_shape=shape)
        self._output = KerasTensor((None, *self._input_shape), self, None)
        self._input = self._output


def Input(shape: Sequence[int] | None = None, batch_size: int | None = None,
          dtype: Any = None, name: str | None = None, **kwargs: Any) -> KerasTensor:  # noqa: N802
    """A model input of shape ``(n_features,)``, as ``keras.Input``."""
    if "batch_shape" in kwargs and shape is None:
        shape = tuple(kwargs.pop("batch_shape"))[1:]
    if kwargs:
        raise ConfigError(f"Unknown argument(s) for Input: {', '.join(sorted(kwargs))}.")
    if shape is None:
        raise ConfigError("Input needs a shape, e.g. Input(shape=(4,)).")
    if dtype not in (None, "float32", np.float32):
        raise NotSupportedError(f"gdlab computes in float32; got dtype {dtype!r}.")
    del batch_size
    return InputLayer(tuple(shape), name=name).output
