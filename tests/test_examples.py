"""The README's notebook runs: every code cell of examples/python-api.ipynb, in order."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

from gdlab.pitfalls import BatchLargerThanData

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def test_python_api_notebook_runs(tmp_path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    nb = json.loads((ROOT / "examples" / "python-api.ipynb").read_text())
    ns: dict = {}
    # Wine has 124 training rows: the course's batch size 128 is one full batch, and says so.
    with pytest.warns(BatchLargerThanData):
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec(compile("".join(cell["source"]), "python-api.ipynb", "exec"), ns)
    plt.close("all")
    summary = ns["lr"].summary()
    assert list(summary.setting) == ["0.01", "0.05", "0.1", "0.5"]
    assert (tmp_path / "batch_sizes.parquet").exists()
    # Higher learning rates reach better test accuracy on wine within 10 epochs.
    assert summary.test_accuracy_mean.iloc[-1] > summary.test_accuracy_mean.iloc[0]
    assert ns["opt"].spec.configs()[0].hidden == (8,)
