"""The theory chapter's verdicts: death curves from the tracked unit norms, and every claim with the number that
supports it (or not). Pure functions on DataFrames."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pruninglib.config import TheoryConfig
from pruninglib.experiments import theory_math as tm
from pruninglib.experiments.targets import Target


def death_curves(units: pd.DataFrame, dead_tol: float) -> pd.DataFrame:
    """Per (variant, seed, step): ``exact`` = fraction of hidden units whose fan-in is all zero, ``numerical`` =
    fraction whose ||u|| ||v|| is below ``dead_tol`` times its mean over units at step 0 of the same run.

    ``units`` holds :func:`~pruninglib.tracking.unit_rows` rows with variant and seed columns."""
    u = units.assign(product=units["u_l2"] * units["v_l2"])
    floor = u[u["step"] == 0].groupby(["variant", "seed"])["product"].mean().rename("floor") * dead_tol
    u = u.join(floor, on=["variant", "seed"])
    u["exact"] = u["fan_in_alive"] == 0
    u["numerical"] = u["product"] < u["floor"]
    return u.groupby(["variant", "seed", "step"], sort=False)[["exact", "numerical"]].mean().reset_index()


def final_units(units: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The rows of ``variant``'s last recorded step, every seed."""
    u = units[units["variant"] == variant]
    return u[u["step"] == u.groupby("seed")["step"].transform("max")]


def starved_first(units: pd.DataFrame, variant: str) -> dict[str, float]:
    """Of the units of ``variant`` whose fan-in died, the fraction whose fan-out (outgoing weights) had all been
    zeroed at or before the record at which the fan-in died: "starved, then emptied"."""
    u = units[units["variant"] == variant]
    dead_in = u[u["fan_in_alive"] == 0].groupby(["seed", "node"])["step"].min()
    dead_out = u[u["fan_out_alive"] == 0].groupby(["seed", "node"])["step"].min()
    both = pd.concat([dead_in.rename("fan_in"), dead_out.rename("fan_out")], axis=1).dropna(subset=["fan_in"])
    if both.empty:
        return {"dead_units": 0.0, "starved_first": math.nan}
    return {"dead_units": float(len(both)), "starved_first": float((both["fan_out"] <= both["fan_in"]).mean())}


def _counted(values: Any, direction: str) -> tuple[float, ...]:
    """``values`` with a NaN (nothing to measure, e.g. no living unit) replaced by the infinity on the wrong side
    of ``direction``: a claim that cannot be measured is not met."""
    bad = math.inf if direction.startswith("<") else -math.inf
    return tuple(bad if math.isnan(float(v)) else float(v) for v in values)


def _claim(name: str, values: Any, bound: float, direction: str, kind: str = "mean", metric: str = "",
           note: str = "") -> Target:
    with np.errstate(invalid="ignore"):  # an infinite value (see _counted) makes the interval NaN, as it should
        return Target(name, _counted(values, direction), bound, direction, metric=metric, kind=kind, note=note)


def _exact(name: str, values: Any, bound: float, direction: str, metric: str = "", note: str = "") -> Target:
    """A claim about an exact identity (or one deterministic computation): every value must hold."""
    return _claim(name, values, bound, direction, "every", metric, note)


