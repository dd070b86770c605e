"""The ``gdlab`` command line (typer + rich).

Errors that are the user's to fix (bad flags, bad data, bad settings) print one
line and exit with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gdlab import __version__

app = typer.Typer(
    name="gdlab",
    help="gdlab, the gradient descent lab: train many small dense networks at once and see "
         "how learning rate, batch size, optimizer and initialization change training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_DEBUG = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gdlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _DEBUG
    _DEBUG = debug


@app.command()
def demo(
    data: Annotated[Path | None, typer.Option(
        help="A CSV file (default: the UCI wine data shipped with scikit-learn).")] = None,
    target: Annotated[str, typer.Option(help="Target column of --data.")] = "class",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs to train.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the course's logistic regression with SGD and print its history.

    \b
    Examples:
      gdlab demo
      gdlab demo --data banknotes.csv --target class --epochs 20
    """
    import numpy as np
    import pandas as pd
    from rich.console import Console
    from rich.table import Table
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import gdlab.keras as gk
    from gdlab.errors import DataError

    if data is None:
        from sklearn.datasets import load_wine

        bunch = load_wine()
        x, y, name = bunch.data, bunch.target, "wine (scikit-learn's copy of UCI wine)"
    else:
        df = pd.read_csv(data)
        if target not in df.columns:
            raise DataError(
                f"Column {target!r} is not in {data}; its columns are: {', '.join(df.columns)}."
            )
        x, y, name = df.drop(columns=[target]).to_numpy(float), df[target].to_numpy(), str(data)
    classes, y = np.unique(y, return_inverse=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=42,
                                              stratify=y)
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)

    gk.utils.set_random_seed(seed)
    model = gk.Sequential()
    if len(classes) == 2:
        model.add(gk.layers.Dense(1, input_shape=(x.shape[1],), activation="sigmoid"))
        loss = "binary_crossentropy"
    else:
        model.add(gk.layers.Dense(len(classes), input_shape=(x.shape[1],), activation="softmax"))
        loss = "sparse_categorical_crossentropy"
    model.compile(loss=loss, optimizer="sgd", metrics=["accuracy"])
    history = model.fit(x_tr, y_tr, epochs=epochs, verbose=0)
    test_loss, test_acc = model.evaluate(x_te, y_te, verbose=0)

    console = Console()
    table = Table(title=f"Logistic regression with SGD(learning_rate=0.01) on {name}")
    table.add_column("epoch", justify="right")
    for key in history.history:
        table.add_column(key, justify="right")
    for i, epoch in enumerate(history.epoch):
        table.add_row(str(epoch + 1), *(f"{v[i]:.4f}" for v in history.history.values()))
    console.print(table)
    console.print(f"Test accuracy: {test_acc * 100:.1f} % (loss {test_loss:.4f}) on "
                  f"{len(y_te)} held-out rows; {len(classes)} classes, {x.shape[1]} features.")


def main() -> None:
    """Entry point: run the app, turning gdlab's errors into one line and exit code 2."""
    from gdlab.errors import GdlabError

    try:
        app(standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        sys.exit(130)
    except (GdlabError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
        if _DEBUG:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except typer.TyperException as e:  # usage errors: bad flags or values
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if message:  # empty after `gdlab` alone, which has printed the help
            print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:
        if _DEBUG:
            raise
        print(f"error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        sys.exit(1)
