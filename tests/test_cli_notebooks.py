"""Chapters: each is one MyST Markdown source whose parameters cell is the config and parses cleanly under papermill;
the smoke run works end to end through the command line, nbval reproduces it, and a killed run resumes to the same
results."""
import ast
import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import time
import tokenize
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import psutil
import pytest

from pruninglib import load_model
from pruninglib.experiments import CHAPTERS
from pruninglib.notebook import read_source, source_path, tags

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(CHAPTERS)


def test_every_chapter_has_its_source_and_every_source_a_chapter():
    assert {p.stem for p in (REPO / "notebooks").glob("*.md")} == set(NAMES)
    assert not list((REPO / "notebooks").glob("*.ipynb")), "the .md file is a chapter's only source"


def parameter_lines(source: str) -> dict[str, tuple[str, object, str]]:
    """``name: type = literal  # comment`` lines -> {name: (type, value, comment)}; anything else fails."""
    found: dict[str, tuple[str, object, str]] = {}
    for line in source.splitlines():
        comments = [t for t in tokenize.generate_tokens(io.StringIO(line).readline) if t.type == tokenize.COMMENT]
        assert len(comments) == 1, f"every line is 'name: type = literal  # help': {line!r}"
        (node,) = ast.parse(line[:comments[0].start[1]]).body
        assert isinstance(node, ast.AnnAssign) and node.target.id not in found, line
        found[node.target.id] = (ast.unparse(node.annotation), ast.literal_eval(node.value),
                                 comments[0].string[1:].strip())
    return found


@pytest.mark.parametrize("chapter", NAMES)
def test_one_parameters_cell_that_is_the_config(chapter):
    """Names, types and values of the smoke profile (the config's defaults), and each field's help as the comment:
    the cell is written by hand in the source, so this is what keeps it from drifting from the library."""
    nb, _ = read_source(chapter)
    cells = [c for c in nb.cells if "parameters" in tags(c)]
    assert len(cells) == 1, f"{chapter} has {len(cells)} parameters cells"
    ch = CHAPTERS.get(chapter)
    lines, defaults, helps = parameter_lines(cells[0].source), ch.parameters("smoke"), ch.config.help()
    assert set(lines) == set(ch.config.field_names())
    for name, (kind, value, comment) in lines.items():
        assert value == defaults[name], name
        assert kind == ("list" if isinstance(defaults[name], list) else type(defaults[name]).__name__), name
        assert comment == helps[name], name


@pytest.mark.parametrize("chapter", NAMES)
def test_papermill_parses_the_parameters_cell_without_a_warning(chapter, tmp_path, caplog):
    """papermill infers every parameter from the cell (a second '=' on a line, even in its comment, breaks it) and
    injects a whole profile without 'Passed unknown parameter'."""
    nb, _ = read_source(chapter)
    nbformat.write(nb, tmp_path / "in.ipynb")
    params = CHAPTERS.get(chapter).parameters("paper")
    with caplog.at_level(logging.INFO, logger="papermill"):
        assert set(pm.inspect_notebook(str(tmp_path / "in.ipynb"))) == set(params)
        pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), parameters=params,
                            prepare_only=True, kernel_name="python3")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("chapter", NAMES)
def test_chapter_follows_the_skeleton(chapter):
    """What every chapter has: citations, a reproduce box with the command of each profile, and exercises whose
    solutions are toggled."""
    nb, _ = read_source(chapter)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "{cite}`" in text
    box = text.split("```{admonition} Reproduce this chapter\n:class: tip\n", 1)
    assert len(box) == 2, f"no reproduce box in {source_path(chapter)}"
    for profile in CHAPTERS.get(chapter).profiles:
        assert f"`pruninglib run {chapter} --profile {profile}`" in box[1].split("```", 1)[0], profile
    exercises = text.split("## Exercises", 1)
    assert len(exercises) == 2, "no '## Exercises' section"
    assert re.search(r"```\{admonition\} Solution\n\s*:class: dropdown\n", exercises[1])


