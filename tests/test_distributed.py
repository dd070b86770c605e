"""Shards and executors: a sweep cut into shards, run here or on a real local Ray cluster.

The Ray tests (marked ``ray``; ``uv run pytest -m ray`` runs them alone) share one
cluster of 2 CPUs and compare every number with the local executor's, bit for bit:
a study, a study interrupted and resumed, a study whose worker is killed mid-shard,
and the command line connecting by address. They run in a pytest process of their
own (:func:`test_the_cluster_tests_pass_in_a_process_of_their_own`): Ray's driver
ends its whole process with exit code 1 and no Python error when the local raylet
or GCS dies, which in the suite's process would end every test after it unreported.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

# Ray (>= 2.43) sees a driver started by `uv run` (as CI starts pytest) and rebuilds the
# project's environment for its workers with uv in a copy of the working tree; this test's
# workers run this interpreter instead. Ray reads the setting when it is imported.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
# The test cluster's own token for Ray's token authentication, also read at import; the
# command-line test's subprocess inherits it. Without it, ray.init writes ~/.ray/auth_token.
if "RAY_AUTH_MODE" not in os.environ:
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import gdlab.sweeps as gs  # noqa: E402
from gdlab import engine, executor, interrupts  # noqa: E402
from gdlab.errors import ConfigError  # noqa: E402
from gdlab.runner import ShardDirectory, run_study  # noqa: E402
from gdlab.study import parse_study  # noqa: E402

STUDY = {
    "name": "shards",
    "seeds": 4,
    "data": {"source": "wine"},
    "model": {"optimizer": "sgd", "epochs": 3, "hidden": "4"},
    "sweeps": [
        {"name": "lr", "grid": {"learning_rate": [0.05, 0.5]}, "model": {"batch_size": 16}},
        {"name": "bs", "grid": {"batch_size": [32, 64]}},
        {"name": "rep", "model": {"hidden": "2", "optimizer": "adam"}, "validation_split": 0.25,
         "record_layer": -2},
    ],
    "baseline": {"enabled": False},
    "outputs": {"figures": False, "report": False},
}


#: Set in the pytest process that runs the cluster tests (see the module docstring).
IN_CLUSTER_PROCESS = os.environ.get("GDLAB_RAY_TEST_PROCESS") == "1"
CLUSTER_TESTS: list[str] = []


def cluster_test(test):
    """A test on the real Ray cluster: run only in the cluster tests' own process."""
    CLUSTER_TESTS.append(test.__name__)
    skip = pytest.mark.skipif(not IN_CLUSTER_PROCESS, reason=(
        "runs in its own pytest process, started by "
        "test_the_cluster_tests_pass_in_a_process_of_their_own"))
    return pytest.mark.ray(skip(test))


def study():
    return parse_study(STUDY, origin="shards.toml")


@pytest.fixture
def chunked(monkeypatch):
    """Every program at the default XLA level, so its seeds may be cut into shards."""
    monkeypatch.setattr(engine, "FAST_COMPILE_FLOPS", 0.0)


def seeds_per_shard(monkeypatch, n: int) -> None:
    """Shards of ``n`` seeds for the tiny one-program batches of STUDY (real programs are
    cut by their size)."""
    monkeypatch.setattr(engine, "FAST_COMPILE_FLOPS", 0.0)
    original = executor.build_shards
    monkeypatch.setattr(executor, "build_shards", lambda *a, **k: original(
        *a, **{**k, "max_models_per_call": n * len(a[0])}))


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] + 0.3 * rng.normal(size=120) > 0).astype(int)
    return x[:90], y[:90], x[90:], y[90:]


def assert_same(a, b) -> None:
    """Two sweeps' results are equal bit for bit: histories, weights, recorded layers."""
    assert set(a.history) == set(b.history)
    for m in a.history:
        np.testing.assert_array_equal(a.history[m], b.history[m], err_msg=m)
    np.testing.assert_array_equal(a.diverged_epoch, b.diverged_epoch)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    for layer in a.taps:
        for x, y in zip(a.taps[layer], b.taps[layer], strict=True):
            np.testing.assert_array_equal(x, y)


