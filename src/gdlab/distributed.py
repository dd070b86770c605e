"""Sweeps on a Ray cluster: the same shards as in this process, run as Ray tasks.

>>> from gdlab.distributed import RayExecutor
>>> with RayExecutor("auto") as ray_cluster:            # or "host:6379", "ray://host:10001"
...     result = gdlab.sweep(data, grid=..., seeds=50, executor=ray_cluster)

A sweep is cut into shards (:func:`gdlab.executor.build_shards`: a program and a
chunk of its seeds), exactly as for the local executor; each shard is one Ray
task that runs :func:`gdlab.executor.run_shard` on a worker and returns NumPy
arrays, merged on the driver as they arrive. Every shard compiles the program
it would compile locally, so results equal the local executor's bit for bit
(on machines of the same CPU type). The training data goes to the object store
once per dataset and every task reads it from there. A worker process keeps
its compiled programs between tasks, and JAX's persistent compilation cache
(enabled when ``gdlab.engine`` is imported, in the worker's
``$GDLAB_CACHE_DIR/jax``) lets a new worker on the same node load them. A task
whose worker dies is run again (``max_retries``). Ray is an optional
dependency: ``pip install 'gdlab[ray]'``.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from gdlab import interrupts
from gdlab.errors import ConfigError
from gdlab.executor import Shard, ShardOutput, TrainingData, data_fingerprint, run_shard

INSTALL = ("pip install 'gdlab[ray]' (with uv: uv pip install 'gdlab[ray]', or uv sync "
           "--extra ray in a checkout of gdlab)")

#: How long the driver waits for a shard before looking for a stop request, in seconds.
POLL_SECONDS = 0.2


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"Running on a Ray cluster needs Ray, which is not installed: "
                          f"{INSTALL}.") from None
    return ray


def _shard_task(shard: Shard, data: TrainingData) -> ShardOutput:
    # Runs in a Ray worker. Importing gdlab.executor there imported gdlab.engine, which
    # turned on the worker's persistent compilation cache; the engine's lru_caches keep
    # compiled programs for the next shard this worker process gets.
    return run_shard(shard, data)


class RayExecutor:
    """Runs shards as Ray tasks on a cluster (see the module docstring).

    ``address`` is what ``ray.init`` takes: ``"auto"`` (the cluster this machine
    belongs to, or ``$RAY_ADDRESS``), ``"host:port"``, ``"ray://host:port"``
    (Ray Client), or None (``$RAY_ADDRESS``, else a new cluster on this machine).
    If this process is already connected to Ray, that connection is used.
    Each shard asks for ``num_cpus`` CPUs and ``num_gpus`` GPUs; a shard whose
    worker dies is retried ``max_retries`` times. ``runtime_env`` is passed to
    the tasks (e.g. ``{"env_vars": {...}}``).
    """

    def __init__(self, address: str | None = None, *, num_cpus: float = 1.0,
                 num_gpus: float = 0.0, max_retries: int = 3,
                 runtime_env: Mapping[str, Any] | None = None) -> None:
        import_ray()  # fail here, before any work, when Ray is missing
        if num_cpus < 0 or num_gpus < 0 or not (num_cpus > 0 or num_gpus > 0):
            raise ConfigError(
                f"A shard needs some CPUs or GPUs; got num_cpus={num_cpus}, num_gpus={num_gpus}."
            )
        if max_retries < -1:
            raise ConfigError(f"max_retries must be -1 (forever) or more, got {max_retries}.")
        self.address = address
        self.num_cpus = float(num_cpus)
        self.num_gpus = float(num_gpus)
        self.max_retries = int(max_retries)
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self._started = False
        self._task: Any = None
        self._data: dict[tuple[str, str], Any] = {}

    def __repr__(self) -> str:
        return (f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus:g}, "
                f"num_gpus={self.num_gpus:g}, max_retries={self.max_retries})")

    # ------------------------------------------------------------- connection

    def connect(self) -> None:
        """Connect to the cluster (once; a connection this process already has is used)."""
        ray = import_ray()
        if ray.is_initialized():
            return
        self._probe()
        # ray.init installs its own SIGTERM handler; gdlab's (stop at the next safe point,
        # keep finished work) must stay in force, so put back whatever was there.
        main = threading.current_thread() is threading.main_thread()
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} \
            if main else {}
        try:
            with warnings.catch_warnings():
                # Starting a cluster here, Ray forks to exec its own processes; JAX's warning
                # about forking a multithreaded process is for children that go on running.
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                        category=RuntimeWarning)
                ray.init(address=self.address, logging_level=logging.WARNING)
        except ConnectionError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(
                f"Cannot reach a Ray cluster at {self.address or 'RAY_ADDRESS'}: {reason} Start "
                "one (ray start --head) or give its address with --ray HOST:PORT."
            ) from None
        finally:
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
        self._started = True

    def _probe(self) -> None:
        """Fail in seconds, not after Ray's minutes of retries, when nothing listens there."""
        address = self.address
        try:
            # Ray's own resolution of "auto" and $RAY_ADDRESS (internal, hence the guard).
            from ray._private.services import canonicalize_bootstrap_address

            target = canonicalize_bootstrap_address(address)
        except ConnectionError as e:
            raise ConfigError(f"No Ray cluster found for --ray {address}: "
                              f"{str(e).strip().splitlines()[0]}") from None
        except Exception:
            return
        if not target or target.startswith("ray://"):
            return  # a new local instance, or Ray Client: nothing to probe here
        host, _, port = target.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except (OSError, ValueError):
            raise ConfigError(
                f"Cannot reach a Ray cluster at {target} (from "
                f"{'--ray ' + address if address else 'RAY_ADDRESS or the last ray start here'}"
                "): nothing answers there. Start one (ray start --head) or give its address "
                "with --ray HOST:PORT."
            ) from None

    def shutdown(self) -> None:
        """Disconnect, if this executor connected (a cluster it started on this machine stops)."""
        self._data.clear()
        self._task = None
        if self._started:
            import_ray().shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def slots(self) -> int:
        """How many shards the cluster can run at once with these per-shard resources."""
        self.connect()
        resources = import_ray().cluster_resources()
        counts = []
        if self.num_cpus > 0:
            counts.append(math.floor(resources.get("CPU", 0) / self.num_cpus + 1e-9))
        if self.num_gpus > 0:
            counts.append(math.floor(resources.get("GPU", 0) / self.num_gpus + 1e-9))
        n = min(counts)
        if n < 1:
            raise ConfigError(
                f"The Ray cluster has {resources.get('CPU', 0):g} CPUs and "
                f"{resources.get('GPU', 0):g} GPUs; a shard asks for {self.num_cpus:g} CPUs and "
                f"{self.num_gpus:g} GPUs. Ask for less per shard (--ray-cpus-per-shard, "
                "--ray-gpus-per-shard) or add nodes."
            )
        return n

    # ---------------------------------------------------------------- running

    def _remote(self) -> Any:
        if self._task is None:
            ray = import_ray()
            options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                       "max_retries": self.max_retries}
            if self.runtime_env is not None:
                options["runtime_env"] = self.runtime_env
            self._task = ray.remote(_shard_task).options(**options)
        return self._task

    def _data_ref(self, data: TrainingData) -> Any:
        """The data in the object store: put once per dataset and job, shared by every task."""
        ray = import_ray()
        key = (ray.get_runtime_context().get_job_id(), data_fingerprint(data))
        if key not in self._data:
            self._data[key] = ray.put(data)
        return self._data[key]

    def run_shards(self, shards: Sequence[Shard], data: TrainingData,
                   on_epoch: Callable[[int, int], None] | None = None
                   ) -> Iterator[tuple[Shard, ShardOutput]]:
        """Submit every shard, then yield each ``(shard, output)`` as it finishes.

        Progress comes from finished shards (``on_epoch`` is not called). A stop
        request (:mod:`gdlab.interrupts`) is honoured between shards: the shards
        still running are cancelled and KeyboardInterrupt is raised.
        """
        if not shards:
            return
        ray = import_ray()
        self.slots()  # connects; a cluster that cannot run one shard is an error, not a hang
        data_ref = self._data_ref(data)
        task = self._remote()
        pending = {task.remote(shard, data_ref): shard for shard in shards}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                interrupts.check()
                for ref in ready:
                    shard = pending.pop(ref)
                    yield shard, ray.get(ref)
        finally:
            # On a stop or an error: no work left behind on the cluster. Only shards not
            # done yet are cancelled: Ray's driver aborts when a cancel races with a task's
            # completion ("Tried to complete task that was not pending", ray-project/ray
            # PR 54798 fixed one such race); cancelling finished tasks widened the window.
            if pending:
                _, running = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                for ref in running:
                    ray.cancel(ref)


def ray_executor(address: str | None, *, cpus_per_shard: float = 1.0,
                 gpus_per_shard: float = 0.0) -> RayExecutor | None:
    """The command line's executor: a RayExecutor for ``--ray ADDRESS``, else None (local)."""
    if not address:
        return None
    return RayExecutor(address, num_cpus=cpus_per_shard, num_gpus=gpus_per_shard)
