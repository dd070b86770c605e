"""gdlab.checkpoint: one safetensors file with JSON metadata, written atomically, read strictly."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

from gdlab import checkpoint
from gdlab.errors import ConfigError, DataError, NotSupportedError, ShapeError
from gdlab.network import DenseSpec, NetworkSpec, init_params
from gdlab.optimizers import optimizer_spec

SPEC = NetworkSpec(4, (DenseSpec(3, ("tanh",), "he_normal"),
                       DenseSpec(2, ("linear", "softmax"), use_bias=True),
                       DenseSpec(1, ("sigmoid",), use_bias=False)))


def params(seed: int = 0):
    rng = np.random.default_rng(seed)
    return tuple({k: rng.normal(size=s).astype(np.float32) for k, s in d.items()}
                 for d in SPEC.shapes())


def write(path: Path, **kwargs) -> Path:
    settings = {"optimizer": checkpoint.optimizer_to_dict(optimizer_spec("sgd", momentum=0.5)),
                "epoch": 7, "val_loss": 0.25, "tags": ["a", "b"], "nested": {"ok": True}}
    return checkpoint.save(path, SPEC, params(), settings, **kwargs)


def test_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path / "run" / "best.safetensors")  # creates the folder
    spec, loaded, settings = checkpoint.load(path)
    assert spec == SPEC
    for got, want in zip(loaded, params(), strict=True):
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
            assert got[k].dtype == np.float32
    assert settings["epoch"] == 7 and settings["val_loss"] == 0.25
    assert settings["tags"] == ["a", "b"] and settings["nested"] == {"ok": True}
    assert checkpoint.optimizer_from_dict(settings["optimizer"]) == optimizer_spec("sgd",
                                                                                  momentum=0.5)


def test_weights_are_plain_safetensors(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    tensors = safetensors.numpy.load_file(path)
    assert sorted(tensors) == ["layers.0.bias", "layers.0.kernel", "layers.1.bias",
                               "layers.1.kernel", "layers.2.kernel"]
    np.testing.assert_array_equal(tensors["layers.1.kernel"], params()[1]["kernel"])
    with safetensors.safe_open(path, "np") as f:
        meta = f.metadata()
    assert meta["format"] == "gdlab.checkpoint" and meta["format_version"] == "1"
    assert json.loads(meta["network"])["layers"][1]["activation"] == ["linear", "softmax"]


def test_jax_params_and_extra_arrays(tmp_path: Path) -> None:
    import jax

    p = init_params(SPEC, jax.random.PRNGKey(0))
    extra = {"opt.count": np.asarray(np.int32(5)), "opt.m": np.ones((4, 3), np.float32)}
    path = checkpoint.save(tmp_path / "c.ckpt", SPEC, p, {}, extra=extra)
    contents = checkpoint.read(path)
    np.testing.assert_array_equal(contents.params[0]["kernel"], np.asarray(p[0]["kernel"]))
    assert contents.extra["opt.count"].shape == () and int(contents.extra["opt.count"]) == 5
    assert contents.extra["opt.count"].dtype == np.int32
    np.testing.assert_array_equal(contents.extra["opt.m"], extra["opt.m"])
    assert checkpoint.load(path).settings == {}


def test_non_finite_settings_become_strings(tmp_path: Path) -> None:
    path = checkpoint.save(tmp_path / "c", SPEC, params(),
                           {"val_loss": float("nan"), "best": np.float32(0.5), "x": np.inf})
    settings = checkpoint.load(path).settings
    assert settings == {"val_loss": "nan", "best": 0.5, "x": "inf"}


def test_settings_must_be_json_data(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"settings\['w'\] is a ndarray. Store arrays with"):
        checkpoint.save(tmp_path / "c", SPEC, params(), {"w": np.ones(3)})
    with pytest.raises(ConfigError, match="keys must be strings"):
        checkpoint.save(tmp_path / "c", SPEC, params(), {"a": {1: 2}})
    assert not (tmp_path / "c").exists()


def test_params_must_match_the_architecture(tmp_path: Path) -> None:
    bad = list(params())
    bad[1] = {"kernel": np.zeros((3, 5), np.float32), "bias": np.zeros(2, np.float32)}
    with pytest.raises(ShapeError, match=r"The kernel of layer 1 must have shape \(3, 2\), got \(3, 5\)"):
        checkpoint.save(tmp_path / "c", SPEC, bad)
    with pytest.raises(ShapeError, match=r"Layer 2 needs weights \['kernel'\], `params` has"):
        checkpoint.save(tmp_path / "c", SPEC, [*params()[:2], {"kernel": 0, "bias": 0}])
    with pytest.raises(ShapeError, match="has 3 layers but `params` has 2"):
        checkpoint.save(tmp_path / "c", SPEC, params()[:2])


# ---------------------------------------------------------------- atomicity


def test_overwrite_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "best.hdf5")
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, SPEC, params(seed=1))
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.hdf5"]
    monkeypatch.undo()
    checkpoint.save(path, SPEC, params(seed=1))
    np.testing.assert_array_equal(checkpoint.load(path).params[0]["kernel"],
                                  params(seed=1)[0]["kernel"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.hdf5"]


def test_cannot_write_over_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="it is an existing directory"):
        checkpoint.save(tmp_path, SPEC, params())


# ---------------------------------------------------------- damaged files


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No checkpoint file at .*nope\.hdf5"):
        checkpoint.load(tmp_path / "nope.hdf5")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory, not a gdlab checkpoint file"):
        checkpoint.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1])
def test_truncated_files(tmp_path: Path, keep: int) -> None:
    path = write(tmp_path / "w.hdf5")
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-10])
    with pytest.raises(DataError, match=rf"{path.name} is (not a gdlab checkpoint: it is )?truncated"):
        checkpoint.load(path)


def test_flipped_weight_byte_fails_the_checksum(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"w\.hdf5 is corrupt: its arrays do not match the checksum"):
        checkpoint.load(path)


def test_garbled_header(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    data = bytearray(path.read_bytes())
    data[8] = ord("#")  # the opening brace of the JSON header
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="safetensors header is not valid JSON"):
        checkpoint.load(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "w.hdf5"
    path.write_bytes(np.random.default_rng(0).bytes(200))
    with pytest.raises(DataError, match="do not start a safetensors header"):
        checkpoint.load(path)


def test_keras_hdf5_and_zip_files_are_named_as_such(tmp_path: Path) -> None:
    h5 = tmp_path / "weights.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(NotSupportedError, match=r"weights\.h5 is an HDF5 file .*model\.set_weights"):
        checkpoint.load(h5)
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(NotSupportedError, match=r"model\.keras is a zip archive \(Keras's \.keras"):
        checkpoint.load(archive)


def test_foreign_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    safetensors.numpy.save_file({"w": np.ones(3, np.float32)}, path)
    with pytest.raises(DataError, match="is a safetensors file but not a gdlab checkpoint"):
        checkpoint.load(path)


def rewrite_metadata(path: Path, **changes: str) -> None:
    tensors = safetensors.numpy.load_file(path)
    with safetensors.safe_open(path, "np") as f:
        meta = f.metadata() | changes
    path.write_bytes(safetensors.numpy.save(tensors, metadata=meta))


def test_newer_format_version(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    rewrite_metadata(path, format_version="2")
    with pytest.raises(NotSupportedError, match="has checkpoint format version '2'; .* reads versions up to 1"):
        checkpoint.load(path)


def test_architecture_that_does_not_match_the_arrays(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    network = checkpoint.network_to_dict(SPEC)
    network["layers"][0]["units"] = 5
    rewrite_metadata(path, network=json.dumps(network))
    with pytest.raises(DataError, match=r"array 'layers\.0\.kernel' is float32\[4, 3\], but the "
                                        r"architecture needs float32\[4, 5\]"):
        checkpoint.load(path)


def test_unknown_activation_in_the_architecture(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    network = checkpoint.network_to_dict(SPEC)
    network["layers"][0]["activation"] = ["swishy"]
    rewrite_metadata(path, network=json.dumps(network))
    with pytest.raises(DataError, match=r"has an invalid architecture: Unknown activation 'swishy'"):
        checkpoint.load(path)


def test_stray_arrays(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    tensors = safetensors.numpy.load_file(path)
    with safetensors.safe_open(path, "np") as f:
        meta = f.metadata()
    tensors["layers.9.kernel"] = np.ones(2, np.float32)
    meta["content_sha256"] = checkpoint._digest(tensors)
    path.write_bytes(safetensors.numpy.save(tensors, metadata=meta))
    with pytest.raises(DataError, match=r"holds arrays its architecture does not have: \['layers\.9"):
        checkpoint.load(path)


def test_header_size_field_is_checked(tmp_path: Path) -> None:
    path = write(tmp_path / "w.hdf5")
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    path.write_bytes(struct.pack("<Q", n + 1000) + data[8:])
    with pytest.raises(DataError, match=r"is truncated: its header announces"):
        checkpoint.load(path)


# ------------------------------------------------------------ compatibility


def test_check_compatible() -> None:
    checkpoint.check_compatible("f", SPEC, SPEC)
    other = NetworkSpec(4, (DenseSpec(3), DenseSpec(2), DenseSpec(1, use_bias=False)))
    checkpoint.check_compatible("f", SPEC, other)  # same shapes, other activations: fine
    wider = NetworkSpec(4, (DenseSpec(8), DenseSpec(1)))
    with pytest.raises(ShapeError, match=r"f holds weights for a 4-3-2-1 network \(3 Dense layers\), "
                                         r"but the model is 4-8-1 \(2 Dense layers\)\. First "
                                         r"difference: layer 0"):
        checkpoint.check_compatible("f", SPEC, wider)


def test_network_and_optimizer_dicts_round_trip() -> None:
    assert checkpoint.network_from_dict(checkpoint.network_to_dict(SPEC)) == SPEC
    spec = optimizer_spec("adam", learning_rate=0.01, amsgrad=True, clipnorm=1.0)
    assert checkpoint.optimizer_from_dict(checkpoint.optimizer_to_dict(spec)) == spec
    with pytest.raises(ConfigError, match="unknown keys: \\['dropout'\\]"):
        checkpoint.network_from_dict({"n_inputs": 2, "layers": [{"units": 1, "dropout": 0.5}]})
    with pytest.raises(ConfigError, match="needs a 'kind'"):
        checkpoint.optimizer_from_dict({"hparams": {}})


def test_jnp_and_numpy_weights_give_the_same_file(tmp_path: Path) -> None:
    a = checkpoint.save(tmp_path / "a", SPEC, params())
    b = checkpoint.save(tmp_path / "b", SPEC,
                        [{k: jnp.asarray(v) for k, v in p.items()} for p in params()])
    assert checkpoint.read(a).params[2]["kernel"].tobytes() == \
        checkpoint.read(b).params[2]["kernel"].tobytes()
