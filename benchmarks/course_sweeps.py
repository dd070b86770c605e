"""The course's four sweeps x N seeds, as one whole process, on gdlab or a peer.

    python benchmarks/course_sweeps.py --engine gdlab|torch|keras --data banknotes.csv

Each engine does the same work: logistic regression (Dense(1, sigmoid), binary
cross-entropy) on the scaled banknote data (70/30 split, random_state 42):
learning rates 0.01/0.05/0.1/0.5 with SGD, 10 epochs, batch 16; batch sizes
16/32/64/128 with SGD(0.01), 10 epochs; six optimizers, 5 epochs, batch 16;
five initializers with RMSprop(0.001), 5 epochs, batch 16. Every configuration
is trained once per seed. Prints one JSON line (in-process seconds and mean
final test accuracy per sweep, as a sanity check that all engines learn).
Run it through `bash benchmarks/run.sh course`, which times whole processes side by side.
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()

LRS = [0.01, 0.05, 0.1, 0.5]
BATCHES = [16, 32, 64, 128]
OPTIMIZERS = ["SGD(learning_rate=0.01)", "SGD(learning_rate=0.01, momentum=0.3)",
              "SGD(learning_rate=0.01, momentum=0.3, nesterov=True)", "Adam(learning_rate=0.01)",
              "Adagrad(learning_rate=0.01)", "RMSprop(learning_rate=0.01)"]
INITS = ["zeros", "uniform", "normal", "he_normal", "lecun_uniform"]


def sweeps() -> list[tuple[str, list[dict]]]:
    """(name, configurations) for the four sweeps, engine-neutral."""
    return [
        ("learning_rate", [dict(opt=f"SGD(learning_rate={lr})", batch=16, epochs=10,
                                init="glorot_uniform") for lr in LRS]),
        ("batch_size", [dict(opt="SGD(learning_rate=0.01)", batch=b, epochs=10,
                             init="glorot_uniform") for b in BATCHES]),
        ("optimizer", [dict(opt=o, batch=16, epochs=5, init="glorot_uniform")
                       for o in OPTIMIZERS]),
        ("initializer", [dict(opt="RMSprop(learning_rate=0.001)", batch=16, epochs=5, init=i)
                         for i in INITS]),
    ]


def load(path: str):
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    df = pd.read_csv(path)
    x = df.drop(columns="class").to_numpy(np.float32)
    y = df["class"].to_numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=42)
    sc = StandardScaler().fit(x_tr)
    return (sc.transform(x_tr).astype(np.float32), y_tr, sc.transform(x_te).astype(np.float32),
            y_te)


def run_gdlab(data, seeds: int) -> dict[str, float]:
    from gdlab.specs import sweep_spec
    from gdlab.sweeps import run_many

    specs = []
    for name, cfgs in sweeps():
        configs = [{"optimizer": c["opt"], "batch_size": c["batch"], "epochs": c["epochs"],
                    "kernel_initializer": c["init"]} for c in cfgs]
        specs.append(sweep_spec(name, configs=configs, seeds=seeds))
    results = run_many(specs, data, progress=False, keep_params=False)
    out = {}
    for r in results:
        s = r.summary()
        out[r.spec.name] = float(s["test_accuracy_mean"].mean())
    return out


def run_torch(data, seeds: int) -> dict[str, float]:
    import math

    import numpy as np
    import torch

    torch.set_num_threads(2)
    x_tr, y_tr, x_te, y_te = (torch.tensor(a, dtype=torch.float32) for a in data)
    y_tr, y_te = y_tr[:, None], y_te[:, None]
    n = len(x_tr)

    def make_opt(text, params):
        name, _, args = text.partition("(")
        kw = dict(kv.split("=") for kv in args.rstrip(")").replace(" ", "").split(",") if kv)
        lr = float(kw.get("learning_rate", 0.01))
        if name == "SGD":
            return torch.optim.SGD(params, lr=lr, momentum=float(kw.get("momentum", 0)),
                                   nesterov=kw.get("nesterov") == "True")
        if name == "Adam":
            return torch.optim.Adam(params, lr=lr, eps=1e-7)
        if name == "Adagrad":
            return torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=0.1, eps=1e-7)
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)

    def init_(w, name):
        if name == "zeros":
            torch.nn.init.zeros_(w)
        elif name == "uniform":
            torch.nn.init.uniform_(w, -0.05, 0.05)
        elif name == "normal":
            torch.nn.init.normal_(w, 0, 0.05)
        elif name == "he_normal":
            torch.nn.init.trunc_normal_(w, 0, math.sqrt(2 / 4) / 0.8796, -2, 2)
        elif name == "lecun_uniform":
            lim = math.sqrt(3 / 4)
            torch.nn.init.uniform_(w, -lim, lim)
        else:
            torch.nn.init.xavier_uniform_(w)

    out = {}
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for name, cfgs in sweeps():
        accs = []
        for c in cfgs:
            for seed in range(seeds):
                torch.manual_seed(seed)
                model = torch.nn.Linear(4, 1)
                init_(model.weight, c["init"])
                torch.nn.init.zeros_(model.bias)
                opt = make_opt(c["opt"], model.parameters())
                for _ in range(c["epochs"]):
                    perm = torch.randperm(n)
                    for i in range(0, n, c["batch"]):
                        idx = perm[i:i + c["batch"]]
                        opt.zero_grad()
                        loss = loss_fn(model(x_tr[idx]), y_tr[idx])
                        loss.backward()
                        opt.step()
                with torch.no_grad():
                    accs.append(float(((model(x_te) > 0).float() == y_te).float().mean()))
        out[name] = float(np.mean(accs))
    return out


def run_keras(data, seeds: int) -> dict[str, float]:
    import numpy as np
    from tensorflow import keras  # the course's tf.keras, TensorFlow backend

    x_tr, y_tr, x_te, y_te = data
    out = {}
    for name, cfgs in sweeps():
        accs = []
        for c in cfgs:
            kind, _, args = c["opt"].partition("(")
            kw = {}
            for kv in filter(None, args.rstrip(")").replace(" ", "").split(",")):
                k, v = kv.split("=")
                kw[k] = v == "True" if v in ("True", "False") else float(v)
            for seed in range(seeds):
                keras.utils.set_random_seed(seed)
                keras.backend.clear_session()
                model = keras.Sequential([keras.Input((4,)),
                                          keras.layers.Dense(1, activation="sigmoid",
                                                             kernel_initializer=c["init"])])
                model.compile(loss="binary_crossentropy",
                              optimizer=getattr(keras.optimizers, kind)(**kw),
                              metrics=["accuracy"])
                model.fit(x_tr, y_tr, batch_size=c["batch"], epochs=c["epochs"], verbose=0)
                accs.append(model.evaluate(x_te, y_te, verbose=0)[1])
        out[name] = float(np.mean(accs))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["gdlab", "torch", "keras"], required=True)
    p.add_argument("--data", required=True, help="the course's banknotes.csv")
    p.add_argument("--seeds", type=int, default=10)
    args = p.parse_args()
    data = load(args.data)
    t = time.perf_counter()
    acc = {"gdlab": run_gdlab, "torch": run_torch, "keras": run_keras}[args.engine](
        data, args.seeds)
    models = sum(len(c) for _, c in sweeps()) * args.seeds
    print(json.dumps({"engine": args.engine, "models": models,
                      "train_s": round(time.perf_counter() - t, 2),
                      "process_s_so_far": round(time.perf_counter() - T0, 2),
                      "mean_test_accuracy": {k: round(v, 3) for k, v in acc.items()}}))


if __name__ == "__main__":
    main()
