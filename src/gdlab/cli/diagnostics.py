"""``gdlab lr-find`` and ``gdlab landscape``: figures and tidy tables in an --out directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gdlab.cli import DataOption, TargetOption, app

_SCALES = ("standard", "minmax", "none", "course")


def _prepared(data: str, target: str | None, scale: str) -> Any:
    from gdlab import datasets
    from gdlab.errors import ConfigError
    from gdlab.preprocessing import prepare

    if scale not in _SCALES:
        raise ConfigError(f"Unknown --scale {scale!r}; choose one of {', '.join(_SCALES)}.")
    return prepare(datasets.load(data, target=target), scale=scale)


def _values(text: str, flag: str) -> list[str]:
    from gdlab.cli.study import _split_values

    values = _split_values(text)
    if not values:
        raise typer.BadParameter("needs at least one value", param_hint=flag)
    return values


def _out_dir(out: Path | None, name: str) -> Path:
    from gdlab.artifacts import ensure_writable
    from gdlab.runner import default_out_dir

    return ensure_writable(out or default_out_dir(name))


def _save_figure(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from gdlab.artifacts import atomic_write

    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png", bbox_inches="tight"))
    plt.close(fig)
    return path


def _save_table(df: Any, path: Path) -> Path:
    from gdlab.artifacts import atomic_write

    if path.suffix == ".parquet":
        return atomic_write(path, lambda p: df.to_parquet(p, index=False))
    return atomic_write(path, df.to_csv(index=False))


@app.command("lr-find")
def lr_find(
    data: DataOption = "wine",
    target: TargetOption = None,
    optimizer: Annotated[str, typer.Option(
        help="Optimizer(s), comma-separated, all tested at once (sgd,adam,'SGD(momentum=0.9)'); "
             "their learning rates are replaced by the test's.")] = "sgd",
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes joined by dashes; 0 = none.")
                      ] = "0",
    activation: Annotated[str, typer.Option(help="Hidden activation.")] = "relu",
    init: Annotated[str, typer.Option(help="Kernel initializer.")] = "glorot_uniform",
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = 32,
    min_lr: Annotated[float, typer.Option("--min", help="First learning rate.")] = 1e-6,
    max_lr: Annotated[float, typer.Option("--max", help="Last learning rate.")] = 10.0,
    steps: Annotated[int | None, typer.Option(
        min=5, help="Updates in the test (default: those of --epochs).")] = None,
    epochs: Annotated[int | None, typer.Option(
        min=1, help="Length of the test in epochs (default 5).")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds, all run at once.")] = 10,
    smoothing: Annotated[float, typer.Option(
        help="Beta of the loss's moving average (fastai uses 0.98).")] = 0.9,
    diverge: Annotated[float, typer.Option(
        help="Stop a curve once its smoothed loss exceeds this multiple of its best.")] = 4.0,
    scale: Annotated[str, typer.Option(help="Feature scaling: standard, minmax, none, course.")
                     ] = "standard",
    out: Annotated[Path | None, typer.Option(
        help="Output directory (default: runs/lr-find-DATE-TIME).")] = None,
) -> None:
    """Learning-rate range test: train while the learning rate grows, suggest a rate.

    \b
    Writes lr-find.png, lr-find.parquet (loss per update, seed and optimizer)
    and lr-find-suggestions.csv (the suggestions and how they were chosen).

    \b
    Examples:
      gdlab lr-find --data banknotes --batch-size 16
      gdlab lr-find --data wine --hidden 8-5-2 --optimizer sgd,adam,rmsprop --max 100
    """
    from rich.console import Console
    from rich.table import Table

    from gdlab import diagnostic_plots
    from gdlab import lr_find as lf

    out_dir = _out_dir(out, "lr-find")
    prepared = _prepared(data, target, scale)
    test = lf.lr_find(prepared, _values(optimizer, "--optimizer"), min_lr=min_lr, max_lr=max_lr,
                      steps=steps, epochs=epochs, batch_size=batch_size, seeds=seeds,
                      smoothing=smoothing, diverge=diverge, hidden=hidden,
                      activation=activation, kernel_initializer=init)
    suggestions = test.suggestions()
    _save_figure(diagnostic_plots.plot_lr_find(test), out_dir / "lr-find.png")
    _save_table(test.tidy(), out_dir / "lr-find.parquet")
    _save_table(suggestions, out_dir / "lr-find-suggestions.csv")

    console = Console()
    s = test.settings
    title = (f"Learning-rate range test on {prepared.dataset or data}: {min_lr:g} to "
             f"{max_lr:g} over {s['steps']} updates of batch {batch_size}, {seeds} seed(s)")
    table = Table(title=title, title_justify="left")
    for column in ("optimizer", "suggested lr", "min/10", "seeds stopped"):
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    for row in suggestions.itertuples(index=False):
        table.add_row(row.optimizer, _num(row.suggested_lr), _num(row.below_minimum_lr),
                      f"{row.seeds_stopped} of {row.seeds}")
    console.print(table)
    for row in suggestions.itertuples(index=False):
        console.print(f"[bold]{row.optimizer}[/bold]: {row.reason}", soft_wrap=True,
                      highlight=False)
    console.print(f"Written to {out_dir}: lr-find.png, lr-find.parquet, "
                  "lr-find-suggestions.csv", soft_wrap=True, highlight=False)


def _num(v: float) -> str:
    return f"{v:.3g}" if v == v else "-"


@app.command()
def landscape(
    data: DataOption = "wine",
    target: TargetOption = None,
    hidden: Annotated[str, typer.Option(
        help="Hidden layer sizes joined by dashes; commas compare several (0,8-5-2).")] = "0",
    activation: Annotated[str, typer.Option(help="Hidden activation(s), comma-separated.")
                          ] = "relu",
    optimizer: Annotated[str, typer.Option(
        help="Optimizer(s), comma-separated, compared side by side (sgd,'Adam(learning_rate="
             "0.01)').")] = "sgd",
    lr: Annotated[str | None, typer.Option(help="Learning rate(s), comma-separated.")] = None,
    batch_size: Annotated[str, typer.Option(help="Batch size(s), comma-separated.")] = "32",
    init: Annotated[str, typer.Option(help="Kernel initializer(s), comma-separated.")
                    ] = "glorot_uniform",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of training.")] = 10,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per setting.")] = 3,
    points: Annotated[int, typer.Option(min=3, help="Plane points per axis.")] = 21,
    span: Annotated[float, typer.Option(
        help="The plane reaches this far along each direction (1 = the weights' size).")] = 1.0,
    plane: Annotated[bool, typer.Option(help="Also compute the 2-D plane.")] = True,
    direction_seed: Annotated[int, typer.Option(min=0, help="Seed of the plane's directions.")
                              ] = 0,
    scale: Annotated[str, typer.Option(help="Feature scaling: standard, minmax, none, course.")
                     ] = "standard",
    out: Annotated[Path | None, typer.Option(
        help="Output directory (default: runs/landscape-DATE-TIME).")] = None,
) -> None:
    """Loss-landscape slices: train, then evaluate the line from initial to final weights
    and a plane around the final weights.

    \b
    Writes landscape-line.png, landscape-plane.png, landscape.parquet (every
    point, seed, configuration and metric) and landscape-summary.csv.

    \b
    Examples:
      gdlab landscape --data banknotes --optimizer 'SGD(learning_rate=0.1)',adam
      gdlab landscape --data wine --hidden 8-5-2 --batch-size 8,128 --epochs 20
    """
    from rich.console import Console
    from rich.table import Table

    from gdlab import diagnostic_plots
    from gdlab import landscape as ls
    from gdlab.cli.study import _numbers
    from gdlab.sweeps import sweep

    ls.plane_coords(span, points)  # check the plane's settings before training
    out_dir = _out_dir(out, "landscape")
    prepared = _prepared(data, target, scale)
    axes: dict[str, list[Any]] = {
        "hidden": _values(hidden, "--hidden"),
        "activation": _values(activation, "--activation"),
        "optimizer": _values(optimizer, "--optimizer"),
        "batch_size": _numbers(batch_size, int, "--batch-size"),
        "kernel_initializer": _values(init, "--init"),
    }
    if lr is not None:
        axes["learning_rate"] = _numbers(lr, float, "--lr")
    base: dict[str, Any] = {"epochs": epochs}
    grid: dict[str, list[Any]] = {}
    for key, values in axes.items():
        if len(values) == 1:
            base[key] = values[0]
        else:
            grid[key] = values
    result = sweep(prepared, grid=grid or None, seeds=seeds, name="landscape", progress=False,
                   **base)
    land = ls.sweep_landscape(result, prepared, span=span, points=points, plane=plane,
                              direction_seed=direction_seed)
    summary = land.summary()
    written = ["landscape-line.png"]
    _save_figure(diagnostic_plots.plot_landscape_line(land), out_dir / "landscape-line.png")
    if plane:
        _save_figure(diagnostic_plots.plot_landscape_plane(land),
                     out_dir / "landscape-plane.png")
        written.append("landscape-plane.png")
    _save_table(land.tidy(), out_dir / "landscape.parquet")
    _save_table(summary, out_dir / "landscape-summary.csv")
    written += ["landscape.parquet", "landscape-summary.csv"]

    console = Console()
    title = (f"Loss landscape on {prepared.dataset or data}: training loss along the line "
             f"from initial to final weights (median over {seeds} seed(s))")
    table = Table(title=title, title_justify="left")
    columns = ["setting", "initial", "final", "barrier", "monotonic"]
    if "plane_max_loss" in summary:
        columns.append("plane max")
    for column in columns:
        table.add_column(column, justify="left" if column == "setting" else "right")
    for row in summary.itertuples(index=False):
        cells = [str(row.setting), f"{row.initial_loss:.4g}", f"{row.final_loss:.4g}",
                 f"{row.barrier:.3g}", "yes" if row.monotonic else "no"]
        if "plane_max_loss" in summary:
            cells.append(f"{row.plane_max_loss:.4g}")
        table.add_row(*cells)
    console.print(table)
    console.print(f"Written to {out_dir}: {', '.join(written)}", soft_wrap=True,
                  highlight=False)
