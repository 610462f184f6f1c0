"""DSB 2018 pipeline on tiny synthetic archives (any image mode), the class targets, the split by id, and the
instance metrics (hand-checked)."""
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from pruninglib.data import ChecksumError, DataNotFoundError, dsb_files
from pruninglib.data.dsb2018 import _prepare, fold_ids, instance_targets, load_dsb2018, resize_labels, split_ids
from pruninglib.metrics.instances import dice, dsb_average_precision, iou_matrix, to_instances


def _png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def _archive(path, images: dict[str, tuple[str, bool]], prefix: str = "", damaged: str = "") -> None:
    """A stage1_train-like tar.gz: per id, one image in ``mode`` (bright field if the flag is set), two masks; every
    name under ``prefix`` (as in GitHub's archives); the first mask of image ``damaged`` one pixel off."""
    with tarfile.open(path, "w:gz") as tar:
        for image_id, (mode, bright) in images.items():
            img = np.full((16, 24), 220 if bright else 20, np.uint8)
            masks = [np.zeros((16, 24), np.uint8) for _ in range(2)]
            masks[0][2:6, 2:6] = 255
            masks[1][8:14, 10:20] = 255
            for m in masks:
                img[m > 0] = 30 if bright else 200
            if image_id == damaged:
                masks[0][0, 0] = 255
            files = {f"{prefix}stage1_train/{image_id}/images/{image_id}.png": _png(img, mode)}
            files.update({f"{prefix}stage1_train/{image_id}/masks/m{k}.png": _png(m, "L")
                          for k, m in enumerate(masks)})
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_prepare_reads_every_mode_and_inverts_bright_field(tmp_path):
    path = tmp_path / "a.tar.gz"
    _archive(path, {"a1": ("RGBA", False), "b2": ("L", True), "c3": ("RGB", False), "d4": ("LA", True)})
    p = _prepare(path, 16, 0)
    assert p["ids"] == ["a1", "b2", "c3", "d4"] and p["modes"] == ["RGBA", "L", "RGB", "LA"]
    assert tuple(p["x"].shape) == (4, 1, 16, 16) and p["masks"] == [2, 2, 2, 2]
    for x, lab in zip(p["x"][:, 0], p["labels"]):
        assert int(lab.max()) == 2
        assert float(x[lab > 0].mean()) > float(x[lab == 0].mean())  # nuclei bright, bright field inverted
    assert _prepare(path, 16, 2)["ids"] == ["a1", "b2"]


