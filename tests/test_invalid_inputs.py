"""Every abuse of the command line, with what the user gets: one table, run through ``pruninglib.cli.main``.

A row is a :class:`Case`: the command, the exit status, a fragment of stderr, and the paths that must not (or
must) exist afterwards, with an optional ``setup`` that prepares the case (a file where --out points, a held lock, a
chapter whose later cell fails, a corrupt cache). Exit status 2: refused before any work, the message names the
parameter, the value and what is allowed (``refused`` rows check the complete message). Exit status 1: a chapter or
the book failed, naming the chapter and the cell. The notebooks validate the same way:
``MLPMnistConfig.from_mapping(globals())`` raises the same ConfigError as the command line.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jupytext
import nbformat
import pytest
from nbformat.v4 import new_code_cell

from pruninglib import cli, notebook
from pruninglib.cli import main
from pruninglib.experiments import CHAPTERS
from pruninglib.notebook import read_source, tags

REPO = Path(__file__).resolve().parents[1]
Setup = Callable[[Path, pytest.FixtureRequest], None]


@dataclass(frozen=True)
class Case:
    """``pruninglib <args>`` (shell words; ``{tmp}`` is the test's temporary folder, also in ``message``, and a
    ``run`` without ``--out`` gets ``--out {tmp}/run``) exits with ``code``, its stderr contains ``message``, and
    afterwards no path of ``absent`` and every path of ``present`` (relative to ``{tmp}``) exists. ``setup(tmp,
    request)`` runs first; it may use any fixture through ``request`` (``monkeypatch``, ``mnist_root``...);
    ``check(tmp)`` runs last (the silent-corruption rows compare their numbers with an undamaged run's)."""

    args: str
    code: int
    message: str
    absent: tuple[str, ...] = ("run",)
    present: tuple[str, ...] = ()
    setup: Setup | None = None
    check: Callable[[Path], None] | None = None


def refused(args: str, message: str, **kw) -> Case:
    """Refused before any work: exit status 2, stderr is exactly ``message`` after the prefix."""
    return Case(args, 2, f"pruninglib: error: {message}\n", **kw)


def steps(*setups: Setup) -> Setup:
    def setup(tmp: Path, request: pytest.FixtureRequest) -> None:
        for one in setups:
            one(tmp, request)
    return setup


def a_file(name: str) -> Setup:
    return lambda tmp, request: (tmp / name).write_text("not a folder\n")


def refusing_writes(code: int) -> Setup:
    """Creating a file under ``{tmp}/ro`` fails with OSError ``code`` (EACCES, EROFS), as on a folder without write
    permission or a read-only mount (which a test cannot make portably; see test_real_filesystem_refusals)."""
    def setup(tmp: Path, request: pytest.FixtureRequest) -> None:
        (tmp / "ro").mkdir()
        real_open = os.open

        def fake_open(path, flags, *args, **kw):
            if flags & os.O_CREAT and Path(path).is_relative_to(tmp / "ro"):
                raise OSError(code, os.strerror(code), str(path))
            return real_open(path, flags, *args, **kw)

        request.getfixturevalue("monkeypatch").setattr(os, "open", fake_open)
    return setup


def held_lock(tmp: Path, request: pytest.FixtureRequest) -> None:
    """A live run (this process) holds ``{tmp}/run``: its .lock is flocked and holds our pid."""
    (tmp / "run").mkdir()
    fd = os.open(tmp / "run" / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())
    request.addfinalizer(lambda: os.close(fd))


def killed_run_leftovers(tmp: Path, request: pytest.FixtureRequest) -> None:
    """What a killed run leaves: a .lock nobody holds (with a dead pid), a half-written results.json."""
    (tmp / "run" / "work").mkdir(parents=True)
    (tmp / "run" / ".lock").write_text("999999999\n")
    (tmp / "run" / ".results.json.0a1b2c3d.tmp").write_text("{")
    (tmp / "run" / "work" / ".summary.csv.0a1b2c3d.tmp").write_text("a,b")


TINY = "run mlp_mnist --profile smoke -p train_subset 500 -p epochs 1 -p seeds [0] -p latency_batches [1]"


def _tiny_run(tmp: Path, out: str) -> None:
    assert main(shlex.split(f"{TINY} --out {tmp / out}")) == 0


def _numbers(folder: Path) -> list[dict]:
    """The runs rows of a run folder's results.json, without the training times."""
    import json

    return [{k: v for k, v in r.items() if k != "train_s"} for r in json.loads((folder / "results.json").read_text())["runs"]]


def corrupt_extracted_mnist(tmp: Path, request: pytest.FixtureRequest) -> None:
    """An undamaged reference run (it extracts MNIST into the cache), then every 4th training image of the
    extracted file inverted: the next run must re-extract it, not train on it."""
    request.getfixturevalue("monkeypatch").setenv("PRUNINGLIB_DATA", str(request.getfixturevalue("mnist_root")))
    _tiny_run(tmp, "ref")
    from pruninglib.data.root import cache_dir

    images = cache_dir("torchvision", "MNIST", "raw") / "train-images-idx3-ubyte"
    data = bytearray(images.read_bytes())
    for i in range(0, 60000, 4):
        start = 16 + 784 * i
        data[start:start + 784] = bytes(255 - b for b in data[start:start + 784])
    images.write_bytes(bytes(data))


def corrupt_checkpoint(tmp: Path, request: pytest.FixtureRequest) -> None:
    """A complete run into ``run``, then 1,000 bytes of its dense checkpoint flipped: running the same command
    again must retrain that run, not resume from garbage."""
    request.getfixturevalue("monkeypatch").setenv("PRUNINGLIB_DATA", str(request.getfixturevalue("mnist_root")))
    _tiny_run(tmp, "ref")
    _tiny_run(tmp, "run")
    ckpt = next((tmp / "run" / "work" / "checkpoints").glob("*/dense-seed0.pt"))
    data = bytearray(ckpt.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 1000):
        data[i] ^= 0xFF
    ckpt.write_bytes(bytes(data))


def same_numbers_as_the_reference(tmp: Path) -> None:
    assert _numbers(tmp / "run") == _numbers(tmp / "ref")


def failing_chapter(tmp: Path, request: pytest.FixtureRequest) -> None:
    """mlp_mnist as a three-cell chapter: its parameters, an experiment cell that writes results.json and a table
    into out_dir (as the experiment functions do), then a cell that fails. MNIST must be there: the command line
    fetches a chapter's data before its notebook starts."""
    request.getfixturevalue("monkeypatch").setenv("PRUNINGLIB_DATA", str(request.getfixturevalue("mnist_root")))
    nb, _ = read_source("mlp_mnist")
    nb.cells = [next(c for c in nb.cells if "parameters" in tags(c)),
                new_code_cell("from pathlib import Path\nfrom pruninglib._io import write_json\n"
                              "Path(out_dir, 'summary.csv').write_text('a\\n1\\n')\n"
                              "write_json(Path(out_dir) / 'results.json', {'chapter': 'mlp_mnist'})"),
                new_code_cell("1 / 0")]
    (tmp / "sources").mkdir()
    (tmp / "sources" / "mlp_mnist.md").write_text(jupytext.writes(nb, fmt="md:myst"))
    request.getfixturevalue("monkeypatch").setattr(notebook, "SOURCES", tmp / "sources")


def book_with_an_error_output(tmp: Path, request: pytest.FixtureRequest) -> None:
    """A copy of book/ whose mlp_mnist chapter holds a stored error output in the run card's cell (id cell-05)."""
    shutil.copytree(REPO / "book", tmp / "book", ignore=shutil.ignore_patterns("_build", "mathjax"))
    path = tmp / "book" / "chapters" / "mlp_mnist.ipynb"
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if c.get("id") == "cell-05").outputs.append(nbformat.v4.new_output("error", ename="ZeroDivisionError",
                                                      evalue="division by zero", traceback=[]))
    nbformat.write(nb, path)
    request.getfixturevalue("monkeypatch").setattr(cli, "BOOK", tmp / "book")


