"""Figures of sweep results (matplotlib): the course's curves with seed bands, final metrics.

Every function returns a ``matplotlib.figure.Figure`` and draws nothing on
screen; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab.errors import ConfigError
from gdlab.results import SweepResult

X_AXES = ("epochs", "updates", "examples")


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in {"agg", "module://matplotlib_inline.backend_inline"}:
        try:
            matplotlib.use("Agg")
        except Exception:  # pragma: no cover - an interactive backend already in use
            pass
    import matplotlib.pyplot as plt

    return plt


def x_values(result: SweepResult, config: int, x: str = "epochs") -> np.ndarray:
    """The x coordinate of each epoch's end: epochs done (1..E), optimizer updates or examples."""
    if x not in X_AXES:
        raise ConfigError(f"Unknown x axis {x!r}; choose one of {', '.join(X_AXES)}.")
    epochs = np.arange(1, result.n_epochs + 1)
    if x == "epochs":
        return epochs
    n_train = result.meta.get("data", {}).get("n_train")
    if n_train is None:
        raise ConfigError("This result does not record the number of training rows.")
    if x == "examples":
        return epochs * n_train
    batch = result.spec.configs()[config].batch_size
    return epochs * math.ceil(n_train / batch)


def _band(values: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and band edges over seeds (axis 1) of ``[epochs, seeds]``."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=1)
            if band == "sd":
                sd = np.nanstd(values, axis=1, ddof=1) if values.shape[1] > 1 else 0 * mean
                return mean, mean - sd, mean + sd
            if band == "range":
                return mean, np.nanmin(values, axis=1), np.nanmax(values, axis=1)
    raise ConfigError(f"Unknown band {band!r}; choose 'sd' or 'range'.")


def plot_curves(result: SweepResult, metrics: Sequence[str] | None = None, *,
                x: str = "epochs", band: str = "sd", title: str | None = None,
                figsize: tuple[float, float] = (12, 8), ylim: tuple[float, float] | None = (0, 1)
                ) -> Any:
    """The course's figure: one panel per metric (loss above accuracy), a line per setting.

    Lines are means over seeds; the shaded band is ±1 standard deviation
    (``band="sd"``) or the min-max range (``band="range"``). ``metrics`` default
    to the loss and the sweep's first metric (accuracy, or regression's MAE).
    """
    plt = _pyplot()
    if metrics is None:
        metrics = ["loss", *([result.first_metric] if result.first_metric else [])]
    metrics = [m for m in metrics if m in result.history]
    if not metrics:
        raise ConfigError(f"None of the metrics is in this result ({', '.join(result.metrics)}).")
    fig, axes = plt.subplots(len(metrics), 1, figsize=figsize, squeeze=False)
    n_seeds = len(result.spec.seeds)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        for c, name in enumerate(result.setting_names):
            xs = x_values(result, c, x)
            mean, low, high = _band(result.history[metric][:, :, c], band)
            color = colors[c % len(colors)]
            ax.plot(xs, mean, label=name, color=color)
            if n_seeds > 1:
                ax.fill_between(xs, low, high, color=color, alpha=0.15, linewidth=0)
        ax.set_title(metric.replace("_", " ").capitalize())
        if ylim is not None and ("accuracy" in metric or "loss" in metric):
            top = np.nanmax(result.history[metric])
            ax.set_ylim(ylim[0], max(ylim[1], float(top) if np.isfinite(top) else ylim[1]))
        if x == "updates":  # from a few to hundreds of updates per epoch: a log axis
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(title=result.spec.axes[0] if len(result.spec.axes) == 1 else None,
                      fontsize="small")
    band_text = "±1 sd" if band == "sd" else "min-max"
    axes[-1, 0].set_xlabel(
        {"epochs": "Epochs", "updates": "Optimizer updates", "examples": "Examples seen"}[x]
        + (f"   (mean over {n_seeds} seeds, band {band_text})" if n_seeds > 1 else "")
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_final(result: SweepResult, metric: str | None = None, *, axis: str | None = None,
               confidence: float = 0.95, figsize: tuple[float, float] = (7, 4.5)) -> Any:
    """The final value of ``metric`` against the swept setting, with confidence-interval bars.

    Numeric settings are placed on a numeric axis (logarithmic for learning
    rates); others are categories.
    """
    plt = _pyplot()
    if metric is None:
        from gdlab.trust import main_metric

        metric = main_metric(result)
    if metric not in result.history:
        raise ConfigError(f"No metric {metric!r}; this result has {', '.join(result.metrics)}.")
    summary = result.summary(confidence)
    axis = axis or (result.spec.axes[0] if result.spec.axes else "setting")
    mean = summary[f"{metric}_mean"].to_numpy()
    low = mean - summary[f"{metric}_ci_low"].to_numpy()
    high = summary[f"{metric}_ci_high"].to_numpy() - mean
    err = np.nan_to_num(np.vstack([low, high]))
    fig, ax = plt.subplots(figsize=figsize)
    values = summary[axis] if axis in summary else summary["setting"]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    xs = np.asarray(values, float) if numeric else np.arange(len(values))
    ax.errorbar(xs, mean, yerr=err, fmt="o-" if numeric else "o", capsize=4)
    if numeric:
        if axis == "learning_rate" or (xs.min() > 0 and xs.max() / xs.min() >= 20):
            ax.set_xscale("log")
    else:
        ax.set_xticks(xs)
        ax.set_xticklabels([str(v) for v in values], rotation=20, ha="right")
    ax.set_xlabel(axis)
    ax.set_ylabel(f"final {metric.replace('_', ' ')}")
    ax.set_title(f"{result.spec.name}: final {metric} (mean, {confidence:.0%} CI over "
                 f"{len(result.spec.seeds)} seeds)", fontsize="medium")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------- inside the network
#
# Representations (a layer's activations, drawn as a scatter colored by class),
# decision boundaries, convergence and stability, and a search's ranking.


def _class_colors(y: np.ndarray | None, n_classes: int | None = None) -> tuple[Any, float, float]:
    """(colormap, vmin, vmax): the course's coolwarm for two classes, tab10 for more."""
    plt = _pyplot()
    k = n_classes or (int(np.nanmax(y)) + 1 if y is not None and len(y) else 2)
    if k <= 2:
        return plt.get_cmap("coolwarm"), 0.0, 1.0
    return plt.get_cmap("tab10"), -0.5, 9.5


def _scatter_classes(ax: Any, xy: np.ndarray, y: np.ndarray | None,
                     class_names: Sequence[str] | None, legend: bool) -> None:
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=14, color="0.3")
        return
    y = np.asarray(y)
    if y.shape[0] != xy.shape[0]:
        raise ConfigError(f"{xy.shape[0]} points but {y.shape[0]} labels; give the labels of "
                          "the rows whose activations are drawn.")
    if y.ndim != 1 or np.any(y != np.round(y)):  # a regression target: color by value
        ax.scatter(xy[:, 0], xy[:, 1], c=y.reshape(len(y), -1)[:, 0], cmap="viridis", s=14,
                   edgecolors="none")
        return
    k = len(class_names) if class_names is not None else None
    cmap, vmin, vmax = _class_colors(y, k)
    points = ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap=cmap, vmin=vmin, vmax=vmax, s=14,
                        edgecolors="none")
    points.set_label("_classes")
    if legend:
        ax.legend(handles=_class_handles(y, class_names), title="class", fontsize="small",
                  loc="best")


