"""Data root resolution, clear errors, checksums, verified extracted files, and a read-only root never written to."""
import gzip

import pytest
import torch

from pruninglib.cli import main
from pruninglib.data import ChecksumError, DataNotFoundError, load_mnist, resolve_data_root
from pruninglib.data import mnist as mnist_mod
from pruninglib.data.dsb_files import read_manifest
from pruninglib.data.root import data_root_candidates, read_sums


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


def test_a_data_root_that_is_not_a_path_is_named():
    with pytest.raises(ValueError, match=r"parameter 'data_root' = 5 is not allowed: a folder path \(a string\)"):
        resolve_data_root(5)


def test_offline_without_files_names_files_folders_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path / "cache"))  # empty: no earlier download to fall back on
    (tmp_path / "root").mkdir()
    with pytest.raises(DataNotFoundError) as err:  # conftest points downloads at a closed port
        load_mnist(tmp_path / "root")
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path / "root" / "MNIST" / "raw") in msg
    assert str(tmp_path / "cache" / "downloads" / "MNIST" / "raw") in msg and "no connection to" in msg
    assert "PRUNINGLIB_DATA" in msg and "data/README.md" in msg and "MANIFEST.md" not in msg
    assert not list((tmp_path / "cache").rglob("*.gz")) and not list((tmp_path / "root").iterdir())


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
    assert len(data.source["verified_files"]) == 8  # the four .gz files and the four extracted ones
    assert "checksums_ok" not in data.source
    assert {p: p.stat().st_mtime_ns for p in (mnist_root / "MNIST").rglob("*")} == before
    # the validation split is fixed: the same images whatever the training subset
    assert torch.equal(load_mnist(mnist_root, train_subset=10).val.y, data.val.y)


@pytest.mark.parametrize("damage", ["invert every 4th image", "truncate"])
def test_a_damaged_extracted_file_is_extracted_again_not_read(damage, mnist_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path))
    clean = load_mnist(mnist_root, train_subset=100)
    extracted = tmp_path / "torchvision" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    data = bytearray(extracted.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    else:
        for i in range(0, 60000, 4):
            start = 16 + i * 784
            data[start:start + 784] = bytes(255 - b for b in data[start:start + 784])
    extracted.write_bytes(bytes(data))
    again = load_mnist(mnist_root, train_subset=100)
    assert torch.equal(again.train.x, clean.train.x) and torch.equal(again.val.x, clean.val.x)
    assert f"checksum mismatch for {extracted}" in capsys.readouterr().err
    with gzip.open(mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz") as f:
        assert extracted.read_bytes() == f.read()
    assert not list(extracted.parent.glob(".*.tmp"))


def test_a_malformed_checksum_line_names_the_file_and_line(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{'a' * 64}  MNIST/raw/x.gz\nnot-a-digest\n")
    with pytest.raises(ChecksumError, match=rf"{sums}, line 2: 'not-a-digest' is not"):
        read_sums(sums)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("# comment\nabc 1 xyz\n")
    with pytest.raises(ChecksumError, match=rf"{manifest}, line 2: 'abc 1 xyz' is not"):
        read_manifest(manifest)


def test_a_missing_data_set_fails_in_the_cli_before_the_notebook(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "run"
    code = main(["run", "covid_cnn", "--profile", "smoke", "-p", "data_root", str(tmp_path / "empty"),
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "COVID-19 X-rays: 192 file(s) missing (covid-chestxray-dataset/metadata.csv" in err
    assert "data/README.md" in err and "Traceback" not in err and not out.exists()
    assert main(["run", "mlp_mnist", "--profile", "smoke", "-p", "data_root", "5", "--out", str(out)]) == 2
    assert "parameter 'data_root' = 5 is not allowed" in capsys.readouterr().err
