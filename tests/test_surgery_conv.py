"""Conv + BatchNorm surgery: masked vs shrunk in eval mode on random inputs, random widths and masks; exactness
of the dead-channel fold (valid convs, a Linear after global pooling, FoldableConv2d behind zero padding) and
refusal where it cannot be exact; rules found by type, subclasses included."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruninglib.metrics import count_flops
from pruninglib.models import CNN, Coupling, FoldableConv2d
from pruninglib.pruning import dead_nodes
from pruninglib.surgery import InexactShrinkError, UnsupportedLayerError, shrink
from pruninglib.surgery.rules import shrink_foldable_conv2d_out
from test_surgery import kill_more_units, kill_random_nodes


def random_cnn(seed: int) -> CNN:
    g = torch.Generator().manual_seed(seed)
    blocks = int(torch.randint(1, 5, (1,), generator=g))
    channels = [int(torch.randint(1, 12, (1,), generator=g)) for _ in range(blocks)]
    bias = [bool(torch.rand(1, generator=g) < 0.5) for _ in range(blocks)]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CNN(channels, in_channels=int(torch.randint(1, 4, (1,), generator=g)), conv_bias=bias)
        if any(bias):
            for conv in model.convs:
                if conv.bias is not None:
                    nn.init.normal_(conv.bias)
    model = kill_random_nodes(model, seed, p_dead=float(torch.rand(1, generator=g)))
    if seed % 4 == 0:  # every filter of one block dead
        with torch.no_grad():
            model.convs[seed % blocks].weight.zero_()
    return model


@pytest.mark.parametrize("seed", range(20))
def test_conv_bn_shrunk_equals_masked_on_random_masks(seed):
    model = random_cnn(seed).eval()
    small = shrink(model).eval()
    shape = model.example_input_shape()
    x = torch.randn(4, shape[0], shape[1] + seed % 5, shape[2] + seed % 3,
                    generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        diff = float((model(x) - small(x)).abs().max())
    assert diff <= 1e-4, diff
    removed = [int(d.sum()) for d in dead_nodes(model).values()]
    assert list(small.channels) == [max(c - r, 1) for c, r in zip(model.channels, removed)]  # a conv keeps >= 1
    kill_more_units(small, seed)  # a second shrink after more filters die
    twice = shrink(small).eval()
    with torch.no_grad():
        assert float((small(x) - twice(x)).abs().max()) <= 1e-4


def test_dead_channel_constant_is_relu_of_bn_of_bias():
    """A dead filter's output after BN and ReLU is the same constant at every position, in eval mode."""
    model = CNN((3, 2)).eval()
    with torch.no_grad():
        model.convs[0].weight[1] = 0
        model.norms[0].running_mean[1] = -1.0
        model.norms[0].running_var[1] = 4.0
        model.norms[0].weight[1], model.norms[0].bias[1] = 2.0, 0.5
    x = torch.randn(2, 1, 30, 30)
    a = torch.relu(model.norms[0](model.convs[0](x)))[:, 1]
    expected = (0 - (-1.0)) / (4.0 + model.norms[0].eps) ** 0.5 * 2.0 + 0.5  # = 1.5
    assert torch.allclose(a, torch.full_like(a, expected))


