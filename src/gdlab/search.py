"""Target search: which settings make an architecture reach a goal within K epochs, reliably?

The course's Exercise 2 asks for an 8-5-2-3 network on wine that reaches 100 %
accuracy within 20 epochs ("not easy"). :func:`search` answers it as an
experiment rather than by trial and error:

1. **Screen.** ``budget`` candidate settings are drawn from a
   :class:`SearchSpace` (activations, initializers, optimizers, learning rates,
   batch sizes) by a balanced random design: every value of every axis
   appears equally often (within one), and no candidate twice. All of them,
   each over ``seeds`` seeds, train in one sweep (one compiled program per
   batch-size family), for ``within`` epochs.
2. **Rank** by the fraction of seeds that reach the goal, then by the median
   epochs they need, then by the final value of the goal's metric.
3. **Confirm.** Every candidate trains again on ``confirm_seeds`` *fresh*
   seeds, since the screen's best fraction is picked from many noisy ones and
   so flatters the winner: the fresh seeds' fraction is an honest estimate.
   The fresh seeds run in chunks as large as the screen's, which reuses the
   screen's compiled program: confirming costs running time only, no
   compilation. The ranking stays the screen's (``rank_by="screen"``); with
   ``rank_by="pooled"`` it orders by the fraction over all seeds (screen +
   fresh), a less noisy order.

The goal's metric is usually measured on a validation part: a dataset given
by name or as a :class:`~gdlab.datasets.Dataset` is split as the course does
(30 % test, ``random_state=42``) and 20 % of the training rows are held out
for validation, *stratified* by class by default (``validation="stratified"``):
on a file sorted by class, Keras's "last 20 %" holds out a single class.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from gdlab import convergence as _conv
from gdlab.errors import ConfigError, unknown_name
from gdlab.results import SweepResult
from gdlab.specs import TrainConfig, format_hidden, parse_hidden, resolve, sweep_spec

#: Default screen size (candidate settings, each trained on every seed).
DEFAULT_BUDGET = 64

#: How the ranking is ordered: by the screen's seeds, or by the screen's and the fresh ones.
RANK_BY = ("screen", "pooled")


@dataclass(frozen=True)
class SearchSpace:
    """The values a search may choose per setting (each axis a non-empty tuple).

    ``optimizer`` values are names or course-style strings such as
    ``"SGD(momentum=0.9)"``; ``learning_rate`` overrides their learning rate.
    """

    activation: tuple[str, ...] = ("relu", "tanh", "elu", "selu")
    kernel_initializer: tuple[str, ...] = ("glorot_uniform", "he_normal", "lecun_normal")
    optimizer: tuple[str, ...] = ("adam", "rmsprop", "nadam", "SGD(momentum=0.9)")
    learning_rate: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    batch_size: tuple[int, ...] = (4, 8, 16, 32)

    def __post_init__(self) -> None:
        for f in fields(self):
            values = getattr(self, f.name)
            if isinstance(values, str | int | float):
                values = (values,)
            try:
                values = tuple(values)
            except TypeError:
                raise ConfigError(f"Search axis `{f.name}` must be a list of values, "
                                  f"got {values!r}.") from None
            if not values:
                raise ConfigError(f"Search axis `{f.name}` is empty; give at least one value.")
            seen = [v for i, v in enumerate(values) if v in values[:i]]
            if seen:
                raise ConfigError(f"Search axis `{f.name}` repeats {seen[0]!r}; give each "
                                  "value once.")
            for v in values:
                resolve({f.name: v})  # a precise message for a bad value, now
            object.__setattr__(self, f.name, values)

    def axes(self) -> dict[str, tuple[Any, ...]]:
        """Setting name -> the values searched."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def size(self) -> int:
        """Number of distinct settings in the space."""
        return math.prod(len(v) for v in self.axes().values())


