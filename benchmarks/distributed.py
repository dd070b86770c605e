"""The large grid on a two-node Ray cluster started on this machine, against the local executor.

    python benchmarks/distributed.py --data banknotes.csv            # 10,000 models
    python benchmarks/distributed.py --data banknotes.csv --seeds 4 --models-per-shard 200

Starts two Ray nodes on this machine, one CPU each (``ray start --head --block``
and ``ray start --address ... --block``, on the loopback address, with a fresh
compilation cache for their workers), trains the grid of
``benchmarks/large_grid.py`` (4 optimizers x 10 learning rates x 5
initializers x 50 seeds of 4-8-1 networks on the banknote data) once in this
process and once on the cluster, twice each (cold: compiling, starting
workers; warm: everything compiled), checks that both give the same numbers,
stops the two nodes and prints one JSON line per run: wall time, models per
second, shards. Both executors run the same shards (``--models-per-shard``
changes the layout for both).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

# A driver started with `uv run` would make Ray rebuild the environment for the workers
# with uv; the two nodes here already run this interpreter. Ray reads this when imported.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
# The cluster's own token (Ray's token authentication), given to the nodes and to this
# driver through the environment: nothing is written to ~/.ray.
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from course_sweeps import load  # noqa: E402
from large_grid import BATCH, EPOCHS, SEEDS, grid  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """One Ray node in the foreground of its own process (--block): stopping it stops the node."""
    ray = Path(sys.executable).with_name("ray")
    return subprocess.Popen([str(ray), "start", "--block", "--node-ip-address=127.0.0.1",
                             "--num-cpus=1", "--object-store-memory=500000000",
                             "--disable-usage-stats", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the head node did not open port {port} in {seconds:.0f} s")


def sweep(data, seeds: int, models_per_shard: int | None, executor) -> tuple[float, object]:
    import gdlab

    t = time.perf_counter()
    result = gdlab.sweep(data, configs=grid(), hidden="8", activation="relu", epochs=EPOCHS,
                         batch_size=BATCH, seeds=seeds, progress=False, keep_params=False,
                         max_models_per_call=models_per_shard, executor=executor)
    return time.perf_counter() - t, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the course's banknotes.csv")
    p.add_argument("--seeds", type=int, default=SEEDS, help="seeds (50 = 10,000 models)")
    p.add_argument("--models-per-shard", type=int, default=None,
                   help="cut programs into shards of at most this many models (both executors)")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gdlab-distributed-"))
    os.environ["GDLAB_CACHE_DIR"] = str(work / "local-cache")  # cold, and not the workers'
    os.environ["GDLAB_COMPILATION_CACHE"] = "1"
    import numpy as np

    from gdlab import executor as _executor
    from gdlab.distributed import RayExecutor
    from gdlab.pitfalls import GdlabWarning

    warnings.simplefilter("ignore", GdlabWarning)  # the grid holds poor settings on purpose

    data = load(args.data)
    n_models = len(grid()) * args.seeds
    td = _executor.training_data(data)
    configs = gdlab_configs(args.seeds)
    n_shards = len(_executor.build_shards(configs, range(args.seeds), td,
                                          max_models_per_call=args.models_per_shard))
    rows = []
    results = {}
    for run in ("cold", "warm"):
        seconds, results["local"] = sweep(data, args.seeds, args.models_per_shard, None)
        rows.append({"executor": "local", "run": run, "seconds": seconds})

    port = free_port()
    env = {**os.environ, "GDLAB_CACHE_DIR": str(work / "worker-cache")}
    nodes = [start_node(["--head", f"--port={port}", "--include-dashboard=false"], env)]
    try:
        wait_for_port(port)
        nodes.append(start_node([f"--address=127.0.0.1:{port}"], env))
        cluster = RayExecutor(f"127.0.0.1:{port}")
        cluster.connect()
        import ray

        deadline = time.monotonic() + 60
        while ray.cluster_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        nodes_seen = len([n for n in ray.nodes() if n["Alive"]])
        for run in ("cold", "warm"):
            seconds, results["ray"] = sweep(data, args.seeds, args.models_per_shard, cluster)
            rows.append({"executor": f"ray, {nodes_seen} nodes x 1 CPU", "run": run,
                         "seconds": seconds})
        cluster.shutdown()
    finally:
        for node in reversed(nodes):
            node.terminate()
        for node in nodes:
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()

    same = all(np.array_equal(results["local"].history[m], results["ray"].history[m],
                              equal_nan=True) for m in results["local"].history)
    for row in rows:
        row.update(models=n_models, shards=n_shards,
                   models_per_s=round(n_models / row["seconds"], 1),
                   seconds=round(row["seconds"], 2), identical=same)
        print(json.dumps(row))
    if not same:
        sys.exit("the Ray run's numbers differ from the local run's")


def gdlab_configs(seeds: int) -> list:
    """The grid's TrainConfigs, as gdlab.sweep builds them (to count the shards)."""
    from gdlab.specs import sweep_spec

    base = {"hidden": "8", "activation": "relu", "epochs": EPOCHS, "batch_size": BATCH}
    return sweep_spec("grid", base=base, configs=grid(), seeds=seeds).configs()


if __name__ == "__main__":
    main()