class PaddedNet(nn.Module):
    """conv(padding=1) -> BN -> ReLU -> conv(padding=1): a dead channel's constant cannot be folded exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.n1, self.c2 = nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 3,
                                                                                                            padding=1)

    def forward(self, x):
        return self.c2(torch.relu(self.n1(self.c1(x))))

    def spec(self):
        return {"name": "padded", "kwargs": {}}

    def prunable(self):
        return {"c1.weight": self.c1.weight}

    def couplings(self):
        return [Coupling("block 1", "c1", ("c2",), norm="n1")]


@pytest.mark.parametrize("beta, exact", [(1.0, False), (-1.0, True)])
def test_padded_consumer_is_refused_unless_the_constant_is_zero(beta, exact):
    net = PaddedNet().eval()
    with torch.no_grad():
        net.c1.weight[2] = 0
        net.n1.bias[2] = beta  # dead channel carries relu(beta): 1 (non-zero) or 0
    if not exact:
        with pytest.raises(InexactShrinkError, match="coupling 'block 1', consumer 'c2'.*padding"):
            shrink(net)
        return
    small = shrink(net).eval()
    x = torch.randn(3, 1, 9, 9)
    with torch.no_grad():
        diff = float((net(x) - small(x)).abs().max())
    assert small.c1.out_channels == 3 and diff <= 1e-5


class FoldableNet(nn.Module):
    """conv(pad 1) -> BN -> ReLU -> max-pool -> FoldableConv2d(pad 1, stride s) -> BN -> ReLU -> GAP -> Linear."""

    def __init__(self, widths=(6, 5), stride=1, dilation=1) -> None:
        super().__init__()
        self.c1 = FoldableConv2d(2, widths[0], 3, padding=1, bias=False)
        self.n1 = nn.BatchNorm2d(widths[0])
        self.c2 = FoldableConv2d(widths[0], widths[1], 3, padding=dilation, stride=stride, dilation=dilation)
        self.n2 = nn.BatchNorm2d(widths[1])
        self.head = nn.Linear(widths[1], 3)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.n1(self.c1(x))), 2)
        return self.head(torch.relu(self.n2(self.c2(x))).mean(dim=(2, 3)))

    def spec(self):
        return {"name": "foldable", "kwargs": {}}

    def prunable(self):
        return {"c1.weight": self.c1.weight, "c2.weight": self.c2.weight}

    def couplings(self):
        return [Coupling("block 1", "c1", ("c2",), norm="n1"), Coupling("block 2", "c2", ("head",), norm="n2")]


def _randomize_bn(net: nn.Module, g: torch.Generator) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t in (m.weight, m.bias, m.running_mean):
                    t.copy_(torch.randn(t.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize("seed, stride, dilation", [(s, 1 + s % 2, 1 + (s // 2) % 2) for s in range(8)])
def test_foldable_conv_shrink_is_exact_at_the_padded_border(seed, stride, dilation):
    """Dead channels with non-zero constants feeding a zero-padded conv: exact, borders included, on odd sizes."""
    g = torch.Generator().manual_seed(seed)
    net = FoldableNet(stride=stride, dilation=dilation)
    _randomize_bn(net, g)
    with torch.no_grad():
        net.n1.bias.copy_(torch.rand(6, generator=g) + 0.5)  # every constant relu(.) is non-zero
        for conv, n in ((net.c1, 6), (net.c2, 5)):
            dead = torch.randperm(n, generator=g)[: 1 + seed % (n - 1)]
            conv.weight[dead] = 0
    net.eval()
    small = shrink(net).eval()
    assert small.c1.out_channels < 6 and bool(small.c2.folded_kernel.abs().sum() > 0)
    for size in (9, 12, 15):
        x = torch.randn(2, 2, size, size + 1, generator=g)
        with torch.no_grad():
            diff = float((net(x) - small(x)).abs().max())
        assert diff <= 1e-5, (size, diff)


def test_foldable_conv_folds_accumulate_over_repeated_surgery_and_survive_save_load(tmp_path):
    """Shrink, kill more channels, shrink again: both folds are kept; the folded kernel round-trips a state dict."""
    g = torch.Generator().manual_seed(0)
    net = FoldableNet()
    _randomize_bn(net, g)
    with torch.no_grad():
        net.n1.bias.fill_(1.0)
        net.c1.weight[[0, 3]] = 0
    net.eval()
    once = shrink(net).eval()
    with torch.no_grad():
        once.c1.weight[1] = 0
    twice = shrink(once).eval()
    assert twice.c1.out_channels == 3
    x = torch.randn(2, 2, 10, 10, generator=g)
    with torch.no_grad():
        assert float((once(x) - twice(x)).abs().max()) <= 1e-5
    torch.save(twice.state_dict(), tmp_path / "sd.pt")
    fresh = FoldableNet(widths=(3, 5))
    fresh.load_state_dict(torch.load(tmp_path / "sd.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), twice(x))


def test_second_shrink_keeps_dead_filters_that_carry_a_folded_border_map():
    """c2 absorbed c1's dead constants; when c2's own filters die later they are NOT constant at the border (the
    folded map differs there), so surgery keeps them; the function is kept exactly (float64)."""
    g = torch.Generator().manual_seed(1)
    net = FoldableNet()
    _randomize_bn(net, g)
    with torch.no_grad():
        net.n1.bias.fill_(1.0)
        net.c1.weight[[0, 3]] = 0
    net = net.double().eval()
    once = shrink(net).eval()
    with torch.no_grad():
        once.c2.weight[[1, 4]] = 0
    assert bool((once.c2.folded_kernel[[1, 4]] != 0).any(dim=(1, 2, 3)).all())
    twice = shrink(once).eval()
    assert twice.c2.out_channels == 5  # kept: not constant
    x = torch.randn(2, 2, 10, 11, generator=g, dtype=torch.float64)
    with torch.no_grad():
        assert float((once(x) - twice(x)).abs().max()) <= 1e-12
    with pytest.raises(InexactShrinkError, match=r"filters \[1, 4\].*not constant"):
        shrink_foldable_conv2d_out(once.c2, torch.tensor([True, False, True, True, False]))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # PyTorch's note on its own speed
@pytest.mark.parametrize("kernel, stride, padding, dilation, size", [
    (3, 1, 1, 1, (7, 9)), (3, 2, 1, 1, (8, 7)), (3, 1, 2, 2, (9, 9)), ((3, 5), (2, 1), (1, 2), 1, (10, 6)),
    (3, 1, "same", 2, (6, 7)), ((2, 4), 1, "same", 1, (5, 8)), (3, 1, "valid", 1, (5, 6)), (1, 1, 0, 1, (4, 4))])
def test_folded_correction_equals_a_convolution_of_ones(kernel, stride, padding, dilation, size):
    """The trusted reference: the folded map is conv2d(ones, folded_kernel) with the layer's geometry."""
    g = torch.Generator().manual_seed(0)
    conv = FoldableConv2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation, dtype=torch.float64)
    conv.fold_constants(torch.randn(4, 2, *conv.kernel_size, generator=g, dtype=torch.float64),
                        torch.rand(2, generator=g, dtype=torch.float64))
    ones = torch.ones(1, 1, *size, dtype=torch.float64)
    expected = F.conv2d(ones, conv.folded_kernel, None, conv.stride, conv.padding, conv.dilation)
    assert torch.allclose(conv.correction(*size, ones), expected, rtol=0, atol=1e-12)
    x = torch.randn(2, 3, *size, generator=g, dtype=torch.float64)
    plain = F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation)
    with torch.no_grad():
        assert torch.allclose(conv(x), plain + expected, rtol=0, atol=1e-12)