def _class_handles(y: np.ndarray, class_names: Sequence[str] | None) -> list[Any]:
    from matplotlib.lines import Line2D

    cmap, vmin, vmax = _class_colors(y, len(class_names) if class_names is not None else None)
    classes = np.unique(y[~np.isnan(y.astype(float))]).astype(int)
    names = class_names or [str(c) for c in range(int(classes.max(initial=0)) + 1)]
    return [Line2D([], [], linestyle="", marker="o", markersize=5,
                   color=cmap((c - vmin) / (vmax - vmin)), label=str(names[c]))
            for c in classes]


def _limits(xy: np.ndarray, margin: float = 0.05) -> tuple[tuple[float, float],
                                                           tuple[float, float]]:
    pts = xy.reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.size == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.maximum((hi - lo) * margin, 1e-3)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), \
        (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def plot_representation(features: Any, y: Any = None, *,
                        class_names: Sequence[str] | None = None,
                        projection: Any = None, title: str | None = None,
                        figsize: tuple[float, float] = (5.5, 4.5)) -> Any:
    """The course's scatter of a layer's activations (``[rows, units]``), colored by class.

    Layers wider than 2 units are drawn through ``projection`` (by default a
    PCA fitted on these rows, see :func:`gdlab.representations.fit_projection`).
    """
    from gdlab.representations import project

    plt = _pyplot()
    a = np.asarray(features, dtype=np.float64)
    if a.ndim != 2:
        raise ConfigError(f"plot_representation draws [rows, units] activations, got shape "
                          f"{a.shape}; for every epoch use plot_representation_grid.")
    xy, proj = project(a, projection)
    fig, ax = plt.subplots(figsize=figsize)
    _scatter_classes(ax, xy, None if y is None else np.asarray(y), class_names, legend=True)
    ax.set_xlabel(proj.labels[0])
    ax.set_ylabel(proj.labels[1])
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _epochs_shown(n_epochs: int, epochs: Sequence[int] | None, most: int = 25) -> list[int]:
    if epochs is not None:
        shown = [int(e) for e in epochs]
        bad = [e for e in shown if not 1 <= e <= n_epochs]
        if bad:
            raise ConfigError(f"Epochs are counted from 1 to {n_epochs}; got {bad[0]}.")
        return shown
    if n_epochs <= most:
        return list(range(1, n_epochs + 1))
    return sorted({int(round(e)) for e in np.linspace(1, n_epochs, most)})


def _frame_title(epoch: int, accuracy: Any, set_name: str) -> str:
    if accuracy is None:
        return f"Epoch: {epoch}"
    acc = float(np.asarray(accuracy)[epoch - 1])
    # the course's title: 'Epoch: {}, Test Acc: {:3.1f} %'
    return f"Epoch: {epoch}, {set_name} Acc: {acc * 100.0:3.1f} %"


def _check_frames(frames: Any, accuracy: Any) -> np.ndarray:
    f = np.asarray(frames, dtype=np.float64)
    if f.ndim != 3:
        raise ConfigError(f"Frames are [epochs, rows, units] activations, got shape {f.shape}.")
    if accuracy is not None and np.asarray(accuracy).shape != (f.shape[0],):
        raise ConfigError(f"`accuracy` needs one value per epoch ({f.shape[0]}), got shape "
                          f"{np.asarray(accuracy).shape}.")
    return f


def plot_representation_grid(frames: Any, y: Any = None, *, accuracy: Any = None,
                             epochs: Sequence[int] | None = None, ncols: int = 5,
                             class_names: Sequence[str] | None = None,
                             set_name: str = "Test", title: str | None = None,
                             panel_size: tuple[float, float] = (3.0, 2.4)) -> Any:
    """The course's grid: the layer after each epoch (``frames[e]`` is after epoch e + 1).

    ``accuracy[e]`` (e.g. the test accuracy per epoch) goes in each title as
    ``"Epoch: 3, Test Acc: 85.2 %"``. Every panel shares the axes: wider layers
    go through one PCA fitted over all epochs. ``epochs`` (counted from 1)
    picks the panels; by default all, or 25 spread over training.
    """
    from gdlab.representations import project

    plt = _pyplot()
    f = _check_frames(frames, accuracy)
    shown = _epochs_shown(f.shape[0], epochs)
    xy, proj = project(f)
    xlim, ylim = _limits(xy[[e - 1 for e in shown]])
    ncols = max(1, min(ncols, len(shown)))
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols,
                                                    panel_size[1] * nrows), squeeze=False)
    labels = None if y is None else np.asarray(y)
    for i, ax in enumerate(axes.ravel()):
        if i >= len(shown):
            ax.set_visible(False)
            continue
        e = shown[i]
        _scatter_classes(ax, xy[e - 1], labels, class_names, legend=False)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_title(_frame_title(e, accuracy, set_name), fontsize="small")
        ax.tick_params(labelsize="x-small")
    axes[-1, 0].set_xlabel(proj.labels[0], fontsize="small")
    axes[-1, 0].set_ylabel(proj.labels[1], fontsize="small")
    if title:
        fig.suptitle(title)
    _layout_with_legend(fig, labels, class_names, bool(title))
    return fig


