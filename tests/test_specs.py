"""Sweep specifications: settings by name, validated, with Keras's defaults."""

from __future__ import annotations

import pytest

from gdlab.errors import ConfigError
from gdlab.specs import TrainConfig, parse_hidden, resolve, sweep_spec


def test_hidden_sizes_parse_the_course_way() -> None:
    assert parse_hidden("8-5-2") == (8, 5, 2)
    assert parse_hidden("0") == () and parse_hidden(None) == () and parse_hidden(0) == ()
    assert parse_hidden([4, 3]) == (4, 3) and parse_hidden(16) == (16,)
    with pytest.raises(ConfigError, match="sizes joined by dashes"):
        parse_hidden("8-five")
    with pytest.raises(ConfigError, match="integers >= 1"):
        parse_hidden((8, 0))


def test_resolve_applies_optimizer_then_its_arguments() -> None:
    cfg = resolve({"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.3, "batch_size": 16})
    assert cfg.optimizer.kind == "sgd" and cfg.learning_rate == 0.5
    assert cfg.optimizer.params["momentum"] == 0.3 and cfg.batch_size == 16
    cfg = resolve({"optimizer": "SGD(learning_rate=0.01, momentum=0.3, nesterov=True)"})
    assert cfg.optimizer.params["nesterov"] is True
    assert resolve({"kernel_initializer": "uniform"}).kernel_initializer == "random_uniform"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"learning_rat": 0.1}, "Unknown setting 'learning_rat'. Did you mean 'learning_rate'"),
        ({"batch_size": 0}, r"`batch_size` must be an integer >= 1, got 0"),
        ({"epochs": 2.5}, r"`epochs` must be an integer >= 1, got 2.5"),
        ({"learning_rate": -1}, r"`learning_rate` of `SGD` must be a float > 0"),
        ({"optimizer": "adam", "momentum": 0.9}, r"`momentum` is not an argument of Adam"),
        ({"activation": "rleu"}, "Did you mean 'relu'"),
        ({"kernel_initializer": "he"}, "Unknown initializer 'he'"),
        ({"loss": "hinge"}, "Unknown loss 'hinge'"),
        ({"optimizer": "eval('1')"}, "Unknown optimizer 'eval'"),
    ],
)
def test_bad_settings_are_refused_precisely(settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(settings)


def test_output_layer_follows_the_task() -> None:
    cfg = TrainConfig()
    assert cfg.output_layer("binary", 2) == (1, "sigmoid", "binary_crossentropy")
    assert cfg.output_layer("multiclass", 3) == (3, "softmax", "categorical_crossentropy")
    assert cfg.output_layer("regression", 1) == (1, "linear", "mean_squared_error")
    net = resolve({"hidden": "8-5-2", "activation": "tanh"}).network(13, "multiclass", 3)
    assert net.widths == (13, 8, 5, 2, 3)
    assert [layer.activation for layer in net.layers] == [("tanh",)] * 3 + [("softmax",)]


def test_cartesian_grid_and_explicit_configs() -> None:
    spec = sweep_spec("g", base={"optimizer": "sgd"},
                      grid={"learning_rate": [0.01, 0.1], "batch_size": [16, 32, 64]}, seeds=3)
    assert spec.n_configs == 6 and spec.n_models == 18 and spec.seeds == (0, 1, 2)
    assert spec.axes == ("learning_rate", "batch_size")
    assert spec.setting_names()[1] == "0.01, 32"
    explicit = sweep_spec("e", configs=[{"optimizer": "adam"}, {"optimizer": "sgd",
                                                                "momentum": 0.9}], seeds=[3, 7])
    assert explicit.axes == ("optimizer", "momentum")
    assert explicit.seeds == (3, 7)
    assert [c.optimizer.kind for c in explicit.configs()] == ["adam", "sgd"]


def test_sweep_spec_validates_every_point_and_seeds() -> None:
    with pytest.raises(ConfigError, match="must be a float > 0"):
        sweep_spec(grid={"learning_rate": [0.1, 0.0]})
    with pytest.raises(ConfigError, match="non-empty list"):
        sweep_spec(grid={"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="at least 1"):
        sweep_spec(seeds=0)
    with pytest.raises(ConfigError, match="repeated"):
        sweep_spec(seeds=[1, 1])


def test_spec_round_trips_through_json() -> None:
    spec = sweep_spec("o", base={"batch_size": 16, "epochs": 5},
                      grid={"optimizer": ["SGD(learning_rate=0.01)", "Adam(learning_rate=0.01)"],
                            "hidden": ["0", "8-4"]}, seeds=2)
    again = type(spec).from_dict(spec.to_dict())
    assert again == spec
    assert [c.settings() for c in again.configs()] == [c.settings() for c in spec.configs()]
