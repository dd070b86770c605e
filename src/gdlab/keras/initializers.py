"""Keras's initializer objects, for ``Dense(kernel_initializer=...)``.

Names work too (``"he_normal"``, ``"zeros"``); these classes exist for code
written with objects, and for ``Constant(value)``, which has no bare string
form in Keras. Each object is named by ``gdlab_name``, the registry name of
:mod:`gdlab.initializers`. Random initializers take Keras's default arguments
only: gdlab draws them from its own JAX stream (``seed`` is accepted and
ignored, as weights come from ``gdlab.keras.utils.set_random_seed``).
"""

from __future__ import annotations

from typing import Any

from gdlab import initializers as _initializers
from gdlab.errors import NotSupportedError

__all__ = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Initializer",
           "LecunNormal", "LecunUniform", "Ones", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "Zeros", "get"]


class Initializer:
    """A Keras initializer object: ``gdlab_name`` is its registry name."""

    gdlab_name = ""

    def __init__(self, seed: Any = None) -> None:
        del seed  # gdlab's weights come from its own seeded stream

    def get_config(self) -> dict[str, Any]:
        """Keras-style configuration."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Zeros(Initializer):
    """All zeros."""

    gdlab_name = "zeros"


class Ones(Initializer):
    """All ones."""

    gdlab_name = "ones"


class Constant(Initializer):
    """Every weight equal to ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        super().__init__()
        self.value = float(value)
        self.gdlab_name = _initializers.constant_name(self.value)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}

    def __repr__(self) -> str:
        return f"Constant(value={self.value!r})"


class _Defaults(Initializer):
    """A random initializer with Keras's default arguments only."""

    _defaults: dict[str, float] = {}

    def __init__(self, seed: Any = None, **kwargs: Any) -> None:
        super().__init__(seed)
        for key, value in kwargs.items():
            if key not in self._defaults or float(value) != self._defaults[key]:
                raise NotSupportedError(
                    f"{type(self).__name__}({key}={value!r}) is not supported: gdlab implements "
                    f"Keras's initializers with their default arguments "
                    f"({', '.join(f'{k}={v}' for k, v in self._defaults.items()) or 'none'}).")


def _random(name: str, class_name: str, defaults: dict[str, float]) -> type[Initializer]:
    return type(class_name, (_Defaults,), {"gdlab_name": name, "_defaults": defaults,
                                           "__doc__": f"Keras's ``{class_name}()``."})


RandomUniform = _random("random_uniform", "RandomUniform", {"minval": -0.05, "maxval": 0.05})
RandomNormal = _random("random_normal", "RandomNormal", {"mean": 0.0, "stddev": 0.05})
TruncatedNormal = _random("truncated_normal", "TruncatedNormal", {"mean": 0.0, "stddev": 0.05})
GlorotUniform = _random("glorot_uniform", "GlorotUniform", {})
GlorotNormal = _random("glorot_normal", "GlorotNormal", {})
LecunUniform = _random("lecun_uniform", "LecunUniform", {})
LecunNormal = _random("lecun_normal", "LecunNormal", {})
HeUniform = _random("he_uniform", "HeUniform", {})
HeNormal = _random("he_normal", "HeNormal", {})


def get(identifier: Any) -> str:
    """The registry name of an initializer given by name, object or class."""
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        identifier = identifier()
    return _initializers.canonical_initializer(identifier)
