"""Downloads end to end, without the internet: a loopback HTTP server serves a small mirror (a data root of links to
the real files, or small synthetic archives) and can corrupt, cut off or refuse what it serves."""
import io
import os
import pickle
import tarfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from pruninglib._io import sha256_file
from pruninglib.cli import main
from pruninglib.data import ChecksumError, DataNotFoundError, cifar, covid, dsb_files, fetch, mnist
from pruninglib.data.registry import require
from pruninglib.experiments import CHAPTERS

MNIST_GZ = [r.path for r in mnist.REMOTES]


class Mirror:
    """A data root (``folder``) served over HTTP on 127.0.0.1. ``corrupt``: paths served with one byte flipped;
    ``cut_once``: paths whose next response stops halfway although its Content-Length promised the whole file;
    ``hits``: requests per path."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.corrupt, self.cut_once, self.hits = folder, set(), set(), Counter()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                rel = unquote(self.path.lstrip("/"))
                mirror.hits[rel] += 1
                path = mirror.folder / rel
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if rel in mirror.corrupt:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                if rel in mirror.cut_once:
                    mirror.cut_once.discard(rel)
                    data, self.close_connection = data[:len(data) // 2], True
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _linked(src: Path, dst: Path, paths: list[str]) -> Path:
    for rel in paths:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src / rel, dst / rel)
    return dst


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty data root, an empty cache, no waiting between attempts; returns the empty root."""
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "RETRY_WAIT_S", 0.0)
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


@pytest.fixture
def mnist_mirror(mnist_root, tmp_path, monkeypatch):
    m = Mirror(_linked(mnist_root, tmp_path / "mirror", MNIST_GZ))
    monkeypatch.setenv("PRUNINGLIB_DATA_MIRROR", m.url)
    yield m
    m.stop()


def _downloads(tmp_path) -> list[Path]:
    return sorted(p for p in (tmp_path / "cache" / "downloads").rglob("*") if p.is_file())


def test_clean_fetch_then_verify_then_a_second_fetch_downloads_nothing(env, mnist_mirror, tmp_path, capsys):
    [record] = require(["mnist"], env, progress=False)
    assert {Path(f["path"]).name for f in record["verified_files"][:4]} == {Path(p).name for p in MNIST_GZ}
    assert [p.name for p in _downloads(tmp_path)] == sorted(Path(p).name for p in MNIST_GZ)
    assert main(["data", "verify", "mnist", "--data-root", str(env)]) == 0
    assert "mnist: 8 verified, 0 corrupt, 0 missing" in capsys.readouterr().out
    hits = dict(mnist_mirror.hits)
    assert main(["data", "fetch", "mnist", "--data-root", str(env)]) == 0
    assert dict(mnist_mirror.hits) == hits == {p: 1 for p in MNIST_GZ}


def test_a_corrupt_file_on_the_server_is_named_and_nothing_is_kept(env, mnist_mirror, tmp_path):
    bad = "MNIST/raw/t10k-labels-idx1-ubyte.gz"
    mnist_mirror.corrupt.add(bad)
    with pytest.raises(ChecksumError, match=f"checksum mismatch for {bad} downloaded from {mnist_mirror.url}/{bad}"):
        require(["mnist"], env, progress=False)
    assert mnist_mirror.hits[bad] == fetch.ATTEMPTS
    assert not any(p.name == Path(bad).name for p in _downloads(tmp_path))
    assert not [p for p in _downloads(tmp_path) if p.name.startswith("tmp")]  # no half-written leftovers


def test_a_download_cut_off_mid_file_leaves_nothing_and_the_retry_completes(env, mnist_mirror, tmp_path):
    cut = "MNIST/raw/t10k-images-idx3-ubyte.gz"
    mnist_mirror.cut_once.add(cut)
    require(["mnist"], env, progress=False)
    assert mnist_mirror.hits[cut] == 2 and len(_downloads(tmp_path)) == 4
    assert sha256_file(tmp_path / "cache" / "downloads" / cut) == mnist.SHA256[Path(cut).name][0]