def claims(cfg: TheoryConfig, traj: pd.DataFrame, shrink: pd.DataFrame, minima: pd.DataFrame,
           invariance: dict[str, float], units: pd.DataFrame, deaths: pd.DataFrame, summary: pd.DataFrame,
           bn: pd.DataFrame) -> tuple[list[Target], dict[str, Any]]:
    """Every claim of the chapter as a typed target, and the numbers the prose quotes (``measured``).

    The exact claims (single-weight rules, rescaling, BatchNorm invariance) are ``kind="every"`` checks on their
    values; the claims about trained nets have one value per seed (a ratio or difference against the run of the
    same seed where the claim compares two variants), while ``measured`` keeps the values pooled over seeds."""
    k = cfg.scalar_lr * cfg.scalar_lambda
    t_zero = math.ceil(abs(cfg.scalar_w0) / k) if k > 0 else None
    zeros = tm.first_exact_zero(traj)
    defined = traj.dropna(subset=["closed_form"])
    traj_err = (defined["simulated"] - defined["closed_form"]).abs().groupby(defined["rule"]).max()
    l2_last = float(traj[traj["rule"] == "l2"]["simulated"].abs().iloc[-1])
    l1 = traj[traj["rule"] == "l1"]
    l1_after = l1[l1["closed_form"].isna()]["simulated"].abs()
    never = cfg.scalar_steps + 1  # "no exact zero within the steps"
    zero_gap = abs((never if zeros["prox_l1"] is None else zeros["prox_l1"]) - (never if t_zero is None else t_zero))
    err = shrink.assign(e=(shrink["simulated"] - shrink["closed_form"]).abs()).groupby("rule")["e"].max()
    in_band = shrink[(shrink["rule"] != "l2") & (shrink["w_star"].abs() <= cfg.scalar_lambda / cfg.curvature)]
    exact_zero = in_band.groupby("rule")["simulated"].apply(lambda s: float((s == 0.0).mean()))
    rel_error = minima.groupby("penalty")["rel_error"].max()

    seeds = list(cfg.seeds)
    last = {v: final_units(units, v) for v in units["variant"].unique()}
    floor = {v: d[d["step"] == 0] for v, d in units.groupby("variant")}
    dead_end = deaths[deaths["step"] == deaths.groupby(["variant", "seed"])["step"].transform("max")]
    dead = dead_end.groupby("variant")[["exact", "numerical"]].mean()
    dead_seed = dead_end.set_index(["variant", "seed"])

    def balance(v: str, seed: int | None = None) -> dict[str, float]:
        """Balance of ``v``'s final living units, all seeds pooled or one seed; the floor from all seeds."""
        f, u = floor[v], last[v]
        return tm.balance_summary(u if seed is None else u[u["seed"] == seed],
                                  cfg.dead_tol * float((f["u_l2"] * f["v_l2"]).mean()))

    bal = {v: balance(v) for v in ("none", "l2", "l1") if v in last}
    bal_seed = [balance("l2", s) for s in seeds]
    bal0 = tm.balance_summary(floor["l2"], 0.0)
    block1 = {v: last[v][last[v]["layer"] == "block 1"] for v in ("bn", "bn+l2")}
    norm_ratio = float(block1["bn+l2"]["u_l2"].median() / block1["bn"]["u_l2"].median())
    median1 = {v: b.groupby("seed")["u_l2"].median() for v, b in block1.items()}
    ratio_seed = [float(median1["bn+l2"][s] / median1["bn"][s]) for s in seeds]
    acc = summary.groupby("variant")["test_accuracy"].mean()
    acc_seed = summary.set_index(["variant", "seed"])["test_accuracy"]
    bn_l2 = last["bn+l2"]
    spread = bn_l2["u_l2"] / bn_l2.groupby(["seed", "layer"])["u_l2"].transform("median")
    bn_min = float(spread.min())
    starve = starved_first(units, "zero+l2")
    targets = [
        _exact("(a) single-weight trajectories minus closed forms, max", traj_err, 1e-12, "<=",
               metric=f"max over steps, per rule ({', '.join(traj_err.index)})"),
        _exact(f"(a) prox-L1: steps between the first exact 0 of w and ceil(|w0| / (eta lambda)) = {t_zero}",
               [zero_gap], 0.0, "<=", metric=f"no exact 0 within the steps counts as step {never}"),
        _exact(f"(a) L2: |w| after {cfg.scalar_steps} steps (never exactly 0)", [l2_last], 0.0, ">"),
        _exact(f"(a) L1 subgradient: largest |w| after crossing 0, at most eta lambda = {k:.3g}",
               [float(l1_after.max()) if len(l1_after) else 0.0], k * (1 + 1e-9), "<=",
               note="bound: eta lambda with a relative tolerance of 1e-9"),
        _exact("(a) L1 subgradient: smallest |w| over the trajectory (never exactly 0)",
               [float(l1["simulated"].abs().min())], 0.0, ">"),
        _exact("(a) shrinkage map, L2 and prox-L1 minus closed forms, max", [err["l2"], err["prox_l1"]], 1e-9,
               "<=", metric="max over w*, per rule (l2, prox_l1)"),
        _exact("(a) |w*| <= lambda/a: fraction exactly 0 with prox-L1", [exact_zero.get("prox_l1", math.nan)], 1.0,
               ">="),
        _exact("(b) min over c of the L2 penalty vs ||u|| ||v||, max relative error", [rel_error["l2"]], 1e-8, "<=",
               metric=f"max over {cfg.pairs} random pairs"),
        _exact("(b) min over c of the L1 penalty vs 2 sqrt(||u||_1 ||v||_1), max relative error",
               [rel_error["l1"]], 1e-8, "<=", metric=f"max over {cfg.pairs} random pairs"),
        _exact("(b) ReLU net after rescaling units: max |f - f'|", [invariance["max_abs_diff_relu"]], 1e-10, "<="),
        _exact("(b) tanh net after the same rescaling: max |f - f'|", [invariance["max_abs_diff_tanh"]], 1e-3, ">"),
        _claim("(b) L2 net: median unit imbalance | ||u|| - ||v|| | / (||u|| + ||v||)",
               [b["imbalance_l2"] for b in bal_seed], 0.05, "<=", metric="imbalance_l2 (l2), per seed",
               note=f"at initialisation: {bal0['imbalance_l2']:.2f}"),
        _claim("(b) L2 net: penalty / sum ||u|| ||v|| over living units", [b["penalty_ratio_l2"] for b in bal_seed],
               1.01, "<=", metric="penalty_ratio_l2 (l2), per seed"),
        *(_exact(f"(b) BatchNorm{' + L2' if v == 'bn+l2' else ''}: max relative change of the loss when a filter "
                 "is scaled", g["loss_rel_diff"], 1e-4, "<=", metric=f"loss_rel_diff ({v}), per seed")
          for v, g in bn.groupby("variant")),
        _exact("(b) BatchNorm: max |cos(filter, its gradient)|", bn["grad_cosine"], 1e-3, "<=",
               metric="grad_cosine, per BatchNorm run"),
        _claim("(b) BatchNorm + L2: median block-1 filter norm / without L2", ratio_seed, 1.0, "<",
               metric="median block-1 u_l2 (bn+l2) / (bn), same seed"),
        _claim("(b) BatchNorm + L2: test accuracy minus without L2 (points)",
               [100 * (acc_seed[("bn+l2", s)] - acc_seed[("bn", s)]) for s in seeds], -1.0, ">=",
               metric="test_accuracy (bn+l2) - (bn), same seed"),
        _claim("(b) BatchNorm + L2: smallest filter norm / median of its block",
               spread.groupby(bn_l2["seed"]).min().reindex(seeds), 0.1, ">=", metric="per seed"),
        _claim("(c) zeroing + L2: fraction of hidden units dead at the end, minus the larger of zeroing alone and "
               "L2 alone (points)",
               [100 * (dead_seed.loc[("zero+l2", s), "exact"] - max(dead_seed.loc[("zero", s), "exact"],
                                                                   dead_seed.loc[("l2", s), "numerical"]))
                for s in seeds], 0.0, ">",
               metric="exactly dead (zero+l2) - max(exactly dead (zero), numerically dead (l2)), same seed"),
    ]
    measured = {"first_exact_zero": zeros, "shrinkage_max_error": err.to_dict(),
                "in_band_exact_zero_fraction": exact_zero.to_dict(), "rescaling_invariance": invariance,
                "balance_at_init": bal0, "balance_final": bal, "dead_final": dead.to_dict(orient="index"),
                "bn_checks": bn.to_dict(orient="records"), "bn_block1_norm_ratio": norm_ratio,
                "bn_smallest_filter_over_median": bn_min, "starved_first": starve,
                "test_accuracy_mean": acc.to_dict()}
    return targets, measured


