"""The study report: one self-contained HTML file, figures embedded.

``write_figures(run)`` draws every figure of a run into ``figures/`` (PNG);
``write_report(run)`` assembles ``report.html`` from the run's tables and those
figures. Both read only what the run directory holds, so ``gdlab report RUN_DIR``
rebuilds the report from saved results.
"""

from __future__ import annotations

import base64
import html
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


def _entry(run: Any, name: str) -> Any:
    return next(e for e in run.spec.sweeps if e.name == name)


def goal_of(run: Any, result: Any) -> str:
    """The sweep's target: its ``goal`` setting, or 95 % of its best final value."""
    from gdlab.trust import default_goal

    return _entry(run, result.spec.name).goal or default_goal(result)


def _varies_batch(result: Any) -> bool:
    return "batch_size" in result.spec.axes and result.spec.n_configs > 1


def figure_paths(run: Any) -> dict[str, Path]:
    """Every figure a run's report shows, by key."""
    fig_dir = run.out_dir / "figures"
    out = {"pairplot": fig_dir / "pairplot.png"}
    for r in run.results:
        name, base = r.spec.name, safe_name(r.spec.name)
        if r.taps:
            out[f"{name}:representation"] = fig_dir / f"{base}-representation.png"
        out[f"{name}:curves"] = fig_dir / f"{base}-curves.png"
        if _varies_batch(r):
            out[f"{name}:curves-updates"] = fig_dir / f"{base}-curves-updates.png"
            out[f"{name}:curves-examples"] = fig_dir / f"{base}-curves-examples.png"
            out[f"{name}:steps"] = fig_dir / f"{base}-steps.png"
        if r.spec.n_configs > 1:
            out[f"{name}:final"] = fig_dir / f"{base}-final.png"
            out[f"{name}:convergence"] = fig_dir / f"{base}-convergence.png"
    return out


def write_figures(run: Any) -> dict[str, Path]:
    """Draw the run's figures into ``figures/``."""
    from gdlab import diagnostic_plots, plots
    from gdlab.explore import pairplot

    paths = figure_paths(run)
    if run.dataset.task != "regression":
        # 13 wine features make 169 panels (about 10 s to draw); the report shows six.
        pairplot(run.dataset, paths["pairplot"], max_features=PAIRPLOT_FEATURES)
    for r in run.results:
        name = r.spec.name
        first = r.first_metric  # accuracy, or regression's MAE, ...
        metrics = ["loss", first] if first else ["loss"]
        if r.taps and first:
            metrics += [m for m in (f"val_{first}", f"test_{first}") if m in r.history][-1:]
        _save(plots.plot_curves(r, metrics, title=_title(run, name)), paths[f"{name}:curves"])
        for x in ("updates", "examples"):
            if f"{name}:curves-{x}" in paths:
                _save(plots.plot_curves(r, metrics, x=x, figsize=(8, 7),
                                        title=f"{_title(run, name)}: against {x}"),
                      paths[f"{name}:curves-{x}"])
        goal = goal_of(run, r)
        if f"{name}:steps" in paths:
            fig = (diagnostic_plots.plot_noise_scale(r, goal) if "noise_scale" in r.history
                   else diagnostic_plots.plot_steps_to_target(r, goal))
            _save(fig, paths[f"{name}:steps"])
        if f"{name}:final" in paths:
            _save(plots.plot_final(r), paths[f"{name}:final"])
            _save(plots.plot_convergence(r, goal), paths[f"{name}:convergence"])
        if f"{name}:representation" in paths:
            _save(representation_figure(run, r), paths[f"{name}:representation"])
    return paths


def representation_figure(run: Any, result: Any) -> Any:
    """The course's grid: the recorded layer on the test rows after each epoch, for the seed
    with the median final score (so one unlucky seed does not stand for the setting)."""
    from gdlab import plots
    from gdlab.representations import recorded_frames
    from gdlab.trust import representative_seed

    layer = next(iter(result.taps))
    seed = representative_seed(result)
    frames = recorded_frames(result, 0, seed, layer)
    s = list(result.spec.seeds).index(seed)
    prep = run.prepared[run.spec.data]  # every preparation has the same test rows
    accuracy = result.history.get("test_accuracy")
    return plots.plot_representation_grid(
        frames, prep.y_test, accuracy=None if accuracy is None else accuracy[:, s, 0],
        class_names=prep.class_names,
        title=f"{_title(run, result.spec.name)}: seed {seed} (median final score of "
              f"{len(result.spec.seeds)} seeds)")