def test_a_truncated_copy_in_the_cache_is_downloaded_again(env, mnist_mirror, tmp_path, capsys):
    require(["mnist"], env, progress=False)
    copy = tmp_path / "cache" / "downloads" / MNIST_GZ[0]
    copy.write_bytes(copy.read_bytes()[:1000])  # as a killed copy by hand would leave it
    require(["mnist"], env, progress=False)
    assert mnist_mirror.hits[MNIST_GZ[0]] == 2 and sha256_file(copy) == mnist.SHA256[copy.name][0]
    assert f"checksum mismatch for {copy}" in capsys.readouterr().err


def test_the_server_down_gives_the_offline_message(env, mnist_root, tmp_path, monkeypatch):
    m = Mirror(tmp_path)
    m.stop()  # the port is closed now
    monkeypatch.setenv("PRUNINGLIB_DATA_MIRROR", m.url)
    with pytest.raises(DataNotFoundError) as err:
        require(["mnist"], env, progress=False)
    msg = str(err.value)
    assert "MNIST: 4 file(s) missing (MNIST/raw/train-images-idx3-ubyte.gz" in msg
    assert f"no connection to {m.url}" in msg
    assert str(env / "MNIST" / "raw") in msg and str(tmp_path / "cache" / "downloads" / "MNIST" / "raw") in msg
    assert "data/README.md" in msg and not _downloads(tmp_path)
    assert main(["data", "fetch", "mnist", "--data-root", str(env)]) == 2


def test_covid_files_missing_from_the_root_come_from_the_pinned_layout(covid_root, env, tmp_path, monkeypatch):
    images = ["covid-chestxray-dataset/images/000001-24.jpg", "covid-chestxray-dataset/images/000001-27.jpg"]
    sums = tmp_path / "covid.sha256"  # a subset of the committed list, to keep the test small
    full = covid.read_sums(covid.SUMS)
    sums.write_text("".join(f"{full[p]}  {p}\n" for p in ["covid-chestxray-dataset/metadata.csv", *images]))
    monkeypatch.setattr(covid, "SUMS", sums)
    m = Mirror(_linked(covid_root, tmp_path / "mirror", images))
    monkeypatch.setenv("PRUNINGLIB_DATA_MIRROR", m.url)
    root = _linked(covid_root, tmp_path / "root", ["covid-chestxray-dataset/metadata.csv"])
    found = covid.ensure(root, progress=False)
    m.stop()
    assert found["paths"]["metadata.csv"] == root / "covid-chestxray-dataset" / "metadata.csv"
    assert found["paths"]["000001-24.jpg"] == tmp_path / "cache" / "downloads" / images[0]
    assert dict(m.hits) == {p: 1 for p in images} and len(found["verified_files"]) == 3


