"""A Keras-compatible API over gdlab's engine: course code runs by changing its imports.

``import tensorflow.keras.backend as K`` becomes ``import gdlab.keras.backend as K``,
``from tensorflow.keras.models import Sequential`` becomes
``from gdlab.keras.models import Sequential``, and so on for ``layers``,
``optimizers``, ``callbacks`` and ``utils``.
"""

from gdlab.keras import (
    backend,
    callbacks,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    utils,
)
from gdlab.keras.layers import Input
from gdlab.keras.models import Model, Sequential

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "backend",
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "utils",
]
