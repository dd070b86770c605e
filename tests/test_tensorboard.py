"""gdlab.tensorboard: event files read back with TensorBoard's own reader and plugins."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from gdlab import tensorboard as tb
from gdlab.errors import ConfigError


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` as TensorBoard reads the folder."""
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def hparams_backend(logdir: Path):
    """TensorBoard's HParams dashboard backend over ``logdir``: (experiment, session groups)."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    ctx = backend_context.Context(base_plugin.TBContext(logdir=str(logdir), multiplexer=mux,
                                                        data_provider=provider))
    rc = context.RequestContext()
    experiment = ctx.experiment_from_metadata(rc, "", True, ctx.hparams_metadata(rc, ""),
                                              ctx.hparams_from_data_provider(rc, "", 0))
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=100,
                                               aggregation_type=api_pb2.AGGREGATION_AVG)
    request.allowed_statuses.extend([api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS,
                                     api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING])
    groups = list_session_groups.Handler(rc, ctx, "", request).run().session_groups
    return experiment, groups


def test_epoch_logs_in_keras_layout(tmp_path: Path) -> None:
    with tb.RunWriter(tmp_path / "run") as run:
        run.log_epoch(0, {"loss": 0.9, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.4})
        run.log_epoch(1, {"loss": 0.7, "accuracy": 0.75, "val_loss": 0.8, "val_accuracy": 0.6})
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["train", "validation"]
    train = scalars(tmp_path / "run" / "train")
    assert sorted(train) == ["epoch_accuracy", "epoch_loss"]
    np.testing.assert_allclose(train["epoch_loss"], [(0, 0.9), (1, 0.7)], rtol=1e-7)
    validation = scalars(tmp_path / "run" / "validation")
    assert sorted(validation) == ["epoch_accuracy", "epoch_loss"]
    np.testing.assert_allclose(validation["epoch_accuracy"], [(0, 0.4), (1, 0.6)], rtol=1e-7)


def test_no_validation_folder_without_validation_logs(tmp_path: Path) -> None:
    with tb.RunWriter(tmp_path) as run:
        run.log_epoch(0, {"loss": 1.0})
    assert [p.name for p in tmp_path.iterdir()] == ["train"]


def test_write_history_skips_nan_epochs(tmp_path: Path) -> None:
    history = {"loss": [1.0, 0.5, math.nan, math.nan], "val_loss": [1.2, math.inf, math.nan,
                                                                     math.nan]}
    tb.write_history(tmp_path / "r", history, first_epoch=3)
    assert scalars(tmp_path / "r" / "train") == {"epoch_loss": [(3, 1.0), (4, 0.5)]}
    assert scalars(tmp_path / "r" / "validation") == {"epoch_loss": [(3, pytest.approx(1.2)),
                                                                     (4, math.inf)]}


def test_write_history_checks_lengths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one value per epoch; got lengths loss=2, val_loss=1"):
        tb.write_history(tmp_path, {"loss": [1.0, 2.0], "val_loss": [1.0]})


def test_two_writers_in_one_second_do_not_overwrite_each_other(tmp_path: Path) -> None:
    for epoch in range(3):  # e.g. three quick fit calls logging to one folder
        with tb.RunWriter(tmp_path) as run:
            run.scalar("epoch_loss", 1.0 / (epoch + 1), epoch)
    assert len(list((tmp_path / "train").iterdir())) == 3
    assert [s for s, _ in scalars(tmp_path / "train")["epoch_loss"]] == [0, 1, 2]


def test_histograms(tmp_path: Path) -> None:
    with tb.RunWriter(tmp_path) as run:
        run.histogram("sequential/dense/kernel/histogram", np.arange(6.0).reshape(2, 3), 0)
    acc = event_accumulator.EventAccumulator(str(tmp_path / "train"))
    acc.Reload()
    (event,) = acc.Histograms("sequential/dense/kernel/histogram")
    assert event.histogram_value.num == 6 and event.histogram_value.max == 5.0


def test_hparams_dashboard_lists_each_run(tmp_path: Path) -> None:
    for lr in (0.01, 0.1):
        for seed in (0, 1):
            run = tmp_path / tb.run_name({"optimizer": "sgd", "learning_rate": lr, "seed": seed})
            tb.write_history(run, {"loss": [1.0, 0.5 + lr], "val_loss": [1.1, 0.6 + lr + seed]})
            tb.write_hparams(run, {"optimizer": "sgd", "learning_rate": lr, "seed": seed,
                                   "nesterov": False, "clipnorm": None},
                             {"hparams/best_val_loss": 0.6 + lr + seed})
    experiment, groups = hparams_backend(tmp_path)
    assert sorted(h.name for h in experiment.hparam_infos) == [
        "learning_rate", "nesterov", "optimizer", "seed"]  # None is left out
    metrics = sorted((m.name.group, m.name.tag) for m in experiment.metric_infos)
    assert metrics == [("", "hparams/best_val_loss"), ("train", "epoch_loss"),
                       ("validation", "epoch_loss")]
    assert sorted(g.name for g in groups) == [
        "optimizer=sgd,learning_rate=0.01,seed=0", "optimizer=sgd,learning_rate=0.01,seed=1",
        "optimizer=sgd,learning_rate=0.1,seed=0", "optimizer=sgd,learning_rate=0.1,seed=1"]
    by_name = {g.name: g for g in groups}
    g = by_name["optimizer=sgd,learning_rate=0.1,seed=1"]
    assert g.hparams["learning_rate"].number_value == 0.1
    assert g.hparams["optimizer"].string_value == "sgd"
    values = {(m.name.group, m.name.tag): m.value for m in g.metric_values}
    assert values[("validation", "epoch_loss")] == pytest.approx(1.7)  # the last epoch's
    assert values[("", "hparams/best_val_loss")] == pytest.approx(1.7)
    assert g.sessions[0].status == 1  # STATUS_SUCCESS


def test_hparams_groups_aggregate_seeds(tmp_path: Path) -> None:
    for seed in (0, 1):
        run = tmp_path / f"lr=0.1,seed={seed}"
        tb.write_history(run, {"val_loss": [1.0, 0.5 + seed]})
        tb.write_hparams(run, {"learning_rate": 0.1}, group="lr=0.1")
    _, groups = hparams_backend(tmp_path)
    (group,) = groups
    assert group.name == "lr=0.1" and len(group.sessions) == 2
    (value,) = [m.value for m in group.metric_values if m.name.group == "validation"]
    assert value == pytest.approx(1.0)  # the mean of 0.5 and 1.5


def test_hparams_reject_other_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Hyperparameter 'layers' must be a bool, number or "
                                          r"string for TensorBoard, got tuple \(8, 4\)"):
        tb.write_hparams(tmp_path, {"layers": (8, 4)})
    with pytest.raises(ConfigError, match="Metric 'acc' must be a number, got 'high'"):
        tb.write_hparams(tmp_path, {"lr": 0.1}, {"acc": "high"})
    # numpy scalars are fine
    tb.write_hparams(tmp_path / "ok", {"lr": np.float32(0.5), "units": np.int64(8)},
                     {"final": np.float64(0.25)})
    assert scalars(tmp_path / "ok") == {"final": [(0, 0.25)]}


# TensorBoard's graphs plugin imports its vendored html5lib, which warns on import.
GRAPHS_PLUGIN_IMPORT = "ignore:html5lib's sanitizer is deprecated:DeprecationWarning"


@pytest.mark.filterwarnings(GRAPHS_PLUGIN_IMPORT)
def test_keras_model_summary_draws_a_conceptual_graph(tmp_path: Path) -> None:
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.graph import graphs_plugin

    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input_layer", "dtype": "float32",
                                                "batch_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"name": "dense", "dtype": "float32", "units": 2}},
    ]}}
    with tb.RunWriter(tmp_path / "run") as run:
        run.keras_model(config)
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(tmp_path))
    plugin = graphs_plugin.GraphsPlugin(base_plugin.TBContext(
        logdir=str(tmp_path), multiplexer=mux, data_provider=provider))
    body, _ = plugin.graph_impl(context.RequestContext(), "run/train", "keras", True,
                                experiment="")
    assert 'name: "sequential/input_layer"' in body
    assert 'name: "sequential/dense"' in body and 'input: "sequential/input_layer"' in body


def test_run_name() -> None:
    assert tb.run_name({"optimizer": "SGD(momentum=0.5)", "learning_rate": 0.001,
                        "batch_size": 16, "seed": np.int64(2)}) == \
        "optimizer=SGD_momentum=0.5_,learning_rate=0.001,batch_size=16,seed=2"
    assert tb.run_name({"path": "a/b c"}) == "path=a_b_c"
    with pytest.raises(ConfigError, match="at least one setting"):
        tb.run_name({})


def test_log_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        tb.RunWriter(tmp_path / "f")


def test_split_logs() -> None:
    assert tb.split_logs({"loss": 1.0, "val_loss": 2.0, "val_acc": 0.5}) == (
        {"loss": 1.0}, {"loss": 2.0, "acc": 0.5})
