"""COVID-19 data: grouped stratified folds, image modes, clear errors naming files, the checksummed cache."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pruninglib.data import ChecksumError, DataNotFoundError
from pruninglib.data.augment import AugmentedSplit
from pruninglib.data.cache import cached
from pruninglib.data.covid import FOLDER, covid_label, load_covid, showable_license
from pruninglib.data.images import read_grayscale, to_grayscale
from pruninglib.data.splits import check_folds, connected_groups, stratified_group_kfold


def test_connected_groups_join_samples_sharing_a_file_or_a_patient():
    keys = [["f1", "p1"], ["f2", "p2"], ["f3", "p1"], ["f2", "p4"], ["f5", "p5"]]
    assert connected_groups(keys).tolist() == [0, 1, 0, 1, 2]


@pytest.mark.parametrize("seed", range(4))
def test_folds_keep_groups_apart_and_are_stratified(seed):
    rng = np.random.default_rng(seed)
    # 120 patients with 1-3 images each; a few images shared by two patients (as in the real subset)
    keys, y = [], []
    for p in range(120):
        label = int(rng.random() < 0.7)
        for i in range(rng.integers(1, 4)):
            keys.append([f"file:{p}-{i}", f"patient:{p}"])
            y.append(label)
    keys[5].append("patient:7")
    y[5] = y[next(i for i, k in enumerate(keys) if "patient:7" in k and i != 5)]
    y, groups = np.array(y), connected_groups(keys)
    folds = stratified_group_kfold(y, groups, 5, seed)
    check_folds(y, groups, folds)  # partition, no shared group, both classes
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
        assert abs(y[te].mean() - y.mean()) < 0.1
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(len(y)))


def test_check_folds_names_a_shared_group():
    y, groups = np.array([0, 1, 0, 1]), np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match=r"fold 0: groups \[1\] are in both train and test"):
        check_folds(y, groups, [(np.array([0, 1]), np.array([2, 3])), (np.array([2, 3]), np.array([0, 1]))])
    assert groups[1] == groups[3]  # sample 1 (train) and sample 3 (test) share group 1


def test_labels_and_licenses():
    assert covid_label("COVID-19") == 1 and covid_label("COVID-19, ARDS") == 1 and covid_label("SARS") == 0
    assert all(map(showable_license, ["CC BY", "CC BY 3.0", "CC BY 4.0", "CC BY-SA", "Apache 2.0"]))
    assert not any(map(showable_license, ["CC BY-NC-SA", "CC BY-NC-ND 4.0", "", "nan",
                                          "listed as authorized for everyone"]))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16", "I", "F", "1"])
def test_every_image_mode_becomes_grayscale_in_unit_range(mode, tmp_path):
    ramp = np.tile(np.linspace(0, 1, 16), (8, 1))
    if mode == "I;16":
        img = Image.fromarray((ramp * 65535).astype(np.uint16))  # 16-bit grayscale
    elif mode in ("I", "F"):
        img = Image.fromarray((ramp * 1000).astype(np.int32 if mode == "I" else np.float32), mode=mode)
    else:
        img = Image.fromarray((ramp * 255).astype(np.uint8), mode="L").convert(mode)
    if mode in ("RGBA", "LA"):
        img.putalpha(255)
    path = tmp_path / ("x.tif" if mode in ("I", "F") else "x.png")
    img.save(path)
    gray, read_mode = read_grayscale(path)
    assert gray.shape == (8, 16) and gray.dtype == np.float32
    assert 0.0 <= gray.min() and gray.max() <= 1.0
    if mode != "1":
        assert np.allclose(gray[:, -1], 1.0, atol=0.02) and np.allclose(gray[:, 0], 0.0, atol=0.02)  # not clipped


def test_transparent_pixels_become_black():
    img = Image.new("RGBA", (4, 4), (255, 255, 255, 0))
    assert to_grayscale(img).max() == 0.0


def test_cache_is_rebuilt_when_its_checksum_mismatches(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(6.0)}

    path = tmp_path / "t.pt"
    assert cached(path, build)[1]["status"] == "built"
    payload, info = cached(path, build)
    assert info["status"] == "hit" and len(calls) == 1 and torch.equal(payload["x"], torch.arange(6.0))
    path.write_bytes(path.read_bytes()[:-5] + b"XXXXX")  # corrupt the cache
    payload, info = cached(path, build)
    assert info["status"].startswith("rebuilt: cache checksum mismatch") and len(calls) == 2
    assert cached(path, build)[1]["status"] == "hit" and not list(tmp_path.glob(".*.tmp"))


def test_augmented_split_is_balanced_and_seeded():
    x, y = torch.randn(10, 1, 12, 12), torch.tensor([1] * 7 + [0] * 3)
    split = AugmentedSplit(x, y, max_shift=2, intensity=0.1)
    assert len(split) == 14
    a = list(split.batches(4, torch.Generator().manual_seed(0)))
    b = list(split.batches(4, torch.Generator().manual_seed(0)))
    ys = torch.cat([yb for _, yb in a])
    assert len(ys) == 14 and int(ys.sum()) == 7  # 7 of each class per epoch
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b))


def _fake_root(real: Path, tmp: Path, skip: str | None = None, corrupt: str | None = None) -> Path:
    """A data root of symlinks to the real files, without ``skip`` and with a corrupted copy of ``corrupt``."""
    src, dst = real / FOLDER, tmp / FOLDER
    (dst / "images").mkdir(parents=True)
    os.symlink(src / "metadata.csv", dst / "metadata.csv")
    for f in (src / "images").iterdir():
        if f.name == skip:
            continue
        if f.name == corrupt:
            data = bytearray(f.read_bytes())
            data[-10] ^= 0xFF
            (dst / "images" / f.name).write_bytes(bytes(data))
        else:
            os.symlink(f, dst / "images" / f.name)
    return tmp


def test_missing_image_is_reported_by_name(covid_root, tmp_path):
    root = _fake_root(covid_root, tmp_path, skip="000001-24.jpg")
    with pytest.raises(DataNotFoundError, match=r"1 file\(s\) missing \(covid-chestxray-dataset/images/000001-24"):
        load_covid(root, image_size=32)  # conftest points downloads at a closed port


def test_corrupt_image_fails_its_checksum_naming_the_file(covid_root, tmp_path):
    root = _fake_root(covid_root, tmp_path, corrupt="000001-27.jpg")
    with pytest.raises(ChecksumError, match=r"checksum mismatch for .*images/000001-27.jpg"):
        load_covid(root, image_size=32)


def test_real_subset_loads_with_groups_and_counts(covid_root):
    data = load_covid(covid_root, image_size=32)
    assert data.x.shape == (191, 1, 32, 32) and int(data.y.sum()) == 141
    assert len(data.source["verified_files"]) == 192  # metadata.csv + 191 images
    shared = data.table[data.table["patientids"].map(len) > 1]
    assert sorted(shared["file"]) == ["000001-24.jpg", "000001-27.jpg"]
    assert data.table["group"].nunique() == 191
    assert abs(float(data.x.mean())) < 1e-3  # standardised per image
    assert set(data.table["mode"]) <= {"L", "RGB", "RGBA", "P"}
