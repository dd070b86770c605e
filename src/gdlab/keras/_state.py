"""Global state of the Keras facade: layer-name counters and the random stream.

Keras draws an unseeded initializer's seed from Python's ``random`` module, so
``set_random_seed(s)`` makes every later model reproducible, successive models
differ, and ``clear_session()`` resets names but not the random stream. gdlab
does the same with a JAX key and a draw counter.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict

import jax
import numpy as np

_names: defaultdict[str, int] = defaultdict(int)
_seed: int = secrets.randbits(31)
_draws: int = 0


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``, ... until the session is cleared."""
    n = _names[base]
    _names[base] += 1
    return base if n == 0 else f"{base}_{n}"


def clear_names() -> None:
    """Forget the names handed out so far."""
    _names.clear()


def set_seed(seed: int) -> None:
    """Seed gdlab's stream, and Python's and NumPy's global generators as Keras does."""
    global _seed, _draws
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"The seed must be an integer, got {seed!r}.")
    _seed = int(seed) % (2**31)
    _draws = 0
    random.seed(seed)
    np.random.seed(int(seed) % (2**32))


def next_key() -> jax.Array:
    """A fresh key from the global stream."""
    global _draws
    key = jax.random.fold_in(jax.random.PRNGKey(_seed), _draws)
    _draws += 1
    return key
