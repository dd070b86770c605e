"""Running a study into a run directory: files, atomicity, interruption and resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gdlab.errors import ConfigError
from gdlab.pitfalls import BatchLargerThanData
from gdlab.results import load_results
from gdlab.runner import load_run, run_study
from gdlab.study import parse_study

DOC = {
    "name": "tiny",
    "seeds": 2,
    "data": {"source": "wine"},
    "model": {"optimizer": "sgd", "epochs": 3},
    "sweeps": [
        {"name": "lr", "grid": {"learning_rate": [0.05, 0.5]}, "model": {"batch_size": 16}},
        {"name": "bs", "grid": {"batch_size": [32, 128]}},
        {"name": "rep", "model": {"hidden": "2", "optimizer": "adam"}, "validation_split": 0.25,
         "record_layer": -2},
    ],
    "baseline": {"cv": 3},
    "outputs": {"figures": False, "report": False},
}


def spec(**changes):
    return parse_study({**DOC, **changes}, origin="tiny.toml")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    with pytest.warns(BatchLargerThanData):
        run = run_study(spec(), out, progress=False, command="gdlab study tiny.toml")
    return run, out


def test_run_directory_holds_every_artifact(finished) -> None:
    run, out = finished
    for name in ["study.toml", "manifest.json", "results.parquet", "summary.csv",
                 "baseline.csv", "data/class_balance.csv", "data/features.csv",
                 "sweeps/lr.parquet", "sweeps/bs.parquet", "sweeps/rep.parquet",
                 "sweeps/rep.taps.npz"]:
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["command"] == "gdlab study tiny.toml"
    assert [b["sweeps"] for b in manifest["batches"]] == [["lr", "bs"], ["rep"]]
    assert all(b["status"] == "done" for b in manifest["batches"])
    assert [w["name"] for w in manifest["warnings"]] == ["batch-larger-than-data"]
    assert "summary.csv" in manifest["files"]


def test_tables_hold_the_results(finished) -> None:
    run, out = finished
    results = load_results(out / "results.parquet")
    assert [r.spec.name for r in results] == ["lr", "bs", "rep"]
    tidy = pd.read_parquet(out / "results.parquet")
    assert set(tidy.sweep) == {"lr", "bs", "rep"}
    rep = tidy[tidy.sweep == "rep"]
    assert set(rep.metric) == {"loss", "accuracy", "val_loss", "val_accuracy", "test_loss",
                               "test_accuracy"}
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.sweep) == ["lr", "lr", "bs", "bs", "rep"]
    assert summary.loc[0, "test_accuracy_mean"] == pytest.approx(
        run.result("lr").summary().loc[0, "test_accuracy_mean"])
    taps = run.result("rep").taps[-2][0]
    assert taps.shape == (3, 2, 54, 2)  # epochs, seeds, test rows, units


def test_resolved_study_repeats_the_run(finished, tmp_path) -> None:
    run, out = finished
    from gdlab.study import read_study

    again = read_study(out / "study.toml")
    with pytest.warns(BatchLargerThanData):
        rerun = run_study(again, tmp_path / "again", progress=False)
    for a, b in zip(run.results, rerun.results, strict=True):
        for m in a.metrics:
            np.testing.assert_array_equal(a.history[m], b.history[m])


def test_interrupted_run_resumes_to_the_same_results(finished, tmp_path) -> None:
    _, full = finished
    out = tmp_path / "interrupted"

    def stop_after_first_batch(names):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), pytest.warns(BatchLargerThanData):
        run_study(spec(), out, progress=False, on_batch=stop_after_first_batch)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [b["status"] for b in manifest["batches"]] == ["done", "pending"]
    assert (out / "sweeps" / "lr.parquet").exists() and not (out / "results.parquet").exists()
    with pytest.warns(BatchLargerThanData):  # found before the interruption, reported again
        resumed = run_study(None, out, resume=True, progress=False)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert [w["name"] for w in resumed.warnings] == ["batch-larger-than-data"]
    a = pd.read_parquet(full / "results.parquet")
    b = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(a, b)
    import pyarrow.parquet as pq

    assert pq.read_schema(full / "results.parquet").metadata == \
        pq.read_schema(out / "results.parquet").metadata


def test_existing_run_directory_is_not_overwritten(finished) -> None:
    _, out = finished
    with pytest.raises(ConfigError, match="already holds a gdlab run.*--resume"):
        run_study(spec(), out, progress=False)


def test_unwritable_output_fails_before_training(tmp_path) -> None:
    from gdlab.artifacts import OutputError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError, match="Cannot write to the output directory .*file/run"):
        run_study(spec(), blocker / "run", progress=False)


def test_load_run_reads_a_finished_directory(finished) -> None:
    run, out = finished
    back = load_run(out)
    assert [r.spec.name for r in back.results] == ["lr", "bs", "rep"]
    np.testing.assert_array_equal(back.result("rep").taps[-2][0], run.result("rep").taps[-2][0])
    with pytest.raises(ConfigError, match="not a gdlab run directory"):
        load_run(out / "sweeps")


def test_study_outputs_tensorboard_checkpoints_and_early_stopping(tmp_path) -> None:
    doc = {
        "name": "outputs", "seeds": 2, "data": {"source": "wine", "validation_split": 0.25},
        "model": {"optimizer": "adam", "hidden": "4", "epochs": 12},
        "sweeps": [{"name": "lr", "grid": {"learning_rate": [0.001, 0.1]},
                    "early_stopping": {"monitor": "val_loss", "patience": 1,
                                       "restore_best_weights": True},
                    "noise_scale": 16}],
        "baseline": {"enabled": False},
        "outputs": {"figures": False, "report": False, "tensorboard": True,
                    "checkpoints": True},
    }
    run = run_study(parse_study(doc, origin="o"), tmp_path / "run", progress=False)
    out = tmp_path / "run"
    runs = sorted(p.name for p in (out / "tensorboard" / "lr").iterdir())
    assert runs == ["learning_rate=0.001,seed=0", "learning_rate=0.001,seed=1",
                    "learning_rate=0.1,seed=0", "learning_rate=0.1,seed=1"]
    assert sorted(p.name for p in (out / "checkpoints" / "lr").iterdir()) == [
        "0.001.safetensors", "0.1.safetensors"]
    result = run.result("lr")
    assert result.stopped_epoch is not None and (result.stopped_epoch[:, 1] >= 0).any()
    assert "noise_scale" in result.metrics
    tidy = pd.read_parquet(out / "results.parquet")
    assert {"stopped_epoch", "best_epoch"} <= set(tidy.columns)
    back = load_results(out / "results.parquet")[0]
    np.testing.assert_array_equal(back.stopped_epoch, result.stopped_epoch)


def test_early_stopping_on_validation_needs_a_validation_part() -> None:
    doc = {**DOC, "sweeps": [{"name": "a", "early_stopping": {"patience": 2}}]}
    with pytest.raises(ConfigError, match="monitors 'val_loss' but there is no validation part"):
        parse_study(doc, origin="t")


def test_metrics_and_monitors_are_checked_against_the_data_before_anything_is_written(
        tmp_path) -> None:
    bad = spec(metrics=["mse"], sweeps=[{"name": "a", "validation_split": 0.2,
                                         "early_stopping": {"monitor": "val_accuracy"}}])
    with pytest.raises(ConfigError, match=r"study 'tiny', sweeps\[0\] \(a\): early_stopping "
                                          r"monitors 'val_accuracy', which this sweep does not "
                                          r"report; it reports loss, mse"):
        run_study(bad, tmp_path / "bad", progress=False)
    three = spec(sweeps=[{"name": "a", "model": {"class_weight": {"3": 2.0}}}])
    with pytest.raises(ConfigError, match=r"sweeps\[0\] \(a\): `class_weight` names class 3, "
                                          r"but the classes are 0\.\.2"):
        run_study(three, tmp_path / "three", progress=False)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "three").exists()
