"""Running a study into a run directory, resumably.

The run directory::

    study.toml            the fully resolved study (gdlab study RUN_DIR/study.toml repeats it)
    manifest.json         what finished, when, with which versions and command
    sweeps/NAME.parquet   each sweep's tidy results, written as soon as its batch finishes
    sweeps/NAME.taps.npz  recorded activations (sweeps with record_layer)
    sweeps/NAME.params.npz  final weights (for landscapes and figures rebuilt later)
    shards/KEY.npz        the running batch's finished shards (removed when the batch is written)
    lr_find.parquet, lr_find_suggestions.csv   the learning-rate range test ([lr_find])
    landscape.parquet, landscape_summary.csv   loss-landscape slices ([landscape])
    tensorboard/NAME/     one TensorBoard run per configuration x seed (outputs.tensorboard)
    checkpoints/NAME/     each configuration's best run (outputs.checkpoints)
    results.parquet       every sweep's tidy results in one table
    summary.csv           per configuration: final metrics with spread, diverged runs
    baseline.csv          the scikit-learn baselines
    data/                 class balance and feature summary (CSV)
    figures/              PNG figures
    report.html           the report (see gdlab.report)

Sweeps that share their data preparation, seeds and recording settings form a
*batch*, trained in as few compiled programs as possible. A batch is the unit
of completion: an interrupted run keeps every finished batch, and ``resume``
trains only the others, so the final files equal an uninterrupted run's. Inside
a batch, every finished shard (one program call, see :mod:`gdlab.executor`) is
saved under ``shards/`` as it arrives, from this process or a Ray cluster, and
``resume`` loads those instead of training them again.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gdlab.artifacts import atomic_write, ensure_writable, safe_name, write_json
from gdlab.errors import ConfigError, DataError
from gdlab.executor import Executor, LocalExecutor, ShardOutput
from gdlab.pitfalls import collect
from gdlab.results import SweepResult, load_results, save_results
from gdlab.study import DataSpec, StudySpec, SweepEntry, read_study

MANIFEST = "manifest.json"


@dataclass
class StudyRun:
    """A study's results in memory, and where its files are."""

    spec: StudySpec
    out_dir: Path
    results: list[SweepResult]
    dataset: Any
    prepared: dict[DataSpec, Any]
    baseline: pd.DataFrame | None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def result(self, name: str) -> SweepResult:
        """One sweep's result by name."""
        for r in self.results:
            if r.spec.name == name:
                return r
        raise ConfigError(
            f"No sweep {name!r}; this study has {', '.join(r.spec.name for r in self.results)}."
        )

    def summary(self) -> pd.DataFrame:
        """Every sweep's summary, one table with a ``sweep`` column."""
        return study_summary(self.results)


def study_summary(results: list[SweepResult]) -> pd.DataFrame:
    """Per-configuration summaries of several sweeps, stacked."""
    frames = []
    for r in results:
        s = r.summary()
        axes = [a for a in r.spec.axes if a in s.columns]
        s = s.drop(columns=axes)
        s.insert(0, "sweep", r.spec.name)
        frames.append(s)
    return pd.concat(frames, ignore_index=True)


def _batches(spec: StudySpec) -> list[tuple[DataSpec, list[SweepEntry]]]:
    """Sweeps grouped by what a program shares: data preparation, seeds, recording settings,
    metrics."""
    order: dict[tuple, list[SweepEntry]] = {}
    for entry in spec.sweeps:
        seeds = entry.seeds if entry.seeds is not None else spec.seeds
        key = (spec.data_for(entry), seeds, entry.record_layer, entry.early_stopping,
               entry.noise_scale, spec.metrics_for(entry))
        order.setdefault(key, []).append(entry)
    return [(key[0], entries) for key, entries in order.items()]


def load_dataset(spec: StudySpec) -> Any:
    """The study's dataset (a file source is relative to the study file)."""
    from gdlab import datasets

    source = spec.data.source
    if datasets.is_file_reference(source) and spec.base_dir and not Path(source).is_absolute():
        source = str(Path(spec.base_dir) / source)
    weights = {} if spec.data.sample_weight is None else {
        "sample_weight": spec.data.sample_weight}
    return datasets.load(source, target=spec.data.target, **weights)