_FIELDS = ("batch_size, chosen, data_root, dense_weight_decay, device, epochs, evaluate_test, lambda_l1, lambda_l2, "
           "latency_batches, lr, optimizer, out_dir, profile, prune_every, prune_factor, prune_form, prune_scale, "
           "ramp_end, ramp_start, reg_after_ramp, sample_nodes, seeds, sparsity_scale, target_sparsity, train_subset, "
           "val_size, variants, widths")

CASES = [
    refused("run mlp_mnist -p epoch 3",
            f"parameter 'epoch' = 3 is not allowed: a parameter of MLPMnistConfig: {_FIELDS}"),
    refused("run mlp_mnist -p epochs -1", "parameter 'epochs' = -1 is not allowed: an integer >= 1"),
    refused("run mlp_mnist -p epochs 2.5", "parameter 'epochs' = 2.5 is not allowed: an integer >= 1"),
    refused("run mlp_mnist -p epochs 3 -p epochs 4", "parameter 'epochs' is given twice with -p"),
    refused("run mlp_mnist -p lr 0", "parameter 'lr' = 0 is not allowed: a number in (0.0, 10.0]"),
    refused("run mlp_mnist -p lambda_l2 -0.0001",
            "parameter 'lambda_l2' = -0.0001 is not allowed: a number in [0.0, 1.0]"),
    refused("run mlp_mnist -p target_sparsity [1.0,0.9,0.5]",
            "parameter 'target_sparsity' = 1.0 is not allowed: a number in [0.0, 1.0)"),
    refused("run mlp_mnist -p target_sparsity [-0.1,0.9,0.5]",
            "parameter 'target_sparsity' = -0.1 is not allowed: a number in [0.0, 1.0)"),
    refused("run mlp_mnist -p target_sparsity [0.9,0.5]",
            "parameter 'target_sparsity' = (0.9, 0.5) is not allowed: one value per linear layer (3 for these widths)"),
    refused("""run mlp_mnist -p variants '["l2","dropout"]'""",
            "parameter 'variants' = ('l2', 'dropout') is not allowed: distinct names from dense, l2, l1, none, magnitude, "
            "magnitude-epoch, scratch"),
    refused("""run mlp_mnist -p chosen l1 -p variants '["l2"]'""",
            "parameter 'chosen' = 'l1' is not allowed: one of the variants ('l2',) (only a validation-only run, "
            "evaluate_test false, may leave the chosen variant out)"),
    refused("""run mlp_mnist -p variants '["scratch","l2"]'""",
            "parameter 'variants' = ('scratch', 'l2') is not allowed: 'scratch' after the chosen variant 'l2', whose "
            "shrunk widths it trains"),
    refused("run mlp_mnist -p sparsity_scale 1.1",
            "parameter 'sparsity_scale' = 1.1 is not allowed: a factor that keeps every target below 1 (the largest "
            "target is 0.98: below 1.02)"),
    refused("run mlp_mnist -p prune_form cauchy",
            "parameter 'prune_form' = 'cauchy' is not allowed: one of 'laplace', 'gauss', 'magnitude'"),
    refused("run mlp_mnist -p widths [784,0,10]",
            "parameter 'widths' = (784, 0, 10) is not allowed: a list of at least 3 "
            "positive integers (input, hidden..., classes)"),
    refused("run mlp_mnist -p widths [28,100,10]",
            "parameter 'widths' = (28, 100, 10) is not allowed: input width 784 and 10 classes for MNIST"),
    refused("run mlp_mnist -p ramp_start 0.7 -p ramp_end 0.6",
            "parameter 'ramp_end' = 0.6 is not allowed: a fraction larger than ramp_start = 0.7"),
    refused("run mlp_mnist -p seeds []",
            "parameter 'seeds' = () is not allowed: a non-empty list of non-negative integers"),
    refused("run mlp_mnist -p latency_batches [0]",
            "parameter 'latency_batches' = (0,) is not allowed: a non-empty list of positive integers"),
    refused("run mlp_mnist -p device tpu", "parameter 'device' = 'tpu' is not allowed: one of 'auto', 'cpu', 'cuda'"),
    refused("run mlp_mnist --profile huge",
            "parameter 'profile' = 'huge' is not allowed: one of smoke, quick, medium, paper"),
    refused("""run comparison -p methods '["stochastic_l2","dropout"]'""",
            "parameter 'methods' = ('stochastic_l2', 'dropout') is not allowed: distinct names from dense, "
            "stochastic_l2, stochastic_l1, magnitude_l2, relevance, guided, group_lasso, magnitude, slimming"),
    refused("run comparison -p vgg_group_lambda -0.001",
            "parameter 'vgg_group_lambda' = -0.001 is not allowed: a number in [0.0, 1.0]"),
    refused("run comparison -p relevance_alpha 0",
            "parameter 'relevance_alpha' = 0 is not allowed: a number in (0.0, 1000000.0]"),
    refused("run comparison -p relevance_tau 1.5",
            "parameter 'relevance_tau' = 1.5 is not allowed: a number in (0.0, 1.0)"),
    refused("run resnet", f"unknown chapter 'resnet'; allowed: {', '.join(sorted(CHAPTERS))}"),
    refused("run unet_dsb2018 -p image_size 100",
            "parameter 'image_size' = 100 is not allowed: an integer from 32 to 256, a multiple of 2^depth = 8"),
    refused("run unet_dsb2018 -p depth 6", "parameter 'depth' = 6 is not allowed: an integer from 1 to 5"),
    refused("run unet_dsb2018 -p max_images 5",
            "parameter 'max_images' = 5 is not allowed: 0 (all 670 images) or an integer from 12 to 670"),
    refused("run unet_dsb2018 -p target_sparsity [0.5,0.9]",
            "parameter 'target_sparsity' = (0.5, 0.9) is not allowed: one value per U-Net level (depth + 1 = 4) and "
            "one "
            "for the head (5 values)"),
    refused("run unet_dsb2018 -p baseline_norm linf",
            "parameter 'baseline_norm' = 'linf' is not allowed: one of 'l2', 'l1'"),
    refused("run unet_dsb2018 -p folds 1",
            "parameter 'folds' = 1 is not allowed: 0 (one split) or an integer from 2 to 10"),
    refused("""run unet_dsb2018 -p variants '["norm","l2"]'""",
            "parameter 'variants' = ('norm', 'l2') is not allowed: 'norm' after the chosen variant 'l2', whose "
            "channels per block it removes"),
    refused("run unet_dsb2018 -p test_fraction 0.9",
            "parameter 'test_fraction' = 0.9 is not allowed: a number in [0.05, 0.4]"),
    refused("run vgg_cifar10 -p width 0", "parameter 'width' = 0 is not allowed: a number in (0.0, 1.0]"),
    refused("run vgg_cifar10 -p target_sparsity [0.5,0.5]",
            "parameter 'target_sparsity' = (0.5, 0.5) is not allowed: one value per prunable weight: 13 convolutions "
            "and "
            "the classifier (14 values)"),
    refused("""run vgg_cifar10 -p baselines '["l1_norm","hrank"]'""",
            "parameter 'baselines' = ('l1_norm', 'hrank') is not allowed: distinct names from l1_norm, slimming "
            "(or none)"),
    refused("run vgg_cifar10 -p sweep_fractions [0.5,1.0]",
            "parameter 'sweep_fractions' = 1.0 is not allowed: a number in (0.0, 1.0)"),
    refused("run vgg_cifar10 -p train_subset 49900",
            "parameter 'train_subset' = 49900 is not allowed: at most 49500 (the training images left after val_size), "
            "or 0 for all"),
    refused("run vgg_cifar10 -p augment yes", "parameter 'augment' = 'yes' is not allowed: true or false"),
    refused("run relevance_lenet5 -p tau 1.0", "parameter 'tau' = 1.0 is not allowed: a number in (0.0, 1.0)"),
    refused("run relevance_lenet5 -p tau 0", "parameter 'tau' = 0 is not allowed: a number in (0.0, 1.0)"),
    refused("run relevance_lenet5 -p alpha 0", "parameter 'alpha' = 0 is not allowed: a number in (0.0, 1000000.0]"),
    refused("run relevance_lenet5 -p gamma0 -0.001",
            "parameter 'gamma0' = -0.001 is not allowed: a number in [0.0, 1.0]"),
    refused("run relevance_lenet5 -p bound 98", "parameter 'bound' = 98 is not allowed: a number in [0.0, 1.0]"),
    refused("run guided_mlp -p lambda_group -0.1",
            "parameter 'lambda_group' = -0.1 is not allowed: a number in [0.0, 1.0]"),
    refused("""run guided_mlp -p phis '["l1","l0"]'""",
            "parameter 'phis' = ('l1', 'l0') is not allowed: distinct names from l1, l2sq, group"),
    refused("run guided_mlp -p guidance random",
            "parameter 'guidance' = 'random' is not allowed: one of 'linear', 'exp'"),
    refused("run guided_mlp -p kappa 0", "parameter 'kappa' = 0 is not allowed: a number in (0.0, 50.0]"),
    refused("run mlp_mnist -p data_root /nonexistent/data",
            "data root /nonexistent/data (argument data_root) does not exist; create it, or point $PRUNINGLIB_DATA / "
            "data_root at the folder that holds the data sets (see data/README.md)"),
    refused("run theory -p lambda_l2 -0.01", "parameter 'lambda_l2' = -0.01 is not allowed: a number in [0.0, 1.0]"),
    refused("run theory -p lambda_l1 -1.0", "parameter 'lambda_l1' = -1.0 is not allowed: a number in [0.0, 1.0]"),
    refused("run theory -p bn_lambda 2", "parameter 'bn_lambda' = 2 is not allowed: a number in [0.0, 1.0]"),
    refused("run theory -p scalar_lambda -0.5",
            "parameter 'scalar_lambda' = -0.5 is not allowed: a number in [0.0, 100.0]"),
    refused("run theory -p scalar_lambda 20",
            "parameter 'scalar_lambda' = 20 is not allowed: scalar_lr * scalar_lambda < 1 "
            "(scalar_lr = 0.1), else the L2 step flips the sign"),
    refused("run theory -p curvature 30", "parameter 'curvature' = 30 is not allowed: scalar_lr * (curvature + "
            "scalar_lambda) < 2 (scalar_lr = 0.1, scalar_lambda = 0.5), else gradient descent "
            "on the toy loss diverges"),
    refused("run theory -p scalar_w0 0",
            "parameter 'scalar_w0' = 0 is not allowed: a non-zero number in [-100.0, 100.0]"),
    refused("run theory -p dead_tol 0", "parameter 'dead_tol' = 0 is not allowed: a number in (0.0, 1.0)"),
    refused("run theory -p target_sparsity [0.9]",
            "parameter 'target_sparsity' = (0.9,) is not allowed: two values: the "
            "hidden layer, then the output layer"),
    refused("run theory -p bn_channels [8,8,8,8]",
            "parameter 'bn_channels' = (8, 8, 8, 8) is not allowed: 1 to 3 positive "
            "integers (28x28 images allow 3 blocks)"),
    refused("book --profile huge", "parameter 'profile' = 'huge' is not allowed: one of smoke, quick, paper (the "
            "profiles every chapter has)"),
    refused("book --profile medium", "parameter 'profile' = 'medium' is not allowed: one of smoke, quick, paper (the "
            "profiles every chapter has)"),
    # --out and out_dir
    refused('run mlp_mnist --out ""',
            "parameter '--out' = '' is not allowed: a folder path, not empty (for example runs/try)"),
    refused("run mlp_mnist --out {tmp}/file",
            "parameter '--out' = '{tmp}/file' is not allowed: a folder, not a file", setup=a_file("file"), absent=()),
    refused("run mlp_mnist --out {tmp}/file/run",
            "parameter '--out' = '{tmp}/file/run' is not allowed: a folder path, and {tmp}/file is a file",
            setup=a_file("file"), absent=()),
    refused("run mlp_mnist --out {tmp}/ro/run",
            "parameter '--out' = '{tmp}/ro/run' is not allowed: a folder this process can write to; creating a file "
            "in {tmp}/ro fails: Permission denied", setup=refusing_writes(errno.EACCES), absent=("ro/run",)),
    refused("run mlp_mnist --out {tmp}/ro/run",
            "parameter '--out' = '{tmp}/ro/run' is not allowed: a folder this process can write to; creating a file "
            "in {tmp}/ro fails: Read-only file system", setup=refusing_writes(errno.EROFS), absent=("ro/run",)),
    refused("run mlp_mnist -p out_dir {tmp}/elsewhere --out {tmp}/run",
            "parameter 'out_dir' = '{tmp}/elsewhere' is not allowed: the run folder is --out (default "
            "runs/<profile>/<chapter>)", absent=("run", "elsewhere")),
    refused("run mlp_mnist -p out_dir runs/x",
            "parameter 'out_dir' = 'runs/x' is not allowed: the run folder is --out (default "
            "runs/<profile>/<chapter>)"),
    # negative values after -p NAME reach the validator (argparse would take them for options)
    refused("run mlp_mnist -p lr -1e-2", "parameter 'lr' = -0.01 is not allowed: a number in (0.0, 10.0]"),
    refused("run mlp_mnist -p lr -inf", "parameter 'lr' = '-inf' is not allowed: a number in (0.0, 10.0]"),
    refused("run mlp_mnist -p lr -Infinity", "parameter 'lr' = -inf is not allowed: a number in (0.0, 10.0]"),
    refused("run theory -p scalar_w0 -1e3",
            "parameter 'scalar_w0' = -1000.0 is not allowed: a number in [-100.0, 100.0]"),
    Case("run mlp_mnist -p epochs", 2, "argument -p/--param: expected 2 arguments"),
    # values without an upper bound, repeated seeds, types: refused at validation, before any work
    refused("run mlp_mnist -p seeds [0,0]", "parameter 'seeds' = (0, 0) is not allowed: distinct seeds (a repeated "
            "seed would repeat the same run and resume its checkpoints)"),
    refused("run covid_cnn -p seeds [0,0]", "parameter 'seeds' = (0, 0) is not allowed: distinct seeds (a repeated "
            "seed would repeat the same run and resume its checkpoints)"),
    refused("run mlp_mnist -p seeds [1180591620717411303424]",
            "parameter 'seeds' = (1180591620717411303424,) is not allowed: integers in [0, 2**63) (seeds)"),
    refused("run mlp_mnist -p latency_batches [100000000]",
            "parameter 'latency_batches' = (100000000,) is not allowed: batch sizes up to 21399 (one batch of "
            "1x28x28 float32 inputs may take at most 64 MiB)"),
    refused("run mlp_mnist -p data_root 5", "parameter 'data_root' = 5 is not allowed: a folder path (a string; "
            "empty: $PRUNINGLIB_DATA, then data/ in the repo)"),
    refused("run mlp_mnist -p lr NaN", "parameter 'lr' = nan is not allowed: a number in (0.0, 10.0]"),
    refused("run mlp_mnist -p lr -inf", "parameter 'lr' = '-inf' is not allowed: a number in (0.0, 10.0]"),
    refused("run covid_cnn -p bootstrap 1000000", "parameter 'bootstrap' = 1000000 is not allowed: an integer from "
            "10 to 100000 (more cost time and memory after all the training)"),
    # one run at a time per folder; a run folder is complete or clearly failed
    Case("run mlp_mnist", 2, "is not allowed: a folder no other run is using; process", setup=held_lock,
         absent=("run/work",)),
    Case("run mlp_mnist --profile smoke", 1,
         "pruninglib: failed: chapter mlp_mnist failed in cell 3 (1 / 0): ZeroDivisionError: division by zero",
         setup=failing_chapter, absent=("run/results.json", "run/work/results.json", "run/summary.csv",
                                        "run/mlp_mnist.ipynb", "run/.lock"), present=("run/mlp_mnist.failed.ipynb",)),
    Case("run mlp_mnist --profile smoke", 1, "chapter mlp_mnist failed in cell 3",
         setup=steps(killed_run_leftovers, failing_chapter),
         absent=("run/results.json", "run/.lock", "run/.results.json.0a1b2c3d.tmp",
                 "run/work/.summary.csv.0a1b2c3d.tmp"), present=("run/mlp_mnist.failed.ipynb",)),
    # silent corruption: rebuilt or restarted, with the numbers of an undamaged run
    Case(TINY, 0, "", absent=(), present=("run/results.json",), setup=corrupt_extracted_mnist,
         check=same_numbers_as_the_reference),
    Case(TINY, 0, "", absent=(), present=("run/results.json",), setup=corrupt_checkpoint,
         check=same_numbers_as_the_reference),
    # the book refuses a chapter with an error output
    Case("book --no-execute --build-dir {tmp}/build", 1,
         "pruninglib: failed: chapter mlp_mnist holds an error output in cell 7 (id cell-05): ZeroDivisionError: "
         "division by zero", setup=book_with_an_error_output, absent=("build/_build",)),
    # publish
    Case("publish mlp_mnist", 2, "one of the arguments --profile --prose-only is required"),
    refused("publish mlp_mnist --prose-only -p epochs 3",
            "parameter 'epochs' is not allowed with --prose-only, which executes nothing"),
    refused("publish mlp_mnist resnet --profile paper",
            f"unknown chapter 'resnet'; allowed: {', '.join(sorted(CHAPTERS))}"),
    refused("publish mlp_mnist --profile huge",
            "parameter 'profile' = 'huge' is not allowed: one of smoke, quick, medium, paper"),
    refused("publish mlp_mnist --profile paper -p epochs 0", "parameter 'epochs' = 0 is not allowed: an integer >= 1"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.args for c in CASES])
