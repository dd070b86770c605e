"""Sweeps: one call, one program, each model's own numbers."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import gdlab.sweeps as gs
from gdlab import executor
from gdlab.errors import ConfigError, DataError
from gdlab.results import SweepResult, load_results


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 3] + 0.3 * rng.normal(size=150) > 0).astype(int)
    return x[:110], y[:110], x[110:], y[110:]


@pytest.fixture(scope="module")
def banknotes(banknotes_path):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    df = pd.read_csv(banknotes_path)
    x, y = df.drop(columns="class").to_numpy(float), df["class"].to_numpy()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=42)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), y_tr, scaler.transform(x_te), y_te


MIXED = [
    {"optimizer": "SGD(learning_rate=0.1)", "batch_size": 16, "epochs": 4},
    {"optimizer": "SGD(learning_rate=0.05, momentum=0.3, nesterov=True)", "batch_size": 32,
     "epochs": 3},
    {"optimizer": "Adam(learning_rate=0.01)", "batch_size": 48, "epochs": 4},
    {"optimizer": "RMSprop(learning_rate=0.01)", "batch_size": 16, "epochs": 4,
     "kernel_initializer": "he_normal"},
    {"optimizer": "RMSprop(learning_rate=0.01)", "batch_size": 16, "epochs": 4,
     "kernel_initializer": "zeros", "activation": "tanh"},
    {"optimizer": "Adagrad(learning_rate=0.1)", "batch_size": 16, "epochs": 2, "hidden": "5-3"},
]


# Some of these runs end on one class (zeros, narrow relu layers): not the subject here.
@pytest.mark.filterwarnings("ignore::gdlab.pitfalls.MajorityClass")
def test_vectorized_sweep_equals_each_configuration_alone(data) -> None:
    together = gs.sweep(data, configs=MIXED, hidden="4", seeds=[0, 5], progress=False)
    assert together.meta["programs"] == 1
    for c, cfg in enumerate(MIXED):
        alone = gs.sweep(data, configs=[cfg], hidden="4", seeds=[0, 5], progress=False)
        n = cfg["epochs"]
        for m in together.metrics:
            np.testing.assert_allclose(together.history[m][:n, :, c], alone.history[m][:, :, 0],
                                       rtol=1e-5, atol=1e-5, err_msg=f"{cfg} {m}")
        for a, b in zip(jax.tree.leaves(together.params[c]), jax.tree.leaves(alone.params[0]),
                        strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    epochs = together.epochs
    for c in range(len(MIXED)):
        assert np.isfinite(together.history["loss"][: epochs[c], :, c]).all()
        assert np.isnan(together.history["loss"][epochs[c]:, :, c]).all()


def test_divergent_configuration_does_not_disturb_the_others(data) -> None:
    grid = {"learning_rate": [0.1, 100.0, 1e9]}
    from gdlab.pitfalls import RisingLoss

    with pytest.warns(RisingLoss, match=r"'1e\+09' \(diverged in 3 of 3 seeds\)"):
        r = gs.sweep(data, grid=grid, optimizer="sgd", hidden="8", epochs=6, seeds=3,
                     progress=False, kernel_initializer="he_normal")
    sane = gs.sweep(data, grid={"learning_rate": [0.1]}, optimizer="sgd", hidden="8", epochs=6,
                    seeds=3, progress=False, kernel_initializer="he_normal")
    np.testing.assert_allclose(r.history["loss"][:, :, 0], sane.history["loss"][:, :, 0],
                               rtol=1e-6)
    assert (r.diverged_epoch[:, 0] == -1).all()
    assert (r.diverged_epoch[:, 2] >= 0).all()
    summary = r.summary().set_index("setting")
    assert summary.loc["1e+09", "diverged"] == 3 and summary.loc["0.1", "diverged"] == 0
    tidy = r.tidy()
    assert (tidy[tidy.setting == "1e+09"].diverged_epoch >= 0).all()


@pytest.mark.parametrize("fast_compile_flops", [0.0, 2e9])
def test_results_do_not_depend_on_the_chunk_size(data, monkeypatch, fast_compile_flops) -> None:
    """Bit for bit, for programs built at either XLA optimization level."""
    from gdlab import engine

    monkeypatch.setattr(engine, "FAST_COMPILE_FLOPS", fast_compile_flops)
    kwargs = dict(grid={"learning_rate": [0.01, 0.1], "batch_size": [16, 32]}, optimizer="adam",
                  hidden="6", epochs=3, seeds=5, progress=False)
    whole = gs.sweep(data, **kwargs)
    chunked = gs.sweep(data, max_models_per_call=4, **kwargs)  # one seed (4 models) per call
    odd = gs.sweep(data, max_models_per_call=12, **kwargs)  # 3 seeds, then 2 padded to 3
    for m in whole.metrics:
        np.testing.assert_array_equal(whole.history[m], chunked.history[m], err_msg=m)
        np.testing.assert_array_equal(whole.history[m], odd.history[m], err_msg=m)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(chunked.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_same_study_same_seed_gives_identical_numbers(data) -> None:
    a = gs.sweep(data, grid={"learning_rate": [0.05]}, epochs=2, seeds=2, progress=False)
    b = gs.sweep(data, grid={"learning_rate": [0.05]}, epochs=2, seeds=2, progress=False)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    c = gs.sweep(data, grid={"learning_rate": [0.05]}, epochs=2, seeds=[7, 8], progress=False)
    assert not np.array_equal(a.history["loss"], c.history["loss"])


def test_parquet_round_trip(tmp_path, data) -> None:
    r = gs.sweep(data, grid={"optimizer": ["sgd", "Adam(learning_rate=0.01)"]}, epochs=3,
                 seeds=2, progress=False, name="optimizers")
    path = r.save(tmp_path / "results.parquet")
    back = SweepResult.load(path)
    assert back.spec == r.spec
    pd.testing.assert_frame_equal(back.tidy(), r.tidy())
    pd.testing.assert_frame_equal(back.summary(), r.summary())
    assert back.meta["data"]["n_train"] == 110
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    with pytest.raises(DataError, match="not written by gdlab"):
        pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "other.parquet")
        load_results(tmp_path / "other.parquet")


def test_tidy_wide_and_summary_tables(data) -> None:
    r = gs.sweep(data, grid={"batch_size": [16, 32]}, optimizer="sgd", epochs=3, seeds=4,
                 progress=False)
    tidy = r.tidy()
    assert len(tidy) == 2 * 4 * 3 * 4  # configs x seeds x epochs x metrics
    assert {"batch_size", "seed", "epoch", "metric", "value"} <= set(tidy.columns)
    assert tidy.batch_size.dtype.kind == "i"
    wide = r.wide()
    assert wide.columns.names == ["batch_size", "metric"]
    assert list(wide.index) == [0, 1, 2]
    mean = tidy.query("batch_size == 32 and metric == 'loss' and epoch == 2").value.mean()
    assert wide[("32", "loss")].iloc[2] == pytest.approx(mean, rel=1e-6)
    summary = r.summary()
    final = tidy.query("batch_size == 16 and metric == 'test_accuracy' and epoch == 2").value
    row = summary.iloc[0]
    assert row.test_accuracy_mean == pytest.approx(final.mean())
    assert row.test_accuracy_std == pytest.approx(final.std(ddof=1))
    from scipy import stats

    half = stats.t.ppf(0.975, 3) * final.std(ddof=1) / 2
    assert row.test_accuracy_ci_high == pytest.approx(min(1.0, final.mean() + half))


def test_base_from_a_keras_model(data) -> None:
    import gdlab.keras as gk

    model = gk.Sequential([gk.layers.Dense(4, input_shape=(4,), activation="tanh",
                                           kernel_initializer="he_uniform"),
                           gk.layers.Dense(1, activation="sigmoid",
                                           kernel_initializer="he_uniform")])
    model.compile(optimizer=gk.optimizers.RMSprop(learning_rate=0.02),
                  loss="binary_crossentropy", metrics=["accuracy"])
    r = gs.sweep(data, model=model, grid={"batch_size": [16, 32]}, epochs=2, seeds=2,
                 progress=False)
    cfg = r.spec.configs()[0]
    assert cfg.hidden == (4,) and cfg.activation == "tanh"
    assert cfg.kernel_initializer == "he_uniform"
    assert cfg.optimizer.kind == "rmsprop" and cfg.learning_rate == 0.02


def test_bad_sweeps_fail_before_training(data) -> None:
    from gdlab.pitfalls import BatchLargerThanData

    with pytest.warns(BatchLargerThanData, match="batch_size 512 is not smaller than the 110"):
        r = gs.sweep(data, grid={"batch_size": [16, 512]}, epochs=2, seeds=2, progress=False)
    assert np.isfinite(r.history["loss"]).all()  # one full-batch update per epoch, as Keras
    with pytest.raises(DataError, match="single class"):
        gs.sweep((data[0], np.zeros(110, int)), grid={"batch_size": [16]}, progress=False)


def test_batch_sizes_without_a_useful_common_divisor_get_their_own_programs() -> None:
    assert executor.batch_size_clusters([16, 32, 64, 128]) == [[16, 32, 64, 128]]
    assert executor.batch_size_clusters([10, 16, 32]) == [[10], [16, 32]]


def test_multiclass_sweep_uses_softmax_and_one_hot(data) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 3)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(3, 3)), axis=1)
    r = gs.sweep((x, y), grid={"learning_rate": [0.01, 0.1]}, optimizer="adam", epochs=3,
                 seeds=2, progress=False)
    assert r.params[0][-1]["kernel"].shape == (2, 3, 3)  # seeds, fan_in, classes
    assert set(r.metrics) == {"loss", "accuracy"}


def test_the_course_four_sweeps_are_one_call_each(banknotes) -> None:
    lr = gs.sweep(banknotes, grid={"learning_rate": [0.01, 0.05, 0.1, 0.5]}, optimizer="sgd",
                  batch_size=16, epochs=10, seeds=10, progress=False)
    bs = gs.sweep(banknotes, grid={"batch_size": [16, 32, 64, 128]}, optimizer="sgd",
                  epochs=10, seeds=10, progress=False)
    opt = gs.sweep(banknotes, grid={"optimizer": [
        "SGD(learning_rate=0.01)", "SGD(learning_rate=0.01, momentum=0.3)",
        "SGD(learning_rate=0.01, momentum=0.3, nesterov=True)", "Adam(learning_rate=0.01)",
        "Adagrad(learning_rate=0.01)", "RMSprop(learning_rate=0.01)"]},
        batch_size=16, epochs=5, seeds=10, progress=False)
    init = gs.sweep(banknotes, grid={"kernel_initializer": [
        "zeros", "uniform", "normal", "he_normal", "lecun_uniform"]},
        optimizer="rmsprop", batch_size=16, epochs=5, seeds=10, progress=False)
    assert all(r.meta["programs"] == 1 for r in (lr, bs, opt, init))
    final_loss = lr.summary().set_index("setting")["loss_mean"]
    assert final_loss["0.5"] < final_loss["0.1"] < final_loss["0.05"] < final_loss["0.01"]
    # Per epoch, a batch of 128 makes 8x fewer updates than 16: it learns less per epoch.
    acc = bs.summary().set_index("setting")["accuracy_mean"]
    assert acc["16"] > acc["32"] > acc["64"] > acc["128"]
    # Common random numbers: batch 16 with 'sgd' is the lr=0.01 configuration, seed for seed.
    np.testing.assert_array_equal(bs.history["loss"][:, :, 0], lr.history["loss"][:, :, 0])
    assert opt.wide().shape == (5, 6 * 4) and init.wide().shape == (5, 5 * 4)


def test_several_sweeps_train_together_and_equal_their_separate_runs(data) -> None:
    from gdlab.specs import sweep_spec

    lr = sweep_spec("lr", base={"optimizer": "sgd", "batch_size": 16, "epochs": 4},
                    grid={"learning_rate": [0.01, 0.1]}, seeds=3)
    bs = sweep_spec("bs", base={"optimizer": "sgd", "epochs": 4},
                    grid={"batch_size": [16, 32]}, seeds=3)
    opt = sweep_spec("opt", base={"batch_size": 16, "epochs": 2},
                     grid={"optimizer": ["adam", "rmsprop"]}, seeds=3)
    together = gs.run_many([lr, bs, opt], data, progress=False)
    assert [r.meta["programs"] for r in together] == [1, 1, 1]
    assert together[0].meta["trained_with"] == ["lr", "bs", "opt"]
    for spec, joint in zip([lr, bs, opt], together, strict=True):
        alone = gs.run(spec, data, progress=False)
        assert joint.n_epochs == alone.n_epochs
        for m in alone.metrics:
            np.testing.assert_allclose(joint.history[m], alone.history[m], rtol=1e-5,
                                       atol=1e-5, err_msg=f"{spec.name} {m}")


# Some of these runs end on one class (zeros, narrow relu layers): not the subject here.
@pytest.mark.filterwarnings("ignore::gdlab.pitfalls.MajorityClass")
def test_recorded_layers_equal_the_final_weights_forward_pass(data) -> None:
    r = gs.sweep(data, grid={"hidden": ["3-2", "4"]}, optimizer="adam", epochs=3, seeds=2,
                 record_layers=(-2,), progress=False)
    x_test = data[2]
    for c, units in enumerate([2, 4]):
        acts = r.taps[-2][c]
        assert acts.shape == (3, 2, len(x_test), units)
        p = jax.tree.map(lambda a: a[1], r.params[c])  # seed index 1
        h = x_test
        for layer in p[:-1]:
            h = np.maximum(h @ layer["kernel"] + layer["bias"], 0)
        np.testing.assert_allclose(acts[-1, 1], h, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="Cannot record activations on 'val'"):
        gs.sweep(data, grid={"hidden": ["3"]}, record_layers=(0,), record_on="val",
                 progress=False)


def test_groups_scored_together_record_each_models_own_layers(data) -> None:
    # Three optimizer groups with one network are evaluated as one batch of models.
    r = gs.sweep(data, grid={"optimizer": ["adam", "sgd", "rmsprop"]}, hidden="3", epochs=2,
                 seeds=2, record_layers=(0,), progress=False)
    assert r.spec.n_configs == 3 and r.meta["programs"] == 1
    x_test, y_test = data[2], data[3]
    for c in range(3):
        p = jax.tree.map(lambda a: a[0], r.params[c])  # seed index 0
        h = np.maximum(x_test @ p[0]["kernel"] + p[0]["bias"], 0)
        np.testing.assert_allclose(r.taps[0][c][-1, 0], h, rtol=1e-5, atol=1e-6)
        out = 1 / (1 + np.exp(-(h @ p[1]["kernel"] + p[1]["bias"])))
        accuracy = np.mean((out[:, 0] > 0.5) == (np.ravel(y_test) > 0.5))
        np.testing.assert_allclose(r.history["test_accuracy"][-1, 0, c], accuracy, atol=1e-6)


def test_step_losses_and_noise_scale_come_back_per_configuration(data) -> None:
    r = gs.sweep(data, grid={"learning_rate": [0.01, 0.1]}, optimizer="sgd", batch_size=10,
                 epochs=2, seeds=2, record_steps=True, noise_rows=32, progress=False)
    assert r.steps["step_loss"].shape == (2, 11, 2, 2)  # epochs, steps, seeds, configs
    assert r.history["noise_scale"].shape == (2, 2, 2)
    assert (r.history["noise_scale"] > 0).all()
    np.testing.assert_allclose(
        (r.steps["step_loss"][:, :10] * 10).sum(1) + r.steps["step_loss"][:, 10] * 10,
        r.history["loss"] * 110, rtol=1e-5)


def test_initial_params_are_the_weights_a_sweep_starts_from(data) -> None:
    from gdlab import engine
    from gdlab.specs import resolve

    td = executor.training_data(data)
    configs = [resolve({"hidden": "3", "kernel_initializer": k, "epochs": 1})
               for k in ("he_normal", "random_uniform")]
    init = executor.initial_params(configs, [0, 4], td)
    # A program whose models never train (0 epochs) returns its initial weights.
    prog = executor.plan_programs(configs, td)[0]
    cfgs = tuple(executor._group_config(g, configs) for g in prog.groups)
    cfgs = tuple(c._replace(epochs=np.zeros_like(c.epochs)) for c in cfgs)
    plan = executor.program_plan(prog, td, 2)
    def targets(y):
        return tuple(executor.encode_targets(y, td.task, g.spec.loss, g.spec.network.n_outputs)
                     for g in prog.groups)

    batch = engine.Data(td.x_train, targets(td.y_train), tuple(x for _, x, _ in td.evals),
                        tuple(targets(y) for _, _, y in td.evals))
    states, _ = engine.fit_program(plan)(cfgs, batch, engine.seed_array([0, 4]))
    for col, cid in enumerate(prog.groups[0].config_ids):
        for a, b in zip(jax.tree.leaves(init[cid]), jax.tree.leaves(states[0].params),
                        strict=True):
            np.testing.assert_array_equal(a, np.asarray(b)[:, col])


def test_early_stopping_stops_each_model_by_keras_rule_and_restores_its_best(data) -> None:
    from gdlab import early_stopping as es

    x, y, xv, yv = data
    d = {"x_train": x, "y_train": y, "x_val": xv, "y_val": yv}
    kwargs = dict(grid={"learning_rate": [0.003, 0.3, 3.0]}, optimizer="adam", hidden="8",
                  epochs=14, seeds=3, progress=False)
    full = gs.sweep(d, **kwargs)
    rule = {"monitor": "val_loss", "patience": 2, "min_delta": 0.001,
            "restore_best_weights": True}
    stopped = gs.sweep(d, early_stopping=rule, **kwargs)
    params = es.early_stopping_params("min", 0.001, 2)
    n_stopped = 0
    for c in range(3):
        for s in range(3):
            state = es.init()
            stop, best = -1, -1
            for epoch in range(14):
                state, improved = es.update(state, full.history["val_loss"][epoch, s, c], epoch,
                                            params)
                if improved:
                    best = epoch
                if state.stopped:
                    stop = epoch
                    break
            assert stopped.stopped_epoch[s, c] == stop and stopped.best_epoch[s, c] == best
            last = 13 if stop < 0 else stop
            np.testing.assert_array_equal(stopped.history["val_loss"][:last + 1, s, c],
                                          full.history["val_loss"][:last + 1, s, c])
            assert np.isnan(stopped.history["val_loss"][last + 1:, s, c]).all()
            n_stopped += stop >= 0
    assert 0 < n_stopped < 9  # some runs stop early, some run to the end
    # Restored weights are the best epoch's: equal to training that many epochs.
    c, s = 1, 0
    best = int(stopped.best_epoch[s, c])
    short = gs.sweep(d, grid={"learning_rate": [0.3]}, optimizer="adam", hidden="8",
                     epochs=best + 1, seeds=[0], progress=False)
    for a, b in zip(jax.tree.leaves(stopped.params[c]), jax.tree.leaves(short.params[0]),
                    strict=True):
        np.testing.assert_allclose(a[s], b[0], rtol=1e-5, atol=1e-5)
    summary = stopped.summary()
    assert list(summary.stopped_early) == [int((stopped.stopped_epoch[:, i] >= 0).sum())
                                           for i in range(3)]
    with pytest.raises(ConfigError, match="monitors 'val_loss'.*validation"):
        gs.sweep(data, early_stopping={"monitor": "val_loss"}, progress=False)


def test_sweep_artifacts_tensorboard_runs_and_best_checkpoints(data, tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gdlab import checkpoint, network, tensorboard

    r = gs.sweep(data, grid={"learning_rate": [0.01, 0.5]}, optimizer="sgd", hidden="3",
                 epochs=3, seeds=2, progress=False)
    runs = tensorboard.write_sweep(r, tmp_path / "tb")
    assert sorted(p.name for p in runs) == [
        "learning_rate=0.01,seed=0", "learning_rate=0.01,seed=1", "learning_rate=0.5,seed=0",
        "learning_rate=0.5,seed=1"]
    acc = EventAccumulator(str(tmp_path / "tb" / "learning_rate=0.5,seed=1" / "train"))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("epoch_loss")]
    np.testing.assert_allclose(losses, r.history["loss"][:, 1, 1], rtol=1e-6)
    test = EventAccumulator(str(tmp_path / "tb" / "learning_rate=0.5,seed=1" / "test"))
    test.Reload()
    assert [e.step for e in test.Scalars("epoch_accuracy")] == [0, 1, 2]

    paths = checkpoint.save_best(r, tmp_path / "ckpt")
    assert sorted(p.name for p in paths) == ["0.01.safetensors", "0.5.safetensors"]
    loaded = checkpoint.load(tmp_path / "ckpt" / "0.5.safetensors")
    seed = loaded.settings["seed"]
    best = r.final().query("config == 1").sort_values("test_loss").iloc[0]
    assert seed == best.seed
    s = list(r.spec.seeds).index(seed)
    x_test = data[2]
    _, out, _ = network.apply(loaded.params, x_test, loaded.network)
    _, ref, _ = network.apply(jax.tree.map(lambda a: a[s], r.params[1]), x_test,
                              loaded.network)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
