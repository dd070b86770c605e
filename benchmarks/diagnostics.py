"""Timings of the diagnostics on the course's banknote data: range test, noise scale, landscape.

    uv run python benchmarks/diagnostics.py [--data banknotes.csv] [--cache] [--no-cli]

Each diagnostic is timed twice in one process: the first call compiles its
program (JAX's persistent compilation cache is off unless ``--cache``), the
repeat call reuses it. Then the two commands run as whole processes, start-up
included. Work, all on the course's split (70/30, random_state 42, standard
scaling):

* lr-find: logistic regression, SGD, batch 16, 10 seeds, 5 epochs (300 updates);
  and SGD, Adam, RMSprop, SGD(momentum=0.9) at once on an 8-5-2 network.
* noise scale: the course's batch-size sweep (16/32/64/128, SGD(0.01), 10
  epochs, 10 seeds) without and with ``noise_rows=256``; then the noise table,
  the steps-to-goal table and the figure.
* landscape: SGD(0.01) vs Adam(0.01), logistic regression, 5 epochs, 5 seeds:
  the line (41 points) and the plane (21 x 21) of every model, and the figures.

Prints one line per measurement and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banknotes.csv"


def timed(label: str, fn: Any, out: dict[str, float]) -> Any:
    t0 = time.perf_counter()
    value = fn()
    out[label] = round(time.perf_counter() - t0, 3)
    print(f"{label:<58s} {out[label]:7.2f} s", flush=True)
    return value


def run_python(data: str, out: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import gdlab
    from gdlab import datasets, diagnostic_plots, landscape, noise, preprocessing
    from gdlab.lr_find import lr_find

    prep = preprocessing.prepare(datasets.load(data, target="class"))

    def find() -> Any:
        return lr_find(prep, "sgd", batch_size=16)

    def find_many() -> Any:
        return lr_find(prep, ["sgd", "adam", "rmsprop", "SGD(momentum=0.9)"], batch_size=16,
                       hidden="8-5-2")

    timed("lr-find SGD logistic, 10 seeds, 300 updates (first)", find, out)
    test = timed("lr-find SGD logistic, 10 seeds, 300 updates (repeat)", find, out)
    timed("lr-find 4 optimizers 8-5-2, 10 seeds (first)", find_many, out)
    timed("lr-find 4 optimizers 8-5-2, 10 seeds (repeat)", find_many, out)
    timed("lr-find suggestions + figure", lambda: plt.close(diagnostic_plots.plot_lr_find(test)),
          out)

    def batch_sweep(rows: int) -> Any:
        return gdlab.sweep(prep, grid={"batch_size": [16, 32, 64, 128]},
                           optimizer="SGD(learning_rate=0.01)", epochs=10, seeds=10,
                           noise_rows=rows, progress=False, keep_params=False)

    timed("batch-size sweep, no noise scale (first)", lambda: batch_sweep(0), out)
    timed("batch-size sweep, no noise scale (repeat)", lambda: batch_sweep(0), out)
    timed("batch-size sweep, noise_rows=256 (first)", lambda: batch_sweep(256), out)
    result = timed("batch-size sweep, noise_rows=256 (repeat)", lambda: batch_sweep(256), out)

    def noise_outputs() -> None:
        noise.noise_table(result, rows=256)
        noise.steps_table(result, "loss<=0.4", rows=256)
        plt.close(diagnostic_plots.plot_noise_scale(result, "loss<=0.4", rows=256))

    timed("noise table + steps table + figure", noise_outputs, out)

    trained = gdlab.sweep(prep, configs=[{"optimizer": "SGD(learning_rate=0.01)"},
                                         {"optimizer": "Adam(learning_rate=0.01)"}],
                          batch_size=16, epochs=5, seeds=5, progress=False)

    def slices() -> Any:
        return landscape.sweep_landscape(trained, prep)

    timed("landscape line 41 + plane 21x21, 2 configs x 5 seeds (first)", slices, out)
    land = timed("landscape line 41 + plane 21x21, 2 configs x 5 seeds (repeat)", slices, out)

    def figures() -> None:
        plt.close(diagnostic_plots.plot_landscape_line(land))
        plt.close(diagnostic_plots.plot_landscape_plane(land))

    timed("landscape figures", figures, out)


def run_cli(data: str, out: dict[str, float], env: dict[str, str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "gdlab lr-find (whole process)": [
                "lr-find", "--data", data, "--target", "class", "--batch-size", "16",
                "--optimizer", "sgd,adam", "--out", f"{tmp}/lr"],
            "gdlab landscape (whole process)": [
                "landscape", "--data", data, "--target", "class", "--batch-size", "16",
                "--optimizer", "SGD(learning_rate=0.01),Adam(learning_rate=0.01)",
                "--epochs", "5", "--out", f"{tmp}/land"],
        }
        for label, args in commands.items():
            def call(args: list[str] = args) -> None:
                subprocess.run([sys.executable, "-m", "gdlab", *args], check=True, env=env,
                               stdout=subprocess.DEVNULL)

            timed(label, call, out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.exists() else "banknotes",
                   help="the course's banknotes.csv (default: ../shared/data/banknotes.csv)")
    p.add_argument("--cache", action="store_true",
                   help="keep JAX's persistent compilation cache on (default: off, cold)")
    p.add_argument("--no-cli", action="store_true", help="skip the whole-process timings")
    args = p.parse_args()
    if not args.cache:
        os.environ["GDLAB_COMPILATION_CACHE"] = "0"
    env = dict(os.environ)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    timed("import gdlab", lambda: __import__("gdlab"), out)
    run_python(args.data, out)
    if not args.no_cli:
        run_cli(args.data, out, env)
    out["total"] = round(time.perf_counter() - t0, 3)
    print(json.dumps({"benchmark": "diagnostics", "cache": args.cache, "timings_s": out}))


if __name__ == "__main__":
    main()
