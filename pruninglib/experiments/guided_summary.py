"""The guided chapter's summary (OUR RECONSTRUCTION of Sandu & Rafid): typed targets, the lambda choice from the
validation sweeps, tables and findings.

Pure functions of the runs table, the ``kept`` rows and the sweep records, so they are tested without training.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pruninglib.data.root import repo_root
from pruninglib.experiments.runner import ChapterResult
from pruninglib.experiments.targets import MEAN_ONLY, MET, Target, paired, per_seed, verdict

LABEL = "our reconstruction"
SELECTION = "val_accuracy_kept"  # the quantity a lambda is chosen by: validation accuracy with chosen_keep kept
SWEEPS = ("book/records/guided_mlp/lambda_{}.json", "grids/guided_mlp/lambda_{}.yaml")  # record, grid per phi


def targets(cfg: Any, at: pd.DataFrame, table: pd.DataFrame) -> list[Target]:
    """Per phi: the guided net's norms fall with the unit index, and the guided net beats the unguided one of the
    SAME seed with ``chosen_keep`` of the hidden units kept (a win only where the interval of the paired
    difference lies above 0); the chosen guided net at ``chosen_keep`` stays within 1 point of the unpenalized
    full net of the same seed. ``at``: the kept rows at ``chosen_keep``. Test accuracies, in points."""
    keep, out = cfg.chosen_keep, []
    col = "norm_index_spearman[hidden 1]"
    for phi in cfg.phis:
        g, u = f"{phi} guided", f"{phi} unguided"
        gap = paired(at, g, "test_accuracy", u, "test_accuracy")
        out += [Target(f"{g} ({LABEL}): rank correlation of fan-in norm with unit index, hidden 1",
                       tuple(per_seed(table, g, col).sort_index()), -0.5, "<=", metric=f"{col} ({g})"),
                Target(f"{g} minus {u} ({LABEL}): test accuracy with {keep:.0%} of hidden units kept (points), "
                       f"same seed", tuple(100 * v for v in gap), 0.0, ">",
                       metric=f"kept test_accuracy at keep {keep:g} ({g} - {u}), same seed")]
    chosen = f"{cfg.chosen} guided"
    cut, full = per_seed(at, chosen, "test_accuracy").sort_index(), per_seed(table, "none", "test_accuracy")
    drop = cut - full.reindex(cut.index)
    out.append(Target(f"{chosen} ({LABEL}) with {keep:.0%} of hidden units kept minus the unpenalized full net "
                      f"(points), same seed", tuple(100 * drop), -1.0, ">=",
                      metric=f"kept test_accuracy at keep {keep:g} ({chosen}) - test_accuracy (none), same seed"))
    return out


def tuning(phi: str, root: Path | None = None) -> pd.DataFrame:
    """The committed record of the lambda sweep of ``phi`` (validation only), as ``load_records`` returns it, read
    from the repository at ``root`` (default: this checkout)."""
    from pruninglib.sweeps import load_records  # the sweeps import the chapter registry, which imports this module

    base = root or repo_root() or Path.cwd()
    return load_records(base / SWEEPS[0].format(phi), base / SWEEPS[1].format(phi))


def lambda_table(frame: pd.DataFrame, phi: str) -> pd.DataFrame:
    """From a lambda sweep's records (``load_records`` of grids/guided_mlp/lambda_<phi>.yaml): per lambda (rows),
    the mean over seeds of the validation accuracy (%) with ``chosen_keep`` of the hidden units kept, guided and
    unguided, their mean (the selection score) and the full nets' validation accuracy; n = seeds."""
    lam = f"lambda_{phi}"
    rows = frame[frame["variant"].isin([f"{phi} guided", f"{phi} unguided"])
                 & frame["metric"].isin([SELECTION, "val_accuracy"])]
    wide = rows.pivot_table(index=lam, columns=["metric", "variant"], values="value", aggfunc="mean") * 100
    out = pd.DataFrame({"guided, cut": wide[(SELECTION, f"{phi} guided")],
                        "unguided, cut": wide[(SELECTION, f"{phi} unguided")]})
    out["score (mean of both)"] = out.mean(axis=1)
    out["guided, full"] = wide[("val_accuracy", f"{phi} guided")]
    out["unguided, full"] = wide[("val_accuracy", f"{phi} unguided")]
    out["n"] = rows[rows["metric"] == SELECTION].groupby(lam)["seed"].nunique()
    return out.sort_index()


