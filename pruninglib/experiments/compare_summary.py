"""The comparison chapter's statistics: mean and 95% confidence interval per setting and method, the Pareto front,
and the findings as Markdown sentences computed from the numbers (so they stay true at every profile)."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
from scipy import stats

from pruninglib.experiments.targets import Target, contrast, say_contrast

# method -> (label in tables and figures, where it comes from, one of the three papers' methods?)
METHOD_INFO: dict[str, tuple[str, str, bool]] = {
    "dense": ("dense", "no pruning", False),
    "stochastic_l2": ("stochastic + L2 (our reconstruction)", "Ben-Guigui et al., our reconstruction", True),
    "stochastic_l1": ("stochastic + L1 (our reconstruction)", "Ben-Guigui et al., our reconstruction", True),
    "magnitude_l2": ("magnitude + L2, every step", "control of stochastic + L2: same L2, schedule, frequency",
                     False),
    "relevance": ("relevance-weighted decay", "Bonetta et al.", True),
    "guided": ("guided group (our reconstruction)", "Sandu & Rafid, our reconstruction", True),
    "group_lasso": ("group lasso", "baseline, Wen et al.", False),
    "magnitude": ("magnitude + retraining", "baseline, Han et al.", False),
    "slimming": ("network slimming", "baseline, Liu et al.", False),
}
SETTING_TITLES = {"mlp": "MLP / MNIST", "vgg": "VGG-16 / CIFAR-10"}
COLUMNS = ("shrunk_test_accuracy", "nodes_removed", "weight_sparsity", "flops_ratio")


def ci95(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval, t-distribution with n - 1 degrees of freedom
    (NaN for a single value: one seed says nothing about the spread)."""
    v = values.dropna()
    n = len(v)
    if n < 2:
        return float(v.mean()) if n else math.nan, math.nan
    return float(v.mean()), float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, method): n seeds and, per measured column, ``<col>`` (mean) and ``<col>_ci``."""
    runs = runs.copy()
    dense_flops = runs[runs["variant"] == "dense"].groupby("setting")["flops"].first()
    runs["flops_ratio"] = runs["shrunk_flops"] / runs["setting"].map(dense_flops)
    cols = [*COLUMNS, *(c for c in runs.columns if c.startswith("latency_ms["))]
    rows = []
    for (setting, method), g in runs.groupby(["setting", "variant"], sort=False):
        row: dict[str, Any] = {"setting": setting, "variant": method, "label": METHOD_INFO[method][0],
                               "paper_method": METHOD_INFO[method][2], "n": len(g)}
        for c in cols:
            row[c], row[f"{c}_ci"] = ci95(g[c])
        rows.append(row)
    return pd.DataFrame(rows)


def pareto(summary: pd.DataFrame) -> list[str]:
    """The methods of one setting that no other method beats on both mean accuracy and mean nodes removed."""
    pts = summary[summary["variant"] != "dense"]
    front = []
    for _, r in pts.iterrows():
        acc, removed = pts["shrunk_test_accuracy"], pts["nodes_removed"]
        beaten = ((acc >= r["shrunk_test_accuracy"]) & (removed >= r["nodes_removed"])
                  & ((acc > r["shrunk_test_accuracy"]) | (removed > r["nodes_removed"])))
        if not beaten.any():
            front.append(r["variant"])
    return front


def winner(summary: pd.DataFrame, runs: pd.DataFrame, tolerance: float) -> dict[str, Any]:
    """Among the methods whose mean accuracy is within ``tolerance`` points of the dense net's, the one that
    removes the most nodes, and the runner-up; ``resolved`` says whether the paired per-seed difference of nodes
    removed between the two has a 95% interval that excludes 0 (otherwise these seeds do not rank them)."""
    dense = summary[summary["variant"] == "dense"].iloc[0]["shrunk_test_accuracy"]
    pts = summary[summary["variant"] != "dense"]
    ok = pts[100 * (dense - pts["shrunk_test_accuracy"]) <= tolerance]
    ok = ok.sort_values("nodes_removed", ascending=False)
    out: dict[str, Any] = {"dense_accuracy": float(dense), "tolerance_points": tolerance,
                           "within_tolerance": list(ok["variant"]), "pareto_front": pareto(summary)}
    if len(ok):
        out["best"] = ok.iloc[0]["variant"]
        if len(ok) > 1:
            out["runner_up"] = ok.iloc[1]["variant"]
            out["best_vs_runner_up"] = contrast(runs, out["best"], out["runner_up"], "nodes_removed", scale=100.0)
    else:
        out["most_accurate"] = pts.sort_values("shrunk_test_accuracy", ascending=False).iloc[0]["variant"]
    return out


def controls(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """The contrasts at equal conditions, paired by seed: stochastic + L2 against its deterministic control
    (randomness alone), and against Han et al.'s magnitude pruning (which also differs in regularizer and
    frequency), on nodes removed and on shrunk test accuracy."""
    have = set(runs["variant"])
    out = []
    for b in ("magnitude_l2", "magnitude"):
        if {"stochastic_l2", b} <= have:
            out += [{**contrast(runs, "stochastic_l2", b, col, scale=100.0), "what": what}
                    for col, what in (("nodes_removed", "hidden nodes removed"),
                                      ("shrunk_test_accuracy", "test accuracy of the shrunk net"))]
    return out


def headline(cfg: Any, summary: pd.DataFrame, runs: pd.DataFrame) -> dict[str, Any]:
    """Per setting: the mean ± CI rows, the winner analysis and the controls' contrasts."""
    out: dict[str, Any] = {"settings": {}}
    for setting, g in summary.groupby("setting", sort=False):
        r = runs[runs["setting"] == setting]
        out["settings"][setting] = {"methods": g.drop(columns=["setting"]).to_dict(orient="records"),
                                    **winner(g, r, cfg.tolerance), "controls": controls(r)}
    return out


