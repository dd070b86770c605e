"""The study report: one self-contained HTML file, figures embedded.

``write_figures(run)`` draws every figure of a run into ``figures/`` (PNG);
``write_report(run)`` assembles ``report.html`` from the run's tables and those
figures. Both read only what the run directory holds, so ``gdlab report RUN_DIR``
rebuilds the report from saved results.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gdlab.artifacts import atomic_write, safe_name

FIGURE_DPI = 110
PAIRPLOT_FEATURES = 6


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda p: fig.savefig(p, dpi=FIGURE_DPI, format="png",
                                             bbox_inches="tight"))
    plt.close(fig)
    return path


def _is_representation(run: Any, name: str) -> bool:
    entry = next(e for e in run.spec.sweeps if e.name == name)
    return entry.record_layer is not None


def figure_paths(run: Any) -> dict[str, Path]:
    """Every figure a run's report shows, by key."""
    fig_dir = run.out_dir / "figures"
    out = {"pairplot": fig_dir / "pairplot.png"}
    for r in run.results:
        base = safe_name(r.spec.name)
        if r.taps:
            out[f"{r.spec.name}:representation"] = fig_dir / f"{base}-representation.png"
        out[f"{r.spec.name}:curves"] = fig_dir / f"{base}-curves.png"
        if r.spec.n_configs > 1:
            out[f"{r.spec.name}:final"] = fig_dir / f"{base}-final.png"
    return out


def write_figures(run: Any) -> dict[str, Path]:
    """Draw the run's figures into ``figures/``."""
    from gdlab import plots
    from gdlab.explore import pairplot

    paths = figure_paths(run)
    if run.dataset.task != "regression":
        # 13 wine features make 169 panels (about 10 s to draw); the report shows six.
        pairplot(run.dataset, paths["pairplot"], max_features=PAIRPLOT_FEATURES)
    for r in run.results:
        name = r.spec.name
        metrics = ["loss", "accuracy"] if "accuracy" in r.history else ["loss"]
        extra = [m for m in ("val_accuracy", "test_accuracy") if m in r.history]
        if r.taps:
            metrics = metrics + extra[-1:]
        _save(plots.plot_curves(r, metrics, title=_title(run, name)), paths[f"{name}:curves"])
        if f"{name}:final" in paths:
            _save(plots.plot_final(r), paths[f"{name}:final"])
        if f"{name}:representation" in paths:
            _save(representation_figure(run, r), paths[f"{name}:representation"])
    return paths


def representation_figure(run: Any, result: Any) -> Any:
    """The recorded layer of seed 0 on the test rows, after each epoch, colored by class."""
    import matplotlib.pyplot as plt

    layer = next(iter(result.taps))
    acts = result.taps[layer][0]
    # Validation parts come from the training rows, so every preparation has the same test rows.
    prep = run.prepared[run.spec.data]
    labels = np.asarray(prep.y_test)
    n_epochs = acts.shape[0]
    shown = list(range(n_epochs)) if n_epochs <= 25 else list(
        np.linspace(0, n_epochs - 1, 25).round().astype(int))
    cols = min(5, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.6 * rows), squeeze=False)
    frames = acts[shown, 0]
    x2 = frames[..., :2] if frames.shape[-1] >= 2 else np.concatenate(
        [frames, np.zeros_like(frames)], axis=-1)
    lo, hi = np.nanmin(x2, axis=(0, 1)), np.nanmax(x2, axis=(0, 1))
    pad = 0.05 * (hi - lo + 1e-6)
    test_acc = result.history.get("test_accuracy")
    for ax, e, frame in zip(axes.ravel(), shown, x2, strict=False):
        ax.scatter(frame[:, 0], frame[:, 1], c=labels, cmap="coolwarm", s=8)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        title = f"Epoch: {e + 1}"
        if test_acc is not None and np.isfinite(test_acc[e, 0, 0]):
            title += f", Test Acc: {test_acc[e, 0, 0] * 100:3.1f} %"
        ax.set_title(title, fontsize="small")
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _title(run: Any, name: str) -> str:
    entry = next(e for e in run.spec.sweeps if e.name == name)
    return entry.title or name


# ------------------------------------------------------------------------ HTML


