"""Notebooks: one parameters cell that is the config; the smoke run works end to end and nbval reproduces it."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pruninglib import load_model
from pruninglib.cli import main, run_chapter
from pruninglib.experiments import CHAPTERS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def parameters_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]


def test_every_chapter_has_its_notebook_and_every_notebook_a_chapter():
    assert {CHAPTERS.get(n).notebook for n in CHAPTERS} == {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_whose_names_and_defaults_are_the_config(path):
    cells = parameters_cells(path)
    assert len(cells) == 1, f"{path.name} has {len(cells)} parameters cells"
    values = {}
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.AnnAssign), f"only 'name: type = literal' lines: {ast.unparse(node)}"
        values[node.target.id] = ast.literal_eval(node.value)
    chapter = next(CHAPTERS.get(n) for n in CHAPTERS if CHAPTERS.get(n).notebook == path.name)
    assert set(values) == set(chapter.config.field_names())
    assert chapter.config.from_mapping(values) == chapter.config()  # the cell's defaults are the smoke profile


@pytest.mark.parametrize("argv, message", [
    (["run", "mlp_mnist", "-p", "epoch", "3"], "'epoch' = 3 is not allowed"),
    (["run", "mlp_mnist", "-p", "epochs", "-1"], "'epochs' = -1 is not allowed: an integer >= 1"),
    (["run", "mlp_mnist", "-p", "target_sparsity", "[1.5, 0.9, 0.5]"], "'target_sparsity' = 1.5"),
    (["run", "mlp_mnist", "-p", "variants", '["l2", "dropout"]'], "'variants' = ('l2', 'dropout')"),
    (["run", "mlp_mnist", "--profile", "huge"], "'profile' = 'huge' is not allowed"),
    (["run", "resnet"], "unknown chapter 'resnet'; allowed: covid_cnn, mlp_mnist"),
    (["run", "covid_cnn", "-p", "folds", "1"], "'folds' = 1 is not allowed: an integer >= 2"),
    (["run", "covid_cnn", "-p", "image_size", "40"], "'image_size' = 40 is not allowed: a size that survives 4"),
    (["run", "covid_cnn", "-p", "threshold", "1.5"], "'threshold' = 1.5 is not allowed: a number in (0.0, 1.0)"),
    (["run", "mlp_mnist", "-p", "data_root", "/nonexistent/data"], "data root /nonexistent/data"),
    (["book", "--profile", "huge"], "'profile' = 'huge' is not allowed"),
])
def test_cli_rejects_bad_input_before_any_work(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)] if argv[0] == "run" else argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def _check_mlp_mnist(r):
    assert set(r["nodes_removed"]["per_layer"]) == {"hidden 1", "hidden 2"}
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_64"}
    assert {"metric", "value", "params", "flops"} <= set(r["shrunk"])
    assert r["shrunk"]["max_abs_diff_vs_masked"] <= 1e-5


def _check_covid_cnn(r):
    assert set(r["variants"]) == {"dense", "l2"} and r["data_source"]["images"] == 191
    assert set(r["variants"]["l2"]["channels_removed_per_block"]) == {f"block {i}" for i in range(1, 5)}
    for block in (r["variants"]["dense"]["auc"], r["pooled"]["l2"]["auc"]):
        assert block["low"] <= block.get("mean", block.get("value")) <= block["high"]
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_32"}
    assert r["shrunk"]["max_abs_diff_vs_masked"] <= 1e-6
    assert len(r["shrunk_model_paths"]) == r["parameters"]["folds"]


CHAPTER_CHECKS = {"mlp_mnist": ("mnist_root", _check_mlp_mnist), "covid_cnn": ("covid_root", _check_covid_cnn)}


def test_every_chapter_has_an_end_to_end_check():
    assert set(CHAPTER_CHECKS) == set(CHAPTERS)


@pytest.mark.parametrize("chapter", sorted(CHAPTER_CHECKS))
def test_smoke_run_writes_results_and_nbval_reproduces_it(chapter, tmp_path, request):
    fixture, check_chapter = CHAPTER_CHECKS[chapter]
    data_root = request.getfixturevalue(fixture)
    out = run_chapter(chapter, "smoke", {"data_root": str(data_root)}, out=tmp_path, progress=False)
    r = json.loads((out / "results.json").read_text())
    for key in ("chapter", "profile", "parameters", "seeds", "hardware", "torch_version", "data_source", "git",
                "wall_time_s", "latency_ms", "shrunk", "shrunk_model_path", "notebook", "targets"):
        assert key in r, key
    assert r["chapter"] == chapter and r["profile"] == "smoke" and r["data_source"]["checksums_ok"]
    assert all(isinstance(t["met"], bool) for t in r["targets"])
    check_chapter(r)
    load_model(r["shrunk_model_path"])
    nb = out / f"{chapter}.ipynb"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval", str(nb), "--nbval-current-env",
                           "--nbval-sanitize-with", str(REPO / "tests" / "sanitize.cfg"), "-p", "no:cacheprovider",
                           "-q", "--rootdir", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
