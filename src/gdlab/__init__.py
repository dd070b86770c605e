"""gdlab, the gradient descent lab.

Trains small dense networks on tabular data with Keras 3's math, many at once in
one compiled JAX program::

    import gdlab
    result = gdlab.sweep(data, grid={"learning_rate": [0.01, 0.05, 0.1, 0.5]},
                         optimizer="sgd", batch_size=16, epochs=10, seeds=10)

The Keras-compatible API lives in :mod:`gdlab.keras`; the target search, the
learning-rate range test and the landscape in :mod:`gdlab.search`,
:mod:`gdlab.lr_find` and :mod:`gdlab.landscape`. Names are imported on first
use, so ``import gdlab`` is instant.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("gdlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_EXPORTS = {
    "sweep": "gdlab.sweeps",
    "run_sweep": ("gdlab.sweeps", "run"),
    "sweep_spec": "gdlab.specs",
    "SweepSpec": "gdlab.specs",
    "TrainConfig": "gdlab.specs",
    "SweepResult": "gdlab.results",
    "load_results": "gdlab.results",
    "save_results": "gdlab.results",
    "plot_curves": "gdlab.plots",
    "plot_final": "gdlab.plots",
    "paired_comparison": "gdlab.trust",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'gdlab' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
