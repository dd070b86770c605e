"""The engine: many models in one program give each model's own numbers."""

from __future__ import annotations

import dataclasses
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gdlab import engine, network
from gdlab.optimizers import parse_optimizer

ACC = (engine.Metric("accuracy", "binary_accuracy"),)
N = 90


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.float32)[:, None]
    return jnp.asarray(x), jnp.asarray(y)


NET = network.NetworkSpec(4, (network.DenseSpec(3, ("relu",)), network.DenseSpec(1, ("sigmoid",))))


def run(arrays, optimizers, batch_sizes, epochs, seeds=(0, 1), net=NET, init_choices=None,
        init_index=None, n_epochs=None):
    x, y = arrays
    kind = parse_optimizer(optimizers[0]).kind
    group = engine.GroupSpec(net, "binary_crossentropy", ACC, kind, (),
                             len(optimizers), initializer_choices=init_choices)
    cfg = engine.group_config(group, [parse_optimizer(o) for o in optimizers], batch_sizes,
                              epochs, initializer_index=init_index)
    micro = engine.micro_batch_size(batch_sizes)
    plan = engine.Plan((group,), len(seeds), N, micro, len(set(batch_sizes)) > 1,
                       n_epochs or max(epochs), eval_sets=(("val_", N),))
    data = engine.Data(x, (y,), (x,), ((y,),))
    states, hist = engine.fit_program(plan)((cfg,), data, engine.seed_array(seeds))
    return states[0], {k: np.asarray(v) for k, v in hist[0].items()}


def test_vectorized_equals_one_at_a_time(arrays) -> None:
    opts = ["SGD(learning_rate=0.1)", "SGD(learning_rate=0.5, momentum=0.3, nesterov=True)",
            "SGD(learning_rate=0.05, momentum=0.9)"]
    batch_sizes, epochs = [16, 32, 48], [4, 3, 4]
    state, hist = run(arrays, opts, batch_sizes, epochs)
    for c in range(3):
        alone_state, alone = run(arrays, [opts[c]], [batch_sizes[c]], [epochs[c]],
                                 n_epochs=max(epochs))
        for key in hist:
            np.testing.assert_allclose(hist[key][:, :, c], alone[key][:, :, 0], rtol=1e-5,
                                       atol=1e-5, err_msg=key)
        for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(alone_state.params),
                        strict=True):
            np.testing.assert_allclose(np.asarray(a)[:, c], np.asarray(b)[:, 0], rtol=1e-5,
                                       atol=1e-5)
    # The 3-epoch configuration stopped after its epochs.
    assert np.isnan(hist["loss"][3, :, 1]).all() and np.isfinite(hist["loss"][:3, :, 1]).all()


def test_common_random_numbers_and_seeds(arrays) -> None:
    state, _ = run(arrays, ["SGD(learning_rate=0.1)", "SGD(learning_rate=0.2)"], [16, 16],
                   [1, 1])
    init, _ = run(arrays, ["SGD(learning_rate=0.1)", "SGD(learning_rate=0.2)"], [16, 16], [0, 0],
                  n_epochs=1)
    k = np.asarray(init.params[0]["kernel"])
    np.testing.assert_array_equal(k[:, 0], k[:, 1])  # same seed: same initial weights
    assert not np.array_equal(k[0, 0], k[1, 0])  # different seeds differ


def test_per_model_initializer_choice(arrays) -> None:
    choices = (("zeros", "he_normal"), None)
    state, _ = run(arrays, ["SGD(learning_rate=0.1)"] * 2, [16, 16], [0, 0], n_epochs=1,
                   init_choices=choices, init_index=np.array([[0, 0], [1, 0]]))
    k = np.asarray(state.params[0]["kernel"])
    assert np.all(k[:, 0] == 0) and np.all(k[:, 1] != 0)


