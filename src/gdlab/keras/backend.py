"""Keras's backend helpers used by course code: ``clear_session`` and ``function``."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from gdlab import engine as _engine
from gdlab.errors import ConfigError, NotSupportedError
from gdlab.keras import _state
from gdlab.keras.layers import Dense, InputLayer, KerasTensor
from gdlab.validation import as_features

__all__ = ["clear_session", "function", "floatx", "epsilon"]


def clear_session(free_memory: bool = True) -> None:
    """Reset layer and model names (``dense``, ``dense_1``, ...) as Keras does.

    The random stream is not reset (Keras's is not either): successive models
    still get different initial weights unless ``utils.set_random_seed`` is called.
    """
    _state.clear_names()
    if free_memory:
        gc.collect()


def floatx() -> str:
    """gdlab computes in float32."""
    return "float32"


def epsilon() -> float:
    """Keras's fuzz factor, 1e-7."""
    return 1e-7


def function(inputs: Sequence[KerasTensor] | KerasTensor,
             outputs: Sequence[KerasTensor] | KerasTensor) -> Callable[[Sequence[Any]], list]:
    """A callable mapping ``[x]`` to ``[activations]`` between two tensors of a model.

    As in the course: ``K.function([model.layers[0].input], [model.layers[0].output])``.
    The weights are read at each call, so the function follows further training.
    """
    ins = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    outs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    if len(ins) != 1:
        raise NotSupportedError(f"gdlab networks have one input, got {len(ins)} inputs.")
    inp = ins[0]
    chains = []
    for out in outs:
        if not isinstance(out, KerasTensor) or not isinstance(inp, KerasTensor):
            raise ConfigError("backend.function takes tensors such as model.layers[0].output.")
        chain = out.chain()
        if chain[0] is not inp._layer:
            raise ConfigError(
                "The output tensor is not computed from the given input tensor; pass the "
                "model's input (model.layers[0].input or model.input)."
            )
        chains.append(chain)

    def run(values: Sequence[Any]) -> list[np.ndarray]:
        if not isinstance(values, list | tuple) or len(values) != 1:
            raise ConfigError("Call the function with a list holding one array: f([x]).")
        from gdlab.keras.models import _network_spec

        x = as_features(values[0], name="x", n_features=inp.units)
        results = []
        for chain in chains:
            layers = [layer for layer in chain if not isinstance(layer, InputLayer)]
            if not layers:
                results.append(x)
                continue
            spec = _network_spec(inp.units, layers)
            params = tuple(
                {"kernel": jnp.asarray(d.kernel), **({"bias": jnp.asarray(d.bias)} if d.use_bias else {})}
                for d in layers if isinstance(d, Dense)
            )
            out, _ = _engine.predict_program(spec)(params, jnp.asarray(x))
            results.append(np.asarray(out))
        return results

    return run
