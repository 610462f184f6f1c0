"""Config checks by concern: every shared field obeys one rule in every chapter, and the values that used to fail
late (duplicate or huge seeds, latency batches beyond memory, a data_root that is not a path, non-finite numbers,
oversized networks) fail on creation with a message naming the parameter, the value and what is allowed.

These call the validators directly; the command-line rows of the same cases are in test_invalid_inputs.py."""
import dataclasses
import math

import pytest

from pruninglib.config import (ConfigError, CovidCNNConfig, MLPMnistConfig, RelevanceLeNetConfig, TheoryConfig,
                               UNetDSBConfig, VGGCifarConfig)
from pruninglib.config.groups import PruningConfig, RunConfig, TrainingConfig
from pruninglib.experiments import CHAPTERS

CONFIGS = [CHAPTERS.get(name).config for name in CHAPTERS]


def rejects(cls, message, **values):
    with pytest.raises(ConfigError) as err:
        cls.from_mapping(values, strict=True)
    assert str(err.value) == message


def configs_with(field):
    return [c for c in CONFIGS if field in c.field_names()]


# (field, a bad value, the message every chapter that has the field gives): one rule per shared field
SHARED = [("epochs", 0, "parameter 'epochs' = 0 is not allowed: an integer >= 1"),
          ("lr", 0, "parameter 'lr' = 0 is not allowed: a number in (0.0, 10.0]"),
          ("lambda_l2", 2, "parameter 'lambda_l2' = 2 is not allowed: a number in [0.0, 1.0]"),
          ("prune_form", "cauchy", "parameter 'prune_form' = 'cauchy' is not allowed: one of 'laplace', 'gauss', 'magnitude'"),
          ("ramp_start", 1.5, "parameter 'ramp_start' = 1.5 is not allowed: a number in [0.0, 1.0]"),
          ("val_size", 0, "parameter 'val_size' = 0 is not allowed: an integer >= 1"),
          ("device", "tpu", "parameter 'device' = 'tpu' is not allowed: one of 'auto', 'cpu', 'cuda'"),
          ("seeds", [], "parameter 'seeds' = () is not allowed: a non-empty list of non-negative integers"),
          ("data_root", 5, "parameter 'data_root' = 5 is not allowed: a folder path (a string; empty: "
                           "$PRUNINGLIB_DATA, then data/ in the repo)"),
          ("out_dir", "", "parameter 'out_dir' = '' is not allowed: a folder path (a non-empty string)")]


@pytest.mark.parametrize("field, value, message", SHARED, ids=[s[0] for s in SHARED])
def test_a_shared_field_has_one_rule_in_every_chapter(field, value, message):
    assert len(configs_with(field)) >= 3
    for cls in configs_with(field):
        rejects(cls, message, **{field: value})


def test_chapters_are_composed_of_the_concern_groups():
    for cls in CONFIGS:
        assert issubclass(cls, RunConfig)
    assert {c.__name__ for c in CONFIGS if issubclass(c, TrainingConfig)} == {
        "MLPMnistConfig", "CovidCNNConfig", "TheoryConfig", "UNetDSBConfig", "VGGCifarConfig", "RelevanceLeNetConfig",
        "GuidedMLPConfig"}
    assert {c.__name__ for c in CONFIGS if issubclass(c, PruningConfig)} == {
        "MLPMnistConfig", "CovidCNNConfig", "TheoryConfig", "UNetDSBConfig", "VGGCifarConfig"}


DISTINCT = "distinct seeds (a repeated seed would repeat the same run and resume its checkpoints)"


@pytest.mark.parametrize("cls", configs_with("seeds"), ids=lambda c: c.__name__)
def test_seeds_are_distinct_and_below_2_to_the_63(cls):
    rejects(cls, f"parameter 'seeds' = (0, 0) is not allowed: {DISTINCT}", seeds=[0, 0])
    rejects(cls, "parameter 'seeds' = (1, 1180591620717411303424) is not allowed: integers in [0, 2**63) (seeds)",
            seeds=[1, 2 ** 70])
    rejects(cls, "parameter 'seeds' = (9223372036854775808,) is not allowed: integers in [0, 2**63) (seeds)",
            seeds=[2 ** 63])
    assert cls(seeds=[2 ** 63 - 1, 0]).seeds == (2 ** 63 - 1, 0)


