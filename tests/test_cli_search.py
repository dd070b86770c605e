"""``gdlab search``: the ranking printed, the files written, errors as one line and exit 2."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gdlab.cli.search import split_list
from gdlab.errors import ConfigError

MOONS = ["search", "--data", "moons", "--hidden", "4", "--goal", "val_accuracy>=0.85",
         "--within", "15", "--seeds", "3", "--budget", "10", "--activations", "relu,tanh",
         "--initializers", "glorot_uniform", "--optimizers", "sgd,adam",
         "--learning-rates", "0.0001,0.05", "--batch-sizes", "16", "--confirm-seeds", "2"]


def test_search_prints_the_ranking_and_writes_its_files(cli, tmp_path) -> None:
    code, out, err = cli(*MOONS, "--out", str(tmp_path), "--animate")
    assert (code, err) == (0, "")
    assert ("Searching 8 of 8 settings of 4 on moons for val_accuracy >= 0.85 within 15 "
            "epochs, each on 3 seeds (then again on 2 fresh seeds).") in out
    assert "Data: 112 training, 28 validation (stratified by class), 60 test rows" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("1 ")]
    assert rows[0] == ["1", "tanh,", "glorot_uniform,", "adam,", "0.05,", "16", "3/3", "7",
                       "2/2"]
    assert ("Winner: 4 tanh, glorot_uniform, adam lr=0.05, batch 16: reached val_accuracy >= "
            "0.85 in 3 of 3 seeds (median 7 epochs); on 2 fresh seeds in 2.") in out
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert ranking.loc[0, ["activation", "optimizer", "learning_rate"]].tolist() == [
        "tanh", "adam", 0.05]
    assert len(ranking) == 8 and ranking["rank"].tolist() == list(range(1, 9))
    summary = json.loads((tmp_path / "search.json").read_text())
    assert summary["goal"] == "val_accuracy >= 0.85" and summary["winner"]["reached"] == 3
    assert summary["data"]["split"]["validation"] == "stratified"
    assert len(pd.read_csv(tmp_path / "convergence.csv")) == 8
    for name in ("ranking.png", "convergence.png", "representation.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (tmp_path / "representation.gif").read_bytes()[:6] == b"GIF89a"
    assert f"Wrote {tmp_path / 'ranking.csv'}" in out


@pytest.mark.parametrize("args, message", [
    (["--goal", "val_accuracy=1"], "error: Unknown comparison '=' in the goal 'val_accuracy=1': "
                                   "use one of >=, >, <=, < (e.g. 'val_accuracy>=1')."),
    (["--learning-rates", "0.1,fast"], "error: --learning-rates takes numbers separated by "
                                       "commas; 'fast' is not one."),
    (["--optimizers", "adam,SGD(momentum=0.9"], "error: Unbalanced parentheses in --optimizers"),
    (["--activations", "relu,,tanh"], "error: --activations 'relu,,tanh' has an empty item"),
    (["--activations", "rleu"], "error: Unknown activation 'rleu'. Did you mean 'relu'?"),
    (["--animate"], "error: --animate writes a GIF into --out; give --out DIR."),
    (["--validation", "first"], "error: --validation must be stratified or last, got 'first'."),
    (["--within", "0"], "Invalid value for '--within'"),
])
def test_search_errors_are_one_line(cli, args, message) -> None:
    code, out, err = cli(*MOONS, *args)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_an_unknown_dataset_is_named(cli) -> None:
    code, _, err = cli("search", "--data", "wines")
    assert code == 2 and err.startswith("error: Unknown dataset 'wines'. Did you mean 'wine'?")


def test_lists_split_at_top_level_commas() -> None:
    assert split_list("adam, SGD(learning_rate=0.1, momentum=0.9),rmsprop", "optimizers") == [
        "adam", "SGD(learning_rate=0.1, momentum=0.9)", "rmsprop"]
    with pytest.raises(ConfigError, match="Unbalanced parentheses"):
        split_list("adam)", "optimizers")
