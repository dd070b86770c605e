"""gdlab.preprocessing: the course's split, leak-free scaling, Keras's validation_split."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import scale as sk_scale

from gdlab import datasets
from gdlab.errors import ConfigError, DataError, ShapeError
from gdlab.pitfalls import LeakyScaling
from gdlab.preprocessing import COURSE_SCALING, DataWarning, Prepared, prepare


@pytest.fixture(scope="module")
def notes(banknotes_path) -> datasets.Dataset:
    return datasets.load_csv(banknotes_path, target="class")


def _with_x(ds: datasets.Dataset, x: np.ndarray) -> datasets.Dataset:
    return dataclasses.replace(ds, x=np.ascontiguousarray(x, dtype=np.float32))


def test_defaults_reproduce_the_course_split(notes) -> None:
    p = prepare(notes)
    x_tr, x_te, y_tr, y_te = train_test_split(notes.x, notes.y, test_size=0.3, random_state=42)
    assert (p.x_train.shape, p.x_test.shape) == ((960, 4), (412, 4))
    np.testing.assert_array_equal(p.y_train, y_tr)
    np.testing.assert_array_equal(p.y_test, y_te)
    np.testing.assert_array_equal(notes.x[p.train_index], x_tr)
    np.testing.assert_array_equal(notes.x[p.test_index], x_te)
    assert p.x_val is None and p.y_val is None and p.val_index is None
    assert p.x_train.dtype == np.float32 and p.y_train.dtype == np.int64
    assert p.scaling == "standard" and p.task == "binary" and p.dataset == "banknotes"
    assert p.feature_names == notes.feature_names and p.class_names == ("0", "1")


def test_course_scaling_is_the_courses_leaky_scale(notes) -> None:
    with pytest.warns(LeakyScaling, match="test set leaked into training"):
        p = prepare(notes, scale="course")
    # the course: X = scale(X); train_test_split(X, y, test_size=0.3, random_state=42)
    x = sk_scale(notes.x.astype(np.float64))
    x_tr, x_te = train_test_split(x, test_size=0.3, random_state=42)
    np.testing.assert_array_equal(p.x_train, x_tr.astype(np.float32))
    np.testing.assert_array_equal(p.x_test, x_te.astype(np.float32))
    assert p.record()["scaling"] == "course" and p.split["scaler_fit_on"] == "all rows"
    assert "leak" in COURSE_SCALING and "scale='standard'" in COURSE_SCALING


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_scaler_never_sees_test_or_validation_rows(notes, scale) -> None:
    p = prepare(notes, scale=scale, validation_split=0.2)
    # wild values in the held-out rows change nothing the model trains on
    x = notes.x.copy()
    held_out = np.concatenate([p.test_index, p.val_index])
    x[held_out] = x[held_out] * 1000 + 500
    q = prepare(_with_x(notes, x), scale=scale, validation_split=0.2)
    np.testing.assert_array_equal(q.x_train, p.x_train)
    np.testing.assert_array_equal(q.train_index, p.train_index)
    fit_rows = notes.x[p.train_index].astype(np.float64)
    if scale == "standard":
        np.testing.assert_allclose(p.scaler.mean_, fit_rows.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(p.x_train.mean(axis=0), 0.0, atol=1e-6)
    else:
        assert p.x_train.min() == 0.0 and p.x_train.max() == 1.0
        np.testing.assert_array_equal(p.scaler.data_min_, fit_rows.min(axis=0))
    assert p.split["scaler_fit_on"] == "training rows"


def test_course_scaling_does_see_the_test_rows(notes) -> None:
    # the check above can fail: with the course's scaling the same change leaks in
    with pytest.warns(LeakyScaling):
        p = prepare(notes, scale="course")
    x = notes.x.copy()
    x[p.test_index] = x[p.test_index] * 1000 + 500
    with pytest.warns(LeakyScaling):
        q = prepare(_with_x(notes, x), scale="course")
    assert not np.allclose(q.x_train, p.x_train)


def test_no_scaling_keeps_the_values(notes) -> None:
    p = prepare(notes, scale="none")
    np.testing.assert_array_equal(p.x_train, notes.x[p.train_index])
    assert p.scaler is None and p.split["scaler_fit_on"] == "none"
    np.testing.assert_array_equal(p.transform(notes.x[:3]), notes.x[:3])


def test_validation_last_is_keras_validation_split(notes) -> None:
    base = prepare(notes)
    p = prepare(notes, validation_split=0.2)
    # Keras: the first floor(960 * 0.8) = 768 rows train, the last 192 validate
    assert (p.x_train.shape[0], p.x_val.shape[0], p.x_test.shape[0]) == (768, 192, 412)
    np.testing.assert_array_equal(p.train_index, base.train_index[:768])
    np.testing.assert_array_equal(p.val_index, base.train_index[768:])
    np.testing.assert_array_equal(p.test_index, base.test_index)
    np.testing.assert_array_equal(p.y_val, notes.y[base.train_index[768:]])
    assert p.split == {
        "test_size": 0.3, "random_state": 42, "stratify": False, "validation_split": 0.2,
        "validation": "last", "scaler_fit_on": "training rows", "n_train": 768, "n_val": 192,
        "n_test": 412,
    }


def test_stratified_splits_keep_class_shares() -> None:
    wine = datasets.wine()
    p = prepare(wine, stratify=True, validation_split=0.25, validation="stratified")
    counts = np.array([59, 71, 48])
    # each part holds every class in its share, to within a row
    assert np.all(np.abs(np.bincount(p.y_test) - 0.3 * counts) <= 1)
    assert np.all(np.abs(np.bincount(p.y_val) - 0.25 * 0.7 * counts) <= 1)
    assert (p.y_test.size, p.y_val.size) == (54, 31)
    assert p.y_train.size + p.y_val.size + p.y_test.size == 178
    parts = np.concatenate([p.train_index, p.val_index, p.test_index])
    assert sorted(parts.tolist()) == list(range(178))


def test_record_is_flat_and_json_friendly(notes) -> None:
    import json

    record = prepare(notes, scale="minmax", stratify=True, random_state=7).record()
    assert record["dataset"] == "banknotes" and record["scaling"] == "minmax"
    assert record["stratify"] is True and record["random_state"] == 7
    assert json.loads(json.dumps(record)) == record


def test_prepared_helpers(notes) -> None:
    p = prepare(notes, validation_split=0.1)
    assert p.one_hot("val").shape == (p.y_val.size, 2)
    np.testing.assert_array_equal(p.one_hot().argmax(axis=1), p.y_train)
    np.testing.assert_allclose(p.transform(notes.x[p.train_index[:5]]), p.x_train[:5])
    assert (p.n_features, p.n_classes) == (4, 2)
    assert not p.x_train.flags.writeable
    with pytest.raises(ConfigError, match=r"Unknown part 'validation'\. .*Valid parts: test, "
                                          r"train, val"):
        p.one_hot("validation")
    with pytest.raises(DataError, match=r"There is no validation part"):
        prepare(notes).one_hot("val")
    with pytest.raises(ShapeError, match=r"transform expects shape \(rows, 4\), got \(2, 3\)"):
        p.transform(np.zeros((2, 3)))
    assert isinstance(p, Prepared)


def test_regression_targets_pass_through() -> None:
    rng = np.random.default_rng(0)
    ds = datasets.from_arrays(rng.normal(size=(50, 3)), rng.normal(size=50) * 10)
    p = prepare(ds)
    assert p.task == "regression" and p.y_train.dtype == np.float32 and p.n_classes == 0
    np.testing.assert_array_equal(p.y_test, ds.y[p.test_index])
    with pytest.raises(ConfigError, match=r"Stratified splits need class labels, but 'arrays' "
                                          r"is a regression dataset"):
        prepare(ds, stratify=True)


# ---------------------------------------------------------------- errors


def _tiny(labels: list[int]) -> datasets.Dataset:
    return datasets.from_arrays(np.arange(len(labels) * 2.0).reshape(-1, 2), labels)


@pytest.mark.parametrize("kw, error, match", [
    ({"scale": "standardize"}, ConfigError,
     r"Unknown scaling 'standardize'\. Did you mean 'standard'\?"),
    ({"validation": "first"}, ConfigError, r"Unknown validation mode 'first'"),
    ({"test_size": 0.0}, ConfigError,
     r"`test_size` must be a fraction in \(0, 1\) or a row count, got 0\.0"),
    ({"test_size": 1.5}, ConfigError, r"got 1\.5"),
    ({"test_size": True}, ConfigError, r"got True"),
    ({"validation_split": 1.0}, ConfigError,
     r"`validation_split` must be a fraction in \[0, 1\), got 1\.0"),
    ({"random_state": 1.5}, ConfigError, r"`random_state` must be an integer or None, got 1\.5"),
])
def test_argument_errors(notes, kw, error, match) -> None:
    with pytest.raises(error, match=match):
        prepare(notes, **kw)


def test_fewer_rows_than_the_split_needs() -> None:
    with pytest.raises(DataError, match=r"^test_size=0\.3 leaves 0 training and 1 test rows of 1: "
                                        r"the training part needs at least 1 row"):
        prepare(datasets.from_arrays([[1.0]], [0.5]))
    with pytest.raises(DataError, match=r"`test_size`=5 rows needs between 1 and 3 test rows; "
                                        r"the data has 4 rows"):
        prepare(_tiny([0, 1, 0, 1]), test_size=5)
    with pytest.raises(DataError, match=r"^validation_split=0\.7 leaves 0 training and 3 "
                                        r"validation rows of 3: the training part needs"):
        prepare(_tiny([0, 1, 0, 1]), test_size=1, validation_split=0.7)
    with pytest.raises(DataError, match=r"^validation_split=1e-17 leaves 3 training and 0 "
                                        r"validation rows of 3: the validation part needs"):
        prepare(_tiny([0, 1, 0, 1]), test_size=1, validation_split=1e-17)


def test_single_class_in_the_training_part() -> None:
    with pytest.raises(DataError, match=r"The training part \(2 rows\) holds a single class "
                                        r"\('0'\); training needs at least 2\. Use stratify=True"):
        prepare(_tiny([0, 0, 0, 1]), test_size=2, random_state=0)


def test_stratify_needs_two_rows_per_class_and_room_for_each() -> None:
    with pytest.raises(DataError, match=r"stratify=True needs at least 2 rows of every class, "
                                        r"but class 2 has only 1 row"):
        prepare(_tiny([0, 1, 0, 1, 2]), stratify=True)
    with pytest.raises(DataError, match=r"stratify=True needs at least one test row per class: "
                                        r"3 classes but 2 test rows"):
        prepare(_tiny([0, 1, 2] * 2), stratify=True, test_size=2)


def test_a_validation_part_without_some_class_warns() -> None:
    # a small validation part of the last rows can miss a class (here both are class 1)
    labels = [0] * 10 + [1] * 10
    with pytest.warns(DataWarning, match=r"The validation part holds 2 of class 1, while the "
                                         r"training part holds 9 of class 0, 7 of class 1: it "
                                         r"holds a single class.*validation='stratified'"):
        p = prepare(_tiny(labels), test_size=2, random_state=0, validation_split=0.1)
    assert p.y_val.tolist() == [1, 1]


def test_labels_survive_a_dataframe_round_trip(notes) -> None:
    frame = notes.to_frame(labels=False)
    assert isinstance(frame, pd.DataFrame)
    again = datasets.from_frame(frame, "class")
    np.testing.assert_array_equal(prepare(again).y_test, prepare(notes).y_test)


def test_sample_weights_split_with_their_rows_and_are_never_scaled() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.normal(size=(60, 2)) * 10, columns=["a", "b"])
    df["class"] = np.arange(60) % 2
    df["w"] = rng.uniform(0, 5, 60)
    ds = datasets.from_frame(df, "class", sample_weight="w")
    for scale in ("standard", "minmax", "course", "none"):
        if scale == "course":
            with pytest.warns(LeakyScaling):
                p = prepare(ds, scale=scale, validation_split=0.25)
        else:
            p = prepare(ds, scale=scale, validation_split=0.25)
        for part in ("train", "val", "test"):
            w = getattr(p, f"w_{part}")
            np.testing.assert_array_equal(w, ds.w[getattr(p, f"{part}_index")])
            assert w.dtype == np.float32 and not w.flags.writeable
        assert p.record()["sample_weight"] == "w" and p.weight_column == "w"
    unweighted = prepare(datasets.from_frame(df, "class"))
    assert unweighted.w_train is None and unweighted.w_test is None
    assert unweighted.record()["sample_weight"] is None


def test_a_training_part_without_weight_is_an_error() -> None:
    df = pd.DataFrame({"a": np.arange(20.0), "class": np.arange(20) % 2})
    test_rows = prepare(datasets.from_frame(df, "class")).test_index
    df["w"] = np.isin(np.arange(20), test_rows).astype(float)  # weight on test rows only
    ds = datasets.from_frame(df, "class", sample_weight="w")
    with pytest.raises(DataError, match=r"Every sample weight of the training part \(14 rows\) "
                                        r"is 0.*column 'w'"):
        prepare(ds)
