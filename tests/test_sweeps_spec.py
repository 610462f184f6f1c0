"""Sweep files, the run store, aggregation and the local engine's plumbing: fast tests, no training.

Every bad sweep file fails before any work (the store is not even created) with a message naming the key and the
value; the engines themselves are tested on real runs in test_sweeps.py.
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from pruninglib.cli import main
from pruninglib.config import ConfigError
from pruninglib.experiments import CHAPTERS
from pruninglib.sweeps import (PointBusy, RunStore, SweepError, collect, load_sweep, point_key, run_chapters, run_local,
                               run_sweep, summarize)
from pruninglib.sweeps.executors import plan_workers

GRID = "chapter: mlp_mnist\nprofile: smoke\nfixed: {epochs: 1}\naxes:\n  lambda_l2: [1e-3, 0.01]\n  seed: [0, 1]\n"
KEYS = "chapter, profile, fixed, axes, exclude"

# (name, file suffix, file text, the message after "sweep file <path>")
BAD = [
    ("unknown chapter", ".yaml", "chapter: resnet\naxes: {seed: [0]}\n",
     f": key 'chapter' = 'resnet' is not allowed: one of {', '.join(CHAPTERS)}"),
    ("missing chapter", ".yaml", "axes: {seed: [0]}\n", f": key 'chapter' is missing: one of {', '.join(CHAPTERS)}"),
    ("unknown profile", ".yaml", "chapter: mlp_mnist\nprofile: huge\n",
     ": key 'profile' = 'huge' is not allowed: one of smoke, quick, medium, paper"),
    ("unknown top-level key", ".yaml", "chapter: mlp_mnist\naxis: {seed: [0]}\n",
     f": key 'axis' = {{'seed': [0]}} is not allowed: one of the keys {KEYS}"),
    ("unknown parameter on an axis", ".yaml", "chapter: mlp_mnist\naxes: {lamda_l2: [0.1]}\n",
     ": point lamda_l2=0.1: parameter 'lamda_l2' = 0.1 is not allowed: a parameter of MLPMnistConfig: batch_size,"),
    ("unknown fixed parameter", ".yaml", "chapter: mlp_mnist\nfixed: {epoch: 3}\naxes: {seed: [0]}\n",
     ": point seed=0: parameter 'epoch' = 3 is not allowed: a parameter of MLPMnistConfig: batch_size,"),
    ("out-of-range value", ".yaml", "chapter: mlp_mnist\naxes: {lambda_l2: [1e-3, 2.0]}\n",
     ": point lambda_l2=2.0: parameter 'lambda_l2' = 2.0 is not allowed: a number in [0.0, 1.0]"),
    ("negative seed", ".toml", 'chapter = "mlp_mnist"\n[axes]\nseed = [0, -1]\n',
     ": point seed=-1: parameter 'seeds' = (-1,) is not allowed: a non-empty list of non-negative integers"),
    ("empty axis", ".yaml", "chapter: mlp_mnist\naxes: {lambda_l2: []}\n",
     ": key 'axes.lambda_l2' = [] is not allowed: a non-empty list of values"),
    ("axis not a list", ".yaml", "chapter: mlp_mnist\naxes: {lambda_l2: 0.1}\n",
     ": key 'axes.lambda_l2' = 0.1 is not allowed: a non-empty list of values"),
    ("axis also fixed", ".yaml", "chapter: mlp_mnist\nfixed: {epochs: 2}\naxes: {epochs: [1, 3]}\n",
     ": key 'axes.epochs' = [1, 3] is not allowed: a parameter that is not also in 'fixed' (fixed.epochs = 2)"),
    ("seeds beside a seed axis", ".yaml", "chapter: mlp_mnist\nfixed: {seeds: [0, 1]}\naxes: {seed: [0]}\n",
     ": key 'seeds' = [0, 1] is not allowed: absent when 'seed' is an axis (one seed per point)"),
    ("out_dir set", ".yaml", "chapter: mlp_mnist\nfixed: {out_dir: runs/x}\n",
     ": key 'out_dir' = 'runs/x' is not allowed: not set in a sweep: the run store chooses it"),
    ("exclude names no axis", ".yaml", "chapter: mlp_mnist\naxes: {seed: [0, 1]}\nexclude: [{sed: 1}]\n",
     ": key 'exclude[0].sed' = 1 is not allowed: an axis name: one of seed"),
    ("exclude names no axis value", ".yaml", "chapter: mlp_mnist\naxes: {seed: [0, 1]}\nexclude: [{seed: 2}]\n",
     ": key 'exclude[0].seed' = 2 is not allowed: one of the axis values [0, 1]"),
    ("everything excluded", ".yaml", "chapter: mlp_mnist\naxes: {seed: [0]}\nexclude: [{seed: 0}]\n",
     ": key 'exclude' = [{'seed': 0}] is not allowed: it excludes every point"),
    ("one configuration twice", ".yaml", "chapter: mlp_mnist\naxes: {lambda_l2: [0, 0.0]}\n",
     ": points lambda_l2=0 and lambda_l2=0.0 are the same configuration: list each value once per axis"),
    ("malformed YAML", ".yaml", "chapter: mlp_mnist\naxes: {seed: [0, 1}\n", " is not valid YAML: "),
    ("malformed TOML", ".toml", 'chapter = "mlp_mnist"\n[axes\nseed = [0]\n', " is not valid TOML: "),
    ("not a mapping", ".yaml", "- mlp_mnist\n",
     f": the file holds list ['mlp_mnist']; expected a mapping with the keys {KEYS}"),
    ("not a sweep file name", ".json", "{}", ": the name must end in .yaml, .yml, .toml"),
]


@pytest.mark.parametrize("name,suffix,text,message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_sweep_file_fails_before_any_work_naming_key_and_value(tmp_path, name, suffix, text, message):
    path = tmp_path / f"grid{suffix}"
    path.write_text(text)
    with pytest.raises(SweepError) as info:
        run_sweep(path, store=tmp_path / "store", progress=False)
    assert str(info.value).startswith(f"sweep file {path}{message}")
    assert not (tmp_path / "store").exists()


def test_the_command_line_reports_a_bad_sweep_file_with_status_2(tmp_path, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text("chapter: mlp_mnist\naxes: {lambda_l2: []}\n")
    assert main(["sweep", str(path), "--store", str(tmp_path / "store")]) == 2
    assert capsys.readouterr().err == (f"pruninglib: error: sweep file {path}: key 'axes.lambda_l2' = [] is not "
                                       "allowed: a non-empty list of values\n")


def test_a_missing_sweep_file_is_named(tmp_path):
    with pytest.raises(SweepError, match=f"sweep file {tmp_path / 'nope.yaml'} cannot be read: No such file"):
        load_sweep(tmp_path / "nope.yaml")


def test_the_ray_engine_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "grid.yaml").write_text(GRID)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert main(["sweep", str(tmp_path / "grid.yaml"), "--engine", "ray", "--store", str(tmp_path / "s")]) == 1
    assert 'install it with: pip install -e ".[ray]"' in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "grid.yaml").write_text(GRID)
    assert main(["sweep", str(tmp_path / "grid.yaml"), "--store", str(tmp_path / "s"), "--dry-run",
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 points (lambda_l2: 2 x seed: 2 values, 0 excluded)" in out
    assert f"store {tmp_path / 's'}: 0 done, 0 failed, 4 to run" in out
    assert not (tmp_path / "s").exists()


def test_yaml_and_toml_give_the_same_points_and_seed_is_one_seed_per_point(tmp_path):
    (tmp_path / "g.yaml").write_text(GRID + "exclude:\n  - {lambda_l2: 0.01, seed: 1}\n")
    (tmp_path / "g.toml").write_text('chapter = "mlp_mnist"\nprofile = "smoke"\n[fixed]\nepochs = 1\n[axes]\n'
                                     'lambda_l2 = [0.001, 1e-2]\nseed = [0, 1]\n[[exclude]]\nlambda_l2 = 0.01\n'
                                     'seed = 1\n')
    a, b = load_sweep(tmp_path / "g.yaml"), load_sweep(tmp_path / "g.toml")
    assert [p.parameters for p in a.points] == [p.parameters for p in b.points]
    assert [p.values for p in a.points] == [{"lambda_l2": 0.001, "seed": 0}, {"lambda_l2": 0.001, "seed": 1},
                                            {"lambda_l2": 0.01, "seed": 0}]  # YAML's 1e-3 is a float here
    assert [p.parameters["seeds"] for p in a.points] == [[0], [1], [0]] and a.excluded == 1
    assert "out_dir" not in a.points[0].parameters


def test_a_point_key_is_its_configuration_and_code_version(tmp_path):
    (tmp_path / "int.yaml").write_text("chapter: mlp_mnist\naxes: {lambda_l2: [0, 1]}\n")
    (tmp_path / "float.yaml").write_text("chapter: mlp_mnist\naxes: {lambda_l2: [0.0, 1.0]}\n")
    ints, floats = load_sweep(tmp_path / "int.yaml").points, load_sweep(tmp_path / "float.yaml").points
    assert [point_key(p, "v1") for p in ints] == [point_key(p, "v1") for p in floats]  # 0 and 0.0: one point
    assert point_key(ints[0], "v1") != point_key(ints[1], "v1")
    assert point_key(ints[0], "v1") != point_key(ints[0], "v2")


def test_store_states_and_the_point_lock(tmp_path):
    store = RunStore(tmp_path)
    assert store.state("k") == "pending"
    try:
        raise ValueError("lr too large")
    except ValueError as exc:
        store.record_failure("k", exc)
    assert store.state("k") == "failed" and store.error("k")["error"] == "ValueError: lr too large"
    with store.claim("k"):
        with pytest.raises(PointBusy, match="point k is being run by another process"):
            with store.claim("k"):
                pass
    (tmp_path / "k" / "results.json").write_text("{}")
    assert store.state("k") == "done"


def _fake_store(root: Path, seeds_per_point: dict[float, list[float]]) -> RunStore:
    """A store holding finished mlp_mnist points at several lambda_l2, one seed each, with given accuracies."""
    store = RunStore(root)
    for lam, accs in seeds_per_point.items():
        for seed, acc in enumerate(accs):
            params = {**CHAPTERS.get("mlp_mnist").parameters("smoke", {"lambda_l2": lam, "seeds": [seed]})}
            params.pop("out_dir")
            key = f"{lam}-{seed}"
            (root / key).mkdir(parents=True)
            (root / key / "point.json").write_text(json.dumps({"parameters": params, "code": "v1"}))
            (root / key / "results.json").write_text(json.dumps({"chapter": "mlp_mnist", "runs": [
                {"variant": "l2", "seed": seed, "test_accuracy": acc, "params": 100}]}))
    return store


def test_collect_a_store_and_summarize_over_seeds_against_scipy(tmp_path):
    accs = {0.001: [0.90, 0.92, 0.97], 0.01: [0.80, 0.85, 0.81]}
    frame = collect(_fake_store(tmp_path, accs).root)
    assert list(frame.columns) == ["point", "chapter", "lambda_l2", "variant", "seed", "metric", "value"]
    assert len(frame) == 6 * 2  # 6 points x 1 run x 2 metrics
    cells = summarize(frame[frame.metric == "test_accuracy"]).set_index("lambda_l2")
    for lam, values in accs.items():
        low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
        assert cells.loc[lam, "n"] == 3 and cells.loc[lam, "mean"] == pytest.approx(np.mean(values))
        assert (cells.loc[lam, "low"], cells.loc[lam, "high"]) == (pytest.approx(low), pytest.approx(high))


def test_collect_refuses_a_record_without_runs(tmp_path):
    store = _fake_store(tmp_path, {0.001: [0.9]})
    (tmp_path / "0.001-0" / "results.json").write_text(json.dumps({"chapter": "mlp_mnist"}))
    with pytest.raises(ValueError, match="results.json has no 'runs' list"):
        collect(store.root)


def test_workers_times_threads_may_not_exceed_the_cores():
    cores = len(os.sched_getaffinity(0))
    assert plan_workers(None, 1) == cores
    with pytest.raises(ConfigError, match=f"parameter 'workers' = {cores + 1} is not allowed: an integer >= 1 with "
                                          f"workers x threads \\(1\\) <= the {cores} cores"):
        plan_workers(cores + 1, 1)


def fake_run_chapter(chapter: str, profile: str, out: Path, progress: bool) -> Path:
    """Stands in for the command line's run_chapter: records when and with how many threads it ran."""
    out.mkdir(parents=True, exist_ok=True)
    if chapter == "broken":
        raise RuntimeError("the notebook raised")
    (out / "ran.json").write_text(json.dumps({"ns": time.time_ns(), "omp": os.environ["OMP_NUM_THREADS"],
                                              "torch": torch.get_num_threads(), "progress": progress}))
    return out


