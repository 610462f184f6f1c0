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
