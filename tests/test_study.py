"""Study files: parsed, validated with precise messages, resolved back to TOML."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from gdlab.errors import ConfigError
from gdlab.study import builtin_studies, load_study, parse_study, read_study

MINIMAL = {"name": "s", "sweeps": [{"name": "lr", "grid": {"learning_rate": [0.01, 0.1]}}]}


def study(**changes):
    doc = {**MINIMAL, **changes}
    return parse_study(doc, origin="s.toml")


def test_builtin_gradient_descent_study_is_the_course_chapter() -> None:
    assert "gradient-descent" in builtin_studies()
    spec = load_study("gradient-descent")
    assert spec.data.source == "wine" and len(spec.seeds) == 5
    sweeps = {s.name: s for s in spec.sweep_specs()}
    lr = [c for c in sweeps["learning_rate"].configs()]
    assert [c.learning_rate for c in lr] == [0.01, 0.05, 0.1, 0.5]
    assert {(c.optimizer.kind, c.batch_size, c.epochs) for c in lr} == {("sgd", 16, 10)}
    bs = sweeps["batch_size"].configs()
    assert [c.batch_size for c in bs] == [16, 32, 64, 128]
    assert {(c.optimizer.label(), c.epochs) for c in bs} == {("SGD(learning_rate=0.01)", 10)}
    opt = sweeps["optimizer"].configs()
    assert [c.optimizer.label() for c in opt] == [
        "SGD(learning_rate=0.01)", "SGD(learning_rate=0.01, momentum=0.3)",
        "SGD(learning_rate=0.01, momentum=0.3, nesterov=True)", "Adam(learning_rate=0.01)",
        "Adagrad(learning_rate=0.01)", "RMSprop(learning_rate=0.01)"]
    assert {(c.batch_size, c.epochs) for c in opt} == {(16, 5)}
    init = sweeps["initializer"].configs()
    assert [c.kernel_initializer for c in init] == [
        "zeros", "random_uniform", "random_normal", "he_normal", "lecun_uniform"]
    assert {(c.optimizer.label(), c.batch_size, c.epochs) for c in init} == {
        ("RMSprop(learning_rate=0.001)", 16, 5)}
    h2 = sweeps["hidden_2"].configs()[0]
    assert (h2.hidden, h2.activation, h2.epochs, h2.optimizer.label()) == (
        (2,), "relu", 20, "RMSprop(learning_rate=0.01)")
    assert next(e for e in spec.sweeps if e.name == "hidden_2").validation_split == 0.3
    assert sweeps["hidden_3_2"].configs()[0].hidden == (3, 2)
    assert sweeps["hidden_3_2"].configs()[0].epochs == 25


def test_resolved_toml_round_trips(tmp_path) -> None:
    spec = load_study("gradient-descent")
    path = tmp_path / "study.toml"
    path.write_text(spec.to_toml())
    again = read_study(path)
    assert again.sweep_specs() == spec.sweep_specs()
    assert again.data == spec.data and again.seeds == spec.seeds


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sweepz": []}, r"unknown key 'sweepz' in the study\. Did you mean 'sweeps'"),
        ({"data": {"sorce": "wine"}}, r"unknown key 'sorce' in \[data\]\. Did you mean 'source'"),
        ({"data": {"test_size": "0.3"}}, r"\[data\]\.test_size must be a float, got str"),
        ({"data": {"test_size": 1.5}}, r"test_size must be between 0 and 1, got 1.5"),
        ({"data": {"scale": "standrd"}}, r"scale = 'standrd' is not one of .* Did you mean "
                                         r"'standard'"),
        ({"seeds": 0}, "seeds must be at least 1"),
        ({"seeds": [1, 1]}, "repeated seeds"),
        ({"model": {"lerning_rate": 0.1}}, r"\[model\]: Unknown setting 'lerning_rate'"),
        ({"model": {"batch_size": 0}}, r"`batch_size` must be an integer >= 1, got 0"),
        ({"model": {"epochs": 0}}, r"`epochs` must be an integer >= 1, got 0"),
        ({"sweeps": [{"name": "a", "grid": {"learning_rate": [0.1, -1.0]}}]},
         r"sweeps\[0\] \(a\): `learning_rate` of `SGD` must be a float > 0, got -1.0"),
        ({"sweeps": [{"name": "a", "grid": {"optimizer": ["sgd", "adamm"]}}]},
         r"Unknown optimizer 'adamm'\. Did you mean 'Adam'"),
        ({"sweeps": [{"name": "a", "grid": {"kernel_initializer": ["he_normall"]}}]},
         r"Unknown initializer 'he_normall'.*Valid initializers"),
        ({"sweeps": [{"name": "a", "grid": {"activation": ["relu", "sigmod"]}}]},
         r"Did you mean 'sigmoid'"),
        ({"sweeps": [{"name": "a", "model": {"loss": "hinge"}}]}, r"Unknown loss 'hinge'"),
        ({"sweeps": [{"name": "a", "grid": {"learning_rate": 0.1}}]},
         r"grid\.learning_rate must be a non-empty list"),
        ({"sweeps": [{"name": "a"}, {"name": "a"}]}, "used twice"),
        ({"sweeps": []}, r"at least one \[\[sweeps\]\]"),
        ({"sweeps": [{"name": "a", "gird": {}}]}, r"Did you mean 'grid'"),
    ],
)
def test_bad_study_files_name_the_key_and_the_fix(changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        study(**changes)


def test_errors_name_the_file(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[[sweeps]]\nname = "a"\ngrid = { batch_size = [0] }\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: sweeps\[0\] \(a\)"):
        read_study(path)
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_study(path)


def test_unknown_study_name_lists_the_builtins() -> None:
    with pytest.raises(ConfigError, match=r"Did you mean 'gradient-descent'.*Built-in studies"):
        load_study("gradient-decent")


def test_overrides_replace_data_and_seeds() -> None:
    spec = load_study("gradient-descent").with_overrides(data="banknotes", seeds=3)
    assert spec.data.source == "banknotes" and spec.seeds == (0, 1, 2)
    assert all(s.seeds == (0, 1, 2) for s in spec.sweep_specs())


def test_builtin_files_are_readable_examples() -> None:
    from gdlab.study import builtin_path

    doc = tomllib.loads(builtin_path("gradient-descent").read_text())
    assert doc["name"] == "gradient-descent"


WEIGHTED = """
name = "weighted"
metrics = ["accuracy", "mse"]
[data]
source = "notes.csv"
target = "class"
sample_weight = "w"
[model]
optimizer = "sgd"
class_weight = { 0 = 1.0, 1 = 3.0 }
[[sweeps]]
name = "schemes"
grid = { class_weight = ["none", "balanced", { 0 = 1.0, 1 = 2.5 }] }
goal = "test_mse<=0.2"
[[sweeps]]
name = "own"
metrics = ["rmse"]
configs = [{ class_weight = "balanced" }, { learning_rate = 0.1 }]
goal = "val_rmse<0.5"
"""


def test_weights_and_metrics_in_a_study_file_round_trip(tmp_path) -> None:
    path = tmp_path / "weighted.toml"
    path.write_text(WEIGHTED)
    spec = read_study(path)
    assert spec.data.sample_weight == "w" and spec.metrics == ("accuracy", "mse")
    schemes, own = spec.sweeps
    assert spec.metrics_for(schemes) == ("accuracy", "mse") and own.metrics == ("rmse",)
    assert spec.sweep_specs()[0].setting_names() == ["none", "balanced", "0:1,1:2.5"]
    configs = spec.sweep_specs()[0].configs()
    assert [c.class_weight for c in configs] == [None, "balanced", ((0, 1.0), (1, 2.5))]
    # the base's weights hold where a configuration does not set its own
    assert [c.class_weight for c in spec.sweep_specs()[1].configs()] == [
        "balanced", ((0, 1.0), (1, 3.0))]
    text = spec.to_toml()
    doc = tomllib.loads(text)
    assert doc["model"]["class_weight"] == {"0": 1.0, "1": 3.0}
    assert doc["sweeps"][0]["grid"]["class_weight"] == ["none", "balanced", {"0": 1.0, "1": 2.5}]
    assert doc["metrics"] == ["accuracy", "mse"] and doc["sweeps"][1]["metrics"] == ["rmse"]
    assert doc["data"]["sample_weight"] == "w"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "study.toml").write_text(text)
    again = read_study(tmp_path / "run" / "study.toml")
    assert again.sweep_specs() == spec.sweep_specs()
    # the data file is written as an absolute path, the rest as it was
    assert again.data == replace(spec.data, source=str((tmp_path / "notes.csv").resolve()))
    assert (again.metrics, again.sweeps, again.model) == (spec.metrics, spec.sweeps, spec.model)
    assert again.to_toml() == text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": ["maee"]}, r"^s\.toml: metrics: Unknown metric 'maee'\. Did you mean "
                                r"'mae'\? Valid metrics: .*rmse"),
        ({"metrics": "mae"}, r"s\.toml: metrics must be a list of metric names"),
        ({"sweeps": [{"name": "a", "metrics": ["rmse", "rmse"]}]},
         r"s\.toml: sweeps\[0\] \(a\)\.metrics: `metrics` names a metric twice"),
        ({"sweeps": [{"name": "a", "goal": "test_rmse<=0.5"}]}, r"Unknown metric 'test_rmse'"),
        ({"metrics": ["mae"], "sweeps": [{"name": "a", "goal": "test_rmse<=0.5"}]},
         r"sweeps\[0\] \(a\)\.goal: Unknown metric 'test_rmse'"),
        ({"model": {"class_weight": "balancd"}}, r"\[model\]: Cannot read class weights "
                                                 r"'balancd'"),
        ({"sweeps": [{"name": "a", "grid": {"class_weight": ["none", {"0": -1.0}]}}]},
         r"sweeps\[0\] \(a\)\.grid\.class_weight: `class_weight` weights must be finite"),
        ({"sweeps": [{"name": "a", "configs": [{"class_weight": {"x": 1.0}}]}]},
         r"sweeps\[0\] \(a\)\.configs\[0\]: `class_weight` keys must be class indices"),
        ({"data": {"source": "wine", "sample_weight": "w"}},
         r"s\.toml: \[data\]\.sample_weight names a column of a data file, but 'wine' is a "
         r"built-in dataset"),
        ({"data": {"sample_weight": 3}}, r"\[data\]\.sample_weight must be a str, got int"),
    ],
)
def test_bad_weights_and_metrics_name_the_key(changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        study(**changes)


def test_goals_on_the_study_metrics_and_overrides() -> None:
    spec = study(metrics=["rmse"], sweeps=[{"name": "a", "goal": "test_rmse<=0.5"}])
    assert spec.sweeps[0].goal == "test_rmse<=0.5"
    assert study(sweeps=[{"name": "a", "goal": "val_mae<1"}]).sweeps[0].goal == "val_mae<1"
    over = load_study("gradient-descent").with_overrides(
        data="notes.csv", target="class", sample_weight="w", metrics=["accuracy", "mse"],
        class_weight="0:1,1:2")
    assert over.data.sample_weight == "w" and over.metrics == ("accuracy", "mse")
    assert all(c.class_weight == ((0, 1.0), (1, 2.0)) for s in over.sweep_specs()
               for c in s.configs())
    assert over.with_overrides(data="other.csv").data.sample_weight is None
    assert over.with_overrides(class_weight="none").sweep_specs()[0].configs()[0].class_weight \
        is None
    with pytest.raises(ConfigError, match=r"--metrics: Unknown metric 'accuray'"):
        over.with_overrides(metrics=["accuray"])
    with pytest.raises(ConfigError, match=r"--sample-weight names a column of a data file"):
        load_study("gradient-descent").with_overrides(sample_weight="w")
