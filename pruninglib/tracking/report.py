"""Markdown views of a results.json record: the run card and the targets table shown on every result page."""
from __future__ import annotations

from typing import Any

import pandas as pd


def run_card(results: dict[str, Any]) -> str:
    """Profile, hardware, data source (with the files verified), commit and wall time, as a Markdown table."""
    data = results["data_source"]
    files = data.get("verified_files", [])
    ok = f"{len(files)} files verified against their SHA-256" if files else "NO FILE VERIFIED"
    git = results["git"]
    commit = git["commit"][:10] + (" (uncommitted changes)" if git.get("dirty") else "")
    rows = [
        ("chapter", results["chapter"]),
        ("profile", f"`{results['profile']}`"),
        ("seeds", ", ".join(map(str, results["seeds"]))),
        ("hardware", results["hardware"]["summary"]),
        ("software", f"torch {results['software']['torch']}, torchvision {results['software']['torchvision']}, "
                     f"Python {results['software']['python']}"),
        ("data", f"{data['dataset']}: {data['obtained']}; {ok}"),
        ("split", ", ".join(f"{k} {v}" for k, v in data.get("split", {}).items())),
        ("commit", f"`{commit}`"),
        ("started (UTC)", results["started_utc"]),
        ("wall time", f"{results['wall_time_s'] / 60:.1f} min ({results['wall_time_s']:.0f} s)"),
    ]
    if "resumed_runs" in results:  # runs that continued from the checkpoint of an interrupted command
        rows.append(("resumed from a checkpoint", ", ".join(
            f"{r['variant']} seed {r['seed']} at epoch {r['from_epoch']} of {r['epochs']}"
            for r in results["resumed_runs"]) or "none"))
    lines = ["| run card | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def targets_table(results: dict[str, Any]) -> str:
    """The chapter's targets: per-seed values' mean, 95% interval and n against the bound, and the verdict (met /
    met on the mean only / missed, :mod:`pruninglib.experiments.targets`). Each row is printed with as many
    decimals as it takes for rounding never to decide the verdict."""
    from pruninglib.experiments.targets import MET, decimals

    lines = ["| target | n | mean | 95% interval | required | verdict |", "|---|---|---|---|---|---|"]
    for t in results["targets"]:
        name = t["name"].replace("|", "\\|")  # a pipe in a name would split the row into extra cells
        if t["kind"] == "every":  # an exact check: every value must hold, no interval
            shown, interval = f"{min(t['values']):.3g} to {max(t['values']):.3g}", "(every value must hold)"
            required = f"{t['direction']} {t['bound']:g}"
        else:
            d = decimals([t["mean"], t["low"], t["high"]], t["bound"])
            shown = f"{t['mean']:.{d}f}"
            interval = "none (one value)" if t["n"] < 2 else f"[{t['low']:.{d}f}, {t['high']:.{d}f}]"
            required = f"{t['direction']} {t['bound']:.{d}f}"
        verdict = t["verdict"] if t["verdict"] == MET else f"**{t['verdict']}**"
        lines.append(f"| {name} | {t['n']} | {shown} | {interval} | {required} | {verdict} |")
    return "\n".join(lines)


def mean_std_table(summary: pd.DataFrame, columns: dict[str, str], by: str = "variant",
                   order: list[str] | None = None, scale: dict[str, float] | None = None,
                   digits: int = 2) -> pd.DataFrame:
    """One row per ``by`` group with 'mean ± std' (std over seeds) for each column, renamed by ``columns``."""
    scale = scale or {}
    out = {}
    for col, label in columns.items():
        g = summary.groupby(by)[col]
        m, s = g.mean() * scale.get(col, 1.0), g.std(ddof=1).fillna(0.0) * scale.get(col, 1.0)
        out[label] = [f"{a:.{digits}f} ± {b:.{digits}f}" for a, b in zip(m, s)]
        index = m.index
    table = pd.DataFrame(out, index=index)
    if order is not None:
        table = table.loc[[o for o in order if o in table.index]]
    return table
