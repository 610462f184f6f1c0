"""Configuration dataclasses: every hyperparameter lives here, with help text, validated on creation.

A chapter's papermill ``parameters`` cell is the flat view of one of these configs: every name in the cell is
a field of the chapter's config class (a test checks it), and ``Config.from_mapping`` builds the config from the
notebook's globals, raising :class:`ConfigError` before any work starts if a name or value is not allowed.
:mod:`pruninglib.config.base` holds the machinery and the checks shared by all; :mod:`pruninglib.config.groups`
the fields the chapters share, grouped by concern (run, data, training, regularizer, pruning, measurement), each
with its validation; one module per chapter composes its config from those groups and its own fields.
"""
from pruninglib.config.base import (OPTIMIZERS, PROFILES, PRUNE_FORMS, REGULARIZERS, SCALES, ConfigBase, ConfigError,
                                    check)
from pruninglib.config.compare import METHODS, SETTINGS, ComparisonConfig
from pruninglib.config.covid import CovidCNNConfig
from pruninglib.config.groups import (BatchNormVariantsConfig, DataConfig, MeasurementConfig, MnistDataConfig,
                                      OptimizerConfig, PruningConfig, RegularizerConfig, RunConfig, SeedsConfig,
                                      SplitConfig, TrainingConfig, VariantsConfig)
from pruninglib.config.methods import GUIDED_PHIS, GuidedMLPConfig, RelevanceLeNetConfig
from pruninglib.config.mlp import MLPMnistConfig
from pruninglib.config.theory import TheoryConfig
from pruninglib.config.unet import UNetDSBConfig
from pruninglib.config.vgg import BASELINES, VGGCifarConfig

__all__ = ["OPTIMIZERS", "PROFILES", "PRUNE_FORMS", "REGULARIZERS", "SCALES", "ConfigBase", "ConfigError", "check",
           "METHODS", "SETTINGS", "ComparisonConfig", "CovidCNNConfig", "GUIDED_PHIS", "GuidedMLPConfig",
           "RelevanceLeNetConfig", "MLPMnistConfig", "TheoryConfig", "UNetDSBConfig", "BASELINES", "VGGCifarConfig",
           "BatchNormVariantsConfig", "DataConfig", "MeasurementConfig", "MnistDataConfig", "OptimizerConfig",
           "PruningConfig", "RegularizerConfig", "RunConfig", "SeedsConfig", "SplitConfig", "TrainingConfig",
           "VariantsConfig"]
