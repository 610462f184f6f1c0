"""Checkpoints carry a checksum: a bit-flipped, truncated or unchecksummed checkpoint is deleted with a warning
naming it, and the run restarts from scratch to the numbers of an uninterrupted run (never resumes from garbage).

The issue's case: 1000 bits flipped in ``checkpoints/<digest>/dense-seed0.pt``; the rerun "resumed" and reported
accuracy 0.13 instead of 0.92 with exit status 0."""
import re
import struct
import zipfile

import pytest
import torch

from pruninglib.data import Split
from pruninglib.models import MLP
from pruninglib.training import (Callback, CheckpointError, CheckpointWarning, StochasticPruning, fit,
                                 load_checkpoint, make_optimizer, save_checkpoint)
from pruninglib.training.checkpoint import content_digest


def toy_split(n=96):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    return Split(x, (x[:, 0] > 0).long())


class Crash(Callback):
    """Interrupts the run at step 15 (epoch 3 of 4, 6 steps per epoch: the checkpoint holds epoch 2) when armed; the
    reruns pass it unarmed, so that the checkpoint's callbacks are the run's."""

    def __init__(self, armed):
        self.armed = armed

    def on_step_end(self, state):
        if self.armed and state.step == 15:
            raise KeyboardInterrupt


def train(checkpoint=None, crash=False, widths=(6, 8, 5, 2)):
    torch.manual_seed(0)
    model = MLP(widths)
    pruner = StochasticPruning(model, (0.7, 0.5, 0.0), start=0.0, end=0.8, form="laplace", scale="std",
                               factor=1.0, every=1, generator=torch.Generator().manual_seed(1))
    return fit(model, toy_split(), epochs=4, batch_size=16, optimizer=make_optimizer("sgd", model.parameters(), 0.1),
               generator=torch.Generator().manual_seed(2), callbacks=[pruner, Crash(crash)],
               checkpoint=checkpoint, progress=False)


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))


@pytest.fixture(scope="module")
def straight():
    return train()


@pytest.fixture(params=["mid-run", "finished"])
def checkpoint(request, tmp_path):
    """A checkpoint of an interrupted run (epoch 2 of 4), or of a finished one (the issue's case: the rerun
    "resumed" at its last epoch and trained no further)."""
    ckpt = tmp_path / "checkpoints" / "dense-seed0.pt"
    if request.param == "mid-run":
        with pytest.raises(KeyboardInterrupt):
            train(ckpt, crash=True)
    else:
        train(ckpt)
    return ckpt


def flip_tensor_bits(path, n=1000):
    """Flip ``n`` bits spread over the tensor data of a torch zip file (headers and pickle left intact)."""
    raw = bytearray(path.read_bytes())
    regions = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if "/data/" in info.filename and info.compress_size:
                name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
                start = info.header_offset + 30 + name_len + extra_len
                regions.append((start, info.compress_size))
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        start, size = regions[i % len(regions)]
        pos = start + int(torch.randint(size, (1,), generator=g))
        raw[pos] ^= 1 << int(torch.randint(8, (1,), generator=g))
    path.write_bytes(bytes(raw))


def flip_weight_bits(path, n=1000):
    """Flip one bit in each of ``n`` weights of the network (all of them when it has fewer) and save the file again
    with its stored checksum: a valid torch file whose content no longer matches its SHA-256."""
    blob = torch.load(path, weights_only=True)
    bits = torch.cat([w.reshape(-1).view(torch.int32) for w in blob["model"].values()])
    g = torch.Generator().manual_seed(0)
    bits ^= torch.bitwise_left_shift(torch.ones_like(bits), torch.randint(32, bits.shape, generator=g)) * (
        torch.randperm(len(bits), generator=g) < n)
    offset = 0
    for w in blob["model"].values():
        w.reshape(-1).view(torch.int32).copy_(bits[offset:offset + w.numel()])
        offset += w.numel()
    torch.save(blob, path)


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def without_checksum(path):
    """A checkpoint as written before checksums: the same state, no digest."""
    blob = torch.load(path, weights_only=True)
    torch.save({k: v for k, v in blob.items() if k not in ("format", "sha256")}, path)


@pytest.mark.parametrize("damage, reason", [(flip_tensor_bits, "corrupt|unreadable"), (flip_weight_bits, "corrupt"),
                                            (truncate, "unreadable"), (without_checksum, "with a checksum")])
def test_damaged_checkpoint_is_discarded_and_the_run_restarts_to_the_same_numbers(checkpoint, damage, reason,
                                                                                   straight):
    damage(checkpoint)
    with pytest.warns(CheckpointWarning, match=re.escape(str(checkpoint))) as caught:
        rerun = train(checkpoint)
    assert re.search(reason, str(caught[0].message))
    assert rerun.resumed_from_epoch is None and re.search(reason, rerun.discarded_checkpoint)
    assert same_weights(rerun, straight)
    state, why = load_checkpoint(checkpoint)  # rewritten, verified, and no temporary file is left
    assert why is None and state["epoch"] == 4
    assert [p.name for p in checkpoint.parent.iterdir()] == [checkpoint.name]


def test_intact_checkpoint_resumes_without_warning(checkpoint, straight, recwarn):
    rerun = train(checkpoint)
    assert rerun.resumed_from_epoch in (2, 4) and rerun.discarded_checkpoint is None
    assert same_weights(rerun, straight)
    assert not [w for w in recwarn if issubclass(w.category, CheckpointWarning)]


def test_verified_checkpoint_of_another_network_is_an_error_naming_the_file(tmp_path):
    ckpt = tmp_path / "run.pt"
    train(ckpt)
    with pytest.raises(CheckpointError, match=f"checkpoint {re.escape(str(ckpt))} does not fit this run"):
        train(ckpt, widths=(6, 9, 5, 2))


def test_content_digest_sees_one_flipped_bit_and_survives_a_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(6, dtype=torch.float32)}, "mask": torch.ones(3, dtype=torch.bool),
             "epoch": 2, "rows": [{"loss": 0.25}]}
    flipped = {**state, "model": {"w": state["model"]["w"].clone()}}
    flipped["model"]["w"].view(torch.int32)[3] ^= 1
    assert content_digest(state) != content_digest(flipped)
    save_checkpoint(tmp_path / "c.pt", state)
    loaded, why = load_checkpoint(tmp_path / "c.pt")
    assert why is None and content_digest(loaded) == content_digest(state)