def candidates(space: SearchSpace, budget: int, seed: int = 0) -> list[dict[str, Any]]:
    """``budget`` distinct settings from ``space``: all of them when the space is that small,
    otherwise a balanced random design (each value of each axis equally often, within one)."""
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise ConfigError(f"`budget` must be a number of candidates >= 1, got {budget!r}.")
    axes = space.axes()
    names, values = list(axes), list(axes.values())
    sizes = [len(v) for v in values]
    if budget >= space.size:
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    rng = np.random.default_rng(seed)
    columns = []
    for n in sizes:
        tiled = np.tile(rng.permutation(n), math.ceil(budget / n))[:budget]
        columns.append(rng.permutation(tiled))
    picks = np.stack(columns, axis=1)
    weights = np.array([math.prod(sizes[i + 1:]) for i in range(len(sizes))])
    codes = picks @ weights
    taken: set[int] = set()
    out = []
    for code in codes.tolist():
        # A repeated combination is replaced by a random one not drawn yet (rare
        # when the space is much larger than the budget).
        while code in taken:
            code = int(rng.integers(space.size))
        taken.add(code)
        idx = [(code // w) % n for w, n in zip(weights, sizes, strict=True)]
        out.append({name: values[a][i] for a, (name, i) in enumerate(zip(names, idx,
                                                                          strict=True))})
    return out


def search_data(data: Any, *, validation_split: float = 0.2,
                validation: str = "stratified") -> Any:
    """The data a search trains on: names and Datasets are prepared with a validation part."""
    from gdlab import datasets, preprocessing

    if isinstance(data, str):
        data = datasets.load(data)
    if isinstance(data, datasets.Dataset):
        return preprocessing.prepare(data, validation_split=validation_split,
                                     validation=validation)
    return data


def _part(data: Any, name: str) -> Any:
    if isinstance(data, Mapping):
        return data.get(name)
    if isinstance(data, tuple | list):
        keys = ["x_train", "y_train", "x_test", "y_test"]
        return data[keys.index(name)] if name in keys and len(data) == 4 else None
    return getattr(data, name, None)


def _order(df: pd.DataFrame, fraction: str, median: str, higher: bool) -> pd.DataFrame:
    final = df["final_mean"].to_numpy(dtype=float)
    key = pd.DataFrame({
        "f": -df[fraction].to_numpy(dtype=float),
        "m": df[median].fillna(np.inf).to_numpy(dtype=float),
        "v": np.nan_to_num(-final if higher else final, nan=np.inf),
        "c": df["candidate"].to_numpy(),
    }, index=df.index)
    return df.loc[key.sort_values(["f", "m", "v", "c"]).index]


@dataclass
class SearchResult:
    """What :func:`search` found.

    ``ranking`` has one row per candidate, best first (see :func:`search`);
    ``screen`` is the sweep of every candidate (its configuration ``i`` is
    ``candidates[i]``) with the tapped layer recorded on ``record_on`` after
    every epoch; ``confirmation`` the same candidates on the fresh seeds (None
    without confirmation); ``warnings`` gdlab's warnings about candidates
    (:class:`gdlab.pitfalls.Caught`), collected rather than raised, since a
    search tries bad settings on purpose.
    """

    goal: _conv.Goal
    within: int
    hold: bool
    space: SearchSpace
    base: dict[str, Any]
    candidates: list[dict[str, Any]]
    ranking: pd.DataFrame
    screen: SweepResult
    confirmation: SweepResult | None
    layer: int
    record_on: str
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[Any] = field(default_factory=list)

    @property
    def winner(self) -> int:
        """The candidate index ranked first."""
        return int(self.ranking["candidate"].iloc[0])

    @property
    def best(self) -> dict[str, Any]:
        """The winner's settings (searched values and the fixed ones)."""
        return {**self.base, **self.candidates[self.winner]}

    def winner_config(self) -> TrainConfig:
        """The winner as a :class:`~gdlab.specs.TrainConfig`."""
        return self.screen.spec.configs()[self.winner]

    def winner_row(self) -> dict[str, Any]:
        """The winner's ranking row as a dict."""
        return self.ranking.iloc[0].to_dict()

    def winner_epochs(self) -> np.ndarray:
        """Epochs the winner needed on each screen seed (NaN: never within the window)."""
        return _conv.epochs_to_target(self.screen, self.goal, self.within,
                                      hold=self.hold)[:, self.winner]

    def winner_seed(self) -> int:
        """The first screen seed on which the winner reached the goal (else the first seed)."""
        hits = np.nonzero(~np.isnan(self.winner_epochs()))[0]
        return int(self.screen.spec.seeds[int(hits[0]) if hits.size else 0])

    def winner_frames(self, seed: int | None = None) -> np.ndarray:
        """The winner's tapped layer on ``record_on`` after every epoch: ``[epochs, rows, units]``."""
        from gdlab.representations import recorded_frames

        return recorded_frames(self.screen, self.winner,
                               self.winner_seed() if seed is None else seed, self.layer)

    def winner_history(self, metric: str | None = None, seed: int | None = None) -> np.ndarray:
        """One screen seed's per-epoch ``metric`` for the winner (default: accuracy on
        ``record_on``, the number in the course's titles)."""
        from gdlab.representations import seed_position

        metric = metric or f"{self.record_on}_accuracy"
        if metric not in self.screen.history:
            raise unknown_name("metric", metric, self.screen.metrics)
        s = seed_position(self.screen, self.winner_seed() if seed is None else seed)
        return np.asarray(self.screen.history[metric][:, s, self.winner])

    def convergence(self, tolerance: float = 0.02) -> pd.DataFrame:
        """The screen's :func:`~gdlab.convergence.convergence_table` (every candidate)."""
        return _conv.convergence_table(self.screen, self.goal, self.within, hold=self.hold,
                                       tolerance=tolerance)

    def plot_representation(self, seed: int | None = None, **kwargs: Any) -> Any:
        """The course's grid of the winner's tapped layer after each epoch (a Figure)."""
        from gdlab import plots

        seed = self.winner_seed() if seed is None else seed
        accuracy = (self.winner_history(seed=seed)
                    if f"{self.record_on}_accuracy" in self.screen.history else None)
        kwargs.setdefault("title", f"{self.describe_winner()} (seed {seed})")
        kwargs.setdefault("set_name", self.record_on.capitalize())
        return plots.plot_representation_grid(
            self.winner_frames(seed), self.labels, accuracy=accuracy,
            class_names=self.class_names, **kwargs)

    def describe_winner(self) -> str:
        """The winner's settings in one line, in the course's words."""
        cfg = self.winner_config()
        widths = format_hidden(cfg.hidden)
        return (f"{widths} {cfg.activation}, {cfg.kernel_initializer}, "
                f"{self.candidates[self.winner]['optimizer']} lr={cfg.learning_rate:g}, "
                f"batch {cfg.batch_size}")

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly record: goal, space, data, timing and the winner's numbers."""
        row = self.winner_row()
        return {
            "goal": str(self.goal), "within": self.within, "hold": self.hold,
            "base": {k: v for k, v in self.base.items()},
            "space": {k: list(v) for k, v in self.space.axes().items()},
            "candidates": len(self.candidates), "seeds": list(self.screen.spec.seeds),
            "confirmation_seeds": (list(self.confirmation.spec.seeds)
                                   if self.confirmation is not None else []),
            "data": self.data, "seconds": round(self.seconds, 3),
            "warnings": [c.to_dict() for c in self.warnings],
            "winner": {"settings": self.best,
                       **{k: (None if isinstance(v, float) and math.isnan(v) else
                              v.item() if isinstance(v, np.generic) else v)
                          for k, v in row.items()}},
        }


def _join_seeds(spec: Any, parts: Sequence[SweepResult], n: int) -> SweepResult:
    """One result from sweeps of the same configurations on consecutive seed chunks
    (the first ``n`` seeds kept)."""
    import jax

    first = parts[0]
    history = {m: np.concatenate([p.history[m] for p in parts], axis=1)[:, :n]
               for m in first.history}
    diverged = np.concatenate([p.diverged_epoch for p in parts], axis=0)[:n]
    params = None
    if first.params is not None:
        params = [jax.tree.map(lambda *a: np.concatenate(a)[:n], *(p.params[c] for p in parts))
                  for c in range(spec.n_configs)]
    taps = {layer: [None if frames is None else
                    np.concatenate([p.taps[layer][c] for p in parts], axis=1)[:, :n]
                    for c, frames in enumerate(first.taps[layer])]
            for layer in first.taps}
    return SweepResult(spec, history, diverged, dict(first.meta), params=params, taps=taps)


def search(data: Any, hidden: Any = "8-5-2", goal: str | _conv.Goal = "val_accuracy>=1.0",
           within: int = 20, *, seeds: int | Sequence[int] = 10,
           budget: int = DEFAULT_BUDGET, space: SearchSpace | Mapping[str, Sequence[Any]] |
           None = None, confirm_seeds: int = 20, rank_by: str = "screen", seed: int = 0,
           hold: bool = False, layer: int = -2, record_on: str = "test",
           validation_split: float = 0.2, validation: str = "stratified",
           progress: bool | str = False, **settings: Any) -> SearchResult:
    """Search ``space`` for settings with which ``hidden`` meets ``goal`` within ``within`` epochs.

    ``data`` is a dataset name, a :class:`~gdlab.datasets.Dataset` (both prepared
    with a ``validation_split`` validation part, stratified by default), a
    :class:`~gdlab.preprocessing.Prepared` or anything :func:`gdlab.sweep`
    takes. ``budget`` candidates are screened on ``seeds`` seeds (``seed`` draws
    them), then trained again on ``confirm_seeds`` fresh seeds (0 skips this);
    ``rank_by="pooled"`` ranks by all their seeds instead of the screen's.
    ``settings`` fix other settings (``loss``, ``bias_initializer``, ...).
    ``layer`` (default the last hidden layer) is recorded on the ``record_on``
    set after every epoch, for the winner's figure.

    The ranking's columns: ``rank, candidate``, the searched settings, then for
    the screen ``seeds, reached, reached_fraction, epochs_median, epochs_min,
    epochs_max`` (over seeds that reach the goal), ``final_mean, final_std``
    (the goal metric's last value), ``diverged, verdict, screen_rank``, and for
    the fresh seeds ``confirm_seeds, confirm_reached, confirm_fraction``, and
    ``pooled_fraction, pooled_epochs_median`` (screen and fresh seeds together;
    NaN without confirmation).
    """
    from gdlab import sweeps
    from gdlab.pitfalls import collect

    t0 = time.perf_counter()
    if isinstance(space, Mapping):
        space = SearchSpace(**space)
    space = space or SearchSpace()
    if isinstance(within, bool) or not isinstance(within, int | np.integer) or within < 1:
        raise ConfigError(f"`within` must be a number of epochs >= 1, got {within!r}.")
    if isinstance(confirm_seeds, bool) or not isinstance(confirm_seeds, int | np.integer) \
            or confirm_seeds < 0:
        raise ConfigError(f"`confirm_seeds` must be an integer >= 0, got {confirm_seeds!r}.")
    if rank_by not in RANK_BY:
        raise unknown_name("ranking", rank_by, RANK_BY)
    if rank_by == "pooled" and not confirm_seeds:
        raise ConfigError("rank_by='pooled' ranks by the screen's and the fresh seeds; give "
                          "confirm_seeds > 0.")
    searched = set(space.axes())
    fixed = sorted(searched & set(settings))
    if fixed:
        raise ConfigError(
            f"`{fixed[0]}` is searched, so it cannot also be fixed; to fix it, give the space "
            f"one value: SearchSpace({fixed[0]}=({settings[fixed[0]]!r},))."
        )
    if "epochs" in settings:
        raise ConfigError("The search trains for `within` epochs; give within= instead of "
                          "epochs=.")
    goal = _conv.parse_goal(goal)
    prepared = search_data(data, validation_split=validation_split, validation=validation)
    if goal.metric.startswith("val_") and _part(prepared, "x_val") is None:
        raise ConfigError(
            f"The goal uses {goal.metric!r}, but the data has no validation part. Give a "
            "dataset (it is prepared with validation_split=0.2) or prepare(dataset, "
            "validation_split=0.2, validation='stratified')."
        )
    base = {"hidden": format_hidden(parse_hidden(hidden)), **settings, "epochs": int(within)}
    cands = candidates(space, budget, seed)
    axes = list(space.axes())

    spec = sweep_spec("search", base=base, configs=cands, seeds=seeds, axes=axes)
    n, start = len(spec.seeds), max(spec.seeds) + 1
    with collect() as caught:
        screen = sweeps.run(spec, prepared, progress=progress, record_layers=(layer,),
                            record_on=record_on)
        # Fresh seeds in chunks as large as the screen's, so every chunk runs the screen's
        # compiled program again (same plan) instead of compiling a new one; the extra
        # seeds of the last chunk are dropped.
        parts = [sweeps.run(sweep_spec("confirmation", base=base, configs=cands, axes=axes,
                                       seeds=list(range(start + i, start + i + n))),
                            prepared, progress=progress, record_layers=(layer,),
                            record_on=record_on)
                 for i in range(0, confirm_seeds, n)]
    table = _conv.convergence_table(screen, goal, within, hold=hold)
    ranking = pd.DataFrame({"candidate": np.arange(len(cands))})
    for a in axes:
        ranking[a] = [c[a] for c in cands]
    keep = ["seeds", "reached", "reached_fraction", "epochs_median", "epochs_min",
            "epochs_max", "final_mean", "final_std", "diverged", "verdict"]
    ranking = pd.concat([ranking, table[keep]], axis=1)

    confirmation = None
    fresh_cols = ("confirm_seeds", "confirm_reached", "confirm_fraction", "pooled_fraction",
                  "pooled_epochs_median")
    if confirm_seeds:
        fresh_spec = sweep_spec("confirmation", base=base, configs=cands, axes=axes,
                                seeds=list(range(start, start + confirm_seeds)))
        confirmation = _join_seeds(fresh_spec, parts, confirm_seeds)
        screen_epochs = _conv.epochs_to_target(screen, goal, within, hold=hold)
        fresh_epochs = _conv.epochs_to_target(confirmation, goal, within, hold=hold)
        both = np.concatenate([screen_epochs, fresh_epochs], axis=0)
        hit = ~np.isnan(both)
        ranking["confirm_seeds"] = confirm_seeds
        ranking["confirm_reached"] = (~np.isnan(fresh_epochs)).sum(axis=0)
        ranking["confirm_fraction"] = ranking["confirm_reached"] / confirm_seeds
        ranking["pooled_fraction"] = hit.mean(axis=0)
        with np.errstate(all="ignore"):
            ranking["pooled_epochs_median"] = [
                float(np.median(both[hit[:, c], c])) if hit[:, c].any() else np.nan
                for c in range(len(cands))]
    else:
        for col in fresh_cols:
            ranking[col] = np.nan
    ranking = _order(ranking, "reached_fraction", "epochs_median", goal.higher_is_better)
    ranking.insert(len(keep) + len(axes) + 1, "screen_rank", np.arange(1, len(ranking) + 1))
    if rank_by == "pooled":
        ranking = _order(ranking, "pooled_fraction", "pooled_epochs_median",
                         goal.higher_is_better)
    ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    ranking = ranking.reset_index(drop=True)
    ranking.attrs.update({"goal": str(goal), "within": int(within), "metric": goal.metric,
                          "rank_by": rank_by})

    labels = _part(prepared, f"y_{record_on}")
    return SearchResult(
        goal=goal, within=int(within), hold=hold, space=space, base=base, candidates=cands,
        ranking=ranking, screen=screen, confirmation=confirmation, layer=layer,
        record_on=record_on, labels=None if labels is None else np.asarray(labels),
        class_names=getattr(prepared, "class_names", None),
        data=dict(screen.meta.get("data", {})), seconds=time.perf_counter() - t0,
        warnings=list(caught),
    )


__all__ = ["DEFAULT_BUDGET", "RANK_BY", "SearchResult", "SearchSpace", "candidates", "search",
           "search_data"]