def pruninglib_run(chapter: str, out: Path, data_root: Path) -> list[str]:
    """The command line of a smoke run: the same command for the reference run and the interrupted one."""
    return [sys.executable, "-m", "pruninglib.cli", "run", chapter, "--profile", "smoke",
            "-p", "data_root", str(data_root), "--out", str(out)]


def _check_shrunk(r):
    """What every chapter that physically shrinks networks records: latency, the shrunk net, a loadable model."""
    assert r["latency_ms"] and r["headline"]["shrunk"] and r["models"]
    load_model(r["models"][0])


def _check_mlp_mnist(r):
    _check_shrunk(r)
    h = r["headline"]
    assert h["split"] == "test" and list(h["variants"]) == ["dense", "l2", "l1", "none"] and "resumed_runs" in r
    assert {"nodes_removed[hidden 1]", "nodes_removed[hidden 2]", "shrunk_test_accuracy"} <= set(h["variants"]["l2"])
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_64"}
    assert {"metric", "value", "params", "flops"} <= set(h["shrunk"])
    assert h["shrunk"]["max_abs_diff_vs_masked"] <= 1e-5
    assert [t["name"] for t in r["targets"]] == ["hidden nodes removed (%)", "dense test accuracy (%)",
                                                 "shrunk minus dense test accuracy (points)"]


def _check_covid_cnn(r):
    _check_shrunk(r)
    h = r["headline"]
    assert set(h["variants"]) == {"dense", "l2"} and r["data_source"]["images"] == 191
    assert set(h["variants"]["l2"]["channels_removed_per_block"]) == {f"block {i}" for i in range(1, 5)}
    for block in (h["variants"]["dense"]["auc"], h["pooled"]["l2"]["auc"]):
        assert block["low"] <= block.get("mean", block.get("value")) <= block["high"]
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_32"}
    assert h["shrunk"]["max_abs_diff_vs_masked"] <= 1e-6
    assert len(r["models"]) == r["parameters"]["folds"] * len(r["parameters"]["seeds"])


def _check_theory(r):
    assert set(r["headline"]["test_accuracy"]) == {"none", "l2", "l1", "zero", "zero+l2", "zero+l1", "bn", "bn+l2"}
    names = [t["name"] for t in r["targets"]]
    assert len(names) == len(set(names)) and {n[:3] for n in names} == {"(a)", "(b)", "(c)"}
    # The exact claims hold at every profile (the trained-network ones need the longer profiles).
    assert all(t["verdict"] == "met" for t in r["targets"] if t["name"].startswith("(a)")), r["targets"]
    measured = r["headline"]["measured"]
    assert measured["first_exact_zero"]["prox_l1"] == 20 and measured["first_exact_zero"]["l2"] is None


def _check_unet_dsb2018(r):
    _check_shrunk(r)
    assert r["data_source"]["images"] == 24 and r["data_source"]["modes"] == {"RGBA": 24}
    split, ids = r["data_source"]["split"], r["data_source"]["split_ids"]
    assert sum(split[f"{k}_images"] for k in ("train", "val", "test")) == 24 == sum(map(len, ids.values()))
    assert not set(ids["train"]) & set(ids["test"])
    assert {v["variant"] for v in r["runs"]} == {"dense", "l2", "l1", "norm (no fine-tune)", "norm + fine-tune"}
    assert 0.0 <= r["headline"]["dense_ap"] <= 1.0 and 0.0 <= r["headline"]["dense_dice"] <= 1.0
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_8"}
    assert r["headline"]["shrunk"]["max_abs_diff_vs_masked"] <= 1e-4


def _check_vgg_cifar10(r):
    _check_shrunk(r)
    h = r["headline"]
    assert r["data_source"]["source"] == "jpeg" and r["data_source"]["split"]["train_size"] == 256
    assert set(h["methods"]) == {"dense", "l2", "l1_norm", "slimming"}
    removed = {m: v["filters_removed"] for m, v in h["methods"].items()}
    assert removed["l1_norm"] == removed["l2"] == removed["slimming"]  # the same filter budget
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_64"}
    assert all(t > 0 for t in pd.read_csv(r["files"]["throughput"])["train_images_per_s"])
    assert h["shrunk"]["max_abs_diff_vs_masked"] <= 1e-6


