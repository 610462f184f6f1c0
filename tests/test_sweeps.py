"""Sweeps on real engines: a 4-point MLP grid (2 lambda_l2 x 2 seeds, tiny smoke runs) run point by point, on the
local process pool, on a local Ray cluster, and killed and resumed, must give the same records bit for bit; a
point that raises is recorded as failed while the others finish.

Every run uses one torch thread (the thread count changes floating-point sums, hence the numbers).
"""
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from pruninglib.cli import main
from pruninglib.experiments import CHAPTERS
from pruninglib.sweeps import RunStore, collect, export, load_records, load_sweep, plan, run_sweep

REPO = Path(__file__).resolve().parents[1]
GRID = """\
chapter: mlp_mnist
profile: smoke
fixed: {{train_subset: 500, epochs: 1, val_size: 500, widths: [784, 32, 16, 10], variants: [dense, l2], latency_batches: [1],
        data_root: "{root}"}}
axes:
  lambda_l2: [1e-3, 1e-2]
  seed: [0, 1]
"""


def records(folder: Path) -> dict:
    """What must not change between engines: the runs rows and every table, without the runs' training times
    (gzip headers hold a time stamp too)."""
    runs = json.loads((folder / "results.json").read_text())["runs"]
    return {"runs": [{k: v for k, v in r.items() if k != "train_s"} for r in runs],
            "summary": pd.read_csv(folder / "summary.csv").drop(columns="train_s").to_csv(float_format="%.17g"),
            "dynamics": gzip.decompress((folder / "dynamics.csv.gz").read_bytes()).decode()}


def store_records(sweep, store: RunStore) -> list[dict]:
    p = plan(sweep, store)
    assert p.count("done") == len(p.keys)
    return [records(store.folder(k)) for k in p.keys]


