"""gdlab.explore: class balance, feature summary and the pairplot PNG."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import datasets
from gdlab.errors import ConfigError, DataError
from gdlab.explore import class_balance, feature_summary, pairplot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def notes(banknotes_path) -> datasets.Dataset:
    return datasets.load_csv(banknotes_path, target="class")


def _image_size(path) -> tuple[int, int]:
    import matplotlib.image

    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def test_class_balance_of_the_banknotes(notes) -> None:
    table = class_balance(notes)
    assert table["class"].tolist() == ["0", "1"]
    assert table["count"].tolist() == [762, 610]
    np.testing.assert_allclose(table["share"], [762 / 1372, 610 / 1372])


def test_feature_summary_matches_pandas(notes) -> None:
    table = feature_summary(notes)
    assert table.index.tolist() == ["variace", "skewness", "curtosis", "entropy"]
    assert table.columns.tolist() == ["mean", "std", "min", "25%", "50%", "75%", "max",
                                      "distinct"]
    x = notes.x.astype(np.float64)
    np.testing.assert_allclose(table["mean"], x.mean(axis=0))
    np.testing.assert_allclose(table["std"], x.std(axis=0, ddof=1))
    np.testing.assert_allclose(table["max"], x.max(axis=0))
    assert table.loc["variace", "distinct"] == 1338


def test_pairplot_writes_a_png_colored_by_class(notes, tmp_path) -> None:
    info = pairplot(notes, tmp_path / "figs" / "notes.png")
    assert info.path.read_bytes()[:8] == PNG_MAGIC
    assert (info.n_rows, info.sampled) == (1372, False)
    assert info.features == notes.feature_names
    width, height = _image_size(info.path)
    assert 800 < width < 1400 and 800 < height < 1400  # a 4 x 4 grid of 2.5-inch panels


def test_pairplot_samples_large_data_and_caps_features(tmp_path) -> None:
    big = datasets.blobs(n_samples=5000, centers=3)
    info = pairplot(big, tmp_path / "blobs.png", max_rows=400, seed=1)
    assert (info.n_rows, info.n_rows_total, info.sampled) == (400, 5000, True)
    wine = datasets.wine()
    info = pairplot(wine, tmp_path / "wine.png", max_features=3)
    assert info.features == ("Alcohol", "Malic_acid", "Ash")
    assert info.path.read_bytes()[:8] == PNG_MAGIC


def test_regression_pairplot_and_errors(tmp_path) -> None:
    rng = np.random.default_rng(0)
    reg = datasets.from_arrays(rng.normal(size=(60, 2)), rng.normal(size=60))
    info = pairplot(reg, tmp_path / "reg.png")
    assert info.path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(DataError, match=r"Class balance needs class labels, but 'arrays' is a "
                                        r"regression dataset \(target 'y'\)"):
        class_balance(reg)
    with pytest.raises(ConfigError, match=r"give a \.png path, got 'reg\.pdf'"):
        pairplot(reg, tmp_path / "reg.pdf")
    with pytest.raises(ConfigError, match=r"`max_rows` must be a positive integer, got 0"):
        pairplot(reg, tmp_path / "reg.png", max_rows=0)