def check_against_data(spec: StudySpec, dataset: Any) -> None:
    """Settings that depend on the data's task and classes, checked before a run starts:
    each sweep's metrics and class weights."""
    from gdlab.executor import metrics_for
    from gdlab.sweeps import sweep_metrics
    from gdlab.weighting import resolve_class_weight

    for i, entry in enumerate(spec.sweeps):
        where = f"study {spec.name!r}, sweeps[{i}] ({entry.name})"
        names = spec.metrics_for(entry)
        try:
            if names is not None:
                metrics_for(dataset.task, "", max(dataset.n_classes, 2), names)
            monitor = dict(entry.early_stopping).get("monitor", "val_loss")
            reported = ["loss", *sweep_metrics(names, dataset.task)]
            if entry.early_stopping and monitor not in [p + m for p in ("", "val_", "test_")
                                                        for m in reported]:
                raise ConfigError(
                    f"early_stopping monitors {monitor!r}, which this sweep does not report; "
                    f"it reports {', '.join(reported)} (and val_/test_ versions). Add the "
                    "metric to `metrics`.")
            for cw in {c.class_weight for c in spec.sweep_spec(entry).configs()} - {None}:
                if dataset.task == "regression":
                    raise ConfigError(
                        f"class_weight = {cw!r} weighs rows by their class, but "
                        f"{dataset.name!r} is a regression dataset; weigh rows with a "
                        "sample-weight column instead ([data].sample_weight).")
                resolve_class_weight(cw, dataset.y, dataset.n_classes)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None


def _prepare(dataset: Any, data: DataSpec) -> Any:
    from gdlab.preprocessing import prepare

    return prepare(dataset, test_size=data.test_size, random_state=data.random_state,
                   stratify=data.stratify, scale=data.scale,
                   validation_split=data.validation_split, validation=data.validation)


def _read_manifest(out_dir: Path) -> dict[str, Any]:
    import json

    path = out_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise DataError(f"{path} is damaged (not JSON); start a new run instead.") from None


def _save_taps(path: Path, result: SweepResult) -> None:
    arrays = {f"layer{layer}_config{c}": a for layer, per in result.taps.items()
              for c, a in enumerate(per) if a is not None}
    if arrays:
        def write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, **arrays)

        atomic_write(path, write)


def _save_params(path: Path, result: SweepResult) -> None:
    arrays = {f"config{c}_layer{i}_{name}": np.asarray(a)
              for c, layers in enumerate(result.params or []) if layers is not None
              for i, layer in enumerate(layers) for name, a in layer.items()}
    if arrays:
        def write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, **arrays)

        atomic_write(path, write)


def load_params(path: Path, n_configs: int) -> list[Any] | None:
    """Final weights saved by a run (``[config]`` -> layers with a leading seed axis)."""
    if not path.exists():
        return None
    out: list[dict[int, dict[str, np.ndarray]]] = [{} for _ in range(n_configs)]
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            config, layer, name = key.removeprefix("config").split("_", 2)
            out[int(config)].setdefault(int(layer.removeprefix("layer")), {})[name] = z[key]
    return [tuple(layers[i] for i in sorted(layers)) for layers in out]


def _attach_saved(result: SweepResult, sweeps_dir: Path) -> SweepResult:
    name = safe_name(result.spec.name)
    taps = load_taps(sweeps_dir / f"{name}.taps.npz")
    result.taps = {lay: [per.get(c) for c in range(result.spec.n_configs)]
                   for lay, per in taps.items()}
    result.params = load_params(sweeps_dir / f"{name}.params.npz", result.spec.n_configs)
    return result


def load_taps(path: Path) -> dict[int, dict[int, np.ndarray]]:
    """Recorded activations saved by a run: ``taps[layer][config]`` (no pickle)."""
    out: dict[int, dict[int, np.ndarray]] = {}
    if not path.exists():
        return out
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            layer, config = key.removeprefix("layer").split("_config")
            out.setdefault(int(layer), {})[int(config)] = z[key]
    return out