def test_missing_and_corrupt_archives_are_named(tmp_path):
    with pytest.raises(DataNotFoundError, match="dsb2018/stage1_train.tar.gz"):
        load_dsb2018(tmp_path)  # conftest points downloads at a closed port
    (tmp_path / "dsb2018").mkdir()
    (tmp_path / "dsb2018" / "stage1_train.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ChecksumError, match="stage1_train.tar.gz"):
        load_dsb2018(tmp_path)
    with pytest.raises(ChecksumError, match="could not be read"):
        _prepare(tmp_path / "dsb2018" / "stage1_train.tar.gz", 16, 0)


def test_any_container_passes_the_member_check_and_a_changed_member_is_named(tmp_path, monkeypatch):
    images = {"a1": ("RGBA", False), "b2": ("L", True)}
    _archive(tmp_path / "ours.tar.gz", images)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("# ids\n" + dsb_files.format_manifest(dsb_files.member_digests(tmp_path / "ours.tar.gz")))
    monkeypatch.setattr(dsb_files, "MEMBER_SUMS", manifest)
    _archive(tmp_path / "github.tar.gz", images, prefix="kaggle-dsbowl-2018-dataset-fixes-2b0c5dd/")
    dsb_files.check_members(tmp_path / "github.tar.gz")  # another container and prefix, the same members
    _archive(tmp_path / "bad.tar.gz", images, damaged="b2")
    with pytest.raises(ChecksumError, match=r"bad.tar.gz does not hold .*stage1_train/b2/masks/ \(2 files\)"):
        dsb_files.check_members(tmp_path / "bad.tar.gz")
    _archive(tmp_path / "short.tar.gz", {"a1": ("RGBA", False)})
    with pytest.raises(ChecksumError, match="image b2 missing"):
        dsb_files.check_members(tmp_path / "short.tar.gz")


def test_the_committed_manifest_is_the_original_stage1_train(dsb_root):
    digests = dsb_files.member_digests(dsb_root / dsb_files.ARCHIVE)
    assert dsb_files.read_manifest() == digests and len(digests) == dsb_files.N_IMAGES
    assert sum(d[2] for d in digests.values()) == 29461 and {d[0] for d in digests.values()} == {1}


def test_targets_separate_touching_nuclei():
    labels = np.array([[1, 1, 2, 2, 0, 3]])
    assert instance_targets(labels).tolist() == [[1, 2, 2, 1, 0, 1]]


def test_resize_labels_relabels_and_drops_vanished():
    lab = np.zeros((8, 8), np.int32)
    lab[0:4, 0:4], lab[5, 5] = 4, 9  # the 1-pixel nucleus vanishes at 4x4
    assert np.unique(resize_labels(lab, 4)).tolist() == [0, 1]


def test_split_is_deterministic_disjoint_and_independent_of_order():
    ids = [f"id{k}" for k in range(40)]
    a, b = split_ids(ids, 0.2, 0.25, 0), split_ids(ids[::-1], 0.2, 0.25, 0)
    assert a == b and (len(a["test"]), len(a["val"]), len(a["train"])) == (10, 8, 22)
    assert set(a["train"]) | set(a["val"]) | set(a["test"]) == set(ids) and not set(a["train"]) & set(a["test"])
    assert split_ids(ids, 0.2, 0.25, 1) != a


def test_folds_hold_out_every_id_once_and_keep_train_val_test_apart():
    ids = [f"id{k}" for k in range(23)]
    folds = fold_ids(ids, 5, 0.2, 0)
    assert fold_ids(ids[::-1], 5, 0.2, 0) == folds
    assert sorted(i for f in folds for i in f["test"]) == sorted(ids)  # each id held out exactly once
    assert [len(f["test"]) for f in folds] == [5, 4, 5, 4, 5] and all(len(f["val"]) == 5 for f in folds)
    for f in folds:
        assert set(f["train"]) | set(f["val"]) | set(f["test"]) == set(ids)
        train, val, test = set(f["train"]), set(f["val"]), set(f["test"])
        assert not (train & val or train & test or val & test)
    with pytest.raises(ValueError, match="folds = 1 is not allowed"):
        fold_ids(ids, 1, 0.2, 0)


def test_dsb_metric_hand_checked():
    true = np.zeros((10, 10), np.int32)
    true[0:5, 0:5] = 1  # 25 pixels
    pred = np.zeros_like(true)
    pred[0:5, 0:4] = 1  # 20 pixels inside: IoU 0.8
    pred[8:10, 8:10] = 2  # a false positive
    assert np.allclose(iou_matrix(true, pred), [[0.8, 0.0]])
    # thresholds 0.50..0.75 (6 of 10): TP 1, FP 1, FN 0 -> 1/2; 0.80..0.95: TP 0, FP 2, FN 1 -> 0
    assert dsb_average_precision(true, pred) == pytest.approx(6 * 0.5 / 10)
    assert dsb_average_precision(true, true) == 1.0 and dsb_average_precision(true, 0 * true) == 0.0
    assert dice(true > 0, pred == 1) == pytest.approx(2 * 20 / 45)


def test_to_instances_splits_touching_nuclei_by_their_border():
    cls = np.array([[1, 1, 2, 2, 1, 1, 0]])
    probs = np.stack([(cls == k).astype(float) for k in range(3)])
    assert to_instances(probs, min_size=1).tolist() == [[1, 1, 1, 2, 2, 2, 0]]
