"""VGG-16 / CIFAR-10: the model, exact filter surgery through BatchNorm and zero padding, the filter baselines
(L1-norm, network slimming), batched crop-and-flip augmentation, and the CIFAR-10 JPEG loader and its cache."""
import gzip
import io
import tarfile

import pandas as pd
import pytest
import torch
from PIL import Image

from pruninglib._io import sha256_file
from pruninglib.data import cifar
from pruninglib.data.augment import CropFlipSplit, crop_flip
from pruninglib.data.cifar import CLASSES, load_cifar_uint8
from pruninglib.models import VGG16
from pruninglib.models.vgg import NAMES, vgg16_channels
from pruninglib.pruning import (bn_scales, dead_nodes, filter_l1_norms, node_summary, prune_bn_scale,
                                prune_filters_l1, remove_filters_)
from pruninglib.regularizers import bn_scale_l1
from pruninglib.surgery import shrink
from test_surgery import kill_random_nodes


def vgg(seed: int, width: float = 0.125, p_dead: float = 0.5) -> VGG16:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return kill_random_nodes(VGG16(width=width), seed, p_dead=p_dead).eval()


def test_vgg16_has_13_convs_5_pools_and_the_paper_widths():
    assert vgg16_channels(1.0) == (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    assert vgg16_channels(0.125)[0] == 8 and len(NAMES) == 13 and NAMES[-1] == "conv5_3"
    model = VGG16(width=0.25)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [c.layer for c in model.couplings()] == list(NAMES) and model.couplings()[-1].consumers == ("classifier",)
    assert len(model.prunable()) == 14 and len(model.pool_after) == 5


@pytest.mark.parametrize("seed", range(4))
def test_masked_and_shrunk_vgg_agree_in_eval_mode(seed):
    model = vgg(seed, p_dead=[0.3, 0.6, 0.9, 1.0][seed])  # 1.0: every filter dead, a conv still keeps one
    small = shrink(model).eval()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert float((model(x) - small(x)).abs().max()) <= 1e-4
    removed = [int(d.sum()) for d in dead_nodes(model).values()]
    assert list(small.channels) == [max(c - r, 1) for c, r in zip(model.channels, removed)]


def test_prune_filters_l1_removes_the_smallest_filters_per_layer():
    model = VGG16(width=0.0625)
    with torch.no_grad():
        model.convs[0].weight.copy_(torch.arange(4.0).view(4, 1, 1, 1).expand_as(model.convs[0].weight) + 1)
    dead = prune_filters_l1(model, {"conv1_1": 2, "conv5_3": 1})
    assert dead["conv1_1"].tolist() == [True, True, False, False]
    assert int(dead["conv5_3"].sum()) == 1 and int(dead["conv2_1"].sum()) == 0
    assert torch.equal(filter_l1_norms(model)["conv1_1"], torch.tensor([27.0, 54.0, 81.0, 108.0]))
    with pytest.raises(ValueError, match="remove 4 filters of 'conv1_1' is not allowed"):
        prune_filters_l1(model, {"conv1_1": 4})


def test_prune_bn_scale_uses_one_global_threshold_and_keeps_a_channel_per_layer():
    model = VGG16(width=0.0625)
    with torch.no_grad():
        for i, n in enumerate(model.norms):
            n.weight.fill_(10.0 + i)
        model.norms[3].weight[:3] = torch.tensor([0.1, -0.2, 0.3])
        model.norms[0].weight[:] = 0.01
    dead = prune_bn_scale(model, 5)
    # conv1_1: four scales 0.01, one protected, three cut; then the two smallest of conv2_2 (0.1, |-0.2|)
    assert int(dead["conv1_1"].sum()) == 3 and dead["conv2_2"].tolist()[:4] == [True, True, False, False]
    assert sum(int(d.sum()) for d in dead.values()) == 5
    assert torch.equal(bn_scales(model)["conv2_2"][:2], torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="each of the 13 layers keeps at least one"):
        prune_bn_scale(model, sum(model.channels))


def test_slimming_removal_keeps_the_function_of_zeroed_bn_scales_and_shrinks_exactly():
    """gamma = 0 makes a channel output relu(beta) whatever its filter, so zeroing the filter too changes nothing."""
    model = vgg(5, p_dead=0.0)
    dead = prune_bn_scale(model, 40)
    gamma_only = VGG16(width=0.125)
    gamma_only.load_state_dict(model.state_dict())
    gamma_only.eval()
    with torch.no_grad():
        for c in gamma_only.couplings():
            gamma_only.get_submodule(c.norm).weight[dead[c.layer]] = 0.0
    mask = remove_filters_(model, dead, zero_bn_scale=True)
    assert node_summary(model)["all hidden"]["dead"] == 40
    assert all(not bool(mask[f"{c.producer}.weight"][dead[c.layer]].any()) for c in model.couplings())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert float((gamma_only(x) - model(x)).abs().max()) <= 1e-5
        assert float((model(x) - shrink(model).eval()(x)).abs().max()) <= 1e-4


def test_bn_scale_l1_is_lambda_times_sum_of_abs_gamma():
    model = VGG16(width=0.0625)
    with torch.no_grad():
        for n in model.norms:
            n.weight.fill_(-0.5)
    assert float(bn_scale_l1(model, 0.1).detach()) == pytest.approx(0.1 * 0.5 * sum(model.channels))


def test_crop_flip_identity_shift_and_flip():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    two = torch.full((2,), 2)
    no, yes = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    assert torch.equal(crop_flip(x, two, two, no, 2), x)
    assert torch.equal(crop_flip(x, two, two, yes, 2), x.flip(-1))
    shifted = crop_flip(x, two, torch.zeros(2, dtype=torch.long), no, 2)  # image moves 2 pixels right
    assert torch.equal(shifted[..., 2:], x[..., :3]) and bool((shifted[..., :2] == 0).all())


def test_crop_flip_split_is_seeded_and_keeps_labels():
    x, y = torch.randn(10, 3, 8, 8), torch.arange(10)
    split = CropFlipSplit(x, y, pad=2)
    a = list(split.batches(4, torch.Generator().manual_seed(1)))
    b = list(split.batches(4, torch.Generator().manual_seed(1)))
    assert [len(t) for _, t in a] == [4, 4, 2] and all(torch.equal(p[0], q[0]) for p, q in zip(a, b))
    assert sorted(torch.cat([t for _, t in a]).tolist()) == list(range(10))
    assert torch.equal(next(iter(split.batches(10)))[0], x)  # no generator: plain images in order


def fake_cifar_root(tmp_path, monkeypatch):
    """A data root with a 6-image CIFAR-10 JPEG copy (4 train, 2 test) and its order file, whose digests replace the
    real copy's in ``cifar.JPEG_SHA256``."""
    root = tmp_path / "data"
    folder = root / "CIFAR-10"
    folder.mkdir(parents=True)
    rows, buf = [], io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split, n in (("train", 4), ("test", 2)):
            for i in range(n):
                label = (3 * i + len(split)) % 10
                path = f"CIFAR-10-images/{split}/{CLASSES[label]}/{i:04d}.jpg"
                img = io.BytesIO()
                Image.new("RGB", (32, 32), (20 * i, 100, 200)).save(img, format="JPEG", quality=95)
                info = tarfile.TarInfo(path)
                info.size = img.tell()
                img.seek(0)
                tar.addfile(info, img)
                rows.append({"split": split, "batch": "b", "index_in_batch": i, "global_index": i, "label": label,
                             "class": CLASSES[label], "jpg_path": path, "exact_pixels_in_npz": 0})
    (folder / "CIFAR-10-images.tar.gz").write_bytes(buf.getvalue())
    with gzip.open(folder / "original_order.csv.gz", "wt") as f:
        pd.DataFrame(rows).to_csv(f, index=False)
    (folder / "batches.meta").write_bytes(b"meta")
    monkeypatch.setattr(cifar, "JPEG_SHA256", {n: sha256_file(folder / n) for n in cifar.JPEG_SHA256})
    return root


def test_jpeg_copy_decodes_in_order_and_a_mismatching_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path / "cache"))
    root = fake_cifar_root(tmp_path, monkeypatch)
    data, source = load_cifar_uint8(root, progress=False)  # conftest: the original cannot be downloaded
    assert source["source"] == "jpeg" and len(source["verified_files"]) == 3 and source["cache"]["status"] == "built"
    assert data["train_x"].shape == (4, 3, 32, 32) and data["train_x"].dtype == torch.uint8
    assert data["train_y"].tolist() == [5, 8, 1, 4] and data["test_y"].tolist() == [4, 7]
    assert abs(int(data["train_x"][2, 0, 5, 5]) - 40) <= 3  # red channel of image 2 (JPEG: nearly exact)
    assert load_cifar_uint8(root, progress=False)[1]["cache"]["status"] == "hit"
    cache = source["cache"]["path"]
    with open(cache, "r+b") as f:  # corrupt one byte of the cached tensors
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    again, info = load_cifar_uint8(root, progress=False)
    assert info["cache"]["status"].startswith("rebuilt: cache checksum mismatch")
    assert torch.equal(again["train_x"], data["train_x"])


def test_jpeg_archive_with_a_missing_image_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path / "cache"))
    root = fake_cifar_root(tmp_path, monkeypatch)
    folder = root / "CIFAR-10"
    order = pd.read_csv(folder / "original_order.csv.gz")
    order.loc[0, "jpg_path"] = "CIFAR-10-images/train/frog/9999.jpg"
    with gzip.open(folder / "original_order.csv.gz", "wt") as f:
        order.to_csv(f, index=False)
    monkeypatch.setitem(cifar.JPEG_SHA256, "original_order.csv.gz", sha256_file(folder / "original_order.csv.gz"))
    with pytest.raises(ValueError, match=r"1 image\(s\) listed in original_order.csv.gz are not in"):
        load_cifar_uint8(root, progress=False)
