"""Registries name what is allowed; profiles are valid configs; the digest follows the config.

The table of invalid user inputs and their messages is in test_invalid_inputs.py."""
import dataclasses

import pytest

from pruninglib.config import PROFILES, ConfigError, CovidCNNConfig, MLPMnistConfig
from pruninglib.experiments import CHAPTERS
from pruninglib.models import MODELS, build_model
from pruninglib.regularizers import penalty


def test_unknown_model_and_regularizer():
    assert {"cnn", "lenet5", "mlp"} <= set(MODELS.names())
    with pytest.raises(ValueError, match=f"unknown model 'resnet'; allowed: {', '.join(MODELS.names())}$"):
        build_model({"name": "resnet", "kwargs": {}})
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        penalty("l3", [], 0.1)
    with pytest.raises(ValueError, match="lambda = -1"):
        penalty("l2", [], -1)


@pytest.mark.parametrize("chapter", CHAPTERS.names())
def test_profiles_are_valid_and_lists_become_tuples(chapter):
    ch = CHAPTERS.get(chapter)
    assert {"smoke", "quick", "paper"} <= set(ch.profiles) <= set(PROFILES)
    for profile in ch.profiles:
        params = ch.parameters(profile)
        cfg = ch.config.from_mapping(params)
        values = [getattr(cfg, name) for name in cfg.field_names()]
        assert cfg.profile == profile and not any(isinstance(v, list) for v in values)
        assert all(isinstance(getattr(cfg, k), tuple) for k, v in params.items() if isinstance(v, list))
    assert len(MLPMnistConfig.from_mapping(CHAPTERS.get("mlp_mnist").parameters("paper")).seeds) >= 3


COVID_BAD = [
    ({"folds": 1}, "'folds' = 1", "integer >= 2"),
    ({"folds": 11}, "'folds' = 11", "from 2 to 10"),
    ({"image_size": 16}, "'image_size' = 16", "integer >= 32"),
    ({"image_size": 512}, "'image_size' = 512", "from 32 to 256"),
    ({"image_size": 40}, "'image_size' = 40", "survives 4 blocks"),
    ({"channels": (8, 0)}, "'channels' = (8, 0)", "positive integers"),
    ({"target_sparsity": (0.5, 0.5)}, "'target_sparsity'", "4 conv blocks and the head (5 values)"),
    ({"threshold": 1.0}, "'threshold' = 1.0", "(0.0, 1.0)"),
    ({"augment_shift": 20}, "'augment_shift' = 20", "from 0 to 11"),
    ({"variants": ("l2", "dropout")}, "'variants' = ('l2', 'dropout')", "dense, l2, l1, none"),
    ({"bootstrap": 5}, "'bootstrap' = 5", "integer >= 10"),
    ({"ci_level": 1.0}, "'ci_level' = 1.0", "[0.5, 1.0)"),
]


@pytest.mark.parametrize("kwargs, names, allowed", COVID_BAD)
def test_bad_covid_values_name_parameter_value_and_allowed(kwargs, names, allowed):
    with pytest.raises(ConfigError) as err:
        CovidCNNConfig(**kwargs)
    assert names in str(err.value) and allowed in str(err.value)


def test_digest_changes_with_config():
    assert MLPMnistConfig().digest() == MLPMnistConfig().digest()
    assert MLPMnistConfig().digest() != MLPMnistConfig(epochs=3).digest()


@pytest.mark.parametrize("chapter", CHAPTERS.names())
def test_every_variant_a_chapter_allows_has_a_colour(chapter):
    """The figures colour runs by variant from one palette (seaborn refuses a palette that lacks a plotted key)."""
    from pruninglib.plots import PALETTE

    allowed = getattr(CHAPTERS.get(chapter).config, "allowed_variants", ())
    assert set(allowed) <= set(PALETTE), f"no colour for {sorted(set(allowed) - set(PALETTE))}"


def test_the_checkpoint_digest_follows_the_values_not_the_profiles_name():
    """A profile renamed with the same values resumes its checkpoints; any changed value starts afresh."""
    cfg = MLPMnistConfig()
    assert dataclasses.replace(cfg, profile="medium").digest() == cfg.digest()
    assert dataclasses.replace(cfg, epochs=cfg.epochs + 1).digest() != cfg.digest()