def test_divergent_model_does_not_disturb_others(arrays) -> None:
    opts = ["SGD(learning_rate=0.1)", "SGD(learning_rate=1e12)"]
    state, hist = run(arrays, opts, [16, 16], [5, 5])
    _, alone = run(arrays, opts[:1], [16], [5])
    np.testing.assert_allclose(hist["loss"][:, :, 0], alone["loss"][:, :, 0], rtol=1e-6)
    div = np.asarray(state.diverged_epoch)
    assert (div[:, 0] == -1).all() and (div[:, 1] >= 0).all()
    for s in range(2):
        e = div[s, 1]
        assert np.isnan(hist["loss"][e:, s, 1]).all()
        assert np.isfinite(hist["loss"][:e, s, 1]).all()
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(state.params))


def test_bit_identical_on_repeat(arrays) -> None:
    _, a = run(arrays, ["Adam(learning_rate=0.01)"], [16], [3])
    _, b = run(arrays, ["Adam(learning_rate=0.01)"], [16], [3])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def _compiled_programs(fn) -> list[str]:
    """Names of the programs XLA compiled while running ``fn``."""
    records: list = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    # The global setting, not the thread-local context manager: programs are built
    # in a helper thread too.
    before = jax.config.jax_log_compiles
    jax.config.update("jax_log_compiles", True)
    try:
        fn()
    finally:
        jax.config.update("jax_log_compiles", before)
        logger.removeHandler(handler)
    return [r.getMessage().split()[1] for r in records if r.getMessage().startswith("Compiling ")]


def test_new_numbers_reuse_the_compiled_program(arrays) -> None:
    engine.init_program.cache_clear()
    engine.train_program.cache_clear()
    programs = {"jit(run)", "jit(<lambda>)"}  # the init and the training programs
    first = _compiled_programs(lambda: run(arrays, ["SGD(learning_rate=0.1)"], [16], [2]))
    assert programs <= set(first)
    second = _compiled_programs(
        lambda: run(arrays, ["SGD(learning_rate=0.3, momentum=0.5)"], [16], [2]))
    assert not programs & set(second)


def test_fit_calls_back_after_every_epoch(arrays) -> None:
    x, y = arrays
    group = engine.GroupSpec(NET, "binary_crossentropy", (), "sgd", (), 1)
    cfg = engine.group_config(group, [parse_optimizer("sgd")], [32], [3])
    plan = engine.Plan((group,), 1, N, 32, False, 3)
    seen: list[int] = []
    _, hist = engine.fit_program(plan)((cfg,), engine.Data(x, (y,)), engine.seed_array([0]),
                                       seen.append)
    assert seen == [0, 1, 2]
    assert np.asarray(hist[0]["loss"]).shape == (3, 1, 1)