def findings(results: dict[str, Any]) -> dict[str, str]:
    """Per section ('balance', 'units', 'batchnorm', 'zeroing'), the run's observations as Markdown sentences,
    computed from its numbers (so they stay true at every profile)."""
    m = results["headline"]["measured"]
    b0, bf = m["balance_at_init"], m["balance_final"]
    dead, acc = m["dead_final"], m["test_accuracy_mean"]
    bn = pd.DataFrame(m["bn_checks"])
    bn_max = bn.groupby("variant")["loss_rel_diff"].max()
    st = m["starved_first"]
    n_seeds = len(results["seeds"])
    out = {
        "balance": (
            f"At initialisation the median unit imbalance $|\\|u_j\\| - \\|v_j\\||/(\\|u_j\\| + \\|v_j\\|)$ is "
            f"**{b0['imbalance_l2']:.2f}** (the default initialisation gives a 784-wide fan-in a larger norm than a "
            f"10-wide fan-out). After training with L2 it is **{bf['l2']['imbalance_l2']:.3f}**, and the penalty "
            f"$\\frac12\\sum_j(\\|u_j\\|^2+\\|v_j\\|^2)$ is **{bf['l2']['penalty_ratio_l2']:.4f}** times "
            f"$\\sum_j \\|u_j\\|\\,\\|v_j\\|$ (1 would be exact balance). Without a penalty the imbalance stays at "
            f"**{bf['none']['imbalance_l2']:.2f}**: nothing pulls the units to balance. With L1, the L1 norms "
            f"balance only partly (L1-imbalance **{bf['l1']['imbalance_l1']:.2f}**, from "
            f"{b0['imbalance_l1']:.2f} at initialisation; penalty over $2\\sum_j\\sqrt{{\\|u_j\\|_1\\|v_j\\|_1}}$: "
            f"**{bf['l1']['penalty_ratio_l1']:.2f}**). Medians over "
            f"the living units of {n_seeds} seed(s)."),
        "units": (
            f"Fraction of hidden units numerically dead at the end (mean over seeds): **{dead['l2']['numerical']:.1%}"
            f"** with L2, **{dead['l1']['numerical']:.1%}** with L1, **{dead['none']['numerical']:.1%}** without a "
            f"penalty; none is *exactly* dead, since neither penalty alone makes a weight exactly zero under SGD. "
            f"Test accuracy: {acc['none']:.2%} (none), {acc['l2']:.2%} (L2), {acc['l1']:.2%} (L1)."),
        "batchnorm": (
            f"On the trained BatchNorm CNNs (float64), scaling the first block's filters by c in [0.25, 4] changes "
            f"the loss by at most **{bn_max['bn']:.1e}** of its value without L2 and **{bn_max['bn+l2']:.1e}** "
            f"with L2 (BatchNorm's $\\epsilon$, which matters more for the smaller filters of the L2 net; see "
            f"exercise 4), the gradient of each filter is orthogonal to it up to |cos| = "
            f"**{bn['grad_cosine'].max():.1e}**, and c times the gradient norm stays within "
            f"**{bn['grad_scaling'].max():.1%}** of its value at c = 1. With L2 the median first-block filter norm "
            f"ends at **{m['bn_block1_norm_ratio']:.2f}** times its value without L2 (test accuracy "
            f"{acc['bn']:.2%} without L2, {acc['bn+l2']:.2%} with it), and the smallest filter is still "
            f"**{m['bn_smallest_filter_over_median']:.2f}** times the median of its block: no channel is driven "
            f"towards zero."),
        "zeroing": (
            f"Hidden units exactly dead at the end: **{dead['zero+l2']['exact']:.1%}** with zeroing and L2, "
            f"**{dead['zero']['exact']:.1%}** with zeroing alone, **{dead['zero+l1']['exact']:.1%}** with zeroing "
            f"and L1; L2 alone leaves **{dead['l2']['numerical']:.1%}** numerically dead and none exactly. Of the "
            f"{st['dead_units']:.0f} units that died with zeroing and L2 (all seeds), **{st['starved_first']:.0%}** "
            f"had lost all of their outgoing weights by the time their last incoming weight was zeroed. Test "
            f"accuracy: {acc['zero']:.2%} (zeroing), {acc['zero+l2']:.2%} (zeroing + L2), "
            f"{acc['zero+l1']:.2%} (zeroing + L1)."),
    }
    return out
