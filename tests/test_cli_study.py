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