def tables_equal(a: Path, b: Path) -> None:
    import pyarrow.parquet as pq

    pd.testing.assert_frame_equal(pd.read_parquet(a / "results.parquet"),
                                  pd.read_parquet(b / "results.parquet"))
    assert pq.read_schema(a / "results.parquet").metadata == \
        pq.read_schema(b / "results.parquet").metadata
    assert (a / "summary.csv").read_text() == (b / "summary.csv").read_text()


# ------------------------------------------------------------ shards, no cluster


def test_shards_cut_programs_at_seed_boundaries(chunked, monkeypatch) -> None:
    td = executor.training_data(data())
    configs = gs.sweep_spec("s", base={"hidden": "3"},
                            grid={"learning_rate": [0.01, 0.1], "batch_size": [16, 32]},
                            seeds=7).configs()
    whole = executor.build_shards(configs, range(7), td)
    cut = executor.build_shards(configs, range(7), td, max_models_per_call=12)
    assert len(whole) == 1 and whole[0].plan.n_seeds == 7
    assert [(s.start, s.n_real, s.plan.n_seeds) for s in cut] == [(0, 3, 3), (3, 3, 3), (6, 1, 3)]
    assert cut[2].seeds.tolist() == [6, 6, 6]  # padded with its last seed: one shape per program
    assert {s.config_ids for s in cut} == {whole[0].config_ids}
    fp = executor.data_fingerprint(td)
    assert len({s.key(fp) for s in cut}) == 3
    again = executor.build_shards(configs, range(7), td, max_models_per_call=12)
    assert [s.key(fp) for s in again] == [s.key(fp) for s in cut]
    other = executor.training_data((td.x_train + 1, td.y_train))
    assert cut[0].key(executor.data_fingerprint(other)) != cut[0].key(fp)
    # Large programs are cut by their arithmetic, into equal chunks (here 3 of 3, 2, 2 seeds).
    per_seed = engine.estimated_flops(whole[0].plan, n_seeds=1)
    monkeypatch.setattr(executor, "SHARD_FLOPS", 3.5 * per_seed)
    by_work = executor.build_shards(configs, range(7), td)
    assert [(s.start, s.n_real, s.plan.n_seeds) for s in by_work] == [(0, 3, 3), (3, 3, 3),
                                                                      (6, 1, 3)]


def test_small_programs_are_never_cut() -> None:
    td = executor.training_data(data())
    configs = gs.sweep_spec("s", base={}, grid={"learning_rate": [0.01, 0.1]}, seeds=4).configs()
    (shard,) = executor.build_shards(configs, range(4), td, max_models_per_call=1)
    assert shard.plan.fast_compile and shard.plan.n_seeds == 4


def test_shards_merge_the_same_in_any_order(chunked) -> None:
    """Out of order, as a cluster returns them: each shard fills its own slice."""
    kwargs = dict(grid={"learning_rate": [0.01, 0.05], "batch_size": [16, 32]}, optimizer="adam",
                  hidden="8-3", activation="tanh", epochs=4, seeds=5, progress=False,
                  record_layers=(-2,), max_models_per_call=8,
                  early_stopping={"monitor": "loss", "patience": 1, "restore_best_weights": True})

    class Backwards(executor.LocalExecutor):
        def run_shards(self, shards, data, on_epoch=None):
            assert len(shards) == 3
            outputs = [(s, executor.run_shard(s, data)) for s in shards]
            yield from reversed(outputs)

    forwards = gs.sweep(data(), **kwargs)
    backwards = gs.sweep(data(), executor=Backwards(), **kwargs)
    assert_same(forwards, backwards)
    np.testing.assert_array_equal(forwards.stopped_epoch, backwards.stopped_epoch)
    np.testing.assert_array_equal(forwards.best_epoch, backwards.best_epoch)


