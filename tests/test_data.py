"""Data root resolution, clear errors, checksums, and a read-only data root that is never written to."""
import gzip

import pytest
import torch

from pruninglib.data import ChecksumError, DataNotFoundError, load_mnist, resolve_data_root
from pruninglib.data import mnist as mnist_mod
from pruninglib.data.root import data_root_candidates


def test_root_order_argument_then_env_then_repo(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.setenv("PRUNINGLIB_DATA", str(b))
    assert resolve_data_root(a) == ("argument data_root", a)
    assert resolve_data_root(None) == ("$PRUNINGLIB_DATA", b)
    monkeypatch.delenv("PRUNINGLIB_DATA")
    origin, root = resolve_data_root(None)
    assert origin == "repository data/" and root.name == "data"
    assert [o for o, _ in data_root_candidates(a)] == ["argument data_root", "repository data/"]


def test_missing_root_names_the_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match=f"data root {tmp_path / 'nope'} \\(argument data_root\\) does not"):
        resolve_data_root(tmp_path / "nope")


def test_offline_without_files_names_folders_and_fix(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(mnist_mod, "_torchvision_mnist", offline)
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path / "cache"))  # empty: no earlier download to fall back on
    (tmp_path / "root").mkdir()
    with pytest.raises(DataNotFoundError) as err:
        load_mnist(tmp_path / "root")
    msg = str(err.value)
    assert str(tmp_path / "root" / "MNIST" / "raw") in msg and str(tmp_path / "cache") in msg
    assert "PRUNINGLIB_DATA" in msg


def test_corrupt_file_fails_checksum_naming_the_file(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist_mod.SHA256:
        with gzip.open(raw / name, "wb") as f:
            f.write(b"not mnist")
    with pytest.raises(ChecksumError, match="checksum mismatch for .*train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)


def test_real_mnist_loads_as_tensors_without_writing_into_root(mnist_root):
    before = {p: p.stat().st_mtime_ns for p in (mnist_root / "MNIST").rglob("*")}
    data = load_mnist(mnist_root, val_size=5000, train_subset=1000)
    assert data.train.x.shape == (1000, 1, 28, 28) and data.val.x.shape == (5000, 1, 28, 28)
    assert data.test.x.shape == (10000, 1, 28, 28) and data.train.y.dtype == torch.int64
    assert abs(float(data.test.x.mean())) < 0.1  # normalized
    assert data.source["checksums_ok"] and len(data.source["files"]) == 4
    assert {p: p.stat().st_mtime_ns for p in (mnist_root / "MNIST").rglob("*")} == before
    # the validation split is fixed: the same images whatever the training subset
    assert torch.equal(load_mnist(mnist_root, train_subset=10).val.y, data.val.y)


def test_cache_is_extracted_atomically_from_the_verified_files(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path))
    written = []
    real_extract = mnist_mod._extract
    monkeypatch.setattr(mnist_mod, "_extract", lambda gz, dst: (written.append(dst.name), real_extract(gz, dst)))
    load_mnist(mnist_root, train_subset=10)
    raw = tmp_path / "torchvision" / "MNIST" / "raw"
    assert sorted(written) == sorted(n.removesuffix(".gz") for n in mnist_mod.SHA256)  # ours, not torchvision's
    with gzip.open(mnist_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz") as f:
        assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == f.read()
    assert not list(raw.glob(".*.tmp"))
