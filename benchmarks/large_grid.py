"""A large grid: 4-8-1 networks on the banknote data, one whole process per engine.

    python benchmarks/large_grid.py --engine gdlab --data banknotes.csv     # 10,000 models
    python benchmarks/large_grid.py --engine torch --data banknotes.csv --models 100

The grid mixes 4 optimizers x 10 learning rates x 5 initializers x 50 seeds
(10,000 models): Dense(8, relu) -> Dense(1, sigmoid), binary cross-entropy, 20
epochs, batch size 16, on the 960 training rows of the scaled banknote data
(70/30 split, random_state 42). gdlab trains them all in one call; the PyTorch
peer is a plain training loop, one model at a time, timed on the first
``--models`` configurations of the same grid (its models per second is what
scales). Prints one JSON line: wall time, models per second, peak RSS.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import time

T0 = time.perf_counter()

OPTIMIZERS = ["sgd", "adam", "rmsprop", "adagrad"]
LRS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
INITS = ["glorot_uniform", "he_normal", "lecun_uniform", "random_uniform", "random_normal"]
SEEDS = 50
EPOCHS, BATCH = 20, 16


def grid() -> list[dict]:
    return [{"optimizer": o, "learning_rate": lr, "kernel_initializer": i}
            for o, lr, i in itertools.product(OPTIMIZERS, LRS, INITS)]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_gdlab(data, seeds: int) -> dict:
    import numpy as np

    import gdlab

    t = time.perf_counter()
    result = gdlab.sweep(data, configs=grid(), hidden="8", activation="relu", epochs=EPOCHS,
                         batch_size=BATCH, seeds=seeds, progress=False, keep_params=False)
    train_s = time.perf_counter() - t
    final = result.history["test_accuracy"][-1]
    return {"models": result.spec.n_models, "train_s": round(train_s, 2),
            "programs": result.meta["programs"],
            "median_test_accuracy": round(float(np.nanmedian(final)), 3)}


def run_torch(data, n_models: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(2)
    x_tr, y_tr, x_te, y_te = (torch.tensor(a, dtype=torch.float32) for a in data)
    y_tr, y_te = y_tr[:, None], y_te[:, None]
    n = len(x_tr)
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop,
            "adagrad": torch.optim.Adagrad}
    runs = [(cfg, seed) for seed in range(SEEDS) for cfg in grid()][:n_models]
    accs = []
    t = time.perf_counter()
    for cfg, seed in runs:
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        opt = make[cfg["optimizer"]](model.parameters(), lr=cfg["learning_rate"])
        loss_fn = torch.nn.BCEWithLogitsLoss()
        for _ in range(EPOCHS):
            perm = torch.randperm(n)
            for i in range(0, n, BATCH):
                idx = perm[i:i + BATCH]
                opt.zero_grad()
                loss_fn(model(x_tr[idx]), y_tr[idx]).backward()
                opt.step()
        with torch.no_grad():
            accs.append(float(((model(x_te) > 0).float() == y_te).float().mean()))
    train_s = time.perf_counter() - t
    return {"models": len(runs), "train_s": round(train_s, 2),
            "median_test_accuracy": round(float(np.median(accs)), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["gdlab", "torch"], required=True)
    p.add_argument("--data", required=True, help="the course's banknotes.csv")
    p.add_argument("--seeds", type=int, default=SEEDS, help="gdlab: seeds (50 = 10,000 models)")
    p.add_argument("--models", type=int, default=100, help="torch: models to time")
    args = p.parse_args()
    from course_sweeps import load

    data = load(args.data)
    out = run_gdlab(data, args.seeds) if args.engine == "gdlab" else run_torch(data, args.models)
    out["engine"] = args.engine
    out["models_per_s"] = round(out["models"] / out["train_s"], 1)
    out["process_s"] = round(time.perf_counter() - T0, 2)
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
