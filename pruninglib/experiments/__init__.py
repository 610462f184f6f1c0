"""Chapters: each names its data sets, its config class, its profiles and its experiment function."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pruninglib.config import (ComparisonConfig, ConfigBase, ConfigError, CovidCNNConfig, GuidedMLPConfig,
                               MLPMnistConfig, RelevanceLeNetConfig, TheoryConfig, UNetDSBConfig, VGGCifarConfig, check)
from pruninglib.config.mechanism import MechanismConfig
from pruninglib.experiments import (compare, covid_cnn, guided_mlp, mlp_mechanism, mlp_mnist, relevance_lenet5, theory,
                                    unet_dsb2018, vgg_cifar10)
from pruninglib.registry import Registry


@dataclass(frozen=True)
class Chapter:
    """A chapter: its source is ``notebooks/<name>.md``; ``datasets`` are the names of the data registry
    (:mod:`pruninglib.data.registry`) it reads, fetched before its notebook starts."""

    name: str
    title: str
    datasets: tuple[str, ...]
    config: type[ConfigBase]
    profiles: dict[str, dict[str, Any]]
    run: Callable[..., Any]

    def parameters(self, profile: str, overrides: dict[str, Any] | None = None,
                   out_dir: str | None = None) -> dict[str, Any]:
        """The validated papermill parameters for ``profile`` plus ``overrides`` (ConfigError if not allowed)."""
        check(profile in self.profiles, "profile", profile, f"one of {', '.join(self.profiles)}")
        values = {**self.config().to_dict(), **self.profiles[profile], **(overrides or {})}  # type: ignore[call-arg]
        if out_dir is not None:
            values["out_dir"] = out_dir
        cfg = self.config.from_mapping(values, strict=True)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.to_dict().items()}


CHAPTERS: Registry[Chapter] = Registry("chapter")
for _chapter in (
        Chapter("mlp_mnist", "Stochastic pruning of an MLP on MNIST", ("mnist",), MLPMnistConfig, mlp_mnist.PROFILES,
                mlp_mnist.run),
        Chapter("mlp_mechanism", "What kills the nodes? The MLP mechanism study", ("mnist",), MechanismConfig,
                mlp_mechanism.PROFILES, mlp_mechanism.run),
        Chapter("covid_cnn", "COVID-19 chest X-ray CNN: 50% of the channels removed", ("covid",), CovidCNNConfig,
                covid_cnn.PROFILES, covid_cnn.run),
        Chapter("theory", "How L1 and L2 shape node pruning", ("mnist",), TheoryConfig, theory.PROFILES, theory.run),
        Chapter("unet_dsb2018", "U-Net for nuclei instance segmentation: channel pruning through skip connections",
                ("dsb2018",), UNetDSBConfig, unet_dsb2018.PROFILES, unet_dsb2018.run),
        Chapter("vgg_cifar10", "VGG-16 on CIFAR-10: 60% of the filters removed", ("cifar10",), VGGCifarConfig,
                vgg_cifar10.PROFILES, vgg_cifar10.run),
        Chapter("relevance_lenet5", "Relevance-weighted decay and gated pruning of LeNet-5", ("mnist",),
                RelevanceLeNetConfig, relevance_lenet5.PROFILES, relevance_lenet5.run),
        Chapter("guided_mlp", "Guided regularization (our reconstruction) on the MNIST MLP", ("mnist",),
                GuidedMLPConfig, guided_mlp.PROFILES, guided_mlp.run),
        Chapter("comparison", "The methods side by side", ("mnist", "cifar10"), ComparisonConfig, compare.PROFILES,
                compare.run)):
    CHAPTERS.register(_chapter.name)(_chapter)

__all__ = ["CHAPTERS", "Chapter", "ConfigError"]
