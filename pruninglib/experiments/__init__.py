"""Chapters: each names its notebook, its config class, its profiles and its experiment function."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pruninglib.config import (PROFILES, ComparisonConfig, ConfigBase, ConfigError, CovidCNNConfig, GuidedMLPConfig,
                               MLPMnistConfig, RelevanceLeNetConfig, TheoryConfig, UNetDSBConfig, VGGCifarConfig, check)
from pruninglib.experiments import (compare, covid_cnn, guided_mlp, mlp_mnist, relevance_lenet5, theory, unet_dsb2018,
                                    vgg_cifar10)
from pruninglib.registry import Registry


@dataclass(frozen=True)
class Chapter:
    name: str
    title: str
    notebook: str  # file name in notebooks/
    config: type[ConfigBase]
    profiles: dict[str, dict[str, Any]]
    run: Callable[..., Any]

    def parameters(self, profile: str, overrides: dict[str, Any] | None = None,
                   out_dir: str | None = None) -> dict[str, Any]:
        """The validated papermill parameters for ``profile`` plus ``overrides`` (ConfigError if not allowed)."""
        check(profile in self.profiles, "profile", profile, f"one of {', '.join(PROFILES)}")
        values = {**self.config().to_dict(), **self.profiles[profile], **(overrides or {})}  # type: ignore[call-arg]
        if out_dir is not None:
            values["out_dir"] = out_dir
        cfg = self.config.from_mapping(values, strict=True)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict().items()}


CHAPTERS: Registry[Chapter] = Registry("chapter")
CHAPTERS.register("mlp_mnist")(Chapter(
    "mlp_mnist", "Stochastic pruning of an MLP on MNIST", "mlp_mnist.ipynb", MLPMnistConfig, mlp_mnist.PROFILES,
    mlp_mnist.run))
CHAPTERS.register("covid_cnn")(Chapter(
    "covid_cnn", "COVID-19 chest X-ray CNN: 50% of the channels removed", "covid_cnn.ipynb", CovidCNNConfig,
    covid_cnn.PROFILES, covid_cnn.run))
CHAPTERS.register("theory")(Chapter(
    "theory", "How L1 and L2 shape node pruning", "theory.ipynb", TheoryConfig, theory.PROFILES, theory.run))
CHAPTERS.register("unet_dsb2018")(Chapter(
    "unet_dsb2018", "U-Net for nuclei instance segmentation: channel pruning through skip connections",
    "unet_dsb2018.ipynb", UNetDSBConfig, unet_dsb2018.PROFILES, unet_dsb2018.run))
CHAPTERS.register("vgg_cifar10")(Chapter(
    "vgg_cifar10", "VGG-16 on CIFAR-10: 60% of the filters removed", "vgg_cifar10.ipynb", VGGCifarConfig,
    vgg_cifar10.PROFILES, vgg_cifar10.run))
CHAPTERS.register("relevance_lenet5")(Chapter(
    "relevance_lenet5", "Relevance-weighted decay and gated pruning of LeNet-5", "relevance_lenet5.ipynb",
    RelevanceLeNetConfig, relevance_lenet5.PROFILES, relevance_lenet5.run))
CHAPTERS.register("guided_mlp")(Chapter(
    "guided_mlp", "Guided regularization (reconstruction) on the MNIST MLP", "guided_mlp.ipynb", GuidedMLPConfig,
    guided_mlp.PROFILES, guided_mlp.run))
CHAPTERS.register("comparison")(Chapter(
    "comparison", "The methods side by side", "comparison.ipynb", ComparisonConfig, compare.PROFILES, compare.run))

__all__ = ["CHAPTERS", "Chapter", "ConfigError"]