def _dsb_archive(path: Path, prefix: str, damaged: bool = False) -> None:
    """A tiny stage1_train tar.gz: two image ids, one image and two masks each (PNG bytes need not be images)."""
    with tarfile.open(path, "w:gz") as tar:
        for i in ("a1", "b2"):
            for name, data in ((f"images/{i}.png", b"image" + i.encode()), ("masks/m0.png", b"mask0" + i.encode()),
                               ("masks/m1.png", b"mask1" + (b"X" if damaged and i == "b2" else i.encode()))):
                info = tarfile.TarInfo(f"{prefix}stage1_train/{i}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_the_dsb_archive_is_checked_by_member_whatever_its_container(env, tmp_path, monkeypatch):
    _dsb_archive(tmp_path / "ours.tar", "")
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(dsb_files.format_manifest(dsb_files.member_digests(tmp_path / "ours.tar")))
    monkeypatch.setattr(dsb_files, "MEMBER_SUMS", manifest)
    (tmp_path / "mirror" / "dsb2018").mkdir(parents=True)
    served = tmp_path / "mirror" / dsb_files.ARCHIVE
    _dsb_archive(served, "kaggle-dsbowl-2018-dataset-fixes-2b0c5dd/", damaged=True)
    m = Mirror(tmp_path / "mirror")
    monkeypatch.setenv("PRUNINGLIB_DATA_MIRROR", m.url)
    with pytest.raises(ChecksumError, match=r"does not hold the original stage1_train: .*stage1_train/b2/masks/"):
        dsb_files.ensure(env, progress=False)
    assert not _downloads(tmp_path)  # the failed archive is not kept
    _dsb_archive(served, "kaggle-dsbowl-2018-dataset-fixes-2b0c5dd/")
    first = dsb_files.ensure(env, progress=False)
    assert first["verified_files"][0]["checked"] == "every member against manifest.txt"
    assert first["archive"] == tmp_path / "cache" / "downloads" / dsb_files.ARCHIVE
    monkeypatch.setattr(dsb_files, "check_members", lambda path: pytest.fail("the sidecar was not used"))
    assert dsb_files.ensure(env, progress=False)["archive"] == first["archive"] and m.hits[dsb_files.ARCHIVE] == 2
    m.stop()


def _cifar_archive(path: Path, per_batch: int = 2) -> None:
    """A cifar-10-python.tar.gz with the original layout and ``per_batch`` images per batch (pixel = batch index)."""
    with tarfile.open(path, "w:gz") as tar:
        for k, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
            entry = {"data": np.full((per_batch, 3072), k, dtype=np.uint8), "labels": [k] * per_batch}
            data = pickle.dumps(entry)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _synthetic_cifar_on(folder: Path, monkeypatch) -> None:
    """Serve a synthetic original archive: the real one (170 MB) is not in the shared data, so its digest stands in
    for the pinned one here."""
    _cifar_archive(folder / cifar.ORIGINAL.path)
    monkeypatch.setattr(cifar, "ORIGINAL", fetch.Remote(cifar.ORIGINAL.path, sha256_file(folder / cifar.ORIGINAL.path),
                                                        cifar.ORIGINAL.url))


def test_the_original_cifar_batches_are_downloaded_and_read_from_the_archive(env, tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    _synthetic_cifar_on(tmp_path / "mirror", monkeypatch)
    m = Mirror(tmp_path / "mirror")
    monkeypatch.setenv("PRUNINGLIB_DATA_MIRROR", m.url)
    data, source = cifar.load_cifar_uint8(env, progress=False)
    m.stop()
    assert source["source"] == "original" and source["verified_files"][0]["sha256"] == cifar.ORIGINAL.sha256
    assert data["train_x"].shape == (10, 3, 32, 32) and data["train_y"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert data["test_x"].shape == (2, 3, 32, 32) and int(data["test_x"].max()) == 5


def test_the_main_jobs_data_stage_on_a_fresh_clone_then_verify(mnist_root, covid_root, dsb_root, tmp_path, monkeypatch,
                                                             capsys):
    """`pruninglib book --profile quick` on a fresh clone: no $PRUNINGLIB_DATA, data/ holds only its README, the cache
    is empty. Each chapter's run fetches its data sets before its notebook starts (cli.run_chapter); here all of
    them, from a mirror of the real files (MNIST, COVID-19, DSB 2018; CIFAR-10 synthetic, see above)."""
    clone = tmp_path / "clone"
    (clone / "data").mkdir(parents=True)
    (clone / "data" / "README.md").write_text("# Data\n")
    monkeypatch.setattr("pruninglib.data.root.repo_root", lambda: clone)
    monkeypatch.delenv("PRUNINGLIB_DATA", raising=False)
    monkeypatch.delenv("PRUNINGLIB_CACHE")  # the default cache of a clone: data/cache
    folder = tmp_path / "mirror"
    for root, part in ((mnist_root, "MNIST"), (covid_root, "covid-chestxray-dataset"), (dsb_root, "dsb2018")):
        _linked(root, folder, [part])
    _synthetic_cifar_on(folder, monkeypatch)
    m = Mirror(folder)
    monkeypatch.setenv("PRUNINGLIB_DATA_MIRROR", m.url)
    for name in CHAPTERS:
        require(CHAPTERS.get(name).datasets, CHAPTERS.get(name).parameters("quick").get("data_root") or None,
                progress=False)
    assert main(["data", "verify"]) == 0
    m.stop()
    out = capsys.readouterr().out
    for line in ("cifar10: 1 verified, 0 corrupt, 0 missing", "covid: 192 verified, 0 corrupt, 0 missing",
                 "dsb2018: 1 verified, 0 corrupt, 0 missing", "mnist: 8 verified, 0 corrupt, 0 missing"):
        assert line in out
    assert max(m.hits.values()) == 1 and len(m.hits) == 1 + 192 + 1 + 4  # each file downloaded once
    assert (clone / "data" / "cache" / "downloads" / "dsb2018" / "stage1_train.tar.gz").is_file()
    assert sorted(p.name for p in (clone / "data").iterdir()) == ["README.md", "cache"]
