"""``gdlab lr-find`` and ``gdlab landscape``: files written, a summary printed, one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

PNG = b"\x89PNG\r\n\x1a\n"



def test_lr_find_writes_figure_tables_and_suggestions(cli, banknotes_path,
                                                      tmp_path) -> None:
    code, out, err = cli("lr-find", "--data", str(banknotes_path),
                         "--target", "class", "--optimizer", "sgd,adam", "--batch-size", "16",
                         "--min", "1e-4", "--max", "10", "--steps", "60", "--seeds", "3",
                         "--out", str(tmp_path))
    assert (code, err) == (0, "")
    assert "Learning-rate range test on banknotes: 0.0001 to 10" in out
    assert "over 60 updates of batch 16, 3 seed(s)" in out
    suggestions = pd.read_csv(tmp_path / "lr-find-suggestions.csv")
    assert suggestions.optimizer.tolist() == ["SGD", "Adam"]
    for row in suggestions.itertuples():
        assert f"{row.optimizer}: {row.reason}" in out.replace("\n", " ")
        assert 1e-4 <= row.suggested_lr <= 10
    tidy = pd.read_parquet(tmp_path / "lr-find.parquet")
    assert len(tidy) == 2 * 3 * 60
    assert tidy.learning_rate.min() == pytest.approx(1e-4)
    assert tidy.learning_rate.max() == pytest.approx(10)
    assert (tmp_path / "lr-find.png").read_bytes()[:8] == PNG
    assert out.strip().splitlines()[-1] == (f"Written to {tmp_path}: lr-find.png, "
                                            "lr-find.parquet, lr-find-suggestions.csv")


def test_landscape_compares_optimizers(cli, tmp_path) -> None:
    code, out, err = cli("landscape", "--data", "moons", "--hidden", "4",
                         "--optimizer", "sgd,adam", "--epochs", "2", "--seeds", "2",
                         "--points", "5", "--out", str(tmp_path))
    assert (code, err) == (0, "")
    summary = pd.read_csv(tmp_path / "landscape-summary.csv")
    assert summary.setting.tolist() == ["sgd", "adam"]
    for row in summary.itertuples():
        line = next(li for li in out.splitlines() if li.startswith(f"│ {row.setting} "))
        assert f"{row.initial_loss:.4g}" in line and f"{row.final_loss:.4g}" in line
    tidy = pd.read_parquet(tmp_path / "landscape.parquet")
    assert set(tidy.slice) == {"line", "plane"}
    assert len(tidy[tidy.slice == "plane"]) == 5 * 5 * 2 * 2 * 4
    for name in ("landscape-line.png", "landscape-plane.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["lr-find", "--data", "moons", "--min", "10", "--max", "1"],
         ["`max_lr` (1) must be larger than `min_lr` (10)"]),
        (["lr-find", "--data", "moons", "--optimizer", "sgd,adamm"],
         ["Unknown optimizer 'adamm'", "Adam"]),
        (["lr-find", "--data", "moons", "--scale", "zscore"],
         ["Unknown --scale 'zscore'", "standard, minmax, none, course"]),
        (["landscape", "--data", "moons", "--span", "0"], ["`span` must be a number > 0"]),
        (["landscape", "--data", "moons", "--batch-size", "16,big"],
         ["--batch-size", "'big' is not an integer"]),
    ],
)
def test_errors_are_one_line_with_exit_code_2(cli, tmp_path, args,
                                               words) -> None:
    code, out, err = cli(*args, "--out", str(tmp_path))
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w in lines[0], lines[0]