def test_programs_go_to_the_persistent_compilation_cache(tmp_path) -> None:
    """No host callbacks inside: a second process loads the program instead of compiling."""
    import subprocess
    import sys

    code = (
        "import numpy as np, gdlab.sweeps as gs\n"
        "x = np.random.default_rng(0).normal(size=(40, 3)).astype('float32')\n"
        "gs.sweep((x, (x[:, 0] > 0).astype(int)), grid={'learning_rate': [0.1, 0.2]},"
        " epochs=2, seeds=2, progress=False)\n"
    )
    env = {**__import__("os").environ, "GDLAB_CACHE_DIR": str(tmp_path),
           "GDLAB_COMPILATION_CACHE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    entries = list((tmp_path / "jax").iterdir())
    assert entries, "nothing was written to the compilation cache"
    second = subprocess.run([sys.executable, "-c", "import jax, logging\n"
                             "logging.basicConfig(level=logging.DEBUG)\n" + code],
                            env=env, timeout=300, capture_output=True, text=True)
    assert "Persistent compilation cache hit" in second.stderr

def test_taps_record_each_epochs_activations_and_equal_a_forward_pass(arrays) -> None:
    x, y = arrays
    group = engine.GroupSpec(NET, "binary_crossentropy", ACC, "sgd", (), 1)
    cfg = engine.group_config(group, [parse_optimizer("SGD(learning_rate=0.1)")], [16], [3])
    data = engine.Data(x, (y,), (x[:10],), ((y[:10],),))
    seeds = engine.seed_array([0, 1])
    base = engine.Plan((group,), 2, N, 16, False, 3, eval_sets=(("test_", 10),))
    tapped = dataclasses.replace(base, tap_layers=(0, 1))
    states, hist = engine.fit_program(tapped)((cfg,), data, seeds)
    _, plain = engine.fit_program(base)((cfg,), data, seeds)
    h = {k: np.asarray(v) for k, v in hist[0].items()}
    assert h["tap_0"].shape == (3, 2, 1, 10, 3) and h["tap_1"].shape == (3, 2, 1, 10, 1)
    for k in plain[0]:
        np.testing.assert_array_equal(np.asarray(plain[0][k]), h[k])
    # The last epoch's taps are the trained network's hidden and output activations.
    p = jax.tree.map(lambda a: np.asarray(a)[1, 0], states[0].params)
    hidden = np.maximum(np.asarray(x[:10]) @ p[0]["kernel"] + p[0]["bias"], 0)
    out = 1 / (1 + np.exp(-(hidden @ p[1]["kernel"] + p[1]["bias"])))
    np.testing.assert_allclose(h["tap_0"][-1, 1, 0], hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h["tap_1"][-1, 1, 0], out, rtol=1e-5, atol=1e-6)


def _logistic_plan(**flags):
    net = network.NetworkSpec(4, (network.DenseSpec(1, ("sigmoid",)),))
    group = engine.GroupSpec(net, "binary_crossentropy", ACC, "sgd", (), 1)
    return net, group, engine.Plan((group,), 1, N, N, False, 3, shuffle=False, **flags)


def test_learning_rate_schedule_multiplies_each_update(arrays) -> None:
    x, y = arrays
    net, group, plan = _logistic_plan(lr_schedule=True)
    cfg = engine.group_config(group, [parse_optimizer("SGD(learning_rate=0.5)")], [N], [3],
                              lr_growth=[3.0])
    states, _ = engine.fit_program(plan)((cfg,), engine.Data(x, (y,)), engine.seed_array([0]))
    init = engine.init_program(plan)((cfg,), engine.seed_array([0]))[0][0]
    w = np.asarray(init.params[0]["kernel"])[0, 0].astype(np.float64)
    b = np.asarray(init.params[0]["bias"])[0, 0].astype(np.float64)
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    for t in range(3):  # full batch: one update per epoch, learning rate 0.5 * 3**t
        p = 1 / (1 + np.exp(-(xs @ w + b)))
        gw, gb = xs.T @ (p - ys) / N, (p - ys).mean(0)
        w, b = w - 0.5 * 3.0**t * gw, b - 0.5 * 3.0**t * gb
    np.testing.assert_allclose(np.asarray(states[0].params[0]["kernel"])[0, 0], w, rtol=1e-4,
                               atol=1e-5)


def test_step_losses_add_up_to_the_epoch_loss(arrays) -> None:
    x, y = arrays
    group = engine.GroupSpec(NET, "binary_crossentropy", ACC, "adam", (), 1)
    cfg = engine.group_config(group, [parse_optimizer("adam")], [15], [2])
    plan = engine.Plan((group,), 2, N, 15, False, 2, record_steps=True)
    _, hist = engine.fit_program(plan)((cfg,), engine.Data(x, (y,)), engine.seed_array([0, 1]))
    steps = np.asarray(hist[0]["step_loss"])
    assert steps.shape == (2, 6, 2, 1)  # epochs, steps (90 / 15), seeds, configs
    np.testing.assert_allclose(steps.mean(axis=1), np.asarray(hist[0]["loss"]), rtol=1e-5)


def test_noise_scale_equals_a_brute_force_computation(arrays) -> None:
    x, y = arrays
    group = engine.GroupSpec(NET, "binary_crossentropy", (), "sgd", (), 1)
    cfg = engine.group_config(group, [parse_optimizer("sgd")], [16], [1])
    plan = engine.Plan((group,), 1, N, 16, False, 1, noise_rows=20)
    states, hist = engine.fit_program(plan)((cfg,), engine.Data(x, (y,)), engine.seed_array([0]))
    params = jax.tree.map(lambda a: a[0, 0], states[0].params)
    one = jax.tree.map(lambda a: a[0], cfg)
    grads = []
    for i in range(20):  # explicit per-example gradients
        def loss(p, i=i):
            return engine._forward_loss(group, p, x[i:i + 1], y[i:i + 1], one)[0][0]
        g = jax.grad(loss)(params)
        grads.append(np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(g)]))
    grads = np.array(grads, np.float64)
    mean = grads.mean(0)
    trace = np.trace(np.cov(grads, rowvar=False))
    np.testing.assert_allclose(np.asarray(hist[0]["grad_var_trace"])[0, 0, 0], trace, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(hist[0]["noise_scale"])[0, 0, 0],
                               trace / (mean @ mean), rtol=1e-4)


