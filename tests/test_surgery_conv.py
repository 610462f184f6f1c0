"""Conv + BatchNorm surgery: masked vs shrunk in eval mode on random inputs, random widths and masks; exactness
of the dead-channel fold (valid convs, a Linear after global pooling) and refusal where it cannot be exact."""
import pytest
import torch
from torch import nn

from pruninglib.models import CNN, Coupling
from pruninglib.pruning import dead_nodes
from pruninglib.surgery import InexactShrinkError, shrink
from test_surgery import kill_random_nodes


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
    return kill_random_nodes(model, seed, p_dead=float(torch.rand(1, generator=g)))


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