def _layout_with_legend(fig: Any, labels: np.ndarray | None,
                        class_names: Sequence[str] | None, has_title: bool) -> None:
    """tight_layout, keeping a strip at the top for the title and a one-row class legend."""
    legend = labels is not None and labels.ndim == 1 and bool(
        np.all(labels == np.round(labels)))
    # wide figures put the legend at the title's right; narrow ones below the title
    same_row = has_title and legend and fig.get_figwidth() >= 9
    strip = 0.4 * (has_title + legend - same_row)
    fig.set_figheight(fig.get_figheight() + strip)  # the panels keep their size
    top = 1.0 - strip / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, top))
    if legend:
        handles = _class_handles(labels, class_names)
        fig.legend(handles=handles, title=None, fontsize="small", loc="upper right",
                   ncols=len(handles), frameon=False,
                   bbox_to_anchor=(1.0, 1.0 if same_row or not has_title
                                   else 1.0 - 0.4 / fig.get_figheight()))


def animate_representation(frames: Any, y: Any, path: Any, *, accuracy: Any = None,
                           fps: float = 4, class_names: Sequence[str] | None = None,
                           set_name: str = "Test", title: str | None = None,
                           figsize: tuple[float, float] = (5.0, 4.5), dpi: int = 80) -> Any:
    """Write the representation through training as an animation; returns its path.

    A ``.gif`` is written with Pillow (always available); an ``.mp4`` needs
    ffmpeg on the PATH. One frame per epoch, on axes shared by every frame.
    """
    from pathlib import Path

    from matplotlib import animation

    from gdlab.representations import project

    plt = _pyplot()
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ConfigError(f"Animations are written as .gif or .mp4, got {path.name!r}.")
    if suffix == ".mp4" and not animation.writers.is_available("ffmpeg"):
        raise ConfigError("Writing .mp4 needs ffmpeg on the PATH, which is not installed; "
                          "write a .gif instead (Pillow) or install ffmpeg.")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not fps > 0:
        raise ConfigError(f"`fps` must be a positive number, got {fps!r}.")
    f = _check_frames(frames, accuracy)
    xy, proj = project(f)
    xlim, ylim = _limits(xy)
    labels = None if y is None else np.asarray(y)
    fig, ax = plt.subplots(figsize=figsize)

    def draw(i: int) -> list[Any]:
        ax.clear()
        _scatter_classes(ax, xy[i], labels, class_names, legend=labels is not None)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xlabel(proj.labels[0])
        ax.set_ylabel(proj.labels[1])
        ax.grid(alpha=0.3)
        ax.set_title((title + "\n" if title else "") + _frame_title(i + 1, accuracy, set_name),
                     fontsize="medium")
        return list(ax.get_children())

    anim = animation.FuncAnimation(fig, draw, frames=f.shape[0], blit=False)
    writer = (animation.PillowWriter(fps=fps) if suffix == ".gif"
              else animation.FFMpegWriter(fps=fps))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        anim.save(path, writer=writer, dpi=dpi)
    finally:
        plt.close(fig)
    return path