@pytest.mark.parametrize("rows", [11, 96, 412])
@pytest.mark.parametrize("level", [0, 3])
def test_fixed_sum_does_not_depend_on_how_many_models_share_the_call(rows, level) -> None:
    """The same row of numbers sums to the same bits whatever batch of models holds it.

    XLA's own reductions do not promise this (on this XLA, a plain sum of these
    rows changes in its last bit with the batch shape); shards of different sizes
    rely on it.
    """
    row = np.random.default_rng(rows).normal(size=rows).astype(np.float32) * 10
    options = {"xla_backend_optimization_level": level}
    one = np.asarray(jax.jit(lambda v: engine.fixed_sum(jnp.log1p(jnp.exp(v)), -1),
                             compiler_options=options)(row[None, None]))
    for seeds, configs in [(2, 7), (3, 50), (13, 200), (50, 1)]:
        batch = np.broadcast_to(row, (seeds, configs, rows))
        out = jax.jit(lambda v: engine.fixed_sum(jnp.log1p(jnp.exp(v)), -1),
                      compiler_options=options)(batch)
        np.testing.assert_array_equal(np.asarray(out), np.broadcast_to(one, (seeds, configs)))
    np.testing.assert_allclose(one[0, 0], np.sum(np.log1p(np.exp(row.astype(np.float64)))),
                               rtol=1e-5)


def test_flat_state_round_trip_keeps_every_slot() -> None:
    params = ({"kernel": jnp.arange(2 * 3 * 4 * 3.0).reshape(2, 3, 4, 3),
               "bias": jnp.ones((2, 3, 3))},
              {"kernel": -jnp.ones((2, 3, 3, 1))})
    tx = parse_optimizer("Adam(learning_rate=0.01)").transformation()
    opt = jax.vmap(jax.vmap(tx.init))(params)
    opt = jax.tree.map(lambda a: a + 1.5, opt)  # slots and step counter all non-zero
    state = engine.GroupState(params, opt, jnp.full((2, 3), -1, jnp.int32))
    flat = engine._flatten_state(state)
    assert flat.params.shape == (2, 3, 4 * 3 + 3 + 3)
    slots = [a for a in jax.tree.leaves(flat.opt_state) if a.ndim == 3]
    assert len(slots) >= 2 and all(a.shape == flat.params.shape for a in slots)
    back = engine._unflatten_state(flat, state)
    assert jax.tree.structure(back) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("opt", ["Adam(learning_rate=0.05)", "RMSprop(learning_rate=0.01)",
                                 "SGD(learning_rate=0.1, momentum=0.9, weight_decay=0.01)"])
def test_flat_parameters_train_as_the_layers_arrays(arrays, opt, monkeypatch) -> None:
    state, hist = run(arrays, [opt], [16], [3])
    monkeypatch.setattr(engine, "_flattens", lambda group: False)
    engine.train_program.cache_clear()
    engine.init_program.cache_clear()
    try:
        tree_state, tree_hist = run(arrays, [opt], [16], [3])
    finally:
        engine.train_program.cache_clear()
        engine.init_program.cache_clear()
    for key in hist:
        np.testing.assert_allclose(hist[key], tree_hist[key], rtol=1e-6, atol=1e-7, err_msg=key)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(tree_state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
