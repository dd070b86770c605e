"""scikit-learn interop: estimators, the course's Keras wrappers and a vectorized grid search.

>>> from gdlab.sklearn import DenseClassifier, GridSearchCV
>>> search = GridSearchCV(DenseClassifier(hidden_layer_sizes=(8,), epochs=20, random_state=0),
...                       {"learning_rate": [0.001, 0.01, 0.1], "batch_size": [16, 32]}, cv=5)
>>> search.fit(X, y).best_params_

``DenseClassifier``/``DenseRegressor`` follow scikit-learn's conventions (they
pass its estimator checks); ``KerasClassifier``/``KerasRegressor`` take a
``build_fn`` returning a compiled ``gdlab.keras`` model, as TensorFlow's removed
``tensorflow.keras.wrappers.scikit_learn`` did; ``GridSearchCV`` is
scikit-learn's, training every setting of a fold in one engine call.
Usage, sample and class weights, and scikit-learn's estimator checks: docs/sklearn.md.
"""

from gdlab.sklearn._estimators import (
    DenseClassifier,
    DenseRegressor,
    TrainingDiverged,
    expected_failed_checks,
)
from gdlab.sklearn._search import GridSearchCV, NotVectorized
from gdlab.sklearn._wrappers import KerasClassifier, KerasRegressor

__all__ = [
    "DenseClassifier",
    "DenseRegressor",
    "GridSearchCV",
    "KerasClassifier",
    "KerasRegressor",
    "NotVectorized",
    "TrainingDiverged",
    "expected_failed_checks",
]
