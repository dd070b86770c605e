"""Keras's optimizer classes, backed by :mod:`gdlab.optimizers`.

An optimizer object stores its Keras keyword arguments (readable and
assignable, e.g. ``opt.learning_rate = 0.1``) and, once a model trains with it,
its state (moments, iteration count), which persists across ``fit`` calls as in
Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdlab.errors import ConfigError
from gdlab.optimizers import OPTIMIZERS, OptimizerSpec, optimizer_spec, parse_optimizer

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "Nadam",
    "get",
]


class Optimizer:
    """Base class: the Keras name, keyword arguments and training state."""

    _kind = ""

    def __init__(self, **kwargs: Any) -> None:
        name = kwargs.pop("name", None)
        spec = optimizer_spec(self._kind, **kwargs)  # validates eagerly, as Keras does
        object.__setattr__(self, "_config", dict(spec.hparams))
        object.__setattr__(self, "name", name or OPTIMIZERS[self._kind].keras_name.lower())
        object.__setattr__(self, "_state", None)
        object.__setattr__(self, "_iterations", 0)

    def __getattr__(self, item: str) -> Any:
        config = self.__dict__.get("_config", {})
        if item in config:
            return config[item]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {item!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self.__dict__.get("_config", {}):
            config = dict(self._config)
            config[key] = value
            spec = optimizer_spec(self._kind, **config)
            object.__setattr__(self, "_config", dict(spec.hparams))
        else:
            object.__setattr__(self, key, value)

    @property
    def spec(self) -> OptimizerSpec:
        """The optimizer as gdlab data (kind and hyperparameters)."""
        return optimizer_spec(self._kind, **self._config)

    @property
    def iterations(self) -> int:
        """Number of updates applied so far."""
        return self._iterations

    @property
    def variables(self) -> list[np.ndarray]:
        """The optimizer's state arrays (empty before training)."""
        import jax

        if self._state is None:
            return []
        return [np.asarray(v) for v in jax.tree_util.tree_leaves(self._state)]

    def get_config(self) -> dict[str, Any]:
        """Keras-style configuration dict."""
        return {"name": self.name, **self._config}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Rebuild from :meth:`get_config`."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{self.spec.label()}>"


def _make(kind: str) -> type[Optimizer]:
    keras_name = OPTIMIZERS[kind].keras_name
    defaults = OPTIMIZERS[kind].defaults
    doc = (
        f"Keras's ``{keras_name}`` with its defaults ("
        + ", ".join(f"{k}={v!r}" for k, v in defaults.items() if v is not None)
        + "). The update rule is documented in :mod:`gdlab.optimizers`."
    )
    return type(keras_name, (Optimizer,), {"_kind": kind, "__doc__": doc,
                                           "__module__": __name__})


SGD = _make("sgd")
Adam = _make("adam")
AdamW = _make("adamw")
Adagrad = _make("adagrad")
RMSprop = _make("rmsprop")
Adadelta = _make("adadelta")
Adamax = _make("adamax")
Nadam = _make("nadam")

_CLASSES: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad, "rmsprop": RMSprop,
    "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam,
}


def get(identifier: Any) -> Optimizer:
    """An optimizer object from a Keras name ('sgd', 'Adam') or an optimizer object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        spec = parse_optimizer(identifier)  # 'sgd' or 'SGD(learning_rate=0.01)'; never eval
        return _CLASSES[spec.kind](**spec.params)
    if isinstance(identifier, OptimizerSpec):
        return _CLASSES[identifier.kind](**identifier.params)
    raise ConfigError(
        f"Cannot use {identifier!r} as an optimizer: pass a name such as 'sgd' or an object "
        "such as gdlab.keras.optimizers.SGD(learning_rate=0.01)."
    )
