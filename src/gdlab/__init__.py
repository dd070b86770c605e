"""gdlab, the gradient descent lab.

Trains small dense networks on tabular data with Keras 3's math, many at once in
one compiled JAX program. The Keras-compatible API lives in :mod:`gdlab.keras`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gdlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