def _predict_fn(model: Any) -> Any:
    if hasattr(model, "predict") and hasattr(model, "network_spec"):
        return lambda x: np.asarray(model.predict(x, verbose=0))
    if callable(model):
        return lambda x: np.asarray(model(x))
    raise ConfigError(f"`model` must be a gdlab.keras model or a function x -> outputs, got "
                      f"{type(model).__name__}.")


def plot_decision_boundary(model: Any, x: Any, y: Any = None, *,
                           features: tuple[int, int] = (0, 1), fixed: Any = None,
                           resolution: int = 150, class_names: Sequence[str] | None = None,
                           feature_names: Sequence[str] | None = None,
                           title: str | None = None, margin: float = 0.25,
                           figsize: tuple[float, float] = (5.5, 4.5)) -> Any:
    """A model's decision over the plane of two input features, the data on top.

    TensorFlow Playground style: for two classes the background is the
    predicted probability of class 1 (blue to orange through white at 0.5);
    for more, each point of the plane takes its predicted class's color, paler
    where the model is less sure. ``model`` is a ``gdlab.keras`` model or a
    function ``x -> outputs`` (e.g. :func:`gdlab.representations.predictor`).
    With more than two features, the others are held at ``fixed`` (default:
    their mean over ``x``).
    """
    plt = _pyplot()
    from gdlab.validation import as_features

    predict = _predict_fn(model)
    xs = as_features(x, name="x").astype(np.float64)
    d = xs.shape[1]
    if d < 2:
        raise ConfigError("A decision boundary needs at least 2 input features; this data "
                          f"has {d}.")
    i, j = (int(v) for v in features)
    if len({i, j}) != 2 or not (0 <= i < d and 0 <= j < d):
        raise ConfigError(f"`features` must be two different feature indices in 0..{d - 1}, "
                          f"got {tuple(features)}.")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ConfigError(f"`resolution` must be an integer >= 2, got {resolution!r}.")
    base = xs.mean(axis=0) if fixed is None else np.asarray(fixed, np.float64).reshape(-1)
    if base.shape != (d,):
        raise ConfigError(f"`fixed` gives every feature's value ({d}), got shape {base.shape}.")
    lo, hi = xs[:, [i, j]].min(axis=0), xs[:, [i, j]].max(axis=0)
    pad = (hi - lo) * margin + 1e-6
    gi = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gj = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    mi, mj = np.meshgrid(gi, gj)
    grid = np.tile(base, (mi.size, 1))
    grid[:, i], grid[:, j] = mi.ravel(), mj.ravel()
    out = predict(grid.astype(np.float32)).reshape(mi.size, -1)
    fig, ax = plt.subplots(figsize=figsize)
    if out.shape[1] == 1:
        p = out[:, 0].reshape(mi.shape)
        cs = ax.contourf(mi, mj, p, levels=np.linspace(0, 1, 21), cmap="coolwarm",
                         vmin=0, vmax=1, alpha=0.8)
        ax.contour(mi, mj, p, levels=[0.5], colors="k", linewidths=1)
        fig.colorbar(cs, ax=ax, label="P(class 1)")
    else:
        cmap, vmin, vmax = _class_colors(None, out.shape[1])
        k = out.argmax(axis=1)
        rgba = np.asarray(cmap((k - vmin) / (vmax - vmin)))
        confidence = out.max(axis=1)
        rgba[:, 3] = 0.15 + 0.6 * (confidence - 1 / out.shape[1]) / (1 - 1 / out.shape[1])
        ax.imshow(rgba.reshape(*mi.shape, 4), origin="lower", aspect="auto",
                  extent=(gi[0], gi[-1], gj[0], gj[-1]))
    if y is not None:
        _scatter_classes(ax, xs[:, [i, j]], np.asarray(y), class_names, legend=True)
        ax.collections[-1].set_edgecolor("k")  # the points, drawn last
        ax.collections[-1].set_linewidth(0.3)
    names = feature_names or [f"x{n + 1}" for n in range(d)]
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    ax.set_xlim(gi[0], gi[-1])
    ax.set_ylim(gj[0], gj[-1])
    held = "" if d == 2 else " (other features at their mean)" if fixed is None else \
        " (other features fixed)"
    ax.set_title(title or f"Decision boundary{held}", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_sweep_representations(result: SweepResult, y: Any = None, *, layer: int = -2,
                               epoch: int = -1, seed: int | None = None, x: Any = None,
                               metric: str | None = None, ncols: int = 4,
                               class_names: Sequence[str] | None = None,
                               panel_size: tuple[float, float] = (3.6, 3.0)) -> Any:
    """One panel per configuration of a sweep: its layer ``layer`` at one epoch, for one seed.

    From what the sweep recorded (``record_layers``) at ``epoch`` (counted from
    1; -1 is the last), or, given inputs ``x``, from the final weights. Each
    panel's wider layers are projected with a PCA fitted on that configuration
    over all its recorded epochs. Titles give ``metric`` at that epoch (default
    the test or validation accuracy).
    """
    from gdlab import representations as rep

    plt = _pyplot()
    seed = result.spec.seeds[0] if seed is None else seed
    s = rep.seed_position(result, seed)
    n_e = result.n_epochs
    if x is None:
        if layer not in result.taps:
            raise ConfigError(f"This sweep did not record layer {layer}: run it with "
                              f"record_layers=({layer},), or give inputs x to use its final "
                              "weights.")
        e = n_e if epoch == -1 else int(epoch)
        if not 1 <= e <= n_e:
            raise ConfigError(f"`epoch` is counted from 1 to {n_e} (or -1 for the last), "
                              f"got {epoch}.")
    else:
        if epoch not in (-1, n_e):
            raise ConfigError("From inputs x, only the final weights are known: use epoch=-1, "
                              "or record the layer during training (record_layers).")
        e = n_e
    if metric is None:
        first = result.first_metric or "accuracy"
        metric = next((m for m in (f"test_{first}", f"val_{first}", first, "test_loss",
                                   "loss") if m in result.history), None)
    elif metric not in result.history:
        raise ConfigError(f"No metric {metric!r}; this result has {', '.join(result.metrics)}.")
    names = result.setting_names
    n = len(names)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols,
                                                    panel_size[1] * nrows), squeeze=False)
    labels = None if y is None else np.asarray(y)
    for c, ax in enumerate(axes.ravel()):
        if c >= n:
            ax.set_visible(False)
            continue
        if x is None:
            frames = result.taps[layer][c]
            if frames is None:
                ax.set_title(f"{names[c]}\n(no layer {layer})", fontsize="small")
                ax.set_axis_off()
                continue
            frames = np.asarray(frames[:, s])
            proj = rep.fit_projection(frames)
            xy = proj.transform(frames[e - 1])
        else:
            acts = rep.sweep_activations(result, x, layer)[c]
            if acts is None:
                ax.set_title(f"{names[c]}\n(no layer {layer})", fontsize="small")
                ax.set_axis_off()
                continue
            xy, proj = rep.project(acts[s])
        _scatter_classes(ax, xy, labels, class_names, legend=False)
        value = "" if metric is None else \
            f"\n{metric} {float(result.history[metric][e - 1, s, c]):.3g}"
        ax.set_title(f"{names[c]}{value}", fontsize="small")
        ax.set_xlabel(proj.labels[0], fontsize="x-small")
        ax.set_ylabel(proj.labels[1], fontsize="x-small")
        ax.tick_params(labelsize="x-small")
    fig.suptitle(f"{result.spec.name}: layer {layer} after epoch {e} (seed {seed})")
    _layout_with_legend(fig, labels, class_names, True)
    return fig