def _timed_shards(monkeypatch) -> list[tuple[int, str, float]]:
    """Record (shard, "start" | "epoch" | "end", time) as the executor's threads run shards."""
    events: list[tuple[int, str, float]] = []
    run = executor.run_shard

    def recording(shard, data, on_epoch=None):
        def epoch(e):
            events.append((shard.index, "epoch", time.perf_counter()))
            if on_epoch is not None:
                on_epoch(e)

        events.append((shard.index, "start", time.perf_counter()))
        try:
            return run(shard, data, epoch)
        finally:
            events.append((shard.index, "end", time.perf_counter()))

    monkeypatch.setattr(executor, "run_shard", recording)
    return events


def test_two_local_workers_train_side_by_side_with_the_numbers_of_one(chunked,
                                                                       monkeypatch) -> None:
    kwargs = dict(grid={"learning_rate": [0.01, 0.05], "optimizer": ["sgd", "adam"]},
                  hidden="8-3", activation="tanh", epochs=3, seeds=6, progress=False,
                  record_layers=(-2,), max_models_per_call=8)
    one = gs.sweep(data(), executor=executor.LocalExecutor(workers=1), **kwargs)
    events = _timed_shards(monkeypatch)
    two = gs.sweep(data(), executor=executor.LocalExecutor(workers=2), **kwargs)
    assert_same(one, two)
    shards = sorted({i for i, _, _ in events})
    assert len(shards) == 3
    start = {i: t for i, kind, t in events if kind == "start"}
    end = {i: t for i, kind, t in events if kind == "end"}
    assert any(start[b] < end[a] and start[a] < end[b]  # two shards ran at the same time
               for a in shards for b in shards if a < b)
    # The first shard's program is compiled before any other shard of it starts.
    first_epoch = min(t for i, kind, t in events if i == shards[0] and kind == "epoch")
    assert all(start[i] >= first_epoch for i in shards[1:])


def test_two_local_workers_report_every_epoch_once(chunked) -> None:
    td = executor.training_data(data())
    configs = gs.sweep_spec("s", base={"hidden": "3"}, grid={"learning_rate": [0.01, 0.1]},
                            seeds=5).configs()
    seen: list[tuple[int, int]] = []
    executor.run_programs(configs, range(5), td, max_models_per_call=2, keep_params=False,
                          progress=lambda done, total: seen.append((done, total)),
                          executor=executor.LocalExecutor(workers=2))
    (total,) = {total for _, total in seen}
    assert total == 5 * configs[0].epochs  # 5 shards of one seed, every epoch counted
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == total


def test_a_failing_shard_stops_the_other_worker(chunked, monkeypatch) -> None:
    events = _timed_shards(monkeypatch)
    run = executor.run_shard

    def failing(shard, data, on_epoch=None):
        if shard.index == 1:
            raise ValueError("shard 1 failed")
        return run(shard, data, on_epoch)

    monkeypatch.setattr(executor, "run_shard", failing)
    with pytest.raises(ValueError, match="shard 1 failed"):
        gs.sweep(data(), grid={"learning_rate": [0.01, 0.1]}, hidden="3", epochs=100, seeds=6,
                 progress=False, max_models_per_call=2, executor=executor.LocalExecutor(2))
    assert not [t for t in threading.enumerate() if t.name.startswith("gdlab-shard")]
    assert {i for i, kind, _ in events if kind == "start"} <= {0, 2}
    epochs = [i for i, kind, _ in events if kind == "epoch"]
    assert 0 < epochs.count(0) < 100  # the running shard stopped at its next epoch


def test_a_local_executor_needs_a_worker() -> None:
    with pytest.raises(ConfigError, match="at least one worker"):
        executor.LocalExecutor(workers=0)


