import os
import shutil
from pathlib import Path

# `pytest -n 2` runs two workers on two cores: one intra-op thread each (inherited by the notebook kernels they
# start) avoids oversubscription, under which torch's OpenMP matrix products run over ten times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BOOK = REPO / "book"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests never touch the user's cache; the real-data tests (and their subprocesses) share one per session."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRUNINGLIB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture(scope="session")
def mnist_root():
    """The real MNIST root ($PRUNINGLIB_DATA, else ../shared/data, else data/); skips when none has it."""
    env = os.environ.get("PRUNINGLIB_DATA")
    for root in ([Path(env)] if env else []) + [SHARED, REPO / "data"]:
        if (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists():
            return root
    pytest.skip("MNIST not available locally (set PRUNINGLIB_DATA, or run .ci/fetch-data)")


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The book built strictly (warnings are errors) from a copy of book/; returns the HTML folder.

    A copy, so parallel test workers never write into one source tree (the build installs MathJax into it).
    """
    from pruninglib.book import build_book

    root = tmp_path_factory.mktemp("book")
    source = root / "source"
    shutil.copytree(BOOK, source, ignore=shutil.ignore_patterns("_build", "mathjax", ".ipynb_checkpoints"))
    return build_book(source, root).parent


@pytest.fixture(scope="session")
def covid_root():
    """The real data root holding covid-chestxray-dataset (PRUNINGLIB_DATA, else ../shared/data); skips when absent."""
    root = Path(os.environ.get("PRUNINGLIB_DATA", SHARED))
    if not (root / "covid-chestxray-dataset" / "metadata.csv").exists():
        pytest.skip("covid-chestxray-dataset not available locally (set PRUNINGLIB_DATA)")
    return root


@pytest.fixture(scope="session")
def dsb_root():
    """The real data root holding dsb2018/stage1_train.tar.gz (PRUNINGLIB_DATA, else ../shared/data); skips when
    absent."""
    root = Path(os.environ.get("PRUNINGLIB_DATA", SHARED))
    if not (root / "dsb2018" / "stage1_train.tar.gz").exists():
        pytest.skip("dsb2018/stage1_train.tar.gz not available locally (set PRUNINGLIB_DATA)")
    return root


@pytest.fixture(scope="session")
def cifar_root():
    """The real data root holding the CIFAR-10 JPEG copy (PRUNINGLIB_DATA, else ../shared/data); skips when absent."""
    root = Path(os.environ.get("PRUNINGLIB_DATA", SHARED))
    if not (root / "CIFAR-10" / "CIFAR-10-images.tar.gz").exists():
        pytest.skip("CIFAR-10 JPEG copy not available locally (set PRUNINGLIB_DATA)")
    return root