def test_every_single_seed_is_below_2_to_the_63():
    for cls, name in ((CovidCNNConfig, "fold_seed"), (UNetDSBConfig, "split_seed")):
        rejects(cls, f"parameter {name!r} = 9223372036854775808 is not allowed: an integer in [0, 2**63) (a seed)",
                **{name: 2 ** 63})
        assert getattr(cls(**{name: 2 ** 63 - 1}), name) == 2 ** 63 - 1
    rejects(RelevanceLeNetConfig, f"parameter 'dense_seeds' = (3, 3) is not allowed: {DISTINCT}", dense_seeds=[3, 3])
    assert RelevanceLeNetConfig(dense_seeds=[]).dense_seeds == ()


# the largest latency batch whose float32 inputs fit in 64 MiB, per chapter at its smoke profile
LATENCY_LIMITS = {"mlp_mnist": (21399, "1x28x28"), "relevance_lenet5": (21399, "1x28x28"),
                  "guided_mlp": (21399, "1x28x28"), "vgg_cifar10": (5461, "3x32x32"),
                  "covid_cnn": (7281, "1x48x48"), "unet_dsb2018": (16384, "1x32x32"), "comparison": (5461, "3x32x32")}


@pytest.mark.parametrize("chapter", sorted(LATENCY_LIMITS))
def test_latency_batches_are_bounded_by_the_memory_of_one_input_batch(chapter):
    cls = CHAPTERS.get(chapter).config
    largest, shape = LATENCY_LIMITS[chapter]
    assert cls(latency_batches=[1, largest]).latency_batches == (1, largest)
    rejects(cls, f"parameter 'latency_batches' = (1, {largest + 1}) is not allowed: batch sizes up to {largest} (one "
                 f"batch of {shape} float32 inputs may take at most 64 MiB)", latency_batches=[1, largest + 1])
    with pytest.raises(ConfigError, match="latency_batches' = \\(100000000,\\)"):
        cls(latency_batches=[100_000_000])  # the case: 313 GB, allocated after all the training


def test_the_latency_bound_follows_the_image_size_and_the_harnesses():
    assert CovidCNNConfig(image_size=256, latency_batches=[256]).latency_batches == (256,)
    with pytest.raises(ConfigError, match="batch sizes up to 256 \\(one batch of 1x256x256"):
        CovidCNNConfig(image_size=256, latency_batches=[257])
    comparison = CHAPTERS.get("comparison").config
    assert comparison(settings=["mlp"], latency_batches=[21399]).latency_batches == (21399,)


def float_fields(cls):
    return [f.name for f in dataclasses.fields(cls) if f.type in ("float", "tuple[float, ...]")]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_every_float_rejects_non_finite_values(cls, value):
    assert float_fields(cls)
    for name in float_fields(cls):
        default = getattr(cls(), name)
        bad = (value,) + default[1:] if isinstance(default, tuple) else value
        with pytest.raises(ConfigError, match=f"^parameter '{name}' = {value!r} is not allowed: "):
            cls(**{name: bad})


def test_a_huge_integer_in_a_float_field_is_out_of_range_not_an_overflow():
    rejects(MLPMnistConfig, f"parameter 'lr' = {10 ** 400!r} is not allowed: a number in (0.0, 10.0]", lr=10 ** 400)


def test_network_sizes_are_bounded():
    rejects(MLPMnistConfig, "parameter 'widths' = (784, 1000000, 10) is not allowed: a network of at most "
                            "100,000,000 weights (400 MB of float32), not 794,000,000", widths=[784, 10 ** 6, 10])
    rejects(TheoryConfig, "parameter 'hidden' = 1000000 is not allowed: a network of at most 100,000,000 weights "
                          "(400 MB of float32), not 794,000,000", hidden=10 ** 6)
    with pytest.raises(ConfigError, match="parameter 'channels' = \\(8, 4000, 4000\\) is not allowed: a network"):
        CovidCNNConfig(channels=[8, 4000, 4000], target_sparsity=[0.5] * 4)
    assert MLPMnistConfig(widths=[784, 4096, 4096, 10], target_sparsity=[0.5] * 3).widths[1] == 4096


def test_late_failures_are_bounded_before_any_work():
    rejects(MLPMnistConfig, "parameter 'train_subset' = 60000 is not allowed: at most 55000 (the training images left "
                            "after val_size), or 0 for all", train_subset=60000)
    rejects(CovidCNNConfig, "parameter 'bootstrap' = 1000000 is not allowed: an integer from 10 to 100000 (more cost "
                            "time and memory after all the training)", bootstrap=10 ** 6)
    rejects(CHAPTERS.get("comparison").config, "parameter 'settings' = (['mlp'],) is not allowed: distinct names "
                                               "from mlp, vgg", settings=[["mlp"]])
