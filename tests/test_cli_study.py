"""The command line: studies, ad-hoc sweeps, reports; one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

TINY = """
name = "cli-tiny"
seeds = 2
[data]
source = "wine"
[model]
optimizer = "sgd"
epochs = 2
[[sweeps]]
name = "lr"
grid = { learning_rate = [0.05, 0.5] }
[baseline]
enabled = false
[outputs]
figures = false
report = false
"""


def assert_one_line_error(result: tuple[int, str, str], code: int, *words: str) -> None:
    returncode, _, err = result
    assert returncode == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def test_study_file_runs_and_ends_with_the_report_path(cli, tmp_path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "run"
    code, stdout, err = cli("study", str(path), "--out", str(out))
    assert code == 0, err
    assert stdout.strip().splitlines()[-1] == f"Report: {out}"
    assert "lr: final metrics over 2 seeds" in stdout
    tidy = pd.read_parquet(out / "results.parquet")
    assert set(tidy.learning_rate) == {0.05, 0.5}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].startswith("gdlab study")


def test_adhoc_sweep_with_comma_separated_axes(cli, tmp_path) -> None:
    out = tmp_path / "sweep"
    code, _, err = cli("sweep", "--data", "wine", "--hidden", "0,4", "--optimizer",
                       "sgd,Adam(learning_rate=0.01, beta_1=0.8)", "--epochs", "2", "--seeds", "2",
                       "--out", str(out))
    assert code == 0, err
    tidy = pd.read_parquet(out / "results.parquet")
    assert set(tidy.hidden) == {"0", "4"}
    assert set(tidy.optimizer) == {"sgd", "Adam(learning_rate=0.01, beta_1=0.8)"}
    assert (out / "report.html").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["study", "--seeds", "0"], ["--seeds", "greater than or equal to 1"]),
        (["study", "no-such-study"], ["No built-in study or file named 'no-such-study'"]),
        (["sweep", "--lr", "0.1,fast"], ["--lr", "'fast' is not a number"]),
        (["sweep", "--optimizer", "sgd,adamm"], ["Unknown optimizer 'adamm'", "Adam"]),
        (["sweep", "--init", "he_norml"], ["Unknown initializer 'he_norml'", "he_normal"]),
        (["sweep", "--batch-size", "0"], ["batch_size", "must be an integer >= 1, got 0"]),
        (["sweep", "--data", "no_such.csv"], ["no_such.csv"]),
        (["study", "--bogus"], ["No such option: --bogus"]),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(cli, monkeypatch, args, words, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli(*args), 2, *words)
    assert not (tmp_path / "runs").exists()  # nothing written for a run that cannot start


def test_bad_study_file_names_the_key(cli, tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace("learning_rate =", "learning_rat ="))
    assert_one_line_error(cli("study", str(path)), 2, "bad.toml", "learning_rat",
                          "learning_rate")


def test_studies_lists_the_builtins_and_version(cli) -> None:
    code, out, _ = cli("studies")
    assert code == 0 and out.startswith("gradient-descent")
    assert cli("--version")[1].startswith("gdlab ")


def test_the_installed_command_runs() -> None:
    """`python -m gdlab` (the entry point the README's commands use) runs in a fresh process."""
    done = subprocess.run([sys.executable, "-m", "gdlab", "studies"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("gradient-descent")


def test_report_rebuilds_a_run(cli, tmp_path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.replace("report = false", "report = true"))
    out = tmp_path / "run"
    assert cli("study", str(path), "--out", str(out))[0] == 0
    (out / "report.html").unlink()
    code, _, err = cli("report", str(out))
    assert code == 0, err
    assert (out / "report.html").exists()
    assert_one_line_error(cli("report", str(tmp_path)), 2, "not a gdlab run directory")


@pytest.mark.slow
def test_builtin_study_on_banknotes_says_which_settings_to_trust(cli, banknotes_path, tmp_path,
                                                                  monkeypatch) -> None:
    """Issue 11's acceptance: the course's study, 10 seeds, names what differs from the best."""
    import html as html_lib
    import re

    import numpy as np
    from scipy import stats

    monkeypatch.setenv("COLUMNS", "250")  # rich tables on one line per row
    out = tmp_path / "run"
    code, stdout, err = cli("study", "--data", str(banknotes_path), "--target", "class",
                            "--seeds", "10", "--out", str(out))
    assert code == 0, err
    html = (out / "report.html").read_text()
    assert "Batch sizes: counted in updates" in html
    assert (out / "figures" / "batch_size-curves-updates.png").exists()
    rows_printed = [[c.strip() for c in re.split(r"[│┃]", ln)[1:-1]]
                    for ln in stdout.splitlines() if ln.startswith(("│", "┃"))]
    tidy = pd.read_parquet(out / "results.parquet")
    for sweep in ("optimizer", "initializer"):
        assert f"{sweep}: final metrics over 10 seeds" in stdout
        # The paired comparison, recomputed here from the tidy results alone.
        rows = tidy[(tidy.sweep == sweep) & (tidy.metric == "test_accuracy")]
        last = rows[rows.epoch == rows.groupby("config").epoch.transform("max")]
        order = last.drop_duplicates("config").sort_values("config").setting.tolist()
        table = last.pivot_table(index="setting", columns="seed", values="value").loc[order]
        best = table.mean(axis=1).idxmax()
        same, worse = [], []
        for setting, values in table.iterrows():
            d = (values - table.loc[best]).to_numpy()
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            if setting != best:
                (worse if d.mean() + half < 0 or d.mean() - half > 0 else same).append(setting)
        assert worse, f"{sweep}: 10 seeds on banknotes should tell some setting from the best"
        # The report's "What to trust" says exactly that ...
        if same:
            expected = (f"indistinguishable from it: {', '.join(same)}; "
                        f"distinguishable: {', '.join(worse)}.")
        else:
            expected = "every other setting is distinguishable from it."
        line = next(seg for seg in html.split("<b>")
                    if "(final test accuracy, 10 seeds, paired)" in seg
                    and f"best <i>{html_lib.escape(best)}</i>" in seg)
        assert html_lib.escape(expected) in line, line[:400]
        # ... and so does the printed summary table, in its "vs best" column.
        for setting in same + worse:
            cells = next(r for r in rows_printed if r and r[0] == setting)
            verdict = "distinguishable (" if setting in worse else "indistinguishable ("
            assert cells[-1].startswith(verdict), cells


def _weighted_csv(path, regression: bool = False) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    signal = x @ np.array([1.0, -2.0, 0.5])
    df["class" if not regression else "y"] = (signal + 0.3 * rng.normal(size=120)
                                              if regression else (signal > 0.8).astype(int))
    df["w"] = rng.uniform(0.0, 3.0, 120).round(3)
    df.to_csv(path, index=False)


def test_sweep_with_sample_weights_class_weight_axis_and_metrics_repeats_from_its_study(
        cli, tmp_path) -> None:
    data = tmp_path / "notes.csv"
    _weighted_csv(data)
    out = tmp_path / "run"
    code, stdout, err = cli("sweep", "--data", str(data), "--target", "class", "--sample-weight",
                            "w", "--class-weight", "none,balanced,{0:1,1:2.5}", "--metrics",
                            "accuracy,mse", "--epochs", "2", "--seeds", "2", "--out", str(out))
    assert code == 0, err
    tidy = pd.read_parquet(out / "results.parquet")
    assert list(dict.fromkeys(tidy.class_weight)) == ["none", "balanced", "0:1,1:2.5"]
    assert {"accuracy", "mse", "test_accuracy", "test_mse"} <= set(tidy.metric)
    assert "class" not in set(tidy.columns) and "w" not in set(tidy.columns)
    import tomllib

    doc = tomllib.loads((out / "study.toml").read_text())
    assert doc["data"]["sample_weight"] == "w" and doc["metrics"] == ["accuracy", "mse"]
    assert doc["sweeps"][0]["grid"]["class_weight"] == ["none", "balanced",
                                                        {"0": 1.0, "1": 2.5}]
    html = (out / "report.html").read_text()
    assert "Rows are weighted by the column <code>w</code>" in html
    # The resolved study.toml repeats the run exactly, weights and all.
    again = tmp_path / "again"
    code, _, err = cli("study", str(out / "study.toml"), "--out", str(again))
    assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_parquet(again / "results.parquet"), tidy)
    # Without the weights, the same sweep trains other numbers.
    plain = tmp_path / "plain"
    assert cli("sweep", "--data", str(data), "--target", "class", "--class-weight",
               "none,balanced,{0:1,1:2.5}", "--metrics", "accuracy,mse", "--epochs", "2",
               "--seeds", "2", "--out", str(plain))[0] == 0
    other = pd.read_parquet(plain / "results.parquet")
    assert not (other.value.to_numpy() == tidy.value.to_numpy()).all()


def test_regression_sweep_prints_its_metric(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    data = tmp_path / "houses.csv"
    _weighted_csv(data, regression=True)
    out = tmp_path / "run"
    code, stdout, err = cli("sweep", "--data", str(data), "--target", "y", "--hidden", "4",
                            "--lr", "0.01,0.05", "--epochs", "2", "--seeds", "2", "--out",
                            str(out))
    assert code == 0, err
    header = next(line for line in stdout.splitlines() if "setting" in line)
    assert "mae" in header and "test mae" in header and "vs best (test mae, paired)" in header
    assert set(pd.read_parquet(out / "results.parquet").metric) == {
        "loss", "mae", "test_loss", "test_mae"}


def test_sweep_help_shows_the_weight_and_metric_options(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli("sweep", "--help")
    assert code == 0
    for text in ("--sample-weight", "--class-weight", "--metrics", "none,balanced",
                 "--metrics mae,rmse"):
        assert text in out, text
    code, out, _ = cli("study", "--help")
    assert code == 0 and "--sample-weight" in out and "--metrics" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sweep", "--data", "notes.csv", "--target", "class", "--sample-weight", "W"],
         ["Sample-weight column 'W' is not in notes.csv", "Did you mean 'w'?"]),
        (["sweep", "--sample-weight", "w"], ["names a column of a data file", "'wine'"]),
        (["study", "--sample-weight", "w"], ["--sample-weight names a column of a data file"]),
        (["sweep", "--metrics", "maee"], ["Unknown metric 'maee'", "Did you mean 'mae'?"]),
        (["study", "--metrics", "accuray"], ["--metrics", "Unknown metric 'accuray'"]),
        (["sweep", "--class-weight", "none,0:1,1:3"], ["--class-weight", "grouped in braces"]),
        (["sweep", "--class-weight", "balancd"], ["Cannot read class weights 'balancd'"]),
        (["study", "--class-weight", "0:1,1"], ["Cannot read class weights '0:1,1'"]),
        (["sweep", "--data", "houses.csv", "--target", "y", "--metrics", "accuracy"],
         ["Metric 'accuracy' needs classes", "'mae'"]),
        (["sweep", "--data", "houses.csv", "--target", "y", "--class-weight", "balanced"],
         ["weighs rows by their class", "sample-weight column"]),
        (["study", "--resume", "runs/x", "--metrics", "mae"], ["--resume takes the run "
                                                               "directory only"]),
    ],
)
def test_bad_weight_and_metric_flags_give_one_line_and_exit_2(cli, monkeypatch, tmp_path, args,
                                                              words) -> None:
    monkeypatch.chdir(tmp_path)
    _weighted_csv(tmp_path / "notes.csv")
    _weighted_csv(tmp_path / "houses.csv", regression=True)
    assert_one_line_error(cli(*args), 2, *words)
    assert not (tmp_path / "runs").exists()  # nothing written for a run that cannot start