def _title(run: Any, name: str) -> str:
    return _entry(run, name).title or name


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
.scroll { overflow-x:auto; max-width:100%; }
td { white-space:normal; }
"""


def _img(path: Path, alt: str, caption: str = "") -> str:
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"{cap}</figure>")


def _table(df: pd.DataFrame, index: bool = False) -> str:
    # Wide tables scroll inside their section instead of widening the page.
    return ('<div class="scroll">' + df.to_html(index=index, border=0, escape=True, na_rep="–")
            + "</div>")


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
    """The report's table of one sweep: final metrics as mean ± sd, test CI, diverged runs.

    The metrics are the loss and the sweep's first metric (accuracy, or
    regression's MAE, ...) on each set.
    """
    s = result.summary()
    first = result.first_metric
    short = "acc" if first == "accuracy" else (first or "").replace("_", " ")
    columns = []
    for prefix, part in (("", "train"), ("val_", "val"), ("test_", "test")):
        columns.append((f"{prefix}loss", f"{part} loss"))
        if first:
            columns.append((f"{prefix}{first}", f"{part} {short}"))
    rows = []
    for _, row in s.iterrows():
        out = {"setting": row["setting"]}
        for m, label in columns:
            if f"{m}_mean" in row:
                out[label] = _pm(row[f"{m}_mean"], row[f"{m}_std"])
        main = f"test_{first}" if f"test_{first}_mean" in row else "test_loss"
        if f"{main}_ci_low" in row:
            out[f"{main.replace('_', ' ')} 95% CI"] = _ci(row[f"{main}_ci_low"],
                                                            row[f"{main}_ci_high"])
        out["diverged"] = f"{int(row['diverged'])}/{int(row['seeds'])}"
        if "stopped_early" in row:
            out["stopped early"] = f"{int(row['stopped_early'])}/{int(row['seeds'])}"
        rows.append(out)
    table = pd.DataFrame(rows)
    if result.spec.n_configs > 1:
        compare = result.compare()
        table["vs best (paired 95% CI)"] = [_verdict(row) for _, row in compare.iterrows()]
    return table


def _verdict(row: Any) -> str:
    if row["verdict"] in ("best", "no verdict"):
        return row["verdict"]
    return f"{row['verdict']}: {row['diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def convergence_rows(result: Any, goal: str) -> pd.DataFrame:
    """Epochs (and, across batch sizes, updates) to the goal, and the stability verdict."""
    from gdlab.convergence import convergence_table

    table = convergence_table(result, goal)
    rows = []
    per_epoch = None
    if "batch_size" in result.spec.axes:
        from gdlab.noise import steps_to_target, updates_per_epoch

        per_epoch = updates_per_epoch(result)
        steps = steps_to_target(result, goal)
    for c, row in table.iterrows():
        out = {"setting": row["setting"],
               "reached": f"{int(row['reached'])}/{int(row['seeds'])}"}
        if row["reached"]:
            out["epochs to goal"] = (f"{row['epochs_median']:g} "
                                     f"[{row['epochs_min']:g}–{row['epochs_max']:g}]")
        else:
            out["epochs to goal"] = "never"
        if per_epoch is not None:
            hit = steps[:, c][np.isfinite(steps[:, c])]
            out["updates/epoch"] = int(per_epoch[c])
            out["updates to goal"] = (f"{np.median(hit):g} [{hit.min():g}–{hit.max():g}]"
                                      if hit.size else "never")
        out["stability"] = row["verdict"]
        rows.append(out)
    return pd.DataFrame(rows)


def trust_lines(run: Any) -> list[str]:
    """One sentence per compared sweep: which settings are distinguishable from the best."""
    lines = []
    for r in run.results:
        if r.spec.n_configs < 2:
            continue
        c = r.compare()
        metric = c.metric.iloc[0].replace("_", " ")
        best = c[c.verdict == "best"].setting.tolist()
        if len(r.spec.seeds) < 2:
            lines.append(f"<b>{html.escape(_title(run, r.spec.name))}</b>: one seed, so no "
                         "setting can be told apart from another.")
            continue
        same = c[c.verdict == "indistinguishable"].setting.tolist()
        worse = c[c.verdict == "distinguishable"].setting.tolist()
        text = (f"<b>{html.escape(_title(run, r.spec.name))}</b> (final {metric}, "
                f"{len(r.spec.seeds)} seeds, paired): best <i>{html.escape(', '.join(best))}"
                "</i>; ")
        if same:
            text += f"indistinguishable from it: {html.escape(', '.join(same))}; "
            text += (f"distinguishable: {html.escape(', '.join(worse))}." if worse else
                     "none is distinguishable.")
        else:
            text += "every other setting is distinguishable from it."
        lines.append(text)
    return lines


def _diagnostics_html(run: Any) -> str:
    out = run.out_dir
    parts = []
    if (out / "lr_find_suggestions.csv").exists():
        from gdlab.lr_find import HOW_TO_READ

        suggestions = pd.read_csv(out / "lr_find_suggestions.csv")
        keep = [c for c in suggestions.columns if c in {
            "optimizer", "suggested_lr", "below_minimum_lr", "reason"}]
        parts.append('<section id="lr-find"><h2>Learning-rate range test</h2>'
                     f'<p class="lead">{html.escape(HOW_TO_READ)}</p>'
                     + _img(out / "figures" / "lr_find.png", "learning-rate range test")
                     + _table(suggestions[keep] if keep else suggestions) + "</section>")
    if (out / "landscape_summary.csv").exists():
        from gdlab.landscape import HOW_TO_READ_LINE, HOW_TO_READ_PLANE

        spec = run.spec.landscape
        parts.append(
            '<section id="landscape"><h2>Loss landscape</h2>'
            f'<p class="lead">Slices of the loss around the models of the sweep '
            f"<i>{html.escape(spec.sweep if spec else '')}</i>.</p>"
            f"<p>{html.escape(HOW_TO_READ_LINE)}</p>"
            + _img(out / "figures" / "landscape_line.png", "loss along the line from initial "
                   "to final weights")
            + (f"<p>{html.escape(HOW_TO_READ_PLANE)}</p>"
               + _img(out / "figures" / "landscape_plane.png", "loss on a plane through the "
                      "final weights") if (out / "figures" / "landscape_plane.png").exists()
               else "")
            + _table(pd.read_csv(out / "landscape_summary.csv").round(4)) + "</section>")
    return "".join(parts)


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
    nav = ['<a href="#trust">What to trust</a>', '<a href="#data">Data</a>']
    if run.baseline is not None:
        nav.append('<a href="#baseline">Baseline</a>')
    nav += [f'<a href="#sweep-{safe_name(r.spec.name)}">{html.escape(_title(run, r.spec.name))}'
            f"</a>" for r in run.results]
    if run.spec.lr_find is not None:
        nav.append('<a href="#lr-find">Learning-rate range test</a>')
    if run.spec.landscape is not None:
        nav.append('<a href="#landscape">Loss landscape</a>')
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

    # What to trust first: warnings, settings told apart, the batch sweep on a fair axis.
    found = getattr(run, "warnings", [])
    trust = ['<section id="trust"><h2>What to trust</h2>']
    if found:
        items = "".join(f"<li><b>{html.escape(w['name'])}</b>: {html.escape(w['message'])}</li>"
                        for w in found)
        trust.append('<h3>Warnings</h3><p class="lead">Things in this setup that can mislead; '
                     "each can be silenced by name (<code>quiet_warnings</code> in the study "
                     f'file, <code>--quiet-warnings</code>).</p><ul class="warn">{items}</ul>')
    else:
        trust.append("<p>No warnings: the splits hold every class, scaling never saw the "
                     "test rows, every comparison has several seeds, and no run predicted a "
                     "single class or saw its loss rise.</p>")
    lines = trust_lines(run)
    if lines:
        trust.append("<h3>Which differences are real</h3><p class=\"lead\">Each setting is "
                     "compared with the best one seed by seed (same seed: same batch order and "
                     "initial weights), with a paired 95 % t-interval of the difference; "
                     "<i>indistinguishable</i> means the interval covers zero.</p><ul>"
                     + "".join(f"<li>{line}</li>" for line in lines) + "</ul>")
    for r in run.results:
        key = f"{r.spec.name}:steps"
        if key in paths:
            trust.append(
                f"<h3>{html.escape(_title(run, r.spec.name))}: counted in updates</h3>"
                "<p class=\"lead\">Per epoch, a batch of 128 makes 8 times fewer updates than "
                "a batch of 16, so per-epoch curves mostly show the number of updates. "
                f"Updates needed to reach <code>{html.escape(goal_of(run, r))}</code>:</p>"
                + _img(paths[key], "updates to the goal against batch size",
                       "Median and range over seeds, log axes"
                       + ("; left: the gradient noise scale, whose value predicts the batch "
                          "size beyond which larger batches stop paying off (McCandlish et "
                          "al. 2018)." if "noise_scale" in r.history else ".")))
    trust.append("</section>")
    parts.append("".join(trust))

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
        if getattr(prep, "weight_column", None):
            split += (f" Rows are weighted by the column <code>"
                      f"{html.escape(str(prep.weight_column))}</code> (sample weights).")
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
                            "The recorded layer on the test rows after each epoch, colored by "
                            "class; wider layers are projected on two axes fitted once over "
                            "all epochs."))
        sec.append(_img(paths[f"{name}:curves"], f"{name} training curves",
                        f"Mean over {len(r.spec.seeds)} seeds; the band is ±1 standard "
                        "deviation across seeds."))
        if f"{name}:curves-updates" in paths:
            sec.append('<div class="grid2">'
                       + _img(paths[f"{name}:curves-updates"], f"{name} against updates",
                              "The same runs against optimizer updates.")
                       + _img(paths[f"{name}:curves-examples"], f"{name} against examples",
                              "The same runs against examples seen.")
                       + "</div>")
        if f"{name}:final" in paths:
            sec.append(_img(paths[f"{name}:final"], f"{name} final metric",
                            "Final value with its 95 % confidence interval over seeds."))
        sec.append("<h3>Final metrics (mean ± sd over seeds)</h3>" + _table(sweep_table(r)))
        goal = goal_of(run, r)
        sec.append(f"<h3>Convergence to <code>{html.escape(goal)}</code></h3>"
                   + _table(convergence_rows(r, goal)))
        if f"{name}:convergence" in paths:
            sec.append(_img(paths[f"{name}:convergence"], f"{name} convergence",
                            "Epochs to the goal and the final value per seed; the stability "
                            "verdict compares the spread over seeds with a tolerance."))
        sec.append("</section>")
        parts.append("".join(sec))

    # Diagnostics (written during the run; the report shows what is on disk)
    parts.append(_diagnostics_html(run))

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