def plot_convergence(result: SweepResult, goal: Any, within: int | None = None, *,
                     hold: bool = False, tolerance: float = 0.02, confidence: float = 0.95,
                     configs: Sequence[int] | None = None,
                     figsize: tuple[float, float] | None = None) -> Any:
    """Convergence and stability per configuration, over seeds.

    Left: each seed's epochs to reach ``goal`` (dots; a cross at the right edge
    for seeds that never do), the median, and the fraction of seeds that reach
    it. Right: each seed's final value of the goal's metric, the mean with its
    confidence interval, colored by the stability verdict of
    :func:`gdlab.convergence.convergence_table`. ``configs`` picks (and orders)
    the configurations drawn; by default all.
    """
    from gdlab import convergence as conv

    plt = _pyplot()
    g = conv.parse_goal(goal, sorted(set(result.metrics) | {"val_accuracy"}))
    table = conv.convergence_table(result, g, within, hold=hold, confidence=confidence,
                                   tolerance=tolerance)
    epochs = conv.epochs_to_target(result, g, within, hold=hold)
    h = result.history[g.metric]
    final = h[result.epochs - 1, :, np.arange(h.shape[2])].T
    if configs is not None:
        picked = [int(c) for c in configs]
        bad = [c for c in picked if not 0 <= c < len(table)]
        if bad or not picked:
            raise ConfigError(f"`configs` are configuration indices in 0..{len(table) - 1}, "
                              f"got {list(configs)}.")
        table = table.iloc[picked].reset_index(drop=True)
        epochs, final = epochs[:, picked], final[:, picked]
    n = len(table)
    window = within or result.n_epochs
    fig, (left, right) = plt.subplots(
        1, 2, figsize=figsize or (11, max(3.0, 0.45 * n + 1.8)), sharey=True)
    colors = {"stable": "tab:green", "mostly stable": "tab:olive", "unstable": "tab:red",
              "diverged": "k", "too few seeds": "0.5"}
    rng = np.random.default_rng(0)  # fixed jitter: same figure for the same result
    for c in range(n):
        row = table.iloc[c]
        jitter = rng.uniform(-0.15, 0.15, size=epochs.shape[0])
        e = epochs[:, c]
        hit = ~np.isnan(e)
        left.scatter(e[hit], c + jitter[hit], s=14, color="tab:blue", alpha=0.7)
        left.scatter(np.full((~hit).sum(), window + 1.0), c + jitter[~hit], marker="x",
                     s=18, color="tab:red")
        if hit.any():
            left.plot([row.epochs_median] * 2, [c - 0.3, c + 0.3], color="k", lw=2)
        left.annotate(f"{row.reached}/{row.seeds}", (window + 1.6, c), va="center",
                      fontsize="small")
        color = colors.get(row.verdict, "0.5")
        right.scatter(final[:, c], c + jitter, s=14, color=color, alpha=0.6)
        if np.isfinite(row.final_mean):
            lo = row.final_ci_low if np.isfinite(row.final_ci_low) else row.final_mean
            hi = row.final_ci_high if np.isfinite(row.final_ci_high) else row.final_mean
            right.errorbar([row.final_mean], [c], xerr=[[row.final_mean - lo],
                                                        [hi - row.final_mean]],
                           fmt="D", color=color, capsize=4, markersize=5)
        right.annotate(row.verdict, (1.01, c), xycoords=("axes fraction", "data"),
                       va="center", fontsize="small", color=color)
    from matplotlib.lines import Line2D

    left.set_yticks(range(n))
    left.set_yticklabels(table["setting"].tolist(), fontsize="small")
    left.invert_yaxis()
    left.set_xlim(0.5, window + 2.8)
    left.set_xlabel(f"epochs to {g}" + (" (and holding)" if hold else ""))
    left.set_title("epochs to the goal, per seed", fontsize="medium")
    handles = [
        Line2D([], [], linestyle="", marker="o", color="tab:blue", label="a seed"),
        Line2D([], [], color="k", lw=2, label="median"),
        Line2D([], [], linestyle="", marker="x", color="tab:red",
               label=f"not within {window}"),
    ]
    left.grid(alpha=0.3, axis="x")
    right.set_xlabel(f"final {g.metric}")
    right.set_title(f"mean, {confidence:.0%} CI; verdict at tolerance {tolerance:g}",
                    fontsize="medium")
    right.grid(alpha=0.3, axis="x")
    fig.suptitle(f"{result.spec.name}: convergence and stability over "
                 f"{len(result.spec.seeds)} seeds")
    top = 1.0 - 0.75 / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.legend(handles=handles, fontsize="small", loc="upper left", ncols=3, frameon=False,
               bbox_to_anchor=(0.0, top + 0.3 / fig.get_figheight()))
    return fig