CSS = """
:root { --ink:#1f2933; --muted:#52606d; --line:#d9e2ec; --accent:#2f6fed; --bg:#f7f9fb; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color:var(--ink); background:var(--bg); }
header { background:#102a43; color:#f0f4f8; padding:2.2rem 0 1.6rem; }
header h1 { margin:0 0 .4rem; font-size:1.9rem; font-weight:650; }
header p { margin:.2rem 0; color:#bcccdc; max-width:60rem; }
main, .wrap { max-width:68rem; margin:0 auto; padding:0 1.5rem; }
nav { background:#fff; border-bottom:1px solid var(--line); position:sticky; top:0; z-index:2; }
nav a { display:inline-block; padding:.6rem .8rem; color:var(--accent); text-decoration:none;
        font-size:.92rem; }
nav a:hover { text-decoration:underline; }
section { background:#fff; border:1px solid var(--line); border-radius:10px;
          padding:1.4rem 1.6rem; margin:1.4rem 0; scroll-margin-top:6rem; }
h2 { margin:.1rem 0 .8rem; font-size:1.35rem; }
h3 { margin:1.2rem 0 .5rem; font-size:1.05rem; color:var(--muted); }
p.lead { color:var(--muted); margin-top:0; }
figure { margin:1rem 0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px; }
figcaption { color:var(--muted); font-size:.9rem; margin-top:.3rem; }
table { border-collapse:collapse; width:100%; font-size:.9rem; margin:.6rem 0 1rem; }
th, td { border-bottom:1px solid var(--line); padding:.38rem .55rem; text-align:right;
         white-space:nowrap; }
th:first-child, td:first-child { text-align:left; white-space:normal; }
th { background:#f0f4f8; font-weight:600; }
tr:hover td { background:#f8fafc; }
.small { font-size:.85rem; color:var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; }
pre { background:#f0f4f8; padding:.8rem 1rem; border-radius:6px; overflow-x:auto; }
.grid2 { display:grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap:1rem; }
.pill { display:inline-block; padding:.05rem .5rem; border-radius:1rem; background:#e6f0ff;
        color:#1d4ed8; font-size:.8rem; margin-left:.4rem; }
.warn { color:#8d2b0b; }
"""


def _img(path: Path, alt: str, caption: str = "") -> str:
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"{cap}</figure>")


def _table(df: pd.DataFrame, index: bool = False) -> str:
    return df.to_html(index=index, border=0, escape=True, na_rep="–")


