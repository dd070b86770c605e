"""scikit-learn's own estimator checks on DenseClassifier and DenseRegressor, as users run them.

Every check runs on the estimators' defaults, which is what
``check_estimator(DenseClassifier())`` runs, and none is expected to fail
(``gdlab.sklearn.expected_failed_checks`` lists none). That includes the
sample-weight checks, among them ``check_sample_weight_equivalence_on_dense_data``:
its 15 weighted and 27 repeated rows each fit in one full batch, whose sums
are order-free, so integer weights equal repeated rows bit for bit. The
array-API check, which scikit-learn skips unless ``SCIPY_ARRAY_API=1`` was set
before SciPy was imported, runs in a subprocess with it set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from gdlab.sklearn import DenseClassifier, DenseRegressor, expected_failed_checks

CHECKED = [DenseClassifier(), DenseRegressor()]


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


@parametrize_with_checks(CHECKED)
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
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "array-api check passed" in out.stdout


@pytest.mark.parametrize("est", CHECKED, ids=lambda e: type(e).__name__)
def test_no_check_is_expected_to_fail(est) -> None:
    # The hook stays for code that passes it to parametrize_with_checks.
    assert expected_failed_checks(est) == {}
