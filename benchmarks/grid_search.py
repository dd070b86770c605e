"""A grid search over small nets on the banknote data, as one whole process per engine.

    python benchmarks/grid_search.py --engine gdlab --data banknotes.csv
    python benchmarks/grid_search.py --engine sklearn-gdlab --n-jobs 1 --data banknotes.csv
    python benchmarks/grid_search.py --engine mlp --n-jobs 2 --data banknotes.csv

Engines, all searching the same 200 settings x 5 folds (KFold, shuffled,
random_state 0) of ``Pipeline([StandardScaler(), net])`` on all 1372 rows, with
the same epochs for every setting and engine (``--epochs``, default 100;
``MLPClassifier``'s own default is 200), scored by accuracy, refitting the
best:

* ``gdlab``: ``gdlab.sklearn.GridSearchCV`` over ``DenseClassifier`` (every
  setting of a fold trained together);
* ``sklearn-gdlab``: scikit-learn's ``GridSearchCV`` over the same
  ``DenseClassifier`` (one fit at a time, ``--n-jobs`` processes);
* ``mlp``: scikit-learn's ``GridSearchCV`` over ``MLPClassifier`` with the same
  settings in its terms (``solver``, ``learning_rate_init``, ``max_iter`` =
  epochs), without what gdlab's nets lack: no L2 penalty (``alpha=0``), SGD
  without momentum, no stopping before ``max_iter``.

The grid: hidden layers (8,), (16,), (32,), (8, 4), (16, 8) x activation relu,
tanh x optimizer Adam, SGD x learning rate 0.001, 0.003, 0.01, 0.03, 0.1 x
batch size 16, 32. ``--grid tiny`` (2 settings x 2 folds, 2 epochs) checks that
an engine runs. Prints one JSON line: seconds, the best setting and its
cross-validated accuracy, and the mean accuracy over all settings;
``--out FILE.csv`` writes every setting's mean accuracy, to set engines side
by side. Time whole processes (e.g. ``/usr/bin/time -f %e``); for gdlab's cold
start give it an empty compilation cache (``GDLAB_CACHE_DIR=$(mktemp -d)``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

T0 = time.perf_counter()

HIDDEN = [(8,), (16,), (32,), (8, 4), (16, 8)]
ACTIVATIONS = ["relu", "tanh"]
OPTIMIZERS = ["adam", "sgd"]
LEARNING_RATES = [0.001, 0.003, 0.01, 0.03, 0.1]
BATCH_SIZES = [16, 32]


def settings(grid: str) -> list[dict]:
    """The grid as engine-neutral settings (hidden, activation, optimizer, lr, batch)."""
    combos = itertools.product(HIDDEN, ACTIVATIONS, OPTIMIZERS, LEARNING_RATES, BATCH_SIZES)
    out = [dict(hidden=h, activation=a, optimizer=o, learning_rate=lr, batch_size=b)
           for h, a, o, lr, b in combos]
    return out[:2] if grid == "tiny" else out


def load(path: str):
    import numpy as np
    import pandas as pd

    df = pd.read_csv(path)
    return df.drop(columns="class").to_numpy(np.float64), df["class"].to_numpy()


def search(engine: str, grid: list[dict], epochs: int, folds: int, n_jobs: int):
    """The search object of ``engine`` (unfitted)."""
    from sklearn.model_selection import GridSearchCV as SklearnGridSearchCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    cv = KFold(folds, shuffle=True, random_state=0)
    if engine == "mlp":
        from sklearn.neural_network import MLPClassifier

        net = MLPClassifier(alpha=0.0, momentum=0.0, max_iter=epochs, n_iter_no_change=epochs + 1,
                            random_state=0)
        points = [{"net__hidden_layer_sizes": [g["hidden"]], "net__activation": [g["activation"]],
                   "net__solver": [g["optimizer"]], "net__learning_rate_init": [g["learning_rate"]],
                   "net__batch_size": [g["batch_size"]]} for g in grid]
        pipe = Pipeline([("scale", StandardScaler()), ("net", net)])
        return SklearnGridSearchCV(pipe, points, cv=cv, scoring="accuracy", n_jobs=n_jobs)

    from gdlab.sklearn import DenseClassifier
    from gdlab.sklearn import GridSearchCV as GdlabGridSearchCV

    pipe = Pipeline([("scale", StandardScaler()),
                     ("net", DenseClassifier(epochs=epochs, random_state=0))])
    points = [{"net__hidden_layer_sizes": [g["hidden"]], "net__activation": [g["activation"]],
               "net__optimizer": [g["optimizer"]], "net__learning_rate": [g["learning_rate"]],
               "net__batch_size": [g["batch_size"]]} for g in grid]
    if engine == "gdlab":
        return GdlabGridSearchCV(pipe, points, cv=cv, scoring="accuracy")
    return SklearnGridSearchCV(pipe, points, cv=cv, scoring="accuracy", n_jobs=n_jobs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["gdlab", "sklearn-gdlab", "mlp"], required=True)
    p.add_argument("--data", required=True, help="the course's banknotes.csv")
    p.add_argument("--n-jobs", type=int, default=1, help="processes (scikit-learn's loop)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--grid", choices=["full", "tiny"], default="full")
    p.add_argument("--out", help="write every setting's mean accuracy to this CSV file")
    args = p.parse_args()
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    # MLPClassifier warns that it did not converge within max_iter: same epochs on purpose.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    grid = settings(args.grid)
    epochs, folds = (2, 2) if args.grid == "tiny" else (args.epochs, 5)
    x, y = load(args.data)
    s = search(args.engine, grid, epochs, folds, args.n_jobs)
    t = time.perf_counter()
    s.fit(x, y)
    seconds = time.perf_counter() - t
    scores = s.cv_results_["mean_test_score"]
    if args.out:
        import pandas as pd

        rows = [dict(g, hidden="-".join(map(str, g["hidden"])), accuracy=float(a))
                for g, a in zip(grid, scores, strict=True)]
        pd.DataFrame(rows).to_csv(args.out, index=False)
    best = grid[int(s.best_index_)]
    print(json.dumps({
        "engine": args.engine, "n_jobs": args.n_jobs if args.engine != "gdlab" else None,
        "settings": len(grid), "folds": folds, "epochs": epochs,
        "search_s": round(seconds, 2), "process_s_so_far": round(time.perf_counter() - T0, 2),
        "vectorized": getattr(s, "vectorized_", False),
        "best": dict(best, hidden="-".join(map(str, best["hidden"]))),
        "best_accuracy": round(float(s.best_score_), 4),
        "mean_accuracy": round(float(scores.mean()), 4),
    }))


if __name__ == "__main__":
    main()
