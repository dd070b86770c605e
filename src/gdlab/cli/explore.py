"""``gdlab explore``: class balance, per-feature summary and the course's pairplot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gdlab.cli import app


@app.command()
def explore(
    data: Annotated[str, typer.Argument(
        help="A built-in dataset (banknotes, wine, moons, circles, xor, spiral, blobs) "
             "or a .csv / .parquet file.")],
    target: Annotated[str | None, typer.Option(
        help="Target column of a file (default: its column named class, target, label or y)."
    )] = None,
    out: Annotated[Path, typer.Option(help="Folder for the pairplot PNG.")] = Path("."),
    task: Annotated[str | None, typer.Option(
        help="binary, multiclass or regression (default: inferred from the target).")] = None,
    drop_missing: Annotated[bool, typer.Option(
        "--drop-missing", help="Drop rows with missing values instead of failing.")] = False,
    one_hot: Annotated[bool, typer.Option(
        "--one-hot", help="One-hot encode non-numeric feature columns.")] = False,
    max_rows: Annotated[int, typer.Option(
        min=1, help="Plot a random sample above this many rows.")] = 3000,
    max_features: Annotated[int, typer.Option(
        min=1, help="Plot at most this many features (the first ones).")] = 13,
    plot: Annotated[bool, typer.Option(help="Write the pairplot.")] = True,
    baseline: Annotated[bool, typer.Option(
        "--baseline", help="Also score a RandomForest and a logistic regression "
                           "(5-fold cross-validation).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the row sample and the baseline.")] = 0,
) -> None:
    """Print a dataset's class balance and feature summary, and write its pairplot.

    \b
    Examples:
      gdlab explore banknotes.csv --target class
      gdlab explore wine --out figures --baseline
      gdlab explore moons
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from gdlab import datasets
    from gdlab import explore as ex

    if datasets.is_file_reference(data):
        options = {"task": task, "missing": "drop" if drop_missing else "error",
                   "categorical": "onehot" if one_hot else "error"}
        dataset = datasets.load(data, target=target, **options)
    else:
        dataset = datasets.load(data, target=target)
        if task is not None and task != dataset.task:
            from gdlab.errors import ConfigError

            raise ConfigError(f"--task applies to files; the {data} dataset is "
                              f"{dataset.task}.")

    console = Console()
    kind = (f"{dataset.n_classes} classes" if dataset.class_names is not None
            else "regression target")
    console.print(f"[bold]{dataset.name}[/bold]: {dataset.n_rows} rows, "
                  f"{dataset.n_features} features, {dataset.task} ({kind} in "
                  f"{dataset.target!r}); source: {dataset.source}", soft_wrap=True)

    if dataset.class_names is not None:
        table = Table(title="Class balance")
        for column in ("class", "count", "share"):
            table.add_column(column, justify="left" if column == "class" else "right")
        for row in ex.class_balance(dataset).itertuples(index=False):
            table.add_row(str(row[0]), str(row[1]), f"{row[2]:.1%}")
        console.print(table)
    else:
        y = dataset.y.astype(float)
        console.print(f"Target {dataset.target!r}: mean {y.mean():.4g}, std {y.std(ddof=1):.4g}, "
                      f"min {y.min():.4g}, max {y.max():.4g}")

    # mean, spread and range fit 80 columns even with wine's long names; the
    # quartiles and distinct counts stay in explore.feature_summary's table
    summary = ex.feature_summary(dataset).rename(columns={"50%": "median"})
    shown = ["mean", "std", "min", "median", "max"]
    table = Table(title="Features", box=box.SIMPLE_HEAD)
    table.add_column("feature", no_wrap=True)
    for column in shown:
        table.add_column(column, justify="right", no_wrap=True)
    for feature, row in summary[shown].iterrows():
        table.add_row(str(feature), *(f"{v:.4g}" for v in row))
    console.print(table)

    if baseline:
        from gdlab.baseline import baseline as run_baseline

        scores = run_baseline(dataset, seed=seed)
        table = Table(title="Baselines (5-fold cross-validation)")
        for column in ("model", "metric", "mean", "std"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for row in scores.itertuples(index=False):
            table.add_row(row.model, row.metric, f"{row.cv_mean:.4f}", f"{row.cv_std:.4f}")
        console.print(table)

    if plot:
        info = ex.pairplot(dataset, out / f"{dataset.name}-pairplot.png", max_rows=max_rows,
                           max_features=max_features, seed=seed)
        notes = []
        if info.sampled:
            notes.append(f"a random sample of {info.n_rows} of {info.n_rows_total} rows")
        if len(info.features) < dataset.n_features:
            notes.append(f"the first {len(info.features)} of {dataset.n_features} features")
        console.print(f"Pairplot written to {info.path}"
                      + (f" ({'; '.join(notes)})" if notes else ""), soft_wrap=True)