def _pm(mean: float, std: float, digits: int = 3) -> str:
    if mean is None or not np.isfinite(mean):
        return "–"
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _ci(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "–"
    return f"[{low:.3f}, {high:.3f}]"


def sweep_table(result: Any) -> pd.DataFrame:
    """The report's table of one sweep: final metrics as mean ± sd, test CI, diverged runs."""
    s = result.summary()
    rows = []
    for _, row in s.iterrows():
        out = {"setting": row["setting"]}
        for m, label in (("loss", "train loss"), ("accuracy", "train acc"),
                         ("val_loss", "val loss"), ("val_accuracy", "val acc"),
                         ("test_loss", "test loss"), ("test_accuracy", "test acc")):
            if f"{m}_mean" in row:
                out[label] = _pm(row[f"{m}_mean"], row[f"{m}_std"])
        main = "test_accuracy" if "test_accuracy_mean" in row else "test_loss"
        if f"{main}_ci_low" in row:
            out[f"{main.replace('_', ' ')} 95% CI"] = _ci(row[f"{main}_ci_low"],
                                                            row[f"{main}_ci_high"])
        out["diverged"] = f"{int(row['diverged'])}/{int(row['seeds'])}"
        rows.append(out)
    return pd.DataFrame(rows)


def write_report(run: Any) -> Path:
    """Assemble ``report.html`` (self-contained) from the run's tables and figures."""
    import json

    spec = run.spec
    paths = figure_paths(run)
    ds = run.dataset
    manifest_path = run.out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    title = spec.title or spec.name
    seeds = len(spec.seeds)
    nav = ['<a href="#warnings">Warnings</a>'] if getattr(run, "warnings", []) else []
    nav.append('<a href="#data">Data</a>')
    if run.baseline is not None:
        nav.append('<a href="#baseline">Baseline</a>')
    nav += [f'<a href="#sweep-{safe_name(r.spec.name)}">{html.escape(_title(run, r.spec.name))}'
            f"</a>" for r in run.results]
    nav.append('<a href="#run">What was run</a>')

    parts = [f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · gdlab report</title>
<style>{CSS}</style></head><body>
<header><div class="wrap"><h1>{html.escape(title)}</h1>
<p>{html.escape(spec.description.strip())}</p>
<p>Data: <b>{html.escape(ds.name)}</b> ({ds.n_rows} rows, {ds.n_features} features,
{html.escape(ds.task)}) · {seeds} seeds per setting · study <code>{html.escape(spec.name)}</code></p>
</div></header>
<nav><div class="wrap">{''.join(nav)}</div></nav><main>"""]

    # Warnings first: what in this setup could mislead.
    found = getattr(run, "warnings", [])
    if found:
        items = "".join(f"<li><b>{html.escape(w['name'])}</b>: {html.escape(w['message'])}</li>"
                        for w in found)
        parts.append('<section id="warnings"><h2>Warnings</h2><p class="lead">Things in this '
                     "setup that can mislead; each can be silenced by name "
                     "(<code>quiet_warnings</code> in the study file).</p>"
                     f'<ul class="warn">{items}</ul></section>')

    # Data
    prep = run.prepared.get(spec.data)
    data_html = [f'<section id="data"><h2>Data</h2><p class="lead">{html.escape(ds.source)}'
                 "</p>"]
    if ds.task != "regression":
        from gdlab.explore import class_balance

        data_html.append("<h3>Class balance</h3>" + _table(class_balance(ds).round(3)))
    if prep is not None:
        rec = prep.record()
        split = (f"{rec.get('n_train', len(prep.y_train))} training rows, "
                 f"{len(prep.y_test)} test rows"
                 + (f", {len(prep.y_val)} validation rows" if prep.y_val is not None else "")
                 + f"; features scaled with <code>{html.escape(str(prep.scaling))}</code> "
                 + ("fitted on the training rows only." if prep.scaling != "course"
                    else "fitted on all rows before the split, as the course does (test "
                         "statistics leak into training)."))
        data_html.append(f"<p>{split}</p>")
    from gdlab.explore import feature_summary

    data_html.append("<h3>Features</h3>"
                     + _table(feature_summary(ds).round(3).reset_index()))
    shown = min(ds.n_features, PAIRPLOT_FEATURES)
    data_html.append(_img(
        paths["pairplot"], "pairplot of the features colored by class",
        "Pairs of features, colored by class (the course's seaborn pairplot)"
        + (f"; the first {shown} of {ds.n_features} features (gdlab explore draws all)."
           if shown < ds.n_features else ".")))
    data_html.append("</section>")
    parts.append("".join(data_html))

    # Baseline
    if run.baseline is not None:
        b = run.baseline.copy()
        keep = [c for c in ("model", "metric", "cv_folds", "cv_mean", "cv_std", "test_score")
                if c in b.columns]
        parts.append(
            '<section id="baseline"><h2>Baseline</h2><p class="lead">Simple scikit-learn '
            "models on the same data, so you can see whether a network beats them: "
            "cross-validated on all rows (scaling inside each fold) and scored on the "
            "networks' test rows.</p>" + _table(b[keep].round(4)) + "</section>")

    # Sweeps
    for r in run.results:
        name = r.spec.name
        entry = next(e for e in spec.sweeps if e.name == name)
        sec = [f'<section id="sweep-{safe_name(name)}"><h2>{html.escape(_title(run, name))}'
               f'<span class="pill">{r.spec.n_configs} setting'
               f'{"s" if r.spec.n_configs != 1 else ""} × {len(r.spec.seeds)} seeds</span></h2>']
        if entry.text:
            sec.append(f'<p class="lead">{html.escape(entry.text)}</p>')
        if f"{name}:representation" in paths:
            sec.append(_img(paths[f"{name}:representation"], f"{name} representation",
                            "The recorded layer on the test rows after each epoch (seed "
                            f"{r.spec.seeds[0]}), colored by class."))
        sec.append(_img(paths[f"{name}:curves"], f"{name} training curves",
                        f"Mean over {len(r.spec.seeds)} seeds; the band is ±1 standard "
                        "deviation across seeds."))
        if f"{name}:final" in paths:
            sec.append(_img(paths[f"{name}:final"], f"{name} final metric",
                            "Final value with its 95 % confidence interval over seeds."))
        sec.append("<h3>Final metrics (mean ± sd over seeds)</h3>" + _table(sweep_table(r)))
        sec.append("</section>")
        parts.append("".join(sec))

    # What was run
    versions = manifest.get("versions", {})
    timings = manifest.get("timings", run.timings)
    parts.append(
        '<section id="run"><h2>What was run</h2>'
        f"<p>Command: <code>{html.escape(str(manifest.get('command') or '(Python API)'))}</code>"
        f"</p><p>Seeds: {', '.join(map(str, spec.seeds))}. Started "
        f"{html.escape(str(manifest.get('started', '')))}; finished "
        f"{html.escape(str(manifest.get('finished', '')))}"
        + (f" in {manifest['seconds']:.1f} s" if "seconds" in manifest else "") + ".</p>"
        + ("<h3>Timings (s)</h3>" + _table(pd.DataFrame(
            {"step": list(timings), "seconds": list(timings.values())})) if timings else "")
        + "<h3>Versions</h3>" + _table(pd.DataFrame(
            {"package": list(versions), "version": list(versions.values())}))
        + "<h3>The study (study.toml)</h3><pre>" + html.escape(spec.to_toml()) + "</pre>"
        + "</section>")
    parts.append('</main><footer class="wrap small"><p>Made with gdlab.</p></footer>'
                 "</body></html>")
    return atomic_write(run.out_dir / "report.html", "\n".join(parts))
