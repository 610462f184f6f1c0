"""The paper profile of the VGG-16 / CIFAR-10 chapter as one prepared GPU job (launch: scripts/gpu/vgg_paper.sh).

    python -m pruninglib.experiments.vgg_job OUT [--commit SHA] [--workers N]   # on a GPU machine
    python -m pruninglib.experiments.vgg_job OUT --dry-run                       # the same path on the CPU, tiny

1. CIFAR-10 is decoded once into the cache, offline (never downloaded: the original archive or the JPEG copy under
   the data root).
2. The speed probe (:mod:`~pruninglib.experiments.vgg_speed`), alone on the device.
3. Every from-scratch training (dense, each stochastic variant, the slimming baseline's source net; each seed)
   runs in its own process (spawned), all side by side on the one device; each baseline starts as soon as the
   runs it needs have finished. Every run checkpoints into ``<work>/run/checkpoints``.
4. The chapter's own ``run_experiment``, in this process, reads every run back from its finished checkpoint
   (nothing trains again), shrinks, proves, measures and writes the run folder, as ``pruninglib run`` would.
5. ``results.json`` gets the job's block (``job``: the probe, each run's images/s and share of the device's
   bfloat16 peak, the phases' times, workers, commit, library hash) and the job's start and wall time.
6. The run folder (not its checkpoints) is bundled into OUT: ``records.tar.gz.partNN`` (at most 6 parts of at
   most 16 MiB) and ``manifest.json`` (:mod:`~pruninglib.experiments.vgg_records`); the launch script adds
   ``job.log``. Render the chapter from OUT on any machine with
   ``pruninglib publish vgg_cifar10 --profile paper -p from_records OUT``.

A re-run with the same work folder resumes: finished runs are read back from their checkpoints, a run cut off
resumes from its last checkpoint (every ``checkpoint_every`` epochs).
"""
from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch

from pruninglib._io import write_json
from pruninglib.config import BASELINES, VGGCifarConfig
from pruninglib.data import pick_device
from pruninglib.data.cifar import load_cifar_uint8
from pruninglib.experiments import vgg_speed
from pruninglib.experiments.common import checkpoint_dir
from pruninglib.experiments.runner import Context, RunKey, run_experiment
from pruninglib.experiments.vgg_cifar10 import (EXPERIMENT, PROFILES, VGGData, depends_on, method_penalty,
                                                new_model, train_source)
from pruninglib.experiments.vgg_records import bundle, library_sha256

GPU = {"device": "cuda", "download": False, "checkpoint_every": 10}  # offline; 4 checkpoints of a 40-epoch run
DRY = {"device": "cpu", "download": False, "variants": ["dense", "l2", "l1", "none"], "seeds": [0, 1],
       "other_arms_seeds": 1,
       "train_subset": 128, "val_size": 64, "test_subset": 128, "latency_batches": [1], "sweep_fractions": [0.5]}
Task = tuple[str, str, int]  # ("source" | "run", variant, seed)


def job_config(dry_run: bool, work: Path, data_root: str) -> VGGCifarConfig:
    """The paper profile on the GPU (or, dry, the smoke profile made smaller, on the CPU), writing into
    ``work/run``."""
    values = {**VGGCifarConfig().to_dict(), **(DRY if dry_run else {**PROFILES["paper"], **GPU})}  # type: ignore[call-arg]
    return VGGCifarConfig.from_mapping({**values, "out_dir": str(work / "run"), "data_root": data_root})


def tasks(cfg: VGGCifarConfig) -> dict[Task, set[Task]]:
    """Every training of the chapter run and the tasks it waits for: the from-scratch trainings ('source') wait
    for none; a baseline ('run') for the sources of the runs it needs."""
    out: dict[Task, set[Task]] = {}
    for key in EXPERIMENT.runs(cfg, None):
        if key.variant not in BASELINES or key.variant == "slimming":
            out[("source", key.variant, key.seed)] = set()
        if key.variant in BASELINES:
            needs = [*depends_on(cfg, key), *([key] if key.variant == "slimming" else [])]
            out[("run", key.variant, key.seed)] = {("source", k.variant, k.seed) for k in needs}
    return out


@functools.lru_cache(maxsize=1)
def _worker_data(values: str) -> tuple[VGGCifarConfig, torch.device, VGGData]:
    """The config, device and data of a worker process, loaded once per process (a worker runs several tasks)."""
    torch.set_num_threads(1)  # the device computes; a few threads per worker would oversubscribe the cores
    cfg = VGGCifarConfig.from_mapping(json.loads(values))
    device = pick_device(cfg.device)
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest algorithms
    return cfg, device, EXPERIMENT.load(cfg, device, progress=False)


def train_task(values: str, task: Task) -> list[dict[str, Any]]:
    """One task in a worker process (``values``: the config as JSON): train (or resume) the task's net, return
    its timing rows. A baseline first reads the runs it needs back from their finished checkpoints."""
    cfg, device, data = _worker_data(values)
    ctx = Context(cfg, device, checkpoint_dir(cfg), progress=False)
    key = RunKey(task[1], task[2])
    if task[0] == "source":
        return [{**train_source(cfg, data, key, ctx)[2], "seed": key.seed}]
    for dep in depends_on(cfg, key):
        ctx.models[dep.id] = EXPERIMENT.train(cfg, data, dep, ctx).model
    tuning = EXPERIMENT.train(cfg, data, key, ctx).tables["throughput"][-1]  # the source's row came with its task
    return [{**tuning, "seed": key.seed}]


