"""``gdlab demo``: the course's logistic regression, printed history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gdlab.cli import app


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
