"""Target search: the space, the candidates, the ranking, and the course's wine exercise."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from gdlab import datasets, plots, preprocessing
from gdlab import search as gs
from gdlab.errors import ConfigError


def test_a_space_checks_its_values() -> None:
    space = gs.SearchSpace(activation=["tanh"], learning_rate=0.1)
    assert space.activation == ("tanh",) and space.learning_rate == (0.1,)
    assert space.size == 1 * 3 * 4 * 1 * 4
    with pytest.raises(ConfigError, match="Unknown activation 'tahn'. Did you mean 'tanh'?"):
        gs.SearchSpace(activation=("relu", "tahn"))
    with pytest.raises(ConfigError, match="Search axis `batch_size` is empty"):
        gs.SearchSpace(batch_size=())
    with pytest.raises(ConfigError, match="Search axis `learning_rate` repeats 0.1"):
        gs.SearchSpace(learning_rate=(0.1, 0.01, 0.1))
    with pytest.raises(ConfigError, match="`batch_size` must be an integer >= 1, got 0"):
        gs.SearchSpace(batch_size=(16, 0))


def test_candidates_are_balanced_distinct_and_seeded() -> None:
    space = gs.SearchSpace()
    cands = gs.candidates(space, 40, seed=3)
    assert len(cands) == 40
    assert len({tuple(c.values()) for c in cands}) == 40
    for axis, values in space.axes().items():
        counts = Counter(c[axis] for c in cands)
        assert set(counts) == set(values), axis
        assert max(counts.values()) - min(counts.values()) <= 1, axis
    assert gs.candidates(space, 40, seed=3) == cands
    assert gs.candidates(space, 40, seed=4) != cands
    small = gs.SearchSpace(activation=("relu", "tanh"), kernel_initializer=("he_normal",),
                           optimizer=("adam",), learning_rate=(0.01, 0.1), batch_size=(8,))
    assert gs.candidates(small, 100) == [
        {"activation": a, "kernel_initializer": "he_normal", "optimizer": "adam",
         "learning_rate": lr, "batch_size": 8} for a in ("relu", "tanh") for lr in (0.01, 0.1)]
    with pytest.raises(ConfigError, match="`budget` must be a number of candidates >= 1"):
        gs.candidates(space, 0)


SPACE = gs.SearchSpace(activation=("relu", "tanh"), kernel_initializer=("glorot_uniform",),
                       optimizer=("sgd", "adam"), learning_rate=(1e-4, 0.05), batch_size=(16,))


@pytest.fixture(scope="module")
def moons():
    return gs.search(datasets.moons(n_samples=200, noise=0.1), "4", "val_accuracy>=0.85", 15,
                     seeds=3, budget=10, space=SPACE, confirm_seeds=2)


def test_the_search_finds_the_known_good_configuration(moons) -> None:
    r = moons
    assert len(r.candidates) == 8  # the whole space, as it is smaller than the budget
    best = r.winner_row()
    assert (best["activation"], best["optimizer"], best["learning_rate"]) == ("tanh", "adam",
                                                                              0.05)
    assert (best["reached"], best["seeds"], best["confirm_reached"]) == (3, 3, 2)
    assert best["pooled_fraction"] == 1.0 and best["rank"] == 1
    assert r.best == {"hidden": "4", "epochs": 15, "activation": "tanh",
                      "kernel_initializer": "glorot_uniform", "optimizer": "adam",
                      "learning_rate": 0.05, "batch_size": 16}
    cfg = r.winner_config()
    assert (cfg.hidden, cfg.optimizer.kind, cfg.learning_rate) == ((4,), "adam", 0.05)
    # nothing with learning rate 1e-4 gets there in 15 epochs
    slow = r.ranking[r.ranking["learning_rate"] == 1e-4]
    assert (slow["reached"] == 0).all() and slow["rank"].min() > 2
    # screen numbers are the convergence table's
    table = r.convergence()
    for _, row in r.ranking.iterrows():
        assert row["reached"] == table["reached"].iloc[row["candidate"]]


def test_the_ranking_orders_by_fraction_then_epochs(moons) -> None:
    rk = moons.ranking
    assert rk["rank"].tolist() == list(range(1, 9))
    assert rk["rank"].tolist() == rk["screen_rank"].tolist()
    keys = list(zip(-rk["reached_fraction"], rk["epochs_median"].fillna(np.inf), strict=True))
    assert keys == sorted(keys)
    assert (rk["confirm_seeds"] == 2).all()  # every candidate, on fresh seeds 3 and 4
    np.testing.assert_allclose(rk["confirm_fraction"], rk["confirm_reached"] / 2)
    np.testing.assert_allclose(rk["pooled_fraction"],
                               (rk["reached"] + rk["confirm_reached"]) / 5)
    assert rk.attrs["goal"] == "val_accuracy >= 0.85" and rk.attrs["rank_by"] == "screen"


def test_fresh_seeds_rerun_the_screens_program_and_can_rank() -> None:
    from gdlab import engine

    moons = datasets.moons(n_samples=200, noise=0.1)
    before = engine.train_program.cache_info().misses
    pooled = gs.search(moons, "4", "val_accuracy>=0.85", 12, seeds=2, budget=10, space=SPACE,
                       confirm_seeds=5, rank_by="pooled")
    assert engine.train_program.cache_info().misses - before == 1  # the screen's, only
    assert pooled.confirmation.spec.seeds == (2, 3, 4, 5, 6)
    assert pooled.confirmation.history["val_accuracy"].shape == (12, 5, 8)
    rk = pooled.ranking
    keys = list(zip(-rk["pooled_fraction"], rk["pooled_epochs_median"].fillna(np.inf),
                    strict=True))
    assert keys == sorted(keys) and rk.attrs["rank_by"] == "pooled"
    # fresh seeds 2..6 in chunks of two: the same numbers as a sweep on those seeds alone
    again = gs.search(moons, "4", "val_accuracy>=0.85", 12, seeds=[2, 3, 4, 5, 6], budget=10,
                      space=SPACE, confirm_seeds=0)
    np.testing.assert_allclose(pooled.confirmation.history["val_accuracy"],
                               again.screen.history["val_accuracy"], rtol=1e-5, atol=1e-6)
    assert again.ranking["confirm_seeds"].isna().all() and again.confirmation is None
    with pytest.raises(ConfigError, match="Unknown ranking 'best'"):
        gs.search("moons", "4", rank_by="best")
    with pytest.raises(ConfigError, match="give confirm_seeds > 0"):
        gs.search("moons", "4", rank_by="pooled", confirm_seeds=0)


def test_the_winner_has_its_representation_and_is_deterministic(moons) -> None:
    r = moons
    seed = r.winner_seed()
    e = r.winner_epochs()
    assert seed == r.screen.spec.seeds[int(np.nonzero(~np.isnan(e))[0][0])]
    frames = r.winner_frames()
    assert frames.shape == (15, len(r.labels), 4)
    np.testing.assert_array_equal(r.winner_history(),
                                  r.screen.history["test_accuracy"][:, 0, r.winner])
    fig = r.plot_representation()
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    acc = r.winner_history()
    assert titles[0] == f"Epoch: 1, Test Acc: {acc[0] * 100:3.1f} %" and len(titles) == 15
    fig = plots.plot_search_ranking(r, top=4)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "#1  tanh, glorot_uniform, adam, lr=0.05, batch 16"
    assert len(labels) == 4
    again = gs.search(datasets.moons(n_samples=200, noise=0.1), "4", "val_accuracy>=0.85", 15,
                      seeds=3, budget=10, space=SPACE, confirm_seeds=2)
    pd.testing.assert_frame_equal(again.ranking, r.ranking)
    summary = r.summary()
    assert summary["winner"]["settings"] == r.best
    assert summary["confirmation_seeds"] == [3, 4] and summary["candidates"] == 8


def test_search_errors_say_how_to_fix_them() -> None:
    d = datasets.moons(n_samples=100)
    no_val = preprocessing.prepare(d)
    with pytest.raises(ConfigError) as info:
        gs.search(no_val, "4", "val_accuracy>=0.9", 5, space=SPACE)
    assert "The goal uses 'val_accuracy', but the data has no validation part." in \
        str(info.value)
    with pytest.raises(ConfigError) as info:
        gs.search(d, "4", "val_accuracy>=0.9", 5, space=SPACE, activation="relu")
    assert str(info.value) == ("`activation` is searched, so it cannot also be fixed; to fix "
                               "it, give the space one value: SearchSpace(activation=('relu',)).")
    with pytest.raises(ConfigError, match="give within= instead of epochs="):
        gs.search(d, "4", "val_accuracy>=0.9", 5, space=SPACE, epochs=3)
    with pytest.raises(ConfigError, match="Unknown metric 'val_acc'"):
        gs.search(d, "4", "val_acc>=0.9", 5, space=SPACE)
    with pytest.raises(ConfigError, match="Unknown activation 'tahn'"):  # a dict space
        gs.search(d, "4", "val_accuracy>=0.9", 5, space={"activation": ("relu", "tahn")})


def test_wine_exercise_reaches_full_validation_accuracy_within_20_epochs() -> None:
    """The course's 8-5-2-3 network on wine (Exercise 2), as `gdlab search` runs it."""
    r = gs.search("wine", "8-5-2", "val_accuracy>=1.0", 20, seeds=10)
    assert r.data["split"]["validation"] == "stratified" and r.data["n_val"] == 25
    best = r.winner_row()
    assert best["reached"] >= 8 and best["seeds"] == 10
    assert best["confirm_reached"] > 10  # still most of 20 fresh seeds
    assert r.winner_frames().shape == (20, 54, 2)  # the 2-unit layer on the test rows
