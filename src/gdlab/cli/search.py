"""``gdlab search``: settings with which an architecture reaches a goal within K epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gdlab.cli import app


def split_list(text: str, what: str) -> list[str]:
    """``"adam, SGD(learning_rate=0.1, momentum=0.9)"`` -> two items (commas inside
    parentheses do not split)."""
    from gdlab.errors import ConfigError

    items, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                break
        if ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    if depth != 0:
        raise ConfigError(f"Unbalanced parentheses in --{what} {text!r}.")
    if any(not item for item in items):
        raise ConfigError(f"--{what} {text!r} has an empty item; separate values with commas, "
                          "e.g. 'relu,tanh'.")
    return items


def _numbers(text: str, what: str, kind: type) -> list[Any]:
    from gdlab.errors import ConfigError

    out = []
    for item in split_list(text, what):
        try:
            out.append(kind(item))
        except ValueError:
            raise ConfigError(f"--{what} takes {'integers' if kind is int else 'numbers'} "
                              f"separated by commas; {item!r} is not one.") from None
    return out


def _fmt(value: Any, digits: int = 3) -> str:
    import math

    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


@app.command()
def search(
    data: Annotated[str, typer.Option(
        help="A built-in dataset (wine, banknotes, moons, circles, xor, spiral, blobs) or a "
             ".csv / .parquet file.")],
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes, e.g. 8-5-2.")] = "8-5-2",
    goal: Annotated[str, typer.Option(
        help="The target: a metric, a comparison (>=, >, <=, <) and a number.")]
        = "val_accuracy>=1.0",
    within: Annotated[int, typer.Option(min=1, help="Epochs allowed (each run trains "
                                                    "this many).")] = 20,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per candidate.")] = 10,
    budget: Annotated[int, typer.Option(min=1, help="Candidate settings screened.")] = 64,
    out: Annotated[Path | None, typer.Option(
        help="Folder for ranking.csv, convergence.csv, search.json and the figures.")] = None,
    target: Annotated[str | None, typer.Option(help="Target column of a file.")] = None,
    activations: Annotated[str, typer.Option(help="Activations to try (comma-separated).")]
        = "relu,tanh,elu,selu",
    initializers: Annotated[str, typer.Option(help="Kernel initializers to try.")]
        = "glorot_uniform,he_normal,lecun_normal",
    optimizers: Annotated[str, typer.Option(
        help="Optimizers to try: names or course-style strings.")]
        = "adam,rmsprop,nadam,SGD(momentum=0.9)",
    learning_rates: Annotated[str, typer.Option(help="Learning rates to try.")]
        = "0.003,0.01,0.03,0.1",
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes to try.")] = "4,8,16,32",
    confirm_seeds: Annotated[int, typer.Option(
        min=0, help="Train every candidate again on this many fresh seeds (0: no).")] = 20,
    rank_by: Annotated[str, typer.Option(
        help="screen: rank by the screen's seeds; pooled: by the screen's and the fresh "
             "ones.")] = "screen",
    hold: Annotated[bool, typer.Option(
        "--hold", help="Count a seed only if the goal, once met, holds to the last epoch.")]
        = False,
    validation_split: Annotated[float, typer.Option(
        help="Fraction of the training rows held out for validation.")] = 0.2,
    validation: Annotated[str, typer.Option(
        help="stratified (by class, the default) or last (Keras's last rows).")]
        = "stratified",
    record_on: Annotated[str, typer.Option(
        help="Rows whose hidden representation is drawn: test or val.")] = "test",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the candidate draw.")] = 0,
    top: Annotated[int, typer.Option(min=1, help="Rows of the ranking printed.")] = 10,
    animate: Annotated[bool, typer.Option(
        "--animate", help="Also write the winner's representation as a GIF (with --out).")]
        = False,
) -> None:
    """Search activations, initializers, optimizers, learning rates and batch sizes for
    settings that reach a goal within a number of epochs on most seeds.

    Candidates train together in one compiled program, each on every seed;
    they are ranked by the fraction of seeds that reach the goal, then by the
    median epochs needed. All are trained again on fresh seeds, since the best
    of many noisy fractions flatters itself (--rank-by pooled ranks by all the
    seeds). The validation part is a stratified 20 % of the training rows by
    default (Keras's "last 20 %" of a file sorted by class holds one class).

    \b
    Examples:
      gdlab search --data wine --hidden 8-5-2 --goal 'val_accuracy>=1.0' --within 20
      gdlab search --data moons --hidden 4 --goal 'test_accuracy>=0.95' --within 30 --out runs
    """
    import math
    import time

    from rich import box
    from rich.console import Console
    from rich.table import Table

    from gdlab import datasets, engine
    from gdlab import search as gs
    from gdlab.convergence import parse_goal
    from gdlab.errors import ConfigError
    from gdlab.pitfalls import collect

    # before anything compiles: JAX reads the cache settings at its first compilation
    engine.enable_compilation_cache()
    if validation not in ("stratified", "last"):
        raise ConfigError(f"--validation must be stratified or last, got {validation!r}.")
    if record_on not in ("test", "val"):
        raise ConfigError(f"--record-on must be test or val, got {record_on!r}.")
    if animate and out is None:
        raise ConfigError("--animate writes a GIF into --out; give --out DIR.")
    t0 = time.perf_counter()
    space = gs.SearchSpace(
        activation=tuple(split_list(activations, "activations")),
        kernel_initializer=tuple(split_list(initializers, "initializers")),
        optimizer=tuple(split_list(optimizers, "optimizers")),
        learning_rate=tuple(_numbers(learning_rates, "learning-rates", float)),
        batch_size=tuple(_numbers(batch_sizes, "batch-sizes", int)),
    )
    parsed_goal = parse_goal(goal)
    with collect() as data_warnings:
        dataset = datasets.load(data, target=target)
        prepared = gs.search_data(dataset, validation_split=validation_split,
                                  validation=validation)
    console = Console()
    for w in data_warnings:
        console.print(f"warning ({w.name}): {w.message}", soft_wrap=True)
    n_cands = min(budget, space.size)
    console.print(
        f"Searching {n_cands} of {space.size} settings of {hidden} on {dataset.name} for "
        f"{parsed_goal} within {within} epochs, each on {seeds} seeds"
        + (f" (then again on {confirm_seeds} fresh seeds)." if confirm_seeds else "."),
        soft_wrap=True)
    split = prepared.split
    console.print(
        f"Data: {split['n_train']} training, {split['n_val']} validation"
        + (f" ({'stratified by class' if validation == 'stratified' else 'the last rows'})"
           if split["n_val"] else "")
        + f", {split['n_test']} test rows; scaling {prepared.scaling} "
          f"(fitted on {split['scaler_fit_on']}).", soft_wrap=True)
    result = gs.search(prepared, hidden, parsed_goal, within, seeds=seeds, budget=budget,
                       space=space, confirm_seeds=confirm_seeds,
                       rank_by=rank_by, seed=seed,
                       hold=hold, record_on=record_on, progress=False)

    ranking = result.ranking
    confirmed = ranking["confirm_seeds"].notna().any()
    table = Table(title=f"Best of {len(ranking)}: seeds reaching {parsed_goal} within {within} "
                        "epochs", box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False,
                  show_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("activation, initializer, optimizer, lr, batch")
    for c in ["reached", "epochs"] + (["fresh"] if confirmed else []):
        table.add_column(c, justify="right", no_wrap=True)
    for _, row in ranking.head(top).iterrows():
        settings = (f"{row['activation']}, {row['kernel_initializer']}, {row['optimizer']}, "
                    f"{row['learning_rate']:g}, {row['batch_size']}")
        cells = [str(row["rank"]), settings, f"{row['reached']}/{row['seeds']}",
                 _fmt(row["epochs_median"])]
        if confirmed:
            cells.append(f"{int(row['confirm_reached'])}/{int(row['confirm_seeds'])}")
        table.add_row(*cells)
    console.print(table)
    console.print("reached: seeds that met the goal; epochs: their median epochs to it"
                  + ("; fresh: the same on new seeds" if confirmed else "") + ".",
                  soft_wrap=True)

    best = result.winner_row()
    if best["reached"] == 0:
        console.print(f"No candidate reached {parsed_goal} within {within} epochs on any seed. "
                      "Try a larger --budget, more epochs (--within) or another space.",
                      soft_wrap=True)
    else:
        line = (f"Winner: {result.describe_winner()}: reached {parsed_goal} in "
                f"{best['reached']} of {best['seeds']} seeds (median "
                f"{_fmt(best['epochs_median'])} epochs)")
        if not math.isnan(best["confirm_seeds"]):
            line += (f"; on {int(best['confirm_seeds'])} fresh seeds in "
                     f"{int(best['confirm_reached'])}")
        console.print(line + ".", soft_wrap=True)
    if result.warnings:
        names = sorted({w.name for w in result.warnings})
        console.print(f"Some candidates drew warnings ({', '.join(names)}): expected in a "
                      "search, which tries poor settings too"
                      + ("; their text is in search.json." if out is not None
                         else "; --out writes them to search.json."), soft_wrap=True)
    console.print(f"Took {time.perf_counter() - t0:.1f} s ({result.seconds:.1f} s searching).")

    if out is not None:
        written, notes = write_outputs(result, out, animate=animate)
        for note in notes:
            console.print(note, soft_wrap=True)
        console.print("Wrote " + ", ".join(str(p) for p in written), soft_wrap=True)


def write_outputs(result: Any, out: Path, *, animate: bool = False
                  ) -> tuple[list[Path], list[str]]:
    """The search's files (ranking, convergence table, summary JSON, figures) and notes."""
    import json

    from gdlab import plots

    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "ranking.csv"
    result.ranking.to_csv(path, index=False)
    written.append(path)
    path = out / "convergence.csv"
    result.convergence().to_csv(path, index=False)
    written.append(path)
    path = out / "search.json"
    path.write_text(json.dumps(result.summary(), indent=2, default=str) + "\n")
    written.append(path)
    figures = {"ranking.png": plots.plot_search_ranking(result)}
    top = [int(c) for c in result.ranking["candidate"].head(10)]
    figures["convergence.png"] = plots.plot_convergence(result.screen, result.goal,
                                                        result.within, hold=result.hold,
                                                        configs=top)
    notes = []
    if result.screen.taps.get(result.layer, [None] * (result.winner + 1))[result.winner] is None:
        notes.append(f"No representation figure: the network has no layer {result.layer}.")
    else:
        figures["representation.png"] = result.plot_representation()
    plt = plots._pyplot()
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(out / name)
    if animate and "representation.png" in figures:
        seed = result.winner_seed()
        written.append(plots.animate_representation(
            result.winner_frames(seed), result.labels, out / "representation.gif",
            accuracy=result.winner_history(seed=seed), class_names=result.class_names,
            set_name=result.record_on.capitalize(), title=result.describe_winner()))
    return written, notes
