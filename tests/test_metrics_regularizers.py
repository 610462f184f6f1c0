import torch
from torch import nn

from pruninglib.metrics import count_flops, count_params, latency
from pruninglib.models import MLP
from pruninglib.regularizers import penalty


def test_flops_of_linear_is_two_per_multiply_add():
    assert count_flops(nn.Linear(5, 7), (5,)) == 2 * 5 * 7
    assert count_flops(MLP((784, 300, 100, 10)), (1, 28, 28)) == 2 * (784 * 300 + 300 * 100 + 100 * 10)


def test_params_count_total_and_nonzero():
    lin = nn.Linear(5, 7)
    with torch.no_grad():
        lin.weight[:2] = 0
    assert count_params(lin) == {"params": 42, "nonzero_params": 42 - 10}


def test_latency_is_positive_ms():
    assert latency(nn.Linear(5, 7), (5,), batch_size=4, repeats=3, warmup=1) > 0


def test_l2_gradient_is_weight_decay_and_l1_gradient_is_sign():
    w = torch.randn(4, 3, requires_grad=True)
    penalty("l2", [w], 0.1).backward()
    assert torch.allclose(w.grad, 0.1 * w.detach())
    w.grad = None
    penalty("l1", [w], 0.1).backward()
    assert torch.allclose(w.grad, 0.1 * w.detach().sign())


def test_l2_gradient_has_the_bits_of_autograds():
    """The hand-written backward of the L2 penalty changes no result: bit for bit autograd's gradient."""
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(30, 20, generator=g, requires_grad=True), torch.randn(7, generator=g, requires_grad=True)]
    for lam, outer in ((5e-3, 1.0), (0.37, 0.3)):
        (outer * penalty("l2", ws, lam)).backward()
        ours = [w.grad.clone() for w in ws]
        for w in ws:
            w.grad = None
        (outer * (0.5 * lam * sum(w.pow(2).sum() for w in ws))).backward()
        assert all(torch.equal(a.view(torch.int32), w.grad.view(torch.int32)) for a, w in zip(ours, ws))
        for w in ws:
            w.grad = None
