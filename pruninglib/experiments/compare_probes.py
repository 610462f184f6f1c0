"""The comparison chapter's probes: each method's strength on the mlp harness chosen on validation data, with the
same budget of probe runs for every method.

The probes are sweeps of the comparison chapter itself (``grids/comparison/<profile>/probe_<method>.yaml``): one
parameter per method at three values, seed 0, ``evaluate_test`` false (they read the validation split only), and
the dense net of seed 0 as the reference; their records are committed (``book/records/comparison/<profile>/``).
The rule, fixed before the runs: the value whose shrunk net removes the most hidden nodes while its validation
accuracy stays within ``tolerance`` points of the dense net's; if no value qualifies, the most accurate one.
``magnitude_l2`` is not probed: it is the control of ``stochastic_l2`` and takes its lambda.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pruninglib.data.root import repo_root

PROBED = {"stochastic_l2": "mlp_lambda_l2", "stochastic_l1": "mlp_lambda_l1", "relevance": "mlp_relevance_gamma0",
          "guided": "mlp_guided_lambda", "group_lasso": "mlp_group_lambda", "magnitude": "mlp_magnitude_scale"}


def _paths(folder: str, method: str) -> tuple[Path, Path]:
    """The sweep file and the committed record of ``method``'s probes in the grid ``folder``."""
    root = repo_root() or Path.cwd()
    return (root / folder / f"probe_{method}.yaml",
            root / "book" / "records" / "comparison" / Path(folder).name / f"probe_{method}.json")


def probe_table(folder: str, tolerance: float) -> pd.DataFrame:
    """One row per probed method and value: the validation accuracy of the shrunk net, its drop against the dense
    net (points), nodes removed and weight sparsity, whether it qualifies, and whether the rule selects it."""
    from pruninglib.sweeps import load_records  # the sweeps import the chapter registry, which imports this module

    def runs(method: str, parameters: tuple[str, ...] = ()) -> pd.DataFrame:
        grid, record = _paths(folder, method)
        frame = load_records(record, grid, parameters)
        return frame.pivot_table(index=["variant", "seed", *parameters], columns="metric",
                                 values="value").reset_index()

    dense = float(runs("dense")["val_accuracy"].iloc[0])
    rows = []
    for method, param in PROBED.items():
        for _, r in runs(method, (param,)).iterrows():
            drop = 100 * (r["shrunk_val_accuracy"] - dense)
            rows.append({"method": method, "parameter": param, "value": r[param],
                         "shrunk_val_accuracy": r["shrunk_val_accuracy"], "drop_points": drop,
                         "nodes_removed": r["nodes_removed"], "weight_sparsity": r["weight_sparsity"],
                         "qualifies": bool(drop >= -tolerance)})
    return mark_selected(pd.DataFrame(rows))


def mark_selected(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``selected``: per method, the qualifying value that removes the most nodes (the smaller
    value on a tie), or the most accurate value when none qualifies (the rule of the module docstring)."""
    table = table.assign(selected=False)
    for _, g in table.groupby("method", sort=False):
        ok = g[g["qualifies"]]
        pick = (ok.sort_values(["nodes_removed", "value"], ascending=[False, True]) if len(ok) else
                g.sort_values("shrunk_val_accuracy", ascending=False)).index[0]
        table.loc[pick, "selected"] = True
    return table


def selected(table: pd.DataFrame) -> dict[str, Any]:
    """{parameter: selected value} of :func:`probe_table`'s rows."""
    return {r["parameter"]: r["value"] for _, r in table[table["selected"]].iterrows()}
