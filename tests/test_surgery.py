"""Surgery keeps the function: masked vs shrunk on random inputs, for randomly drawn widths and masks."""
import pytest
import torch

from pruninglib import load_model, save_model
from pruninglib.models import MODELS, MLP
from pruninglib.pruning import Mask, dead_nodes
from pruninglib.surgery import shrink


def random_masked_mlp(seed: int) -> MLP:
    g = torch.Generator().manual_seed(seed)
    depth = int(torch.randint(1, 4, (1,), generator=g))
    widths = [int(torch.randint(1, 40, (1,), generator=g)) for _ in range(depth + 2)]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = MLP(widths)
    weights = model.prunable()
    masks = {}
    for k, w in weights.items():
        m = torch.rand(w.shape, generator=g) > float(torch.rand(1, generator=g)) * 0.6  # scattered zeros
        rows = torch.rand(w.shape[0], generator=g) < 0.5  # whole dead nodes, sometimes all of them
        m[rows] = False
        masks[k] = m
    Mask(masks).apply_(model)
    return model


@pytest.mark.parametrize("seed", range(25))
def test_shrunk_equals_masked_on_random_widths_and_masks(seed):
    model = random_masked_mlp(seed).eval()
    x = torch.randn(64, model.widths[0], generator=torch.Generator().manual_seed(seed))
    small = shrink(model).eval()
    assert torch.allclose(model(x), small(x), rtol=0, atol=1e-5), float((model(x) - small(x)).abs().max())
    removed = {k: int(v.sum()) for k, v in dead_nodes(model).items()}
    assert list(small.widths[1:-1]) == [w - removed[f"hidden {i + 1}"] for i, w in enumerate(model.widths[1:-1])]


def test_shrink_does_not_mutate_input():
    model = random_masked_mlp(3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shrink(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def kill_random_nodes(model, seed: int, p_dead: float = 0.5):
    """MUTATES ``model``: zero whole producer rows (dead nodes) and scattered weights; give every BatchNorm random
    running statistics and affine parameters, so that dead channels carry non-trivial constants."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, w in model.prunable().items():
            m = torch.rand(w.shape, generator=g) > 0.3
            m[torch.rand(w.shape[0], generator=g) < p_dead] = False
            w.mul_(m)
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=g))
                mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                mod.weight.copy_(torch.randn(n, generator=g))
                mod.bias.copy_(torch.randn(n, generator=g))  # some > 0: relu(BN(dead)) is often non-zero
    return model


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("seed", range(3))
def test_shrunk_equals_masked_for_every_registered_model(name, seed):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = kill_random_nodes(MODELS.get(name)(), seed).eval()
    small = shrink(model).eval()
    x = torch.randn(6, *model.example_input_shape(), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert float((model(x) - small(x)).abs().max()) <= 1e-4
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS.names())
def test_save_load_roundtrip_every_registered_model(name, tmp_path):
    with torch.random.fork_rng():
        torch.manual_seed(7)
        model = shrink(kill_random_nodes(MODELS.get(name)(), 7)).eval()
    path = save_model(model, str(tmp_path / "m.pt"))
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.spec() == model.spec()
    x = torch.randn(5, *model.example_input_shape())
    assert torch.equal(loaded(x), model.eval()(x))


def test_load_model_rejects_other_files(tmp_path):
    torch.save({"weights": torch.ones(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a pruninglib model file"):
        load_model(str(tmp_path / "x.pt"))
