"""The report: a self-contained HTML file that reads well in a real browser.

The browser test drives headless Chromium (Debian's chromium and chromium-driver,
installed here when missing and possible; skipped with the reason otherwise),
checks every section and that every image rendered, and saves a screenshot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gdlab.pitfalls import BatchLargerThanData
from gdlab.runner import run_study
from gdlab.study import parse_study

DOC = {
    "name": "report-test",
    "title": "A small study",
    "description": "Two sweeps and a representation, for the report test.",
    "seeds": 3,
    "data": {"source": "wine"},
    "model": {"optimizer": "sgd", "epochs": 4},
    "sweeps": [
        {"name": "lr", "title": "Learning rates", "text": "Four learning rates.",
         "grid": {"learning_rate": [0.01, 0.05, 0.1, 0.5]}, "model": {"batch_size": 16}},
        {"name": "bs", "title": "Batch sizes", "grid": {"batch_size": [16, 128]}},
        {"name": "rep", "title": "Inside", "model": {"hidden": "2", "optimizer": "adam"},
         "record_layer": -2},
    ],
    "baseline": {"cv": 3},
}


FIGURES = ["bs-convergence.png", "bs-curves-examples.png", "bs-curves-updates.png",
           "bs-curves.png", "bs-final.png", "bs-steps.png", "lr-convergence.png",
           "lr-curves.png", "lr-final.png", "pairplot.png", "rep-curves.png",
           "rep-representation.png"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    with pytest.warns(BatchLargerThanData):
        return run_study(parse_study(DOC, origin="t"), out, progress=False, command="gdlab x")


def test_report_is_self_contained_with_every_section(run) -> None:
    html = (run.out_dir / "report.html").read_text()
    for section in ["trust", "data", "baseline", "sweep-lr", "sweep-bs", "sweep-rep", "run"]:
        assert f'id="{section}"' in html, section
    assert "src=\"http" not in html and "href=\"http" not in html  # nothing fetched
    images = re.findall(r'<img src="data:image/png;base64,', html)
    figures = sorted(p.name for p in (run.out_dir / "figures").iterdir())
    assert figures == FIGURES
    assert len(images) == len(figures)
    assert "batch-larger-than-data" in html
    # What to trust: the paired verdicts of both sweeps, and the batch sweep in updates.
    assert "<b>Learning rates</b> (final test accuracy, 3 seeds, paired)" in html
    assert "Batch sizes: counted in updates" in html
    assert "vs best (paired 95% CI)" in html and "Convergence to <code>" in html
    assert "gdlab x" in html  # the exact command


def test_report_rebuilds_from_the_run_directory(run) -> None:
    from gdlab.report import write_figures, write_report
    from gdlab.runner import load_run

    before = (run.out_dir / "report.html").read_text()
    (run.out_dir / "report.html").unlink()
    shutil.rmtree(run.out_dir / "figures")
    back = load_run(run.out_dir)
    write_figures(back)
    after = write_report(back).read_text()
    strip = re.compile(r'data:image/png;base64,[^"]+')
    assert strip.sub("", after) == strip.sub("", before)


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("headless Chromium is not installed and cannot be installed here "
                    "(needs root and apt-get: apt-get install chromium chromium-driver)")
    done = subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if done.returncode != 0:
        done = subprocess.run("apt-get update -q && apt-get install -y -q chromium "
                              "chromium-driver", shell=True, capture_output=True, text=True,
                              timeout=900)
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip(f"could not install Chromium: {done.stderr.strip()[-300:]}")
    return chromium, driver


def test_report_renders_in_a_real_browser(run) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _browser()
    options = Options()
    options.binary_location = chromium
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,1800"]:
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get((run.out_dir / "report.html").resolve().as_uri())
        assert browser.title.startswith("A small study")
        ids = browser.execute_script("return Array.from(document.querySelectorAll('section'))"
                                     ".map(s => s.id)")
        assert ids == ["trust", "data", "baseline", "sweep-lr", "sweep-bs", "sweep-rep", "run"]
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
        assert len(images) == len(FIGURES)
        for alt, complete, width in images:
            assert complete and width > 300, alt
        # Tables render inside their sections, not off the page.
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 1280
        shot = Path(os.environ.get("GDLAB_SCREENSHOT_DIR", run.out_dir)) / "report.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        browser.quit()


def test_report_of_a_regression_sweep_shows_its_metric(tmp_path, monkeypatch) -> None:
    """Regression: curves, tables and the verdicts use the sweep's first metric (MAE)."""
    import numpy as np
    import pandas as pd

    from gdlab import plots
    from gdlab.report import sweep_table

    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["price"] = x @ np.array([1.0, -2.0, 0.5]) + 0.2 * rng.normal(size=150)
    df.to_csv(tmp_path / "houses.csv", index=False)
    drawn = []
    original = plots.plot_curves

    def spy(result, metrics=None, **kw):
        drawn.append(list(metrics))
        return original(result, metrics, **kw)

    monkeypatch.setattr(plots, "plot_curves", spy)
    doc = {"name": "houses", "seeds": 3, "metrics": ["mae", "rmse"],
           "data": {"source": str(tmp_path / "houses.csv"), "target": "price"},
           "model": {"optimizer": "sgd", "epochs": 3, "hidden": "4", "batch_size": 16},
           "sweeps": [{"name": "lr", "title": "Learning rates",
                       "grid": {"learning_rate": [0.001, 0.05]}}],
           "baseline": {"cv": 3}}
    run = run_study(parse_study(doc, origin="t"), tmp_path / "run", progress=False)
    assert drawn == [["loss", "mae"]]
    html = (run.out_dir / "report.html").read_text()
    table = sweep_table(run.results[0])
    assert list(table.columns[:5]) == ["setting", "train loss", "train mae", "test loss",
                                       "test mae"]
    assert "test mae 95% CI" in table.columns
    summary = run.results[0].summary()
    assert table["test mae"].tolist() == [f"{m:.3f} ± {s:.3f}" for m, s in zip(
        summary.test_mae_mean, summary.test_mae_std, strict=True)]
    section = html.split('id="sweep-lr"')[1]
    for cell in ("<th>train mae</th>", "<th>test mae 95% CI</th>", *table["test mae"]):
        assert cell in section, cell
    assert "<b>Learning rates</b> (final test mae, 3 seeds, paired)" in html
    assert "Convergence to <code>test_mae&lt;=" in html
    best = summary.setting[summary.test_mae_mean.idxmin()]
    assert f"best <i>{best}</i>" in html
