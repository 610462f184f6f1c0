"""The run folder: one run at a time (a stale lock is taken over), outputs moved up only when the run completes,
and files written with the process's umask."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pruninglib._io import atomic_path, write_json
from pruninglib.rundir import LOCK, RunFolder, RunFolderBusy, take_lock


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"a": 1})
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"b")
    finally:
        os.umask(old)
    for name in ("a.json", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]


def test_a_held_lock_refuses_a_second_run_and_names_its_owner(tmp_path: Path) -> None:
    fd = take_lock(tmp_path / LOCK)
    try:
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(RunFolderBusy, match=f"process {os.getpid()} is running into it"):
            take_lock(tmp_path / LOCK)  # flock conflicts between two open files, even in one process
    finally:
        os.close(fd)


def test_a_lock_file_nobody_holds_is_stale_and_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("999999999\n")  # left by a killed run
    os.close(take_lock(tmp_path / LOCK))
    assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"


def test_a_completed_run_moves_its_outputs_up_and_writes_results_last(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "models").mkdir(parents=True)
    (run / "models" / "mine.txt").write_text("kept")  # not this run's: never removed
    (run / "summary.csv").write_text("old")
    with RunFolder(run, "ch") as folder:
        assert (run / LOCK).exists() and not (run / "ch.ipynb").exists()
        (folder.work / "checkpoints").mkdir()
        (folder.work / "checkpoints" / "dense.pt").write_text("ckpt")
        (folder.work / "models").mkdir()
        (folder.work / "models" / "shrunk.pt").write_text("new")
        (folder.work / "summary.csv").write_text("new")
        write_json(folder.work / "results.json", {"from": "the experiment"})
        folder.notebook.write_text("{}")
        assert not (run / "results.json").exists()
        folder.complete({"from": "the experiment", "notebook": "ch.ipynb"})
    assert json.loads((run / "results.json").read_text())["notebook"] == "ch.ipynb"
    assert {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()} == {
        "results.json", "ch.ipynb", "summary.csv", "models/mine.txt", "models/shrunk.pt",
        "work/checkpoints/dense.pt"}
    assert (run / "summary.csv").read_text() == "new"


def test_a_failed_run_keeps_its_notebook_as_failed_and_the_next_run_clears_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(ZeroDivisionError), RunFolder(run, "ch") as folder:
        (folder.work / "results.json").write_text("{}")
        folder.notebook.write_text("{}")
        1 / 0
    assert sorted(p.name for p in run.iterdir()) == ["ch.failed.ipynb", "work"]
    assert list((run / "work").iterdir()) == []
    with RunFolder(run, "ch") as folder:
        assert sorted(p.name for p in run.iterdir()) == [LOCK, "work"] and list(folder.work.iterdir()) == []
