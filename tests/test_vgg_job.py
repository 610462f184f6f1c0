"""The VGG chapter's paper profile as a GPU job: its dry run on the CPU (the same code path, on the bare machine's
packages only), the bundle its records travel in, rendering the chapter from them; seeds per arm; tuning runs that
never read the test split."""
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from pruninglib.config import ConfigError, VGGCifarConfig
from pruninglib.data import Dataset, Split
from pruninglib.experiments import vgg_cifar10, vgg_job
from pruninglib.experiments.vgg_records import MANIFEST, PART_BYTES, bundle, load_result, unbundle

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the bare GPU machine lacks (it has Python, torch, torchvision, pandas, scikit-image and what they need,
# matplotlib, tqdm, pytest): the job must not import any of it.
ABSENT = ("yaml", "jupytext", "papermill", "pooch", "ray", "sklearn", "sphinx", "nbformat", "nbclient", "IPython",
          "jupyter_book", "myst_nb", "seaborn", "requests", "nbval", "ipykernel", "psutil", "playwright")


def bare_machine(tmp_path):
    """An environment whose Python processes (the job's spawned workers too) fail to import :data:`ABSENT`."""
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import importlib.machinery, sys
        class Hidden(importlib.machinery.PathFinder):  # sys.path's finder, blind to the absent packages
            @classmethod
            def find_spec(cls, name, path=None, target=None):
                if name.split(".")[0] in {ABSENT!r}:
                    return None  # as for a package that is not installed (torch probes some with find_spec)
                return importlib.machinery.PathFinder.find_spec(name, path, target)
        sys.meta_path[:] = [Hidden if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    """))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), REPO])}


def test_dry_run_of_the_gpu_job_bundles_records_that_render_the_chapter(cifar_root, tmp_path):
    env = bare_machine(tmp_path)
    assert subprocess.run([sys.executable, "-c", "import yaml"], env=env, capture_output=True).returncode != 0
    out, work = tmp_path / "out", tmp_path / "work"
    done = subprocess.run(["bash", os.path.join(REPO, "scripts", "gpu", "vgg_paper.sh"), str(out), "--dry-run",
                           "--work", str(work), "--data-root", str(cifar_root)], env={**env, "PYTHON": sys.executable},
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "x plain" in done.stdout and "images/s" in done.stdout
    files = sorted(out.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= PART_BYTES for f in files)
    assert (out / "job.log").read_text() == done.stdout
    cfg = dataclasses.replace(vgg_job.job_config(True, work, str(cifar_root)), from_records=str(out))
    result = vgg_cifar10.run(cfg)
    runs = {(r["variant"], r["seed"]) for r in result.results["runs"]}
    assert runs == {("dense", 0), ("dense", 1), ("l2", 0), ("l2", 1), ("l1", 0), ("none", 0), ("l1_norm", 0),
                    ("slimming", 0)}
    job = result.results["job"]
    assert job["probe"]["loops"]["plain PyTorch loop"]["x_plain"] == 1.0
    assert all(r["train_images_per_s"] > 0 for r in job["runs"]) and len(job["runs"]) == 9
    assert result.results["resumed_runs"] == []  # read back from finished checkpoints, trained in one sitting
    assert all(s > 0 for s in result.summary["train_s"])  # the workers' training time, kept in the checkpoints
    assert result.results["rendered_from"]["same_library_as_this_checkout"]
    assert len(result.results["targets"]) == 3
    with pytest.raises(ValueError, match="epochs: 1 in the records, 2 asked"):
        vgg_cifar10.run(dataclasses.replace(cfg, epochs=2))


def test_bundle_cuts_parts_checks_them_and_refuses_too_many(tmp_path):
    run = tmp_path / "run"
    (run / "models").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / "results.json").write_text(json.dumps({"x": 1}))
    (run / "models" / "m.pt").write_bytes(os.urandom(5000))  # random bytes do not compress
    (run / "checkpoints" / "c.pt").write_bytes(b"not bundled")
    with pytest.raises(ValueError, match="more than the 1 allowed"):
        bundle(run, tmp_path / "none", max_parts=1, part_bytes=2000)
    assert not (tmp_path / "none").exists()
    written = bundle(run, tmp_path / "out", part_bytes=2000)
    assert [p.name for p in written][-1] == MANIFEST and len(written) == 4
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["files"] == ["models/m.pt", "results.json"]
    back = unbundle(tmp_path / "out")
    assert (back / "models" / "m.pt").read_bytes() == (run / "models" / "m.pt").read_bytes()
    assert not (back / "checkpoints").exists()
    part = written[1]
    part.write_bytes(part.read_bytes()[:-1] + b"!")
    (tmp_path / "other").mkdir()
    for p in written:
        (tmp_path / "other" / p.name).write_bytes(p.read_bytes())
    (back / "results.json").unlink()  # not unpacked yet: the parts are read again
    with pytest.raises(ValueError, match="part02 is missing or does not match"):
        unbundle(tmp_path / "other")


def test_seeds_per_arm_and_a_run_without_dense():
    cfg = VGGCifarConfig(variants=("dense", "l2", "l1", "none"), seeds=(3, 4, 5), other_arms_seeds=1)
    keys = [(k.variant, k.seed) for k in vgg_cifar10.EXPERIMENT.runs(cfg, None)]
    assert keys == [("dense", 3), ("dense", 4), ("dense", 5), ("l2", 3), ("l2", 4), ("l2", 5), ("l1", 3),
                    ("none", 3), ("l1_norm", 3), ("slimming", 3)]
    assert vgg_job.tasks(cfg)[("run", "l1_norm", 3)] == {("source", "l2", 3), ("source", "dense", 3)}
    with pytest.raises(ConfigError, match="'other_arms_seeds' = 4 is not allowed"):
        VGGCifarConfig(seeds=(0, 1, 2), other_arms_seeds=4)
    with pytest.raises(ConfigError, match="a list with 'dense' when evaluate_test is true"):
        VGGCifarConfig(variants=("l2",))
    with pytest.raises(ConfigError, match="a list with 'dense' when the baselines include 'l1_norm'"):
        VGGCifarConfig(variants=("l2",), evaluate_test=False)
    assert [k.variant for k in vgg_cifar10.EXPERIMENT.runs(
        VGGCifarConfig(variants=("l2",), evaluate_test=False, baselines=("slimming",)), None)] == ["l2", "slimming"]


class Unreadable:
    """A test split that fails on any use."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was used ({name})")

    def __len__(self):
        raise AssertionError("the test split was used (len)")


def test_a_tuning_run_never_reads_the_test_split(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)

    def fake_cifar(*args, **kwargs):
        train = Split(torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=g),
                      torch.randint(0, 10, (48,), generator=g))
        val = Split(torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g))
        return Dataset(train, val, Unreadable(), {"dataset": "fake"})

    monkeypatch.setattr(vgg_cifar10, "load_cifar10", fake_cifar)
    cfg = VGGCifarConfig(out_dir=str(tmp_path / "t"), device="cpu", width=0.03125, variants=("l2", "none"),
                         seeds=(0, 1), evaluate_test=False, baselines=("slimming",), sweep_fractions=(0.5,),
                         lambda_l2=0.5, latency_batches=(1,))
    result = vgg_cifar10.run(cfg, progress=False)
    assert {"val_accuracy", "shrunk_val_accuracy", "weight_sparsity"} <= set(result.summary.columns)
    assert not any(c.startswith("test") or "_test_" in c for c in result.summary.columns)
    assert result.results["targets"] == [] and result.results["latency_ms"] == {}
    assert result.results["headline"]["split"] == "val" and "dense" not in result.results["headline"]
    assert set(result.tables["curve"]["kind"]) >= {"no fine-tuning (val)", "final, shrunk (val)"}
    final = dataclasses.replace(cfg, evaluate_test=True, variants=("dense", "l2"), out_dir=str(tmp_path / "f"))
    with pytest.raises(AssertionError, match="the test split was used"):  # a final run reads it, and fails here
        vgg_cifar10.run(final, progress=False)
