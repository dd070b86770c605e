"""The course's ``tensorflow.keras.wrappers`` import path (TensorFlow 2.5 and older).

``from gdlab.keras.wrappers.scikit_learn import KerasClassifier`` imports
scikit-learn; ``import gdlab.keras`` alone does not.
"""
