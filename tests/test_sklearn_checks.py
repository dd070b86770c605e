"""scikit-learn's own estimator checks on DenseClassifier and DenseRegressor.

Every check runs. The few that cannot apply are listed, each with a one-line
reason, by ``gdlab.sklearn.expected_failed_checks`` (scikit-learn's
``expected_failed_checks`` hook) and marked xfail *strictly*: a listed check
that starts passing fails the suite, so the list stays true. The array-API
check, which scikit-learn skips unless ``SCIPY_ARRAY_API=1`` was set before
SciPy was imported, runs in a subprocess with it set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from gdlab.sklearn import DenseClassifier, DenseRegressor, expected_failed_checks

# Small, quick instances that still learn scikit-learn's check datasets
# (well-separated blobs, scaled regression targets).
CHECKED = [
    DenseClassifier(hidden_layer_sizes=(8,), learning_rate=0.05, batch_size=8, epochs=10,
                    random_state=0),
    DenseRegressor(hidden_layer_sizes=(8,), learning_rate=0.05, batch_size=8, epochs=10,
                   random_state=0),
]


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    if _check_name(check) == "check_array_api_input":
        _run_array_api_check(estimator)
        return
    check(estimator)


def _run_array_api_check(estimator) -> None:
    """scikit-learn's array-API check (NumPy namespace) with SciPy in array-API mode."""
    code = textwrap.dedent(f"""
        import jax
        jax.config.update("jax_numpy_rank_promotion", "raise")
        import warnings
        warnings.simplefilter("error")
        from sklearn.utils.estimator_checks import check_array_api_input
        from gdlab.sklearn import {type(estimator).__name__}
        est = {estimator!r}
        check_array_api_input(type(est).__name__, est, array_namespace="numpy",
                              expect_only_array_outputs=False)
        print("array-api check passed")
    """)
    env = dict(os.environ, SCIPY_ARRAY_API="1", GDLAB_COMPILATION_CACHE="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "array-api check passed" in out.stdout


def test_every_listed_check_exists_and_has_a_reason() -> None:
    from sklearn.utils.estimator_checks import estimator_checks_generator

    for est in CHECKED:
        listed = expected_failed_checks(est)
        generated = {_check_name(check) for _, check in
                     estimator_checks_generator(est, mark="skip")}
        assert set(listed) <= generated, set(listed) - generated
        assert all(reason.strip() and "\n" not in reason for reason in listed.values())
    assert "check_classifiers_one_label_sample_weights" in expected_failed_checks(CHECKED[0])
    assert "check_classifiers_one_label_sample_weights" not in expected_failed_checks(CHECKED[1])


@pytest.mark.parametrize("est", CHECKED, ids=lambda e: type(e).__name__)
def test_sample_weight_is_refused_with_a_clear_error(est) -> None:
    from gdlab.errors import NotSupportedError

    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    y = [0, 1, 1, 0]
    with pytest.raises(NotSupportedError, match="does not support sample_weight"):
        est.fit(X, y, sample_weight=[1.0, 2.0, 1.0, 1.0])