def test_folded_conv_counts_the_flops_of_its_convolution_only_and_trains():
    """The folded map is built element-wise and added in place: FLOP counters see the same convolution as an
    unfolded layer, and autograd still works through the in-place add (the map is a constant)."""
    conv = FoldableConv2d(3, 4, 3, padding=1)
    before = count_flops(conv, (3, 8, 8))
    conv.fold_constants(torch.randn(4, 2, 3, 3), torch.rand(2) + 0.5)
    assert count_flops(conv, (3, 8, 8)) == before
    x = torch.randn(2, 3, 8, 8)
    conv(x).square().sum().backward()
    reference = conv.weight.detach().requires_grad_()
    (F.conv2d(x, reference, conv.bias.detach(), 1, 1) + conv.correction(8, 8, x)).square().sum().backward()
    assert torch.allclose(conv.weight.grad, reference.grad, atol=1e-5)


class ValidConv(nn.Conv2d):
    """A user's subclass of nn.Conv2d: surgery finds the Conv2d rules by isinstance and keeps the subclass."""


class SubclassNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.n1, self.c2 = ValidConv(1, 4, 3, bias=False), nn.BatchNorm2d(4), ValidConv(4, 2, 3)

    def forward(self, x):
        return self.c2(torch.relu(self.n1(self.c1(x))))

    def spec(self):
        return {"name": "subclass", "kwargs": {}}

    def prunable(self):
        return {"c1.weight": self.c1.weight}

    def couplings(self):
        return [Coupling("block 1", "c1", ("c2",), norm="n1")]


def test_rules_are_found_by_type_so_a_conv2d_subclass_is_shrunk():
    net = SubclassNet()
    _randomize_bn(net, torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.c1.weight[[0, 2]] = 0
    net.eval()
    small = shrink(net).eval()
    assert type(small.c1) is ValidConv and type(small.c2) is ValidConv and small.c1.out_channels == 2
    x = torch.randn(2, 1, 9, 9)
    with torch.no_grad():
        assert float((net(x) - small(x)).abs().max()) <= 1e-5


def test_a_layer_type_without_rules_is_refused_by_name():
    net = SubclassNet()
    net.c2 = nn.ConvTranspose2d(4, 2, 3)
    with pytest.raises(UnsupportedLayerError, match="consumer 'c2' is a ConvTranspose2d: surgery supports .*Conv2d"):
        shrink(net.eval())