def plot_search_ranking(search: Any, top: int = 15,
                        figsize: tuple[float, float] | None = None) -> Any:
    """A search's best candidates: the fraction of seeds reaching the goal, screen and pooled.

    ``search`` is a :class:`gdlab.search.SearchResult`. Bars: screen seeds;
    diamonds: screen and fresh confirmation seeds together.
    """
    plt = _pyplot()
    ranking = search.ranking.head(top)
    n = len(ranking)
    axes = list(search.space.axes())
    labels = []
    for _, row in ranking.iterrows():
        parts = [f"lr={row[a]:g}" if a == "learning_rate" else
                 f"batch {row[a]}" if a == "batch_size" else str(row[a]) for a in axes]
        labels.append(f"#{row['rank']}  " + ", ".join(parts))
    fig, ax = plt.subplots(figsize=figsize or (9, 0.38 * n + 1.6))
    pos = np.arange(n)
    ax.barh(pos, ranking["reached_fraction"], color="tab:blue", alpha=0.6,
            label=f"screen ({len(search.screen.spec.seeds)} seeds)")
    pooled = ranking["pooled_fraction"].to_numpy(dtype=float)
    if np.isfinite(pooled).any():
        extra = int(np.nanmax(ranking["confirm_seeds"].to_numpy(dtype=float)))
        ax.scatter(pooled, pos, marker="D", color="k", zorder=3,
                   label=f"screen + {extra} fresh seeds")
    for p, (_, row) in zip(pos, ranking.iterrows(), strict=True):
        if np.isfinite(row["epochs_median"]):
            ax.annotate(f"median {row['epochs_median']:g} ep", (1.01, p),
                        xycoords=("axes fraction", "data"), va="center", fontsize="x-small")
    ax.set_yticks(pos)
    ax.set_yticklabels(labels, fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_xlabel(f"fraction of seeds reaching {search.goal} within {search.within} epochs")
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
