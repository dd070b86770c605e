"""Reliability and safety: bad input ends in a clear error, interruptions lose nothing,
the same study gives the same numbers, and nothing user-given is executed.

See docs/reliability.md for what is covered and how to add a case.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdlab import datasets
from gdlab.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]


def gdlab(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gdlab", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def one_line(done: subprocess.CompletedProcess, code: int, *words: str) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------- bad CSV files

CSV_CASES = {
    "empty": ("", "is empty"),
    "header-only": ("a,b,class\n", "no rows"),
    "ragged": ("a,b,class\n1,2,0\n3,4,1,9\n5,6,0\n", "Expected 3 fields in line 3, saw 4"),
    "other-delimiter": ("a;b;class\n1;2;0\n3;4;1\n", "separated by ';', not commas"),
    "nan": ("a,b,class\n1,,0\n3,4,1\n5,6,0\n2,2,1\n", "missing values: 1 in 'b'"),
    "inf": ("a,b,class\n1,inf,0\n3,4,1\n5,6,0\n2,2,1\n", "infinite"),
    "text": ("a,b,class\n1,x,0\n3,y,1\n5,z,0\n2,w,1\n", "are not numeric: 'b'"),
    "missing-target": ("a,b,label2\n1,2,0\n3,4,1\n", "column 'class' is not in"),
    "single-class": ("a,b,class\n1,2,0\n3,4,0\n5,6,0\n", "single class"),
    "huge": ("a,b,class\n1e300,2,0\n3,4,1\n5,6,0\n2,2,1\n", "float32"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_csv_files_give_a_precise_error(tmp_path: Path, case: str) -> None:
    text, words = CSV_CASES[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=re.escape(words)):
        datasets.load_csv(path, target="class")


def test_bad_csv_through_the_cli_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "text.csv"
    path.write_text(CSV_CASES["text"][0])
    one_line(gdlab("study", "--data", str(path), "--target", "class", cwd=tmp_path), 2,
             "text.csv", "not numeric")
    assert not (tmp_path / "runs").exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64), st.text(max_size=3),
    st.integers(-5, 5), st.none()), min_size=1, max_size=4), min_size=0, max_size=6))
def test_any_table_loads_or_fails_with_a_gdlab_error(tmp_path_factory, cells) -> None:
    """Random tables never crash the loader with anything but a gdlab error."""
    width = max((len(r) for r in cells), default=1)
    columns = [f"f{i}" for i in range(width - 1)] + ["class"]
    frame = pd.DataFrame([r + [None] * (width - len(r)) for r in cells], columns=columns)
    path = tmp_path_factory.mktemp("h") / "t.csv"
    frame.to_csv(path, index=False)
    try:
        ds = datasets.load_csv(path, target="class")
    except (DataError, ConfigError) as e:
        assert str(e) and "Traceback" not in str(e)
    else:
        assert np.isfinite(ds.x).all() and ds.x.dtype == np.float32
        assert ds.n_rows == len(ds.y) > 0


# ------------------------------------------------------------ usage errors, exits


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = gdlab("--debug", "study", "--data", "nowhere.csv", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_full_output_directory_fails_before_training(tmp_path: Path, monkeypatch) -> None:
    from gdlab import artifacts
    from gdlab.runner import run_study
    from gdlab.study import parse_study

    monkeypatch.setattr(artifacts, "_free_bytes", lambda d: 1024)
    spec = parse_study({"name": "x", "sweeps": [{"name": "a"}]}, origin="t")
    with pytest.raises(artifacts.OutputError, match=r"has only 1 KiB free.*--out"):
        run_study(spec, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_sweep_names_never_write_outside_the_run_directory(tmp_path: Path) -> None:
    from gdlab.runner import run_study
    from gdlab.study import parse_study

    doc = {"name": "x", "seeds": 1, "model": {"epochs": 1},
           "sweeps": [{"name": "../../escape", "grid": {"learning_rate": [0.1]}}],
           "baseline": {"enabled": False}, "outputs": {"figures": False, "report": False}}
    out = tmp_path / "deep" / "run"
    run_study(parse_study(doc, origin="t"), out, progress=False)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(out in p.parents for p in written)


def test_no_eval_exec_or_pickle_loading_in_gdlab() -> None:
    pattern = re.compile(r"\b(eval|exec)\(|pickle\.loads?\(|allow_pickle=True|yaml\.load\(")
    offenders = []
    for path in (ROOT / "src" / "gdlab").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if pattern.search(code) and "literal_eval" not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, offenders


# --------------------------------------------------- interruption and resume


SLOW_STUDY = """
name = "interrupt"
seeds = 3
[data]
source = "wine"
[model]
optimizer = "adam"
hidden = "16-16"
[[sweeps]]
name = "first"
model = {{ epochs = 3 }}
grid = {{ learning_rate = [0.01, 0.1] }}
[[sweeps]]
name = "second"
validation_split = 0.2
model = {{ epochs = {epochs}, batch_size = 1 }}
grid = {{ learning_rate = [0.001, 0.003, 0.01, 0.03] }}
[baseline]
enabled = false
[outputs]
figures = false
report = false
"""


def _tables_equal(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_leaves_a_resumable_directory(tmp_path: Path, sig: int) -> None:
    study = tmp_path / "study.toml"
    study.write_text(SLOW_STUDY.format(epochs=400))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gdlab", "study", str(study), "--out",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = out / "sweeps" / "first.parquet"
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.exists(), proc.communicate()[1]
    time.sleep(1.0)  # well inside the second batch's 400 epochs
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "gdlab study --resume" in err and "Traceback" not in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [b["status"] for b in manifest["batches"]] == ["done", "pending"]
    assert not (out / "results.parquet").exists()
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no partial files

    # Resuming trains only the second batch; a fresh run of the same (shortened) study
    # must give the same table, so shorten both the same way.
    resume_spec = (out / "study.toml").read_text().replace("epochs = 400", "epochs = 3")
    (out / "study.toml").write_text(resume_spec)
    done = gdlab("study", "--resume", str(out))
    assert done.returncode == 0, done.stderr
    study.write_text(SLOW_STUDY.format(epochs=3))
    fresh = tmp_path / "fresh"
    assert gdlab("study", str(study), "--out", str(fresh)).returncode == 0
    _tables_equal(out / "results.parquet", fresh / "results.parquet")


# ------------------------------------------------------------------ determinism


def test_the_same_study_twice_gives_identical_files(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text(SLOW_STUDY.format(epochs=2))
    for run in ("a", "b"):
        assert gdlab("study", str(study), "--out", str(tmp_path / run)).returncode == 0
    import pyarrow.parquet as pq

    a, b = tmp_path / "a" / "results.parquet", tmp_path / "b" / "results.parquet"
    assert pq.read_table(a).equals(pq.read_table(b))
    assert pq.read_schema(a).metadata == pq.read_schema(b).metadata
    assert (tmp_path / "a" / "summary.csv").read_text() == \
        (tmp_path / "b" / "summary.csv").read_text()


def test_gdlab_keras_is_deterministic_under_a_seed() -> None:
    import gdlab.keras as gk

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)), rng.integers(0, 2, 50)
    out = []
    for _ in range(2):
        gk.utils.set_random_seed(3)
        m = gk.Sequential([gk.layers.Dense(4, input_shape=(4,), activation="relu"),
                           gk.layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer="adam", loss="binary_crossentropy")
        m.fit(x, y, epochs=3, batch_size=8, verbose=0)
        out.append(m.get_weights())
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_environment_does_not_change_results(tmp_path: Path) -> None:
    """The persistent compilation cache (on or off) does not change a single bit."""
    code = ("import numpy as np, gdlab.sweeps as gs\n"
            "x = np.random.default_rng(0).normal(size=(60, 3)).astype('float32')\n"
            "r = gs.sweep((x, (x[:, 0] > 0).astype(int)), grid={'learning_rate': [0.1, 0.3]},"
            " epochs=3, seeds=2, progress=False)\n"
            "print(r.history['loss'].tobytes().hex())\n")
    outs = []
    for cache in ("0", "1", "1"):  # off, cold, warm
        env = {**os.environ, "GDLAB_COMPILATION_CACHE": cache,
               "GDLAB_CACHE_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=300, check=True)
        outs.append(done.stdout.strip())
    assert outs[0] == outs[1] == outs[2]