def test_a_shard_output_survives_the_disk_bit_for_bit(chunked, tmp_path) -> None:
    td = executor.training_data({"x_train": data()[0], "y_train": data()[1],
                                 "x_test": data()[2], "y_test": data()[3]})
    configs = gs.sweep_spec("s", base={"hidden": "3"},
                            configs=[{"optimizer": "sgd"}, {"optimizer": "adam"}],
                            seeds=2).configs()
    rule = engine.EarlyStopRule("loss", patience=1)
    (shard,) = executor.build_shards(configs, [3, 4], td, tap_layers=(-1,),
                                     early_stopping=rule)
    out = executor.run_shard(shard, td)
    store = ShardDirectory(tmp_path / "shards")
    assert store.load("abc") is None
    store.save("abc", out)
    back = store.load("abc")
    a, b = out.to_arrays(), back.to_arrays()
    assert set(a) == set(b) and len(out.history) == 2  # two groups: SGD and Adam
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert np.asarray(a[key]).dtype == np.asarray(b[key]).dtype, key
    (tmp_path / "shards" / "bad.npz").write_bytes(b"not a zip file")
    assert store.load("bad") is None  # damaged: trained again, never trusted
    store.clear()
    assert not (tmp_path / "shards").exists()


def test_a_study_interrupted_mid_batch_resumes_from_its_shards(tmp_path, monkeypatch) -> None:
    seeds_per_shard(monkeypatch, 2)
    full = tmp_path / "full"
    run_study(study(), full, progress=False)
    assert not (full / "shards").exists()

    out = tmp_path / "interrupted"
    save = ShardDirectory.save

    def save_then_stop(self, key, output):  # a signal right after the first shard is saved
        save(self, key, output)
        interrupts.request()

    monkeypatch.setattr(ShardDirectory, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_study(study(), out, progress=False)
    monkeypatch.setattr(ShardDirectory, "save", save)
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert len(list((out / "shards").glob("*.npz"))) == 1
    trained = []
    run = executor.run_shard

    def counting(shard, data, on_epoch=None):
        trained.append(shard.index)
        return run(shard, data, on_epoch)

    monkeypatch.setattr(executor, "run_shard", counting)
    run_study(None, out, resume=True, progress=False)
    assert len(trained) == 2 + 2 - 1  # both batches have 2 shards; one was on disk
    assert not (out / "shards").exists()
    tables_equal(full, out)


def test_without_ray_the_flag_says_how_to_install_it(cli, monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    for args, env in [(("--ray", "auto"), None), ((), "127.0.0.1:6379")]:
        if env:
            monkeypatch.setenv("RAY_ADDRESS", env)  # honoured like --ray
        code, _, err = cli("sweep", "--epochs", "1", "--out", str(tmp_path / "x"), *args)
        assert code == 2, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "pip install 'gdlab[ray]'" in lines[0], err
    assert not (tmp_path / "x").exists()  # nothing was started
    from gdlab.distributed import RayExecutor

    with pytest.raises(ConfigError, match=r"needs Ray.*gdlab\[ray\]"):
        RayExecutor()


def test_an_unreachable_cluster_is_one_line_before_any_file(cli, monkeypatch, tmp_path) -> None:
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # even beside this module's cluster
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = cli("study", "--ray", f"127.0.0.1:{port}", "--out", str(tmp_path / "x"))
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Cannot reach a Ray cluster" in lines[0], err
    assert not (tmp_path / "x").exists()


def test_ray_executor_settings_are_checked() -> None:
    from gdlab.distributed import RayExecutor

    with pytest.raises(ConfigError, match="some CPUs or GPUs"):
        RayExecutor(num_cpus=0)
    with pytest.raises(ConfigError, match="max_retries"):
        RayExecutor(max_retries=-2)


# ------------------------------------------------------- a real local Ray cluster


def _ran_to_its_summary(output: str) -> bool:
    """pytest printed its closing line (``N passed ... in Xs``): it was not killed midway."""
    return re.search(r"^=* ?\d+ \w+.* in [\d.]+s", output, re.MULTILINE) is not None


@pytest.mark.ray
@pytest.mark.skipif(IN_CLUSTER_PROCESS, reason="this is the cluster tests' own process")
def test_the_cluster_tests_pass_in_a_process_of_their_own(capsys) -> None:
    """The cluster tests, in a pytest process of their own, all pass.

    A process that ended before pytest's summary lost its cluster under it (Ray
    ends the driver when its raylet or GCS dies): that is started once more, and
    said on the terminal. A failing test is never run again.
    """
    command = [sys.executable, "-m", "pytest", __file__, "-m", "ray", "-q",
               "-p", "no:cacheprovider"]
    env = {**os.environ, "GDLAB_RAY_TEST_PROCESS": "1"}
    runs = []
    for _ in range(2):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900,
                              cwd=Path(__file__).parent.parent)
        runs.append(done)
        if _ran_to_its_summary(done.stdout):
            break
        with capsys.disabled():
            print(f"\nThe Ray cluster tests' process ended early (exit code {done.returncode}); "
                  f"starting it once more. Its last output:\n{(done.stdout + done.stderr)[-3000:]}",
                  file=sys.stderr)
    done = runs[-1]
    report = f"exit code {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    if done.returncode != 0:  # said at once too: a log cut after its first lines keeps it
        with capsys.disabled():
            tail = (done.stdout + done.stderr).strip().splitlines()[-25:]
            print("\nThe Ray cluster tests failed; their last lines:", *tail, sep="\n",
                  file=sys.stderr)
    assert done.returncode == 0, report
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) == len(CLUSTER_TESTS), report


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A 2-CPU Ray cluster for this module; its workers keep a persistent compilation cache."""
    import ray

    cache = tmp_path_factory.mktemp("worker-cache")
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE",)}  # ray.init may set it here
    with warnings.catch_warnings():
        # Ray forks this process only to exec its own programs (raylet, GCS); JAX's warning
        # is about children that go on running Python.
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                category=RuntimeWarning)
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING",
                 _node_ip_address="127.0.0.1",  # this machine's loopback only
                 runtime_env={"env_vars": {"GDLAB_COMPILATION_CACHE": "1",
                                           "GDLAB_CACHE_DIR": str(cache)}})  # a new one, always
    yield cache
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The study, run in this process (the reference every Ray run must equal)."""
    out = tmp_path_factory.mktemp("local") / "run"
    with pytest.MonkeyPatch.context() as mp:
        seeds_per_shard(mp, 1)
        run_study(study(), out, progress=False)
    return out


