"""U-Net surgery through skip concatenations: masked vs shrunk (eval mode, to 1e-4) over random depths, widths,
masks and BatchNorm on/off; a hand-checked concat case; offsets shifting as earlier slices shrink."""
import pytest
import torch
from torch import nn

from pruninglib.models import Coupling, FoldableConv2d
from pruninglib.models.unet import UNet
from pruninglib.pruning import dead_nodes, node_summary
from pruninglib.surgery import InputLayout, shrink
from test_surgery import kill_more_units, kill_random_nodes


def random_unet(seed: int) -> UNet:
    """Random depth, width, BatchNorm on/off and masks; for seed % 4 == 1 every filter of one conv is dead."""
    g = torch.Generator().manual_seed(seed)
    depth = int(torch.randint(1, 4, (1,), generator=g))
    base = int(torch.randint(2, 7, (1,), generator=g))
    bn = bool(seed % 4 != 3)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = UNet(depth, base, in_channels=int(torch.randint(1, 3, (1,), generator=g)), batchnorm=bn)
        if not bn:  # non-zero biases: dead channels carry relu(bias), often > 0
            for conv in model.convs.values():
                nn.init.normal_(conv.bias)
    model = kill_random_nodes(model, seed, p_dead=float(0.2 + 0.7 * torch.rand(1, generator=g)))
    if seed % 4 == 1:
        with torch.no_grad():
            model.convs[model.names()[seed % len(model.names())].replace(".", "_")].weight.zero_()
    return model


@pytest.mark.parametrize("seed", range(16))
def test_unet_shrunk_equals_masked_on_random_masks(seed):
    model = random_unet(seed).eval()
    small = shrink(model).eval()
    side = 2 ** model.depth * (1 + seed % 3)
    x = torch.randn(2, model.convs["enc_0_0"].in_channels, side, side + 2 ** model.depth,
                    generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        diff = float((model(x) - small(x)).abs().max())
    assert diff <= 1e-4, diff
    dead = dead_nodes(model)
    for name in model.names():
        assert small.width(name) == max(model.width(name) - int(dead[name].sum()), 1)
    assert node_summary(model)["all hidden"]["dead"] > 0
    if seed % 4 == 1:
        assert any(bool(d.all()) for d in dead.values())
    kill_more_units(small, seed)  # a second shrink after more filters die
    twice = shrink(small).eval()
    with torch.no_grad():
        assert float((small(x) - twice(x)).abs().max()) <= 1e-4


def test_decoder_input_layout_after_shrink():
    """dec.0.0 reads cat([skip, up]): its kept input columns are the skip's survivors then the up conv's, in order."""
    torch.manual_seed(0)
    model = UNet(depth=1, base=4, batchnorm=False).eval()
    with torch.no_grad():
        model.convs["enc_0_1"].weight[[1, 2]] = 0  # skip channels 1, 2 die
        model.convs["up_0"].weight[[0]] = 0  # up channel 0 dies (declared offset 4 in dec.0.0)
        model.convs["dec_0_0"].weight.copy_(torch.arange(8.0).view(1, 8, 1, 1).expand_as(
            model.convs["dec_0_0"].weight))
    small = shrink(model)
    cols = small.convs["dec_0_0"].weight[0, :, 0, 0].tolist()
    assert cols == [0.0, 3.0, 5.0, 6.0, 7.0]  # skip 0, 3; up 1, 2, 3 (input columns 4 + 1..3)
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        assert float((model(x) - small.eval()(x)).abs().max()) <= 1e-4


def test_input_layout_shifts_later_slices():
    layout = InputLayout()
    first = layout.keep_inputs("c", 8, 0, torch.tensor([True, False, False, True]))
    assert first.tolist() == [True, False, False, True, True, True, True, True]
    second = layout.keep_inputs("c", 6, 4, torch.tensor([False, True, True, True]))
    assert second.tolist() == [True, True, False, True, True, True]  # the up slice now starts at 2


def test_input_layout_rejects_slices_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        InputLayout().keep_inputs("c", 5, 3, torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs Coupling.offsets"):
        InputLayout().keep_inputs("c", 5, None, torch.ones(4, dtype=torch.bool))


def test_coupling_offsets_one_per_consumer():
    with pytest.raises(ValueError, match="one per consumer"):
        Coupling("x", "a", ("b", "c"), offsets=(0,))


def test_unet_couplings_cover_every_conv_and_concat():
    model = UNet(depth=2, base=3)
    c = {k.layer: k for k in model.couplings()}
    assert list(c) == model.names() and all(isinstance(m, FoldableConv2d) for m in model.convs.values())
    assert c["enc.1.1"].consumers == ("convs.enc_2_0", "convs.dec_1_0") and c["enc.1.1"].offsets == (0, 0)
    assert c["up.1"].consumers == ("convs.dec_1_0",) and c["up.1"].offsets == (6,)
    assert c["dec.0.1"].consumers == ("head",)


def test_unet_rejects_bad_input_size():
    with pytest.raises(ValueError, match="divisible by 2\\^depth = 4"):
        UNet(depth=2, base=2)(torch.zeros(1, 1, 6, 8))