class ShardDirectory:
    """Finished shards of the running batch: ``KEY.npz`` each (NumPy arrays, no pickle).

    Keys name the computation (:meth:`gdlab.executor.Shard.key`), so a shard is
    reused only by the same plan, configurations, seeds, data and versions; a
    damaged or foreign file is trained again.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self, key: str) -> ShardOutput | None:
        """The saved output of shard ``key``, or None."""
        path = self.path / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return ShardOutput.from_arrays({k: z[k] for k in z.files})
        except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile):
            return None

    def save(self, key: str, output: ShardOutput) -> None:
        """Write shard ``key``'s output (atomically)."""
        def write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, **output.to_arrays())

        atomic_write(self.path / f"{key}.npz", write)

    def clear(self) -> None:
        """Remove every saved shard (once their batch is written in full)."""
        shutil.rmtree(self.path, ignore_errors=True)


def run_study(spec: StudySpec, out_dir: str | Path, *, resume: bool = False,
              progress: bool | str = "auto", command: str | None = None,
              on_batch: Callable[[list[str]], None] | None = None,
              executor: Executor | None = None) -> StudyRun:
    """Run ``spec``, writing its run directory; with ``resume``, finish an interrupted run.

    ``executor`` trains the sweeps' shards (default: this process;
    ``gdlab.distributed.RayExecutor`` for a Ray cluster); results do not depend on it,
    and a run may be resumed with another executor.
    """
    import jax

    from gdlab import __version__

    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    if resume:
        if not (out_dir / "study.toml").exists():
            raise ConfigError(f"Cannot resume {out_dir}: it has no study.toml (not a gdlab run).")
        spec = read_study(out_dir / "study.toml")
    dataset = load_dataset(spec)  # bad data fails before anything is written
    check_against_data(spec, dataset)
    ensure_writable(out_dir)
    manifest = _read_manifest(out_dir) if resume else {}
    done = {name for b in manifest.get("batches", []) if b.get("status") == "done"
            for name in b["sweeps"]}
    if not resume and (out_dir / MANIFEST).exists():
        raise ConfigError(
            f"{out_dir} already holds a gdlab run; choose a new --out, or finish it with "
            f"--resume {out_dir}."
        )
    atomic_write(out_dir / "study.toml", spec.to_toml())
    batches = _batches(spec)
    manifest = {
        "study": spec.name,
        "status": "running",
        "command": command or manifest.get("command"),
        "started": manifest.get("started") or _now(),
        "executor": repr(executor if executor is not None else LocalExecutor()),
        "versions": {"gdlab": __version__, "jax": jax.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__},
        "batches": [],
    }
    previous = {tuple(b["sweeps"]): b for b in _read_manifest(out_dir).get("batches", [])} \
        if resume else {}
    for _, entries in batches:
        names = [e.name for e in entries]
        if all(n in done for n in names) and tuple(names) in previous:
            manifest["batches"].append(previous[tuple(names)])
        else:
            manifest["batches"].append({"sweeps": names, "status": "pending"})
    write_json(out_dir / MANIFEST, manifest)

    with collect(spec.quiet_warnings) as caught:
        run = _run_batches(spec, dataset, out_dir, batches, manifest, progress, on_batch,
                           executor)
    found = [w.to_dict() for w in caught]
    for record in manifest["batches"]:  # warnings of batches finished before a resume
        for w in record.get("warnings", []):
            if w not in found:
                found.append(w)
    run.warnings = found
    manifest["warnings"] = found
    manifest["finished"] = _now()
    manifest["seconds"] = round(time.perf_counter() - t_start, 3)
    manifest["timings"] = run.timings
    write_json(out_dir / MANIFEST, manifest)
    if spec.outputs.figures or spec.outputs.report:
        from gdlab.report import write_figures, write_report

        t0 = time.perf_counter()
        write_figures(run)
        if spec.outputs.report:
            write_report(run)
        manifest["report_seconds"] = round(time.perf_counter() - t0, 3)
    manifest["status"] = "complete"
    manifest["files"] = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*")
                               if p.is_file() and not p.name.startswith("."))
    write_json(out_dir / MANIFEST, manifest)
    for w in found:  # to the caller, once each (the CLI prints run.warnings instead)
        warnings.warn(w["message"], _category(w["category"]), stacklevel=2)
    return run