def choose_lambda(frame: pd.DataFrame, phi: str) -> float:
    """The rule, fixed before the sweeps ran: the lambda of the grid with the highest mean (over seeds and over the
    guided and unguided arms alike) validation accuracy at ``chosen_keep``; a tie goes to the smaller lambda.
    Symmetric in the two arms, so it favours neither."""
    score = lambda_table(frame, phi)["score (mean of both)"]
    return float(score[score == score.max()].index.min())


def kept_table(kept: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Accuracy (%) on ``split`` by variant (rows) and fraction of hidden units kept (columns), mean over seeds."""
    table = 100 * kept.pivot_table(index="variant", columns="keep", values=f"{split}_accuracy", aggfunc="mean")
    order = [v for v in kept["variant"].drop_duplicates()]
    table = table.loc[order, sorted(table.columns, reverse=True)].round(2)
    table.columns = [f"{100 * c:g}% kept" for c in table.columns]
    table.index = [v if v == "none" else f"{v} ({LABEL})" for v in table.index]
    return table


def findings(result: ChapterResult) -> str:
    """The run's main observations as Markdown sentences, computed from its numbers (true at every profile): the
    norm-index correlations, and per phi the guided-vs-unguided difference at ``chosen_keep`` with its interval
    and a three-state reading (a win only where the interval of the paired differences lies above 0)."""
    t, k, r = result.summary, result.tables["kept"], result.results
    split = r["headline"]["split"]
    metric, where = f"{split}_accuracy", "test" if split == "test" else "validation"
    rho = t.groupby("variant")["norm_index_spearman[hidden 1]"].mean()
    keep = r["headline"]["keep"]
    at = k[k["keep"] == keep]
    phis = list(r["parameters"]["phis"])
    lines = [f"All guided runs are {LABEL}. Rank correlation between a first-layer unit's fan-in norm and its index "
             "(−1: norms fall steadily with the index): " + ", ".join(
                 f"{p} guided **{rho[f'{p} guided']:.2f}**, unguided {rho[f'{p} unguided']:.2f}" for p in phis) + "."]
    reading = {MET: "a win for guidance (the interval lies above 0)",
               MEAN_ONLY: "guided ahead on the mean only (the interval does not lie above 0): not a win",
               "missed": "no win (guided behind on the mean)"}
    parts = []
    for p in phis:
        g, u = f"{p} guided", f"{p} unguided"
        v = verdict([100 * d for d in paired(at, g, metric, u, metric)], 0.0, ">")
        ci = "no interval (one seed)" if v["n"] < 2 else f"95% interval [{v['low']:+.2f}, {v['high']:+.2f}]"
        parts.append(f"{p}: guided {100 * at[at['variant'] == g][metric].mean():.2f}% vs unguided "
                     f"{100 * at[at['variant'] == u][metric].mean():.2f}%, paired difference **{v['mean']:+.2f} "
                     f"points** ({ci}, n = {v['n']}): {reading[v['verdict']]}")
    none = at[at["variant"] == "none"][metric].mean()
    lines.append(f"With {keep:.0%} of the hidden units kept ({where} accuracy, same-seed pairs): " + "; ".join(parts)
                 + f". The unpenalized net, cut the same way, {100 * none:.2f}% (uncut: "
                 f"{100 * t[t['variant'] == 'none'][metric].mean():.2f}%).")
    return " ".join(lines)
