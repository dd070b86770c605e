"""Shared test set-up: strict JAX, Keras on its JAX backend, the course's files."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
# One persistent compilation cache for the whole run, in a directory of its own (never the
# user's): the many tests and subprocesses that build the same programs (the course study,
# the CLI's sweeps) compile each once. Results are the same either way (a cached program is
# the compiled one); tests of the cache itself set their own directory.
if "GDLAB_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _cache = tempfile.mkdtemp(prefix="gdlab-test-cache-")
    os.environ["GDLAB_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ.setdefault("GDLAB_COMPILATION_CACHE", "1")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

# Hypothesis: CI draws the same examples every run (derandomized, no example database);
# `pytest --hypothesis-profile=full` draws many more, fresh each time. Tests that set
# max_examples keep their own count; the parity suite takes the profile's.
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          max_examples=5, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much])
settings.register_profile("full", deadline=None, max_examples=300, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much])
settings.load_profile(os.environ.get("GDLAB_HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GDLAB_SHARED", ROOT.parent / "shared"))


def shared_file(relative: str) -> Path:
    """A file under ../shared (or $GDLAB_SHARED); skip the test where it is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{relative} not found under {SHARED} (set GDLAB_SHARED to its folder)")
    return path


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run the ``gdlab`` command line in this process: ``cli(*args) -> (code, out, err)``."""
    import sys

    from gdlab.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["gdlab", *args])
        with pytest.raises(SystemExit) as info:
            main()
            sys.exit(0)  # main returns normally on success
        out, err = capsys.readouterr()
        return info.value.code, out, err

    return run


@pytest.fixture(scope="session")
def banknotes_path() -> Path:
    """The course's banknote CSV."""
    return shared_file("data/banknotes.csv")


@pytest.fixture(scope="session")
def course_notebook() -> Path:
    """The course chapter notebook."""
    return shared_file("course/gradient-descent.ipynb")