@pytest.fixture(scope="module")
def grid(mnist_root, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grid") / "grid.yaml"
    path.write_text(GRID.format(root=mnist_root))
    return path


@pytest.fixture(scope="module")
def one_by_one(grid, tmp_path_factory) -> list[dict]:
    """The grid's points run one after the other in this process, through the experiment function itself."""
    out = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i, point in enumerate(load_sweep(grid).points):
            chapter = CHAPTERS.get(point.chapter)
            chapter.run(chapter.config.from_mapping({**point.parameters, "out_dir": str(out / str(i))}),
                        progress=False)
    finally:
        torch.set_num_threads(threads)
    return [records(out / str(i)) for i in range(4)]


@pytest.fixture(scope="module")
def local_sweep(grid, tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("local") / "store")
    report = run_sweep(grid, store=store, workers=2, threads=1, progress=False)
    return store, report


def test_local_engine_gives_the_records_of_points_run_one_by_one(grid, one_by_one, local_sweep):
    store, report = local_sweep
    assert len(report.outcomes) == 4 and all(o.ok for o in report.outcomes)
    assert store_records(load_sweep(grid), store) == one_by_one
    assert not any((store.folder(k) / "checkpoints").exists() for k in report.plan.keys)  # done: no resume needed
    again = run_sweep(grid, store=store, workers=2, progress=False)  # a finished point is never recomputed
    assert again.outcomes == [] and again.plan.count("done") == 4


def test_collect_gives_one_row_per_point_run_and_metric(grid, local_sweep):
    store, _ = local_sweep
    frame = collect(grid, store=store.root)
    runs = json.loads((store.folder(plan(load_sweep(grid), store).keys[0]) / "results.json").read_text())["runs"]
    metrics = [k for k in runs[0] if k not in ("variant", "seed")]
    assert list(frame.columns) == ["point", "chapter", "lambda_l2", "variant", "seed", "metric", "value"]
    assert len(frame) == 4 * 2 * len(metrics)  # points x runs (dense, l2) x metrics
    assert sorted(frame["lambda_l2"].unique()) == [1e-3, 1e-2] and sorted(frame["seed"].unique()) == [0, 1]


def test_an_exported_record_reads_back_as_collect_and_refuses_an_edited_grid(grid, local_sweep, tmp_path):
    store, _ = local_sweep
    record = export(grid, tmp_path / "record.json", store)
    assert load_records(record, grid).equals(collect(grid, store=store.root))
    edited = tmp_path / "edited.yaml"
    edited.write_text(grid.read_text().replace("1e-2]", "2e-2]"))
    with pytest.raises(ValueError, match=r"exported from another version of .*lambda_l2 recorded 0.01, today 0.02"):
        load_records(record, edited)
    with pytest.raises(ValueError, match="2 of 4 points are not done"):  # the 1e-3 points are shared
        export(edited, tmp_path / "never.json", store)
    assert not (tmp_path / "never.json").exists()


def test_a_record_follows_the_profiles_values_not_their_name(grid, local_sweep, tmp_path, monkeypatch):
    """The grid names a profile; the record must still be what the grid expands to with today's profiles: a
    profile renamed with the same values matches, a profile whose values changed under the grid does not."""
    store, _ = local_sweep
    record = export(grid, tmp_path / "record.json", store)
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(grid.read_text().replace("profile: smoke", "profile: quick"))
    mlp = CHAPTERS.get("mlp_mnist")
    monkeypatch.setitem(mlp.profiles, "quick", {"profile": "quick"})  # the smoke profile's values, another name
    assert load_records(record, renamed).equals(load_records(record, grid))
    monkeypatch.setitem(mlp.profiles, "smoke", {"lr": 0.05})  # the smoke profile changed under the grid
    with pytest.raises(ValueError, match=r"another version of .*grid.yaml \(point 0: lr recorded 0.1, today 0.05\)"):
        load_records(record, grid)


def test_ray_engine_gives_the_same_records(grid, one_by_one, tmp_path):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = run_sweep(grid, store=tmp_path / "store", engine="ray", threads=1, progress=False)
    finally:
        ray.shutdown()
    assert [o.ok for o in report.outcomes] == [True] * 4, [o.error for o in report.outcomes]
    assert store_records(load_sweep(grid), RunStore(tmp_path / "store")) == one_by_one


def test_a_killed_sweep_resumes_with_only_the_remaining_points(grid, one_by_one, tmp_path, capsys):
    store = RunStore(tmp_path / "store")
    proc = subprocess.Popen([sys.executable, "-m", "pruninglib.cli", "sweep", str(grid), "--store", str(store.root),
                             "--workers", "1"], cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not list(store.root.glob("*/results.json")):
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before its first point"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep: driver and worker, as a cancelled job is
        proc.wait()
    first = next(store.root.glob("*/results.json"))
    stamp = first.stat().st_mtime_ns
    assert main(["sweep", str(grid), "--store", str(store.root), "--workers", "2", "--dry-run"]) == 0
    plan_text = capsys.readouterr().out
    assert f"store {store.root}: 1 done, 0 failed, 3 to run" in plan_text
    assert "estimate: 3 points x " in plan_text and "(mean of 1 finished)" in plan_text and "on 2 workers" in plan_text
    report = run_sweep(grid, store=store, workers=2, threads=1, progress=False)
    assert report.plan.count("done") == 1 and len(report.outcomes) == 3
    assert first.stat().st_mtime_ns == stamp  # the finished point was not recomputed
    assert store_records(load_sweep(grid), store) == one_by_one


def test_a_failing_point_is_recorded_and_the_others_finish(mnist_root, tmp_path):
    grid = tmp_path / "grid.toml"
    missing = tmp_path / "no-data-here"
    grid.write_text(f"""chapter = "mlp_mnist"\nprofile = "smoke"\n
[fixed]\ntrain_subset = 500\nepochs = 1\nval_size = 500\nwidths = [784, 32, 16, 10]\nvariants = ["l2"]
latency_batches = [1]\n
[axes]\ndata_root = ["{missing}", "{mnist_root}"]\n""")
    store = RunStore(tmp_path / "store")
    report = run_sweep(grid, store=store, workers=2, progress=False)
    bad, good = report.plan.keys
    assert report.states == {bad: "failed", good: "done"}
    error = store.error(bad)
    assert error["error"].startswith("DataNotFoundError: data root") and str(missing) in error["error"]
    assert "Traceback" in error["traceback"]
    assert run_sweep(grid, store=store, progress=False).outcomes == []  # failed points wait for --retry-failed
    retried = run_sweep(grid, store=store, retry_failed=True, progress=False)
    assert [o.name for o in retried.outcomes] == [bad] and retried.states[bad] == "failed"