def test_abuse_case(case: Case, tmp_path: Path, request: pytest.FixtureRequest, capsys) -> None:
    if case.setup is not None:
        case.setup(tmp_path, request)
    args = case.args + (" --out {tmp}/run" if case.args.startswith("run ") and "--out" not in case.args else "")
    try:
        code = main(shlex.split(args.replace("{tmp}", str(tmp_path))))
    except SystemExit as exc:  # an argparse usage error
        code = exc.code
    err = capsys.readouterr().err
    assert code == case.code, err
    assert case.message.replace("{tmp}", str(tmp_path)) in err
    assert [p for p in case.absent if (tmp_path / p).exists()] == []
    assert [p for p in case.present if not (tmp_path / p).exists()] == []
    if case.check is not None:
        case.check(tmp_path)


def test_negative_values_are_values_of_their_parameter() -> None:
    args = cli.parser().parse_args(cli._attach_param_values(
        ["run", "theory", "-p", "scalar_w0", "-1e-2", "-p", "lr", "-inf", "--out", "x"]))
    assert args.param == [("scalar_w0", "-1e-2"), ("lr", "-inf")] and args.out == "x"
    assert CHAPTERS.get("theory").parameters("smoke", cli._overrides(args.param[:1]))["scalar_w0"] == -0.01


@pytest.mark.parametrize("kind", ["read-only filesystem", "no write permission"])
def test_real_filesystem_refusals(kind: str, tmp_path: Path) -> None:
    """The two rows above that fake the operating system's refusal, against the real thing where this machine
    allows it: a read-only tmpfs in a private mount namespace (unshare), a folder without write permission (not
    for root, who may write anyway)."""
    target = tmp_path / "ro"
    target.mkdir()
    cmd = [sys.executable, "-m", "pruninglib.cli", "run", "mlp_mnist", "--out", str(target / "run")]
    if kind == "read-only filesystem":
        mount = ["unshare", "--map-root-user", "--mount", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{target}" && "$@"',
                 "sh"]
        if shutil.which("unshare") is None or subprocess.run([*mount, "true"], capture_output=True).returncode:
            pytest.skip("cannot mount a read-only tmpfs here (unshare with user namespaces is not allowed)")
        cmd, expected = [*mount, *cmd], "Read-only file system"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write into a folder without write permission")
        target.chmod(0o500)
        expected = "Permission denied"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"creating a file in {target} fails: {expected}" in proc.stderr
