"""Registries name what is allowed; profiles are valid configs; the digest follows the config.

The table of invalid user inputs and their messages is in test_invalid_inputs.py."""
import pytest

from pruninglib.config import MLPMnistConfig
from pruninglib.experiments import CHAPTERS
from pruninglib.models import build_model
from pruninglib.regularizers import penalty


def test_unknown_model_and_regularizer():
    with pytest.raises(ValueError, match="unknown model 'resnet'; allowed: mlp"):
        build_model({"name": "resnet", "kwargs": {}})
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        penalty("l3", [], 0.1)
    with pytest.raises(ValueError, match="lambda = -1"):
        penalty("l2", [], -1)


def test_profiles_are_valid_and_lists_become_tuples():
    for profile in ("smoke", "quick", "paper"):
        params = CHAPTERS.get("mlp_mnist").parameters(profile)
        cfg = MLPMnistConfig.from_mapping(params)
        assert cfg.profile == profile and isinstance(cfg.seeds, tuple)
    assert len(MLPMnistConfig.from_mapping(CHAPTERS.get("mlp_mnist").parameters("paper")).seeds) >= 3


def test_digest_changes_with_config():
    assert MLPMnistConfig().digest() == MLPMnistConfig().digest()
    assert MLPMnistConfig().digest() != MLPMnistConfig(epochs=3).digest()
