import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests never touch the user's cache; the real-data tests share one cache per session."""
    monkeypatch.setenv("PRUNINGLIB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def mnist_root():
    """The real MNIST root (PRUNINGLIB_DATA, else ../shared/data); skips when absent."""
    root = Path(os.environ.get("PRUNINGLIB_DATA", SHARED))
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST not available locally (set PRUNINGLIB_DATA)")
    return root


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.fixture
def covid_root():
    """The real data root holding covid-chestxray-dataset (PRUNINGLIB_DATA, else ../shared/data); skips when absent."""
    root = Path(os.environ.get("PRUNINGLIB_DATA", SHARED))
    if not (root / "covid-chestxray-dataset" / "metadata.csv").exists():
        pytest.skip("covid-chestxray-dataset not available locally (set PRUNINGLIB_DATA)")
    return root
