"""The config of the mechanism study: which sweeps of the MLP chapter it reads, and its selection rule."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pruninglib.config.base import _check_bool, _check_float, _check_int, _help, check
from pruninglib.config.groups import DataConfig, RunConfig
from pruninglib.data.root import repo_root

GRID_KINDS = ("lambda_l2", "lambda_l1", "reference", "sharpness")


@dataclass(frozen=True)
class MechanismConfig(DataConfig, RunConfig):
    """Parameters of the mechanism study (what kills the nodes of the MLP): four sweeps of the MLP chapter, run
    through the sweep engine (or read from their committed records), and the rule that picks the headline lambdas
    on validation data."""

    out_dir: str = _help("where results.json, the tables and the sweeps' records are written", "runs/mlp_mechanism")
    data_root: str = _help("folder holding MNIST/raw for the sweeps' runs (they see it as $PRUNINGLIB_DATA); if "
                           "empty, $PRUNINGLIB_DATA, then data/ in the repo", "")
    grid_folder: str = _help("folder of the four sweep files lambda_l2.yaml, lambda_l1.yaml, reference.yaml and "
                             "sharpness.yaml (relative to the repository)", "grids/mlp_mechanism/smoke")
    from_records: bool = _help("read each sweep's committed record book/records/mlp_mechanism/<profile>/<sweep>.json "
                               "instead of running it (every point of the record names its code and commit)", False)
    workers: int = _help("worker processes of the local sweep engine, one torch thread each (0: one per core)", 0)
    tolerance: float = _help("selection rule: a lambda qualifies when the mean validation accuracy of its shrunk "
                             "nets is at most this many points below the dense nets' (paired by seed)", 0.3)

    @property
    def grid_paths(self) -> dict[str, Path]:
        """The four sweep files, by kind."""
        root = repo_root() or Path.cwd()
        return {kind: root / self.grid_folder / f"{kind}.yaml" for kind in GRID_KINDS}

    def _check_chapter(self) -> None:
        check(isinstance(self.grid_folder, str) and self.grid_folder != "", "grid_folder", self.grid_folder,
              "a folder of the repository holding the four sweep files")
        missing = [str(p) for p in self.grid_paths.values() if not p.is_file()]
        check(not missing, "grid_folder", self.grid_folder, f"a folder with {', '.join(GRID_KINDS)} sweep files "
              f"(missing: {', '.join(missing)})")
        _check_bool("from_records", self.from_records)
        _check_int("workers", self.workers, 0)
        _check_float("tolerance", self.tolerance, 0.0, 100.0)