def targets(runs: pd.DataFrame, summary: pd.DataFrame) -> list[Target]:
    """Every net shrunk exactly (each run's largest |masked - shrunk| logit in float64), and at least 3 seeds per
    method and setting (the minimum for a confidence interval)."""
    return [Target("largest difference between masked and shrunk logits (float64)", tuple(runs["max_abs_diff"]),
                   1e-5, "<=", metric="max_abs_diff", kind="every"),
            Target("seeds per method and setting", tuple(float(n) for n in summary["n"]), 3, ">=", metric="n",
                   kind="every")]


def _fmt(m: float, ci: float, scale: float = 100.0, digits: int = 2) -> str:
    """'mean ± CI half-width' (just the mean where the CI is undefined: one seed)."""
    return f"{scale * m:.{digits}f}" + ("" if math.isnan(ci) else f" ± {scale * ci:.{digits}f}")


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The chapter's table: 'mean ± CI' per setting and method of test accuracy, nodes removed, weight sparsity
    (all in %) and the FLOPs ratio; deterministic for given seeds (latency is in :func:`latency_table`)."""
    rows = [{"setting": SETTING_TITLES[r["setting"]], "method": r["label"], "source": METHOD_INFO[r["variant"]][1],
             "seeds": int(r["n"]),
             "test accuracy %": _fmt(r["shrunk_test_accuracy"], r["shrunk_test_accuracy_ci"]),
             "nodes removed %": _fmt(r["nodes_removed"], r["nodes_removed_ci"], digits=1),
             "weight sparsity %": _fmt(r["weight_sparsity"], r["weight_sparsity_ci"], digits=1),
             "FLOPs vs dense": _fmt(r["flops_ratio"], r["flops_ratio_ci"], scale=1.0, digits=3)}
            for _, r in summary.iterrows()]
    return pd.DataFrame(rows).set_index(["setting", "method"])


def latency_table(summary: pd.DataFrame) -> pd.DataFrame:
    """CPU latency of the shrunk nets (ms, 'mean ± CI' over seeds) per setting, method and batch size."""
    cols = [c for c in summary.columns if c.startswith("latency_ms[") and not c.endswith("_ci")]
    rows = [{"setting": SETTING_TITLES[r["setting"]], "method": r["label"],
             **{f"batch {c[len('latency_ms[batch_'):-1]}": _fmt(r[c], r[f"{c}_ci"], 1.0, 3) for c in cols}}
            for _, r in summary.iterrows()]
    return pd.DataFrame(rows).set_index(["setting", "method"])


def findings(results: dict[str, Any]) -> str:
    """Which method wins where, and what the controls show, in sentences computed from
    ``results["headline"]["settings"]``; a ranking or a difference is stated only where its paired 95% interval
    excludes 0."""
    lines = []
    for setting, s in results["headline"]["settings"].items():
        by = {m["variant"]: m for m in s["methods"]}
        name = SETTING_TITLES[setting]

        def desc(method: str) -> str:
            m = by[method]
            ci = "" if m["nodes_removed_ci"] != m["nodes_removed_ci"] else f" ± {100 * m['nodes_removed_ci']:.1f}"
            return (f"{METHOD_INFO[method][0]} ({METHOD_INFO[method][1]}: {100 * m['nodes_removed']:.1f}{ci}% of the "
                    f"nodes removed at {100 * m['shrunk_test_accuracy']:.2f}% accuracy)")

        text = f"**{name}** (dense net {100 * s['dense_accuracy']:.2f}%): "
        if "best" in s:
            text += (f"among the methods within {s['tolerance_points']:g} point(s) of the dense accuracy, "
                     f"{desc(s['best'])} removes the most nodes on average")
            if "runner_up" in s:
                c = s["best_vs_runner_up"]
                text += (f"; the runner-up is {desc(s['runner_up'])}; " +
                         (f"the paired difference, {c['mean']:+.1f} points [{c['low']:+.1f}, {c['high']:+.1f}], "
                          "**resolves** the ranking" if c["resolved"] else
                          "the seeds **do not resolve** which of the two removes more (paired 95% interval "
                          "includes 0)"))
            baseline = not METHOD_INFO[s["best"]][2]
            text += "." + (" It is a baseline, not one of the three papers' methods." if baseline else "")
        else:
            text += (f"no method stays within {s['tolerance_points']:g} point(s) of the dense accuracy; the most "
                     f"accurate pruned net is {desc(s['most_accurate'])}.")
        text += (" Not beaten on both accuracy and nodes removed (the Pareto front): " +
                 ", ".join(METHOD_INFO[m][0] for m in s["pareto_front"]) + ".")
        lines.append(text)
        lines += ["- " + say_contrast({**c, "a": METHOD_INFO[c["a"]][0], "b": METHOD_INFO[c["b"]][0]}, c["what"],
                                      digits=2) for c in s["controls"]]
    return "\n\n".join(lines)
