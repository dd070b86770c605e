"""``tensorflow.keras.wrappers.scikit_learn`` for gdlab.keras: ``KerasClassifier``, ``KerasRegressor``.

The classes are :mod:`gdlab.sklearn`'s (``build_fn`` returning a compiled
gdlab.keras model, the old wrapper's parameter routing); this module only gives
them the import path course code uses.
"""

from gdlab.sklearn import KerasClassifier, KerasRegressor

__all__ = ["KerasClassifier", "KerasRegressor"]