def train_all(cfg: VGGCifarConfig, workers: int) -> list[dict[str, Any]]:
    """Run every task of :func:`tasks` on ``workers`` spawned processes, each as soon as what it waits for is
    done; return the timing rows. Raises RuntimeError naming the first task that failed (its traceback printed)."""
    pending, done, rows = tasks(cfg), set(), []
    total = len(pending)
    values = json.dumps(cfg.to_dict())
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        running: dict[Future[list[dict[str, Any]]], Task] = {}
        while pending or running:
            for task in [t for t, needs in pending.items() if needs <= done]:
                running[pool.submit(train_task, values, task)] = task
                del pending[task]
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                try:
                    rows += future.result()
                except Exception as err:
                    traceback.print_exception(err)
                    raise RuntimeError(f"task {task} failed: {err}") from err
                done.add(task)
                print(f"done: {task[0]} {task[1]} seed {task[2]} ({len(done)} of {total})", flush=True)
    return rows


def speed_rows(rows: list[dict[str, Any]], flops_per_image: float, peak: float | None) -> list[dict[str, Any]]:
    """Each training's images/s and its share of the device's peak (its slice of the device, which it shared)."""
    return [{**r, "mfu_share": None if peak is None or not r.get("train_images_per_s") else
             r["train_images_per_s"] * flops_per_image / peak} for r in rows if r.get("epochs_run")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder the bundled records are written into (e.g. $OUT)")
    parser.add_argument("--dry-run", action="store_true", help="the same code path on the CPU at a tiny size")
    parser.add_argument("--work", type=Path, default=Path("runs/vgg_paper_job"),
                        help="run folder and checkpoints (not bundled); a re-run with it resumes")
    parser.add_argument("--workers", type=int, default=0, help="training processes at once (0: one per training)")
    parser.add_argument("--commit", default="", help="git commit of the code (no .git travels to a GPU machine)")
    parser.add_argument("--data-root", default="", help="data root holding CIFAR-10/ (default: $PRUNINGLIB_DATA, "
                                                        "then data/ of the repository)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, when it is "
                                                                        "not in vgg_speed.PEAK_BF16_TFLOPS")
    parser.add_argument("--probe-steps", type=int, default=0, help="steps per loop of the speed probe (0: 50 on "
                                                                   "a GPU, 2 in a dry run)")
    args = parser.parse_args(argv)
    started, clock = time.time(), time.perf_counter()
    cfg = job_config(args.dry_run, args.work, args.data_root)
    device = pick_device(cfg.device)
    sources = sum(1 for t in tasks(cfg) if t[0] == "source")
    workers = args.workers or (2 if args.dry_run else sources)
    print(f"VGG-16 / CIFAR-10, profile {cfg.profile}{' (dry run)' if args.dry_run else ''} on {device}: "
          f"{len(tasks(cfg))} trainings, {workers} at a time; work folder {args.work}", flush=True)
    phases: dict[str, float] = {}
    t = time.perf_counter()
    load_cifar_uint8(cfg.data_root or None, fetch=False, progress=False)  # decode once, before the workers
    phases["data_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = EXPERIMENT.load(cfg, device, progress=False)
    probe = vgg_speed.probe(cfg, data.train, data.data.val, lambda s: new_model(cfg, s, device),
                            lambda m: method_penalty(cfg, m), args.probe_steps or (2 if args.dry_run else 50),
                            reps=1 if args.dry_run else 3, peak_tflops=args.peak_tflops)
    del data
    if device.type == "cuda":
        torch.cuda.empty_cache()  # leave the device's memory to the workers
    print("\n".join(vgg_speed.report(probe)), flush=True)
    phases["probe_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = train_all(cfg, workers)
    phases["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = run_experiment(EXPERIMENT, cfg, progress=False)  # every run is read back from its checkpoint
    phases["assemble_s"] = time.perf_counter() - t
    peak = None if probe["peak_tflops"] is None else probe["peak_tflops"] * 1e12
    runs = speed_rows(rows, probe["flops_per_image"], peak)
    images = sum(r["train_images_per_s"] * r["train_s"] for r in runs)
    aggregate = {"train_images": images, "images_per_s": images / phases["train_s"],
                 "mfu": None if peak is None else images * probe["flops_per_image"] / phases["train_s"] / peak}
    phases["total_s"] = time.perf_counter() - clock
    results = result.results
    results.update({"started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "wall_time_s": round(phases["total_s"], 1)})
    if args.commit and results["git"]["commit"] == "unknown":
        results["git"] = {"commit": args.commit, "dirty": None, "note": "given to the job with --commit"}
    results["job"] = {"dry_run": args.dry_run, "workers": workers, "library_sha256": library_sha256(),
                      "phases": {k: round(v, 1) for k, v in phases.items()}, "probe": probe, "runs": runs,
                      "aggregate": aggregate}
    write_json(Path(cfg.out_dir) / "results.json", results)
    for r in runs:
        share = "n/a" if r["mfu_share"] is None else f"{100 * r['mfu_share']:.1f}%"
        print(f"{r['method']} seed {r['seed']}: {r['epochs_run']} epochs in {r['train_s']:.0f} s, "
              f"{r['train_images_per_s']:,.0f} images/s, share of the peak {share}", flush=True)
    mfu = "n/a" if aggregate["mfu"] is None else f"{100 * aggregate['mfu']:.1f}%"
    print(f"all trainings: {images:,.0f} images in {phases['train_s']:.0f} s, {aggregate['images_per_s']:,.0f} "
          f"images/s, MFU {mfu}; phases (s): " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()), flush=True)
    written = bundle(cfg.out_dir, args.out)
    print(f"records: {', '.join(p.name for p in written)} in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
