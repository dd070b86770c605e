"""``gdlab explore``: tables printed, the pairplot written, errors as one line and exit 2."""

from __future__ import annotations

import pytest


def test_explore_course_banknotes(cli, banknotes_path, tmp_path) -> None:
    code, out, err = cli("explore", str(banknotes_path), "--target",
                         "class", "--out", str(tmp_path))
    assert (code, err) == (0, "")
    assert "banknotes: 1372 rows, 4 features, binary" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines()
            if line.count("│") == 4}
    assert "762" in rows["0"] and "55.5%" in rows["0"]
    assert "610" in rows["1"] and "44.5%" in rows["1"]
    assert "variace" in out and "entropy" in out
    png = tmp_path / "banknotes-pairplot.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Pairplot written to {png}" in out


def test_explore_builtin_with_baseline_and_no_plot(cli, tmp_path) -> None:
    code, out, err = cli("explore", "moons", "--no-plot", "--baseline",
                         "--out", str(tmp_path))
    assert (code, err) == (0, "")
    assert "moons: 200 rows, 2 features, binary" in out
    assert "random_forest" in out and "logistic_regression" in out
    assert "Pairplot" not in out and not list(tmp_path.iterdir())


def test_explore_file_options(cli, tmp_path) -> None:
    path = tmp_path / "pets.csv"
    path.write_text("weight,color,kind\n4.0,red,cat\n,blue,dog\n30.5,red,dog\n3.5,blue,cat\n")
    code, out, err = cli("explore", str(path), "--target", "kind",
                         "--drop-missing", "--one-hot", "--no-plot")
    assert (code, err) == (0, "")
    assert "pets: 3 rows, 3 features, binary" in out
    assert "color=red" in out


@pytest.mark.parametrize("args, message", [
    (["--target", "Class"], "error: Target column 'Class' is not in banknotes.csv. Did you mean "
                            "'class'? Its columns are: 'variace', 'skewness', 'curtosis', "
                            "'entropy', 'class'."),
    (["--target", "class", "--max-rows", "0"], "Invalid value for '--max-rows'"),
    (["--target", "class", "--task", "ternary"], "error: Unknown task 'ternary'."),
])
def test_errors_are_one_line_with_exit_2(cli, banknotes_path, tmp_path, args,
                                         message) -> None:
    code, out, err = cli("explore", str(banknotes_path), *args,
                         "--out", str(tmp_path))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: ") and message in err


@pytest.mark.parametrize("content, match", [
    ("a,color,class\n1,red,0\n2,blue,1\n", "are not numeric: 'color'"),
    ("a,class\n1,0\n,1\n3,1\n", "missing values: 1 in 'a'"),
    ("a,class\n1,0\n2,0\n", "has a single class ('0' in all 2 rows)"),
    ("a,class\ninf,0\n2,1\n", "infinite feature values: 1 in 'a'"),
])
def test_data_errors_are_one_line(cli, tmp_path, content, match) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, out, err = cli("explore", str(path), "--no-plot")
    assert code == 2 and err.startswith("error: ") and match in err
    assert len(err.strip().splitlines()) == 1


def test_offline_banknotes_is_one_line(monkeypatch, cli, tmp_path) -> None:
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GDLAB_BANKNOTES_URL", (tmp_path / "absent.txt").as_uri())
    code, out, err = cli("explore", "banknotes", "--no-plot")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "not cached yet" in err and "gdlab explore banknotes.csv --target class" in err


def test_unknown_dataset_name_and_task_of_a_builtin(cli) -> None:
    code, out, err = cli("explore", "banknote")
    assert code == 2
    assert err.startswith("error: Unknown dataset 'banknote'. Did you mean 'banknotes'?")
    code, out, err = cli("explore", "wine", "--task", "binary")
    assert code == 2
    assert err == "error: --task applies to files; the wine dataset is multiclass.\n"