def _run_batches(spec: StudySpec, dataset: Any, out_dir: Path, batches: list,
                 manifest: dict[str, Any], progress: bool | str,
                 on_batch: Callable[[list[str]], None] | None,
                 executor: Executor | None) -> StudyRun:
    from gdlab.sweeps import run_many

    prepared: dict[DataSpec, Any] = {}
    by_name: dict[str, SweepResult] = {}
    sweeps_dir = out_dir / "sweeps"
    shards = ShardDirectory(out_dir / "shards")
    timings: dict[str, float] = {}
    try:
        for (data_spec, entries), record in zip(batches, manifest["batches"], strict=True):
            first = entries[0]
            if data_spec not in prepared:
                prepared[data_spec] = _prepare(dataset, data_spec)
            names = [e.name for e in entries]
            if record["status"] == "done":
                for name in names:
                    result = load_results(sweeps_dir / f"{safe_name(name)}.parquet")[0]
                    by_name[name] = _attach_saved(result, sweeps_dir)
                continue
            t0 = time.perf_counter()
            with collect(spec.quiet_warnings) as batch_warnings:
                results = run_many(
                    [spec.sweep_spec(e) for e in entries], prepared[data_spec],
                    progress=progress,
                    record_layers=() if first.record_layer is None else (first.record_layer,),
                    early_stopping=dict(first.early_stopping) or None,
                    noise_rows=first.noise_scale, metrics=spec.metrics_for(first),
                    executor=executor, shard_store=shards)
            record["warnings"] = [w.to_dict() for w in batch_warnings]
            for w in batch_warnings:
                warnings.warn(w.message, _category(w.category), stacklevel=2)
            for name, result in zip(names, results, strict=True):
                save_results([result], sweeps_dir / f"{safe_name(name)}.parquet")
                _save_taps(sweeps_dir / f"{safe_name(name)}.taps.npz", result)
                _save_params(sweeps_dir / f"{safe_name(name)}.params.npz", result)
                if spec.outputs.checkpoints:
                    from gdlab.checkpoint import save_best

                    save_best(result, out_dir / "checkpoints" / safe_name(name))
                if spec.outputs.tensorboard:
                    from gdlab.tensorboard import write_sweep

                    write_sweep(result, out_dir / "tensorboard" / safe_name(name))
                by_name[name] = result
            record["status"] = "done"
            record["seconds"] = round(time.perf_counter() - t0, 3)
            timings[", ".join(names)] = record["seconds"]
            write_json(out_dir / MANIFEST, manifest)
            shards.clear()  # the batch's files now hold everything its shards did
            if on_batch is not None:
                on_batch(names)
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
        manifest["interrupted"] = _now()
        write_json(out_dir / MANIFEST, manifest)
        raise

    results = [by_name[e.name] for e in spec.sweeps]
    save_results(results, out_dir / "results.parquet")
    atomic_write(out_dir / "summary.csv", study_summary(results).to_csv(index=False))

    baseline = None
    main_prep = prepared.get(spec.data) or _prepare(dataset, spec.data)
    prepared.setdefault(spec.data, main_prep)
    if spec.baseline.enabled:
        from gdlab.baseline import baseline as run_baseline

        t0 = time.perf_counter()
        baseline = run_baseline(dataset, prepared=main_prep, cv=spec.baseline.cv, seed=0)
        timings["baseline"] = round(time.perf_counter() - t0, 3)
        atomic_write(out_dir / "baseline.csv", baseline.to_csv(index=False))
    _write_data_tables(out_dir, dataset)

    run = StudyRun(spec, out_dir, results, dataset, prepared, baseline, timings)
    _run_diagnostics(run)
    return run