def test_run_chapters_runs_longest_first_with_one_thread_and_names_failures(tmp_path):
    for name, seconds in (("a", 5.0), ("c", 100.0)):  # as measured by an earlier run; "b" was never run
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"total_wall_time_s": seconds}))
    done = run_chapters(fake_run_chapter, ["a", "b", "c"], "quick", tmp_path, workers=1, progress=False)
    ran = {name: json.loads((path / "ran.json").read_text()) for name, path in done.items()}
    assert sorted(ran, key=lambda n: ran[n]["ns"]) == ["c", "a", "b"]
    assert all(r["omp"] == "1" and r["torch"] == 1 and r["progress"] is False for r in ran.values())
    with pytest.raises(RuntimeError, match="chapters failed: broken: RuntimeError: the notebook raised"):
        run_chapters(fake_run_chapter, ["broken", "d"], "quick", tmp_path, workers=1, progress=False)
    assert (tmp_path / "d" / "ran.json").exists()  # the failure did not stop the other chapter


def test_summarize_keeps_cells_apart(tmp_path):
    frame = pd.DataFrame({"point": list("abcd"), "variant": ["l1", "l1", "l2", "l2"], "seed": [0, 1, 0, 1],
                          "metric": "m", "value": [1.0, 3.0, 5.0, 5.0]})
    cells = summarize(frame).set_index("variant")
    assert cells.loc["l1", "mean"] == 2.0 and cells.loc["l2", "sd"] == 0.0 and list(cells["n"]) == [2, 2]


def exit_or_return(code: int | None) -> str:
    """Kills its worker process when ``code`` is given (as the out-of-memory killer would); else returns."""
    if code is not None:
        os._exit(code)
    return "ok"


def test_a_dead_worker_leaves_its_calls_unfinished_not_failed():
    outcomes = run_local(exit_or_return, [("dies", {"code": 9}), ("after", {"code": None})], workers=1,
                         progress=False)
    for outcome in outcomes:  # the one worker died on the first call: the second never ran
        assert not outcome.ok and not outcome.finished
        assert outcome.error.startswith("not finished: a worker process died")