def _descendants(root: int) -> dict[int, str]:
    """Processes under ``root``: pid -> command line (Ray workers show their task's name)."""
    parent, command = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        command[int(entry.name)] = cmd.replace(b"\0", b" ").decode(errors="replace").strip()
    found, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        for child, p in parent.items():
            if p == pid and child not in found:
                found[child] = command[child]
                frontier.append(child)
    return found


@cluster_test
def test_a_study_on_ray_equals_the_local_run(cluster, local_run, tmp_path, monkeypatch) -> None:
    import ray

    from gdlab.distributed import RayExecutor

    seeds_per_shard(monkeypatch, 1)
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value: puts.append(value) or real_put(value))
    ray_executor = RayExecutor(max_retries=3)
    assert ray_executor.slots() == 2
    out = tmp_path / "ray"
    run_study(study(), out, progress=False, executor=ray_executor)
    tables_equal(local_run, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["executor"].startswith("RayExecutor(")
    assert not (out / "shards").exists()
    # 2 batches (different data: the second keeps a validation part) x 4 shards, and
    # each dataset went to the object store once.
    assert len(puts) == 2 and all(isinstance(p, executor.TrainingData) for p in puts)
    assert list((cluster / "jax").iterdir())  # the workers' persistent compilation cache

    # The progress bar is fed by finished shards: 4 shards (1 seed each) of 3 epochs.
    seen = []
    td = executor.training_data(data())
    configs = gs.sweep_spec("p", base={"hidden": "3", "epochs": 3},
                            grid={"learning_rate": [0.01, 0.1]}, seeds=4).configs()
    executor.run_programs(configs, range(4), td, progress=lambda d, t: seen.append((d, t)),
                          executor=ray_executor)
    assert seen == [(3, 12), (6, 12), (9, 12), (12, 12)]


@cluster_test
def test_an_interrupted_ray_study_resumes_like_a_local_one(cluster, local_run, tmp_path,
                                                           monkeypatch) -> None:
    from gdlab.distributed import RayExecutor

    seeds_per_shard(monkeypatch, 1)
    out = tmp_path / "ray"
    save = ShardDirectory.save
    saved = []

    def save_then_stop(self, key, output):  # a signal once two shards are on disk
        save(self, key, output)
        saved.append(key)
        if len(saved) == 2:
            interrupts.request()

    monkeypatch.setattr(ShardDirectory, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_study(study(), out, progress=False, executor=RayExecutor())
    monkeypatch.setattr(ShardDirectory, "save", save)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [b["status"] for b in manifest["batches"]] == ["pending", "pending"]
    assert sorted(p.stem for p in (out / "shards").glob("*.npz")) == sorted(saved)

    submitted = []
    run_shards = RayExecutor.run_shards

    def counting(self, shards, data, on_epoch=None):
        submitted.append(len(shards))
        return run_shards(self, shards, data, on_epoch)

    monkeypatch.setattr(RayExecutor, "run_shards", counting)
    run_study(None, out, resume=True, progress=False, executor=RayExecutor())
    assert submitted == [2, 4]  # the first batch's 2 saved shards were not trained again
    tables_equal(local_run, out)


@cluster_test
def test_a_killed_worker_s_shard_is_retried_with_the_same_numbers(cluster) -> None:
    from gdlab.distributed import RayExecutor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3100, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] + 0.3 * rng.normal(size=3100) > 0).astype(int)
    rows = (x[:3000], y[:3000], x[3000:], y[3000:])
    # 4 shards (1 seed each) of about a second each, after compiling
    kwargs = dict(grid={"learning_rate": [0.001, 0.01]}, optimizer="adam", hidden="32-32",
                  batch_size=1, epochs=20, seeds=4, progress=False, max_models_per_call=2)
    killed: list[tuple[int, str]] = []

    def kill_a_running_shard() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            running = {pid: cmd for pid, cmd in _descendants(os.getpid()).items()
                       if cmd.startswith("ray::_shard_task")}
            if running:
                time.sleep(0.5)  # well inside the shard (each runs for seconds)
                pid = min(running)
                if _descendants(os.getpid()).get(pid, "").startswith("ray::_shard_task"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, running[pid]))
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_running_shard, daemon=True)
    killer.start()
    on_ray = gs.sweep(rows, executor=RayExecutor(max_retries=2), **kwargs)
    killer.join(timeout=5)
    assert killed, "no shard was seen running"
    pid, _ = killed[0]
    assert pid not in _descendants(os.getpid())
    assert_same(gs.sweep(rows, **kwargs), on_ray)


@cluster_test
def test_the_command_line_connects_by_address(cluster, tmp_path, cli) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    args = ["sweep", "--data", "wine", "--hidden", "3", "--lr", "0.05,0.5", "--epochs", "2",
            "--seeds", "2"]
    env = {**os.environ, "RAY_ADDRESS": address}  # honoured as --ray ADDRESS
    done = subprocess.run([sys.executable, "-m", "gdlab", *args, "--out", str(tmp_path / "ray")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["executor"].startswith(f"RayExecutor(address='{address}'")
    code, _, err = cli(*args, "--out", str(tmp_path / "local"))
    assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ray" / "results.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "results.parquet"))
