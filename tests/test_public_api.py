"""The public surface is small and pinned: adding or removing a name is a decision."""

from __future__ import annotations

import subprocess
import sys

import gdlab


def test_top_level_names() -> None:
    assert sorted(gdlab.__all__) == sorted([
        "__version__", "sweep", "run_sweep", "sweep_spec", "SweepSpec", "TrainConfig",
        "SweepResult", "load_results", "save_results", "plot_curves", "plot_final",
        "paired_comparison"])
    for name in gdlab.__all__:
        assert getattr(gdlab, name) is not None


def test_import_gdlab_is_light() -> None:
    """`import gdlab` (what `gdlab --help` pays) loads neither JAX nor pandas."""
    code = ("import sys, gdlab; "
            "print(sorted(m for m in ('jax', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_submodules_are_not_shadowed_by_exports() -> None:
    import importlib

    assert callable(gdlab.sweep)  # resolve a lazy export first, as user code would
    for module in ("gdlab.sweeps", "gdlab.search", "gdlab.lr_find", "gdlab.landscape"):
        assert importlib.import_module(module).__name__ == module