def _run_diagnostics(run: StudyRun) -> None:
    """The study's learning-rate range test and loss-landscape slices, tables and figures."""
    spec, out_dir = run.spec, run.out_dir
    data = run.prepared[spec.data]
    if spec.lr_find is not None:
        from gdlab.diagnostic_plots import plot_lr_find
        from gdlab.lr_find import lr_find
        from gdlab.report import _save

        t0 = time.perf_counter()
        lf = spec.lr_find
        settings = dict(spec.model) | dict(lf.model)
        settings = {k: v for k, v in settings.items()
                    if k not in {"optimizer", "learning_rate", "batch_size", "epochs"}}
        test = lr_find(data, list(lf.optimizers), min_lr=lf.min_lr, max_lr=lf.max_lr,
                       epochs=lf.epochs, batch_size=lf.batch_size, seeds=lf.seeds, **settings)
        atomic_write(out_dir / "lr_find.parquet", lambda p: test.tidy().to_parquet(p))
        atomic_write(out_dir / "lr_find_suggestions.csv",
                     test.suggestions().to_csv(index=False))
        _save(plot_lr_find(test), out_dir / "figures" / "lr_find.png")
        run.timings["lr_find"] = round(time.perf_counter() - t0, 3)
    if spec.landscape is not None:
        from gdlab.diagnostic_plots import plot_landscape_line, plot_landscape_plane
        from gdlab.landscape import sweep_landscape
        from gdlab.report import _save

        t0 = time.perf_counter()
        ls = spec.landscape
        result = run.result(ls.sweep)
        names = result.setting_names
        missing = [s for s in ls.settings if s not in names]
        if missing:
            raise ConfigError(f"[landscape].settings: sweep '{ls.sweep}' has no setting "
                              f"{missing[0]!r}; its settings: {', '.join(names)}.")
        configs = [names.index(s) for s in ls.settings] or list(range(min(4, len(names))))
        entry = next(e for e in spec.sweeps if e.name == ls.sweep)
        land = sweep_landscape(result, run.prepared[spec.data_for(entry)], configs=configs,
                               points=ls.points, plane=ls.plane)
        atomic_write(out_dir / "landscape.parquet", lambda p: land.tidy().to_parquet(p))
        atomic_write(out_dir / "landscape_summary.csv", land.summary().to_csv(index=False))
        _save(plot_landscape_line(land), out_dir / "figures" / "landscape_line.png")
        if ls.plane:
            _save(plot_landscape_plane(land), out_dir / "figures" / "landscape_plane.png")
        run.timings["landscape"] = round(time.perf_counter() - t0, 3)


def _category(name: str) -> type[Warning]:
    import gdlab.pitfalls as pitfalls
    import gdlab.preprocessing as preprocessing

    for module in (pitfalls, preprocessing):
        category = getattr(module, name, None)
        if isinstance(category, type) and issubclass(category, Warning):
            return category
    return pitfalls.GdlabWarning


def _write_data_tables(out_dir: Path, dataset: Any) -> None:
    from gdlab.explore import class_balance, feature_summary

    if dataset.task != "regression":
        atomic_write(out_dir / "data" / "class_balance.csv",
                     class_balance(dataset).to_csv(index=False))
    atomic_write(out_dir / "data" / "features.csv", feature_summary(dataset).to_csv())


def load_run(out_dir: str | Path) -> StudyRun:
    """A finished run directory, read back (for ``gdlab report RUN_DIR``)."""
    out_dir = Path(out_dir)
    if not (out_dir / "study.toml").exists():
        raise ConfigError(f"{out_dir} is not a gdlab run directory (no study.toml).")
    if not (out_dir / "results.parquet").exists():
        raise ConfigError(
            f"{out_dir} has no results.parquet: the run did not finish. Complete it with "
            f"gdlab study --resume {out_dir}."
        )
    spec = read_study(out_dir / "study.toml")
    results = [_attach_saved(r, out_dir / "sweeps")
               for r in load_results(out_dir / "results.parquet")]
    baseline = pd.read_csv(out_dir / "baseline.csv") if (out_dir / "baseline.csv").exists() \
        else None
    dataset = load_dataset(spec)
    prepared = {spec.data: _prepare(dataset, spec.data)}
    manifest = _read_manifest(out_dir)
    return StudyRun(spec, out_dir, results, dataset, prepared, baseline,
                    manifest.get("timings", {}), manifest.get("warnings", []))


def default_out_dir(name: str, root: str | Path = "runs") -> Path:
    """``runs/NAME-YYYYmmdd-HHMMSS`` (a new directory per run)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{safe_name(name)}-{stamp}"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
