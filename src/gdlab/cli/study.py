"""``gdlab study``, ``gdlab sweep``, ``gdlab report`` and ``gdlab studies``."""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gdlab.cli import DataOption, TargetOption, app


def _command_line() -> str:
    return "gdlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _print_warnings(found: list[dict[str, str]]) -> None:
    if not found:
        return
    from rich.console import Console
    from rich.panel import Panel

    text = "\n\n".join(f"[bold]{w['name']}[/bold]: {w['message']}" for w in found)
    Console(stderr=True).print(Panel(text, title=f"{len(found)} warning(s)", border_style="yellow",
                                     title_align="left"))


def _verdict(row: Any) -> str:
    if row["verdict"] in ("best", "no verdict"):
        return row["verdict"]
    return (f"{row['verdict']} ({row['diff']:+.3f} "
            f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}])")


def _quiet(names: str | None) -> tuple[str, ...]:
    from gdlab.pitfalls import warning_names

    if not names:
        return ()
    out = tuple(n.strip() for n in names.split(",") if n.strip())
    valid = warning_names()
    for n in out:
        if n not in valid:
            from gdlab.errors import unknown_name

            raise unknown_name("warning", n, valid)
    return out


def _print_summary(run: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for r in run.results:
        s = r.summary()
        table = Table(title=f"{r.spec.name}: final metrics over {len(r.spec.seeds)} seeds",
                      title_justify="left")
        table.add_column("setting")
        first = r.first_metric or "accuracy"  # regression: its first metric, e.g. mae
        metrics = [m for m in ("loss", first, f"val_{first}", f"test_{first}")
                   if f"{m}_mean" in s]
        for m in metrics:
            table.add_column(m.replace("_", " "), justify="right")
        table.add_column("diverged", justify="right")
        compare = r.compare() if r.spec.n_configs > 1 else None
        if compare is not None:
            table.add_column(f"vs best ({compare.metric.iloc[0].replace('_', ' ')}, paired)")
        for i, row in s.iterrows():
            cells = [f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_std']:.3f}"
                     if row[f"{m}_std"] == row[f"{m}_std"] else f"{row[f'{m}_mean']:.3f}"
                     for m in metrics]
            cells.append(f"{int(row['diverged'])}")
            if compare is not None:
                cells.append(_verdict(compare.iloc[i]))
            table.add_row(str(row["setting"]), *cells)
        console.print(table)
    if run.baseline is not None:
        b = run.baseline
        text = ", ".join(f"{row.model}: {row.cv_mean:.3f} ± {row.cv_std:.3f} (CV {row.metric})"
                         for row in b.itertuples())
        console.print(f"Baseline: {text}")


SampleWeightOption = Annotated[str | None, typer.Option(
    "--sample-weight", metavar="COL",
    help="Column of the data file holding per-row sample weights (numbers >= 0); it is "
         "not a feature.")]
MetricsOption = Annotated[str | None, typer.Option(
    "--metrics", metavar="NAMES",
    help="Metrics every model reports besides the loss, comma-separated (accuracy, mae, mse, "
         "rmse, mape, msle; default: accuracy for classes, mae for regression).")]


def _metric_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [m.strip() for m in text.split(",") if m.strip()]


RayOption = Annotated[str | None, typer.Option(
    "--ray", envvar="RAY_ADDRESS", metavar="auto|ADDRESS",
    help="Train on a Ray cluster: auto (the one this machine belongs to) or its address "
         "(host:port, ray://host:port). Needs Ray: the ray extra of gdlab.")]
RayCpusOption = Annotated[float, typer.Option(
    "--ray-cpus-per-shard", min=0.0, help="CPUs a shard asks Ray for.")]
RayGpusOption = Annotated[float, typer.Option(
    "--ray-gpus-per-shard", min=0.0, help="GPUs a shard asks Ray for.")]


def _executor(address: str | None, cpus: float, gpus: float) -> Any:
    """A RayExecutor for --ray, connected before anything is written (None: this process)."""
    if not address:
        return None
    from gdlab.distributed import RayExecutor

    executor = RayExecutor(address, num_cpus=cpus, num_gpus=gpus)
    executor.connect()
    return executor


def _run(spec: Any, out: Path | None, resume: Path | None, executor: Any = None) -> None:
    from gdlab.runner import default_out_dir, run_study

    if resume is not None:
        out_dir, spec_arg, resuming = resume, None, True
    else:
        out_dir, spec_arg, resuming = out or default_out_dir(spec.name), spec, False
    try:
        run = run_study(spec_arg if spec_arg is not None else spec, out_dir, resume=resuming,
                        command=_command_line(), executor=executor)
    except KeyboardInterrupt:
        print(f"\nInterrupted. Finished sweeps are kept in {out_dir}; complete the run with:\n"
              f"  gdlab study --resume {out_dir}", file=sys.stderr)
        raise typer.Exit(130) from None
    finally:
        if executor is not None:
            executor.shutdown()
    _print_warnings(run.warnings)
    _print_summary(run)
    report = out_dir / "report.html"
    print(f"Report: {report if report.exists() else out_dir}")


@app.command()
def study(
    name: Annotated[str, typer.Argument(
        help="A built-in study (see `gdlab studies`) or a study .toml file.")] = "gradient-descent",
    data: Annotated[str | None, typer.Option(
        help="Dataset: a built-in name (wine, banknotes, moons, ...) or a .csv/.parquet file.")
    ] = None,
    target: TargetOption = None,
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds per setting.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Run directory (default: runs/NAME-DATE-TIME).")] = None,
    resume: Annotated[Path | None, typer.Option(
        help="Finish an interrupted run in this directory.")] = None,
    quiet_warnings: Annotated[str | None, typer.Option(
        help="Warnings to silence, by name, comma-separated (e.g. single-seed).")] = None,
    sample_weight: SampleWeightOption = None,
    class_weight: Annotated[str | None, typer.Option(
        "--class-weight", metavar="WEIGHTS",
        help="Class weights of every sweep: none, balanced, or class:weight pairs (0:1,1:3).")
    ] = None,
    metrics: MetricsOption = None,
    ray: RayOption = None,
    ray_cpus_per_shard: RayCpusOption = 1.0,
    ray_gpus_per_shard: RayGpusOption = 0.0,
) -> None:
    """Run a study: every sweep over seeds, baselines, figures and an HTML report.

    \b
    Examples:
      gdlab study                                  # the course chapter on wine (offline)
      gdlab study --data banknotes                 # the course's own data
      gdlab study --data banknotes.csv --target class --seeds 10 --out runs/gd
      gdlab study --data notes.csv --target class --sample-weight w --class-weight balanced
      gdlab study my-study.toml --metrics accuracy,mse
      gdlab study --resume runs/gd                 # finish an interrupted run
      gdlab study my-study.toml --ray auto         # on a Ray cluster
    """
    from gdlab.study import load_study

    executor = _executor(ray, ray_cpus_per_shard, ray_gpus_per_shard)
    if resume is not None:
        if any(v is not None for v in (data, target, seeds, out, sample_weight, class_weight,
                                       metrics)):
            raise typer.BadParameter("--resume takes the run directory only; the study, data "
                                     "and seeds are read from it.", param_hint="--resume")
        _run(None, None, resume, executor)
        return
    spec = load_study(name).with_overrides(
        data=data, target=target, seeds=seeds, sample_weight=sample_weight,
        metrics=_metric_list(metrics), class_weight=class_weight)
    quiet = _quiet(quiet_warnings)
    if quiet:
        spec = dataclasses.replace(spec, quiet_warnings=tuple(dict.fromkeys(
            spec.quiet_warnings + quiet)))
    _run(spec, out, None, executor)


def _split_values(text: str) -> list[str]:
    """Comma-separated values, keeping commas inside parentheses (optimizer calls) and
    braces (class weights)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _numbers(text: str, kind: type, flag: str) -> list[Any]:
    values = []
    for v in _split_values(text):
        try:
            values.append(kind(v))
        except ValueError:
            raise typer.BadParameter(f"{v!r} is not a{'n integer' if kind is int else ' number'}",
                                     param_hint=flag) from None
    return values


def _class_weights(text: str) -> list[str]:
    """Class weightings for --class-weight: "none,balanced", one "0:1,1:3", or several in
    braces ("none,{0:1,1:3}")."""
    items = _split_values(text)
    pairs = [":" in v and not v.startswith("{") for v in items]
    if items and all(pairs):
        return [",".join(items)]  # one weighting, class:weight pairs
    if any(pairs):
        raise typer.BadParameter(
            "class:weight pairs beside other values must be grouped in braces, e.g. "
            "'none,balanced,{0:1,1:3}'", param_hint="--class-weight")
    return [v[1:-1] if v.startswith("{") and v.endswith("}") else v for v in items]


@app.command()
def sweep(
    data: DataOption = "wine",
    target: TargetOption = None,
    hidden: Annotated[str, typer.Option(
        help="Hidden layer sizes joined by dashes; commas sweep several (8-5-2,16-8); 0 = none."
    )] = "0",
    activation: Annotated[str, typer.Option(help="Hidden activation(s), comma-separated.")
                          ] = "relu",
    optimizer: Annotated[str, typer.Option(
        help="Optimizer(s): names or calls, comma-separated (sgd,'Adam(learning_rate=0.01)').")
    ] = "sgd",
    lr: Annotated[str | None, typer.Option(help="Learning rate(s), comma-separated.")] = None,
    batch_size: Annotated[str, typer.Option(help="Batch size(s), comma-separated.")] = "32",
    init: Annotated[str, typer.Option(help="Kernel initializer(s), comma-separated.")
                    ] = "glorot_uniform",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs.")] = 10,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per setting.")] = 5,
    validation_split: Annotated[float, typer.Option(
        min=0.0, max=0.95, help="Fraction of the training rows kept for validation.")] = 0.0,
    patience: Annotated[int | None, typer.Option(
        min=0, help="Stop each model when --monitor has not improved for this many epochs.")
    ] = None,
    monitor: Annotated[str, typer.Option(help="What early stopping watches.")] = "val_loss",
    restore_best: Annotated[bool, typer.Option(
        "--restore-best", help="End each model with its best epoch's weights.")] = False,
    noise_scale: Annotated[int, typer.Option(
        min=0, help="Measure the gradient noise scale on this many training rows (0: off).")
    ] = 0,
    tensorboard: Annotated[bool, typer.Option(
        "--tensorboard", help="Write one TensorBoard run per configuration x seed.")] = False,
    checkpoints: Annotated[bool, typer.Option(
        "--checkpoints", help="Save each configuration's best run.")] = False,
    out: Annotated[Path | None, typer.Option(help="Run directory.")] = None,
    name: Annotated[str, typer.Option(help="Name of the sweep.")] = "sweep",
    quiet_warnings: Annotated[str | None, typer.Option(
        help="Warnings to silence, by name, comma-separated (e.g. single-seed).")] = None,
    sample_weight: SampleWeightOption = None,
    class_weight: Annotated[str, typer.Option(
        "--class-weight", metavar="WEIGHTS",
        help="Class weights, commas sweep several: none, balanced, or class:weight pairs "
             "(0:1,1:3 is one weighting; several in braces: 'none,{0:1,1:3}').")] = "none",
    metrics: MetricsOption = None,
    ray: RayOption = None,
    ray_cpus_per_shard: RayCpusOption = 1.0,
    ray_gpus_per_shard: RayGpusOption = 0.0,
) -> None:
    """Run an ad-hoc sweep: commas separate the values of each grid axis.

    \b
    Examples:
      gdlab sweep --data wine --hidden 8-5-2 --optimizer sgd,adam --lr 0.01,0.05 --epochs 20
      gdlab sweep --data banknotes.csv --target class --batch-size 16,32,64,128 --seeds 10
      gdlab sweep --hidden 8-5-2 --optimizer adam --epochs 50 --validation-split 0.2 \\
                  --patience 3 --restore-best --tensorboard --checkpoints
      gdlab sweep --data notes.csv --target class --sample-weight w --class-weight none,balanced
      gdlab sweep --data houses.csv --target price --hidden 16-8 --metrics mae,rmse
      gdlab sweep --data big.csv --target y --hidden 64-64 --seeds 50 --ray auto
    """
    from gdlab.study import DataSpec, OutputSpec, StudySpec, SweepEntry

    executor = _executor(ray, ray_cpus_per_shard, ray_gpus_per_shard)
    grid: dict[str, list[Any]] = {}
    axes = {
        "hidden": _split_values(hidden),
        "activation": _split_values(activation),
        "optimizer": _split_values(optimizer),
        "batch_size": _numbers(batch_size, int, "--batch-size"),
        "kernel_initializer": _split_values(init),
        "class_weight": _class_weights(class_weight),
    }
    if lr is not None:
        axes["learning_rate"] = _numbers(lr, float, "--lr")
    base: dict[str, Any] = {"epochs": epochs}
    for key, values in axes.items():
        if not values:
            raise typer.BadParameter("needs at least one value", param_hint=f"--{key}")
        if len(values) == 1:
            if key == "class_weight" and values[0] == "none":
                continue  # the default: no class_weight setting at all
            base[key] = values[0]
        else:
            grid[key] = values
    stopping = () if patience is None else (("monitor", monitor), ("patience", patience),
                                            ("restore_best_weights", restore_best))
    entry = SweepEntry(name=name, model=tuple(base.items()),
                       grid=tuple((k, tuple(v)) for k, v in grid.items()),
                       early_stopping=stopping, noise_scale=noise_scale)
    metric_names = _metric_list(metrics)
    spec = StudySpec(name=name, title=f"Sweep: {name}", seeds=tuple(range(seeds)),
                     data=DataSpec(source=data, target=target,
                                   validation_split=validation_split,
                                   sample_weight=sample_weight),
                     sweeps=(entry,),
                     metrics=None if metric_names is None else tuple(metric_names),
                     outputs=OutputSpec(tensorboard=tensorboard, checkpoints=checkpoints),
                     quiet_warnings=_quiet(quiet_warnings))
    from gdlab.study import parse_study

    spec = parse_study(spec.to_dict(), origin="the command line")  # validate like a file
    _run(spec, out, None, executor)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Rebuild a run's figures and report.html from its saved results."""
    from gdlab.report import write_figures, write_report
    from gdlab.runner import load_run

    run = load_run(run_dir)
    write_figures(run)
    print(f"Report: {write_report(run)}")


@app.command()
def studies() -> None:
    """List the built-in studies."""
    from gdlab.study import builtin_studies

    for name, title in builtin_studies().items():
        print(f"{name}  {title}")
