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
# Where real data may lie: $PRUNINGLIB_DATA, ../shared/data, data/, and the download folder of the user's cache
# (`pruninglib data fetch`, as .ci/fetch-data runs it), read before the session moves the cache aside.
DATA_ROOTS = [Path(p) for p in (os.environ.get("PRUNINGLIB_DATA"),) if p] + [
    SHARED, REPO / "data", Path(os.environ.get("PRUNINGLIB_CACHE") or REPO / "data" / "cache") / "downloads"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests never touch the user's cache or run store; the real-data tests (and their subprocesses) share one of
    each per session. Nor the network: every download goes to a closed local port and fails at once as offline."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRUNINGLIB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.setenv("PRUNINGLIB_STORE", str(tmp_path_factory.getbasetemp() / "store"))
        mp.setenv("PRUNINGLIB_DATA_MIRROR", "http://127.0.0.1:9")
        yield


def _root_with(file: str) -> Path | None:
    return next((root for root in DATA_ROOTS if (root / file).exists()), None)


@pytest.fixture(scope="session")
def mnist_root():
    """The real MNIST root (see DATA_ROOTS); skips when none has it."""
    root = _root_with("MNIST/raw/train-images-idx3-ubyte.gz")
    if root is None:
        pytest.skip("MNIST not available locally (set PRUNINGLIB_DATA, or run `pruninglib data fetch mnist`)")
    return root


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
    """The real data root holding covid-chestxray-dataset (see DATA_ROOTS); skips when absent."""
    root = _root_with("covid-chestxray-dataset/metadata.csv")
    if root is None:
        pytest.skip("covid-chestxray-dataset not available locally (set PRUNINGLIB_DATA, or run `pruninglib data "
                    "fetch covid`)")
    return root


@pytest.fixture(scope="session")
def dsb_root():
    """The real data root holding dsb2018/stage1_train.tar.gz (see DATA_ROOTS); skips when absent."""
    root = _root_with("dsb2018/stage1_train.tar.gz")
    if root is None:
        pytest.skip("dsb2018/stage1_train.tar.gz not available locally (set PRUNINGLIB_DATA, or run `pruninglib "
                    "data fetch dsb2018`)")
    return root


@pytest.fixture(scope="session")
def cifar_root():
    """The real data root holding the CIFAR-10 JPEG copy (see DATA_ROOTS); skips when absent."""
    root = _root_with("CIFAR-10/CIFAR-10-images.tar.gz")
    if root is None:
        pytest.skip("CIFAR-10 JPEG copy not available locally (set PRUNINGLIB_DATA)")
    return root