def _check_relevance_lenet5(r):
    _check_shrunk(r)
    rel = r["headline"]["relevance"]
    assert rel["crops"]["mean"] >= 1, "the smoke bound is low so that the gate opens"
    sparsity, crops, tau = rel["weight_sparsity"]["mean"], rel["crops"]["mean"], 0.04
    assert abs(sparsity - (1 - (1 - tau) ** crops)) <= 1e-4
    assert r["targets"][0]["verdict"] == "met" and r["headline"]["shrunk"]["max_abs_diff_vs_masked"] <= 1e-5
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_64"}


def _check_guided_mlp(r):
    assert set(r["headline"]["variants"]) == {"none"} | {f"{p} {g}" for p in ("l1", "l2sq", "group")
                                                         for g in ("guided", "unguided")}
    assert load_model(r["models"][0]).widths[1:3] == (60, 20)  # 20% of 300 and 100 hidden units kept
    assert len(r["targets"]) == 7 and r["headline"]["keep"] == 0.2
    assert set(r["latency_ms"]["shrunk"]) == {"batch_1", "batch_64"}


def _check_mlp_mechanism(r):
    h = r["headline"]
    assert set(h["selected_lambda"]) == {"l2", "l1"} and h["tolerance_points"] == 0.3
    assert {row["setting"] for row in r["runs"]} == {"lambda_l2", "lambda_l1", "reference", "sharpness"}
    assert r["data_source"]["verified_files"] and "test" not in json.dumps(r["runs"])
    assert len(pd.read_csv(r["files"]["lambda_curves"])) == 6  # 2 regularizers x (lambda 0 and 2 lambdas)


def _check_comparison(r):
    settings = r["headline"]["settings"]
    assert set(settings) == {"mlp", "vgg"}
    methods = {s: {m["variant"] for m in v["methods"]} for s, v in settings.items()}
    every = {"dense", "stochastic_l2", "stochastic_l1", "magnitude_l2", "relevance", "guided", "group_lasso",
             "magnitude"}
    assert methods == {"mlp": every, "vgg": every | {"slimming"}}  # slimming needs BatchNorm
    assert r["targets"][0]["verdict"] == "met", "every net is shrunk exactly"
    for s in settings.values():
        assert s["pareto_front"] and all(m["n"] == 1 for m in s["methods"])
        assert all(m["latency_ms[batch_64]"] > 0 for m in s["methods"])
    slim = next(m for m in settings["vgg"]["methods"] if m["variant"] == "slimming")
    assert slim["nodes_removed"] == pytest.approx(0.2, abs=0.01)  # slimming_fraction of the filters


CHAPTER_CHECKS = {"mlp_mnist": ("mnist_root", _check_mlp_mnist),
                  "mlp_mechanism": ("mnist_root", _check_mlp_mechanism),
                  "covid_cnn": ("covid_root", _check_covid_cnn),
                  "theory": ("mnist_root", _check_theory),
                  "unet_dsb2018": ("dsb_root", _check_unet_dsb2018),
                  "vgg_cifar10": ("cifar_root", _check_vgg_cifar10),
                  "relevance_lenet5": ("mnist_root", _check_relevance_lenet5),
                  "guided_mlp": ("mnist_root", _check_guided_mlp),
                  "comparison": ("cifar_root", _check_comparison)}


