"""gdlab.datasets: loaders, the banknote download and cache, and the table gatekeeper.

The download tests serve the course's banknote file from a local HTTP server;
nothing here touches the network.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from gdlab import datasets
from gdlab.datasets import Dataset
from gdlab.errors import ConfigError, DataError, ShapeError

BANKNOTE_COUNTS = {"0": 762, "1": 610}


# ---------------------------------------------------------------- a local server


class _Server:
    """Serves fixed bytes by path and counts the requests."""

    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits[self.path] += 1
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture(scope="module")
def course_values(banknotes_path) -> np.ndarray:
    return pd.read_csv(banknotes_path).to_numpy(np.float64)


@pytest.fixture(scope="module")
def server(banknotes_path, course_values):
    course = banknotes_path.read_bytes()
    uci = b"\n".join(course.splitlines()[1:]) + b"\n"  # UCI's file: no header
    openml = pd.DataFrame(course_values, columns=["V1", "V2", "V3", "V4", "Class"])
    openml["Class"] = openml["Class"].astype(int) + 1  # OpenML codes the classes 1/2
    changed = course_values.copy()
    changed[100, 2] += 0.001
    routes = {
        "/uci.txt": uci,
        # other formatting (trailing zeros, CRLF, a header), same numbers
        "/openml.csv": openml.to_csv(index=False, float_format="%.12f",
                                     lineterminator="\r\n").encode(),
        # 8 decimals lose digits of small values (-9.2828e-06): other numbers
        "/rounded.csv": pd.DataFrame(course_values).to_csv(index=False, header=False,
                                                            float_format="%.8f").encode(),
        "/changed.csv": pd.DataFrame(changed).to_csv(index=False, header=False).encode(),
        "/short.csv": b"\n".join(uci.splitlines()[:-1]),
        "/html": b"<html><body>Service unavailable</body></html>",
    }
    s = _Server(routes)
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    s.thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GDLAB_BANKNOTES_URL", raising=False)
    return tmp_path / "cache" / "datasets" / "banknotes.csv"


def _assert_banknotes(ds: Dataset, course_values: np.ndarray) -> None:
    assert ds.name == "banknotes" and ds.task == "binary" and ds.target == "class"
    assert ds.x.shape == (1372, 4) and ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.feature_names == ("variance", "skewness", "curtosis", "entropy")
    assert ds.class_names == ("0", "1")
    assert ds.class_counts() == BANKNOTE_COUNTS
    np.testing.assert_array_equal(ds.x, course_values[:, :4].astype(np.float32))
    np.testing.assert_array_equal(ds.y, course_values[:, 4].astype(np.int64))


# ---------------------------------------------------------------- banknotes


def test_checksum_of_course_file_is_the_expected_one(course_values) -> None:
    assert datasets.banknotes_checksum(course_values) == datasets.BANKNOTES_SHA256
    changed = course_values.copy()
    changed[0, 0] += 1e-4
    assert datasets.banknotes_checksum(changed) != datasets.BANKNOTES_SHA256


def test_download_verifies_caches_and_never_downloads_again(server, cache,
                                                            course_values) -> None:
    url = server.url("/uci.txt")
    before = server.hits["/uci.txt"]
    ds = datasets.banknotes(url=url)
    _assert_banknotes(ds, course_values)
    assert ds.source == url
    assert server.hits["/uci.txt"] == before + 1
    assert cache.read_text().splitlines()[0] == "variance,skewness,curtosis,entropy,class"
    assert not [p for p in cache.parent.iterdir() if p.name != "banknotes.csv"]  # no temp files

    again = datasets.banknotes(url=url)
    _assert_banknotes(again, course_values)
    assert again.source == str(cache)
    assert server.hits["/uci.txt"] == before + 1


def test_falls_back_to_openml_format(server, cache, course_values) -> None:
    ds = datasets.banknotes(url=[server.url("/missing"), server.url("/openml.csv")])
    _assert_banknotes(ds, course_values)
    assert ds.source == server.url("/openml.csv")
    assert server.hits["/missing"] >= 1
    assert cache.exists()


def test_url_from_environment(server, cache, course_values, monkeypatch) -> None:
    monkeypatch.setenv("GDLAB_BANKNOTES_URL", f"{server.url('/nothing')} {server.url('/uci.txt')}")
    ds = datasets.banknotes()
    _assert_banknotes(ds, course_values)
    assert ds.source == server.url("/uci.txt")


def test_default_urls_are_uci_then_openml(cache) -> None:
    assert datasets._banknotes_urls(None) == list(datasets.BANKNOTES_URLS)
    assert "archive.ics.uci.edu" in datasets.BANKNOTES_URLS[0]
    assert "openml.org" in datasets.BANKNOTES_URLS[1]


@pytest.mark.parametrize("path, reason", [
    ("/changed.csv", r"differs from the UCI banknote data \(1372 rows, expected 1372; checksum"),
    ("/rounded.csv", r"differs from the UCI banknote data \(1372 rows, expected 1372; checksum"),
    ("/short.csv", r"differs from the UCI banknote data \(1371 rows, expected 1372"),
    ("/html", r"is not the banknote data"),
])
def test_changed_data_is_rejected_then_a_retry_succeeds(server, cache, course_values, path,
                                                        reason) -> None:
    with pytest.raises(DataError, match=reason):
        datasets.banknotes(url=server.url(path))
    assert not cache.exists()  # nothing unverified is cached
    ds = datasets.banknotes(url=server.url("/uci.txt"))
    _assert_banknotes(ds, course_values)
    assert cache.exists()


def test_offline_and_not_cached_says_how_to_use_a_local_file(server, cache) -> None:
    with pytest.raises(DataError) as info:
        datasets.banknotes(url=server.url("/gone"))
    message = str(info.value)
    assert "not cached yet" in message and str(cache) in message
    assert f"{server.url('/gone')}: Not Found" in message
    assert "banknotes(path='banknotes.csv')" in message
    assert "gdlab explore banknotes.csv --target class" in message
    assert "GDLAB_BANKNOTES_URL" in message
    assert "\n" not in message  # the CLI prints it as one line


def test_damaged_cache_is_downloaded_again(server, cache, course_values) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text("variance,skewness,curtosis,entropy,class\n1,2,3,4,0\n")
    before = server.hits["/uci.txt"]
    ds = datasets.banknotes(url=server.url("/uci.txt"))
    _assert_banknotes(ds, course_values)
    assert server.hits["/uci.txt"] == before + 1
    assert len(cache.read_text().splitlines()) == 1373


def test_file_url_and_local_path(banknotes_path, cache, course_values) -> None:
    _assert_banknotes(datasets.banknotes(url=banknotes_path.as_uri()), course_values)
    local = datasets.banknotes(path=banknotes_path)
    _assert_banknotes(local, course_values)
    assert local.source == str(banknotes_path)


def test_local_path_with_other_numbers_is_rejected(tmp_path, course_values) -> None:
    changed = course_values[:-1]
    path = tmp_path / "mine.csv"
    pd.DataFrame(changed, columns=["a", "b", "c", "d", "class"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"mine.csv differs from the UCI banknote data.*"
                                        r"load_csv\(path, target=\.\.\.\)"):
        datasets.banknotes(path=path)


def test_unwritable_cache_is_a_clear_error(server, tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(blocker))
    with pytest.raises(ConfigError, match="Could not write the banknote cache.*GDLAB_CACHE_DIR"):
        datasets.banknotes(url=server.url("/uci.txt"))


def test_cache_dir_default_is_the_user_cache(monkeypatch) -> None:
    import platformdirs

    monkeypatch.delenv("GDLAB_CACHE_DIR", raising=False)
    assert datasets.cache_dir() == (
        datasets.Path(platformdirs.user_cache_dir("gdlab")) / "datasets")


# ---------------------------------------------------------------- wine


def test_wine_from_scikit_learn_with_the_course_names() -> None:
    ds = datasets.wine()
    assert (ds.n_rows, ds.n_features, ds.n_classes) == (178, 13, 3)
    assert ds.task == "multiclass" and ds.target == "Class"
    assert ds.feature_names[:2] == ("Alcohol", "Malic_acid")
    assert ds.feature_names[-1] == "Proline"
    assert ds.class_counts() == {"1": 59, "2": 71, "3": 48}
    plain = datasets.wine(course_names=False)
    assert plain.feature_names[:2] == ("alcohol", "malic_acid")
    assert plain.class_names == ("class_0", "class_1", "class_2")
    np.testing.assert_array_equal(plain.x, ds.x)
    np.testing.assert_array_equal(plain.y, ds.y)


def test_wine_equals_the_course_file() -> None:
    from sklearn.datasets import load_wine

    path = shared_file("data/wines.csv")
    course = pd.read_csv(path)
    features = course.drop(columns="Class")
    ds = datasets.wine()
    assert ds.feature_names == tuple(features.columns)
    # identical values: scikit-learn's float64 copy, and the float32 features
    np.testing.assert_array_equal(load_wine().data, features.to_numpy(np.float64))
    np.testing.assert_array_equal(ds.x, features.to_numpy(np.float32))
    assert [ds.class_names[k] for k in ds.y] == course["Class"].astype(str).tolist()
    from_file = datasets.load(path, target="Class")
    np.testing.assert_array_equal(from_file.x, ds.x)
    np.testing.assert_array_equal(from_file.y, ds.y)
    assert from_file.class_names == ds.class_names


# ---------------------------------------------------------------- 2-D teaching sets

TEACHING = ["moons", "circles", "xor", "spiral", "blobs"]


@pytest.mark.parametrize("name", TEACHING)
def test_teaching_sets_shape_seed_and_noise(name) -> None:
    make = datasets.BUILTIN[name]
    ds = make(n_samples=101, noise=0.2, seed=3)
    assert ds.name == name and ds.x.shape == (101, 2) and ds.x.dtype == np.float32
    assert ds.task == "binary" and ds.feature_names == ("x1", "x2")
    counts = ds.class_counts()
    assert sum(counts.values()) == 101
    if name != "xor":  # the others split the classes evenly
        assert sorted(counts.values()) == [50, 51]
    np.testing.assert_array_equal(make(n_samples=101, noise=0.2, seed=3).x, ds.x)
    assert not np.array_equal(make(n_samples=101, noise=0.2, seed=4).x, ds.x)
    noisier = make(n_samples=101, noise=0.4, seed=3)
    assert not np.array_equal(noisier.x, ds.x)
    assert "n_samples=101, noise=0.2, seed=3" in ds.source


def test_teaching_set_geometry_without_noise() -> None:
    c = datasets.circles(n_samples=200, noise=0.0)
    radius = np.hypot(*c.x.T)
    np.testing.assert_allclose(radius[c.y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[c.y == 1], 0.5, rtol=1e-6)
    x = datasets.xor(n_samples=300, noise=0.0)
    np.testing.assert_array_equal(x.y, (x.x[:, 0] * x.x[:, 1] >= 0).astype(np.int64))
    assert np.abs(x.x).min() >= 0.06 - 1e-6 and np.abs(x.x).max() <= 1.06 + 1e-6
    s = datasets.spiral(n_samples=200, noise=0.0)
    assert np.hypot(*s.x.T).max() < 1.0
    b = datasets.blobs(n_samples=300, noise=0.0, centers=3)
    assert b.task == "multiclass" and b.class_counts() == {"0": 100, "1": 100, "2": 100}
    np.testing.assert_allclose(np.hypot(*b.x.T), 2.0, rtol=1e-6)


@pytest.mark.parametrize("kw, match", [
    ({"n_samples": 1}, r"`n_samples` must be an integer >= 2, got 1"),
    ({"n_samples": 10.5}, r"`n_samples` must be an integer >= 2, got 10.5"),
    ({"noise": -0.1}, r"`noise` must be a finite number >= 0, got -0.1"),
    ({"noise": float("nan")}, r"`noise` must be a finite number >= 0, got nan"),
])
def test_teaching_set_arguments_are_checked(kw, match) -> None:
    with pytest.raises(ConfigError, match=match):
        datasets.moons(**kw)


def test_blobs_and_circles_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"`centers` must be an integer >= 2, got 1"):
        datasets.blobs(centers=1)
    with pytest.raises(ConfigError, match=r"`factor` .* must be in \(0, 1\), got 1.5"):
        datasets.circles(factor=1.5)


# ---------------------------------------------------------------- files and names


def test_load_csv_course_banknotes(banknotes_path) -> None:
    ds = datasets.load_csv(banknotes_path, target="class")
    assert ds.name == "banknotes" and ds.source == str(banknotes_path)
    assert ds.feature_names == ("variace", "skewness", "curtosis", "entropy")
    assert ds.class_counts() == BANKNOTE_COUNTS
    assert datasets.load(str(banknotes_path)).class_counts() == BANKNOTE_COUNTS  # guessed


def test_load_parquet_equals_csv(tmp_path) -> None:
    df = pd.DataFrame({"a": [1.5, 2.0, 3.0, 4.0], "b": [0, 1, 0, 1], "label": ["x", "y", "y", "x"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    a = datasets.load(tmp_path / "t.csv", target="label")
    b = datasets.load(str(tmp_path / "t.parquet"), target="label")
    assert a.name == b.name == "t"
    assert a.class_names == b.class_names == ("x", "y")
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, [0, 1, 1, 0])


def test_builtin_names_and_unknown_names() -> None:
    assert set(datasets.BUILTIN) == {"banknotes", "wine", "moons", "circles", "xor", "spiral",
                                     "blobs"}
    assert datasets.load("moons", n_samples=10).n_rows == 10
    with pytest.raises(ConfigError, match=r"Unknown dataset 'wines'. Did you mean 'wine'\? "
                                          r"Valid datasets: banknotes, blobs, .*\.csv or "
                                          r"\.parquet file"):
        datasets.load("wines")
    with pytest.raises(ConfigError, match=r"Unknown option 'task' for the wine dataset; valid "
                                          r"options: course_names\."):
        datasets.load("wine", task="binary")
    with pytest.raises(ConfigError, match=r"The wine dataset's target is 'Class'; got "
                                          r"target='quality'"):
        datasets.load("wine", target="quality")


def test_file_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No such data file: .*nope.csv"):
        datasets.load(tmp_path / "nope.csv")
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(ConfigError, match=r"Unknown file type 'data.xlsx'"):
        datasets.load(tmp_path / "data.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv is empty: a CSV file needs a header row"):
        datasets.load(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"Could not read bad.parquet as Parquet"):
        datasets.load(tmp_path / "bad.parquet", target="y")
    (tmp_path / "ok.csv").write_text("a,y\n1,0\n2,1\n")
    with pytest.raises(ConfigError, match=r"Unknown option 'stratify' for reading ok.csv"):
        datasets.load(tmp_path / "ok.csv", stratify=True)


# ---------------------------------------------------------------- the gatekeeper's messages


def _frame(**columns) -> pd.DataFrame:
    base = {"alpha": [1.0, 2.0, 3.0, 4.0], "beta": [0.5, 0.1, 0.2, 0.3], "class": [0, 1, 0, 1]}
    base.update(columns)
    return pd.DataFrame(base)


def test_missing_target_names_columns_and_closest_match() -> None:
    with pytest.raises(DataError, match=r"^Target column 'clas' is not in table\. Did you mean "
                                        r"'class'\? Its columns are: 'alpha', 'beta', 'class'\.$"):
        datasets.from_frame(_frame(), "clas")
    with pytest.raises(DataError, match=r"Target column 'CLASS' .* Did you mean 'class'\?"):
        datasets.from_frame(_frame(), "CLASS")
    with pytest.raises(DataError, match=r"^Target column 'price' is not in table\. Its columns"):
        datasets.from_frame(_frame(), "price")
    with pytest.raises(DataError, match=r"Feature column 'bta' .* Did you mean 'beta'\?"):
        datasets.from_frame(_frame(), "class", features=["bta"])


def test_target_guess_is_unambiguous_or_asks() -> None:
    assert datasets.from_frame(_frame()).target == "class"
    with pytest.raises(DataError, match=r"Which column of table is the target\? Pass target=\.\.\."
                                        r" \(CLI: --target COL\); its columns are: 'alpha', "
                                        r"'beta', 'class', 'label'\."):
        datasets.from_frame(_frame(label=[1, 0, 1, 0]))


def test_non_numeric_features_are_named_and_one_hot_is_offered(tmp_path) -> None:
    df = _frame(color=["red", "blue", "red", "green"])
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"Feature columns of t\.csv are not numeric: 'color' "
                                        r"\(.*, e\.g\. 'red', 'blue', 'green'\)\. Encode them "
                                        r"as numbers, or pass categorical='onehot' \(CLI: "
                                        r"--one-hot\) to one-hot encode them\.$"):
        datasets.load_csv(tmp_path / "t.csv", "class")
    ds = datasets.from_frame(df, "class", categorical="onehot")
    assert ds.feature_names == ("alpha", "beta", "color=blue", "color=green", "color=red")
    np.testing.assert_array_equal(ds.x[:, 2:], [[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0]])


def test_missing_values_are_counted_per_column_and_can_be_dropped() -> None:
    df = _frame(alpha=[1.0, None, 3.0, None], beta=[0.5, None, 0.2, 0.3])
    with pytest.raises(DataError, match=r"^table has missing values: 2 in 'alpha', 1 in 'beta' "
                                        r"\(2 of 4 rows\)\. Pass missing='drop' \(CLI: "
                                        r"--drop-missing\) to drop those rows"):
        datasets.from_frame(df, "class")
    with pytest.raises(DataError, match=r"has a single class \('0' in all 2 rows\)"):
        datasets.from_frame(df, "class", missing="drop")
    kept = datasets.from_frame(_frame(alpha=[1.0, None, 3.0, 4.0]), "class", missing="drop")
    np.testing.assert_array_equal(kept.x[:, 0], [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(kept.y, [0, 0, 1])


def test_single_class_is_an_error() -> None:
    with pytest.raises(DataError, match=r"^Target 'class' of table has a single class \('1' in "
                                        r"all 4 rows\); classification needs at least 2 classes"):
        datasets.from_frame(_frame(**{"class": [1, 1, 1, 1]}), "class")


def test_infinite_values_are_counted_per_column() -> None:
    with pytest.raises(DataError, match=r"^table has infinite feature values: 2 in 'beta'\. "
                                        r"Replace them"):
        datasets.from_frame(_frame(beta=[np.inf, 0.1, -np.inf, 0.3]), "class")
    with pytest.raises(DataError, match=r"beyond float32's range .* in 'alpha'"):
        datasets.from_frame(_frame(alpha=[1e39, 2.0, 3.0, 4.0]), "class")
    with pytest.raises(DataError, match=r"Target 'class' of table has 1 infinite values"):
        datasets.from_frame(_frame(**{"class": [0.5, np.inf, 1.5, 2.5]}), "class")


def test_other_table_errors() -> None:
    with pytest.raises(DataError, match=r"table has no rows"):
        datasets.from_frame(_frame().iloc[:0], "class")
    with pytest.raises(DataError, match=r"no feature columns besides the target 'class'"):
        datasets.from_frame(_frame()[["class"]], "class")
    dup = pd.DataFrame([[1, 2, 0], [3, 4, 1]], columns=["a", "a", "class"])
    with pytest.raises(DataError, match=r"duplicate column names: 'a'"):
        datasets.from_frame(dup, "class")
    with pytest.raises(DataError, match=r"target 'class' cannot also be a feature"):
        datasets.from_frame(_frame(), "class", features=["alpha", "class"])
    with pytest.raises(ConfigError, match=r"Unknown missing-value option 'skip'"):
        datasets.from_frame(_frame(), "class", missing="skip")
    with pytest.raises(ConfigError, match=r"Unknown task 'classification'"):
        datasets.from_frame(_frame(), "class", task="classification")


def test_a_sample_weight_column_weighs_the_rows_and_is_not_a_feature(tmp_path) -> None:
    df = _frame(w=[1.0, 0.0, 2.5, 1])
    ds = datasets.from_frame(df, "class", sample_weight="w")
    assert ds.feature_names == ("alpha", "beta") and ds.weight_column == "w"
    assert ds.w.dtype == np.float32 and not ds.w.flags.writeable
    np.testing.assert_array_equal(ds.w, [1.0, 0.0, 2.5, 1.0])
    assert "sample_weight='w'" in repr(ds)
    assert datasets.from_frame(df, "class").feature_names == ("alpha", "beta", "w")
    assert datasets.from_frame(df, "class").w is None
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        loaded = datasets.load(tmp_path / name, target="class", sample_weight="w")
        np.testing.assert_array_equal(loaded.w, ds.w)
        np.testing.assert_array_equal(loaded.x, ds.x)
    # a missing weight follows missing='drop' like any other missing value
    kept = datasets.from_frame(_frame(w=[1.0, None, 2.0, 3.0]), "class", sample_weight="w",
                               missing="drop")
    np.testing.assert_array_equal(kept.w, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(kept.x[:, 0], [1.0, 3.0, 4.0])
    arrays = datasets.from_arrays(ds.x, ds.y, sample_weight=[1, 2, 3, 4])
    assert arrays.weight_column == "sample_weight" and arrays.n_features == 2
    np.testing.assert_array_equal(arrays.w, [1, 2, 3, 4])


@pytest.mark.parametrize(("columns", "weight", "kw", "message"), [
    ({"w": [1, 1, 1, 1]}, "W", {}, r"^Sample-weight column 'W' is not in table\. Did you mean "
                                  r"'w'\? Its columns are: 'alpha', 'beta', 'class', 'w'\.$"),
    ({"weights": [1, 1, 1, 1]}, "weight", {}, r"Sample-weight column 'weight' .*Did you mean "
                                              r"'weights'"),
    ({"w": ["a", "b", "a", "c"]}, "w", {}, r"^Sample-weight column 'w' of table is not numeric "
                                           r"\(.*e\.g\. 'a', 'b', 'c'\); weights are numbers"),
    ({"w": [1.0, -2.0, 0.5, -1.0]}, "w", {}, r"^Sample-weight column 'w' of table has 2 "
                                             r"negative weights \(rows 1, 3\); weights must be "
                                             r">= 0\.$"),
    ({"w": [1.0, np.nan, 0.5, 1.0]}, "w", {}, r"^Sample-weight column 'w' of table has 1 "
                                              r"missing values \(rows 1\)\. Give every row a "
                                              r"weight, or pass missing='drop'"),
    ({"w": [1.0, np.inf, 0.5, 1.0]}, "w", {}, r"has 1 infinite values \(rows 1\); weights "
                                              r"must be finite"),
    ({"w": [0, 0, 0, 0]}, "w", {}, r"Every sample weight in column 'w' of table is 0"),
    ({}, "class", {}, r"target 'class' cannot also be the sample-weight column"),
    ({"w": [1, 1, 1, 1]}, "w", {"features": ["alpha", "w"]},
     r"sample-weight column 'w' cannot also be a feature"),
])
def test_sample_weight_column_errors_say_what_is_wrong(columns, weight, kw, message) -> None:
    with pytest.raises(DataError, match=message):
        datasets.from_frame(_frame(**columns), "class", sample_weight=weight, **kw)


def test_built_in_datasets_have_no_sample_weight_column() -> None:
    with pytest.raises(ConfigError, match=r"The wine dataset has no sample-weight column; "
                                          r"sample_weight names a column of a \.csv"):
        datasets.load("wine", sample_weight="w")
    assert datasets.load("wine", sample_weight=None).w is None


# ---------------------------------------------------------------- task inference, Dataset


@pytest.mark.parametrize("target, task, classes", [
    ([0, 1, 0, 1], "binary", ("0", "1")),
    ([1.0, 2.0, 2.0, 1.0], "binary", ("1", "2")),
    ([3, 1, 2, 1], "multiclass", ("1", "2", "3")),
    (["cat", "dog", "cat", "emu"], "multiclass", ("cat", "dog", "emu")),
    ([True, False, True, True], "binary", ("False", "True")),
    ([0.5, 1.25, 2.0, 0.5], "regression", None),
])
def test_task_is_inferred_from_the_target(target, task, classes) -> None:
    ds = datasets.from_frame(_frame(**{"class": target}), "class")
    assert (ds.task, ds.class_names) == (task, classes)
    if classes is None:
        assert ds.y.dtype == np.float32 and ds.n_classes == 0
    else:
        assert ds.y.dtype == np.int64
        assert [classes[k] for k in ds.y] == [str(int(t)) if isinstance(t, float) else str(t)
                                              for t in target]


def test_many_integer_values_are_regression_and_task_can_be_overridden() -> None:
    n = datasets.MAX_INTEGER_CLASSES + 1
    df = pd.DataFrame({"a": np.arange(n, dtype=float), "price": np.arange(n) * 10})
    assert datasets.from_frame(df, "price").task == "regression"
    assert datasets.from_frame(df.iloc[:-1], "price").task == "multiclass"
    forced = datasets.from_frame(df, "price", task="multiclass")
    assert forced.n_classes == n
    two = _frame()
    assert datasets.from_frame(two, "class", task="regression").task == "regression"
    assert datasets.from_frame(two, "class", task="multiclass").n_classes == 2
    with pytest.raises(DataError, match=r"task='binary' needs exactly 2 classes, but target "
                                        r"'class' of table has 3: '1', '2', '3'\. Use "
                                        r"task='multiclass'"):
        datasets.from_frame(_frame(**{"class": [1, 2, 3, 1]}), "class", task="binary")
    with pytest.raises(DataError, match=r"Target 'class' of table is not numeric .* cannot be a "
                                        r"regression target"):
        datasets.from_frame(_frame(**{"class": list("abab")}), "class", task="regression")


def test_dataset_helpers() -> None:
    ds = datasets.from_frame(_frame(**{"class": ["b", "a", "c", "a"]}), "class")
    assert ds.class_counts() == {"a": 2, "b": 1, "c": 1}
    np.testing.assert_array_equal(ds.one_hot(), np.eye(3, dtype=np.float32)[[1, 0, 2, 0]])
    assert ds.one_hot().dtype == np.float32
    frame = ds.to_frame()
    assert list(frame.columns) == ["alpha", "beta", "class"]
    assert frame["class"].astype(str).tolist() == ["b", "a", "c", "a"]
    assert ds.to_frame(labels=False)["class"].tolist() == [1, 0, 2, 0]
    assert (ds.n_rows, ds.n_features, ds.n_classes) == (4, 2, 3)
    assert not ds.x.flags.writeable and not ds.y.flags.writeable
    with pytest.raises(AttributeError):
        ds.name = "other"  # type: ignore[misc]
    regression = datasets.from_frame(_frame(**{"class": [0.5, 1.5, 2.5, 3.5]}), "class")
    with pytest.raises(DataError, match=r"class_counts\(\) needs a classification target, but "
                                        r"'table' is a regression dataset"):
        regression.class_counts()
    with pytest.raises(DataError, match=r"one_hot\(\) needs a classification target"):
        regression.one_hot()


def test_dataset_checks_its_invariants() -> None:
    x = np.zeros((3, 2), np.float32)
    y = np.array([0, 1, 0])
    ok = dict(name="d", x=x, y=y, feature_names=("a", "b"), class_names=("0", "1"),
              task="binary", source="test")
    assert Dataset(**ok).n_rows == 3
    with pytest.raises(ShapeError, match=r"`x` must be a 2-D float32 array, got shape \(3, 2\) "
                                         r"dtype float64"):
        Dataset(**{**ok, "x": x.astype(np.float64)})
    with pytest.raises(ShapeError, match=r"`y` must be 1-D with one value per row of `x` \(3\)"):
        Dataset(**{**ok, "y": y[:2]})
    with pytest.raises(ShapeError, match=r"1 feature names for 2 columns"):
        Dataset(**{**ok, "feature_names": ("a",)})
    with pytest.raises(DataError, match=r"labels must lie in 0\.\.1 .* got 0\.\.2"):
        Dataset(**{**ok, "y": np.array([0, 2, 0])})
    with pytest.raises(DataError, match=r"task 'binary' needs exactly 2 classes, got 3"):
        Dataset(**{**ok, "class_names": ("0", "1", "2")})
    with pytest.raises(ConfigError, match=r"a regression target is float32 with class_names=None"):
        Dataset(**{**ok, "task": "regression"})


def test_from_arrays_and_one_hot() -> None:
    ds = datasets.from_arrays([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], [2, 0, 2])
    assert ds.feature_names == ("x1", "x2") and ds.class_names == ("0", "2")
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    with pytest.raises(ShapeError, match=r"`y` must be 1-D with one value per row of `x` \(3\), "
                                         r"got shape \(2,\)"):
        datasets.from_arrays(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ShapeError, match=r"one_hot expects 1-D class indices in 0\.\.1"):
        datasets.one_hot(np.array([0, 2]), 2)