def test_every_chapter_has_an_end_to_end_check():
    assert set(CHAPTER_CHECKS) == set(CHAPTERS)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, request):
    """Uninterrupted smoke runs through the command line, one per chapter, made on first use and shared."""
    runs: dict[str, tuple[Path, Path]] = {}

    def get(chapter: str) -> tuple[Path, Path]:
        if chapter not in runs:
            root = request.getfixturevalue(CHAPTER_CHECKS[chapter][0])
            out = tmp_path_factory.mktemp(f"straight-{chapter}")
            proc = subprocess.run(pruninglib_run(chapter, out, root), capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, proc.stderr[-3000:]
            runs[chapter] = (out, root)
        return runs[chapter]

    return get


@pytest.mark.parametrize("chapter", sorted(CHAPTER_CHECKS))
def test_smoke_run_writes_results_and_nbval_reproduces_it(chapter, smoke_runs, tmp_path, monkeypatch):
    out, _ = smoke_runs(chapter)
    r = json.loads((out / "results.json").read_text())
    for key in ("chapter", "profile", "parameters", "seeds", "hardware", "torch_version", "data_source", "git",
                "wall_time_s", "notebook", "targets"):
        assert key in r, key
    assert r["chapter"] == chapter and r["profile"] == "smoke" and r["data_source"]["verified_files"]
    assert r["schema"] == "pruninglib-results/1" and r["runs"]
    assert all(t["verdict"] in ("met", "met on the mean only", "missed") and len(t["values"]) == t["n"]
               for t in r["targets"])
    executed = nbformat.read(out / f"{chapter}.ipynb", as_version=4)
    assert executed.metadata["pruninglib"]["source_sha256"] == read_source(chapter)[1]
    assert [p.name for p in (out / "work").iterdir()] == ["checkpoints"], "work/ keeps only the checkpoints"
    monkeypatch.chdir(out)  # results.json's paths are relative to its folder
    CHAPTER_CHECKS[chapter][1](r)
    # nbval re-executes the notebook and compares every output. In a copy of the run folder without work/ (the
    # checkpoints), so the runs are trained again, not resumed: same seed, same numbers, at the experiment level.
    # The kernel works in the notebook's folder, as `out_dir` "." expects.
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("work"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval", str(copy / f"{chapter}.ipynb"),
                           "--nbval-current-env", "--nbval-sanitize-with", str(REPO / "tests" / "sanitize.cfg"),
                           "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_killed_run_resumes_to_the_same_results(smoke_runs, tmp_path):
    """While a run holds its folder, a second run into it is refused and changes nothing. Killed (with its kernel)
    once its first checkpoint exists, the run leaves no results.json; run again, it takes over the stale lock,
    resumes, ends with the results of an uninterrupted run, and leaves no temporary file."""
    straight, root = smoke_runs("mlp_mnist")
    out = tmp_path / "interrupted"
    cmd = pruninglib_run("mlp_mnist", out, root)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("work/checkpoints/*/*.pt")):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
            time.sleep(0.02)
        suspend_tree(proc.pid)  # so that it cannot finish while the second run tries
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"process {proc.pid} is running into it" in second.stderr
        assert (out / "work" / "mlp_mnist.ipynb").exists(), "the refused run touched the first one's work"
    finally:
        kill_tree(proc.pid)
    assert not (out / "results.json").exists(), "the run finished before it could be killed"
    assert (out / ".lock").read_text().strip() == str(proc.pid), "a killed run leaves a stale lock"
    assert subprocess.run(cmd, capture_output=True, timeout=600).returncode == 0
    resumed, expected = (json.loads((d / "results.json").read_text()) for d in (out, straight))
    assert resumed["resumed_runs"] and resumed["resumed_runs"][0]["variant"] == "dense"
    for key in ("runs", "headline", "targets"):
        assert _without_time(resumed[key]) == _without_time(expected[key]), key
    assert pd.read_csv(out / "summary.csv").drop(columns="train_s").equals(
        pd.read_csv(straight / "summary.csv").drop(columns="train_s"))
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == ".lock" or "failed" in p.name]
    assert leftovers == []


def _without_time(obj):
    """``obj`` without the runs' training times (a resumed run trains for less time, with the same numbers)."""
    if isinstance(obj, list):
        return [_without_time(v) for v in obj]
    return {k: v for k, v in obj.items() if k != "train_s"} if isinstance(obj, dict) else obj


def suspend_tree(pid: int) -> None:
    """SIGSTOP a process and all its descendants."""
    parent = psutil.Process(pid)
    for p in [parent, *parent.children(recursive=True)]:
        p.suspend()


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (papermill's kernel runs in a session of its own)."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [parent, *parent.children(recursive=True)]
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(procs, timeout=30)
