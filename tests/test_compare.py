"""The comparison chapter's pieces: proximal group lasso, per-layer magnitude schedules, the statistics and the
winner analysis (the end-to-end smoke run is in test_cli_notebooks.py)."""
import math

import pandas as pd
import pytest
import torch

from pruninglib.config import ComparisonConfig, MLPMnistConfig
from pruninglib.experiments.compare import chapter_config, magnitude_schedule, methods_for
from pruninglib.experiments.compare_summary import ci95, findings, headline, pareto, summarize, targets, winner
from pruninglib.methods import make_pruner
from pruninglib.models import MLP
from pruninglib.pruning import dead_nodes, prune_magnitude
from pruninglib.training import FitState, GroupProx


def test_ci95_matches_the_t_interval_and_is_undefined_for_one_seed():
    mean, half = ci95(pd.Series([1.0, 2.0, 3.0]))
    assert mean == 2.0 and half == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)  # t(0.975, 2) = 4.3027
    assert math.isnan(ci95(pd.Series([5.0]))[1])


def test_group_prox_zeroes_exactly_the_units_below_the_threshold():
    model = MLP((4, 3, 2))
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[0.3, 0.4, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.6, 0.8]]))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    GroupProx(["layers.0.weight"], lam=1.2).on_step_end(FitState(model, opt, 0, 1, 1))  # threshold 0.6
    w = model.layers[0].weight
    assert w[0].abs().sum() == 0  # norm 0.5 <= 0.6: exactly zero
    assert torch.allclose(w[1], torch.tensor([3.0, 4.0, 0.0, 0.0]) * (1 - 0.6 / 5.0))
    assert torch.allclose(w[2], torch.tensor([0.0, 0.0, 0.24, 0.32]))  # norm 1.0: scaled by 1 - 0.6 / 1.0
    assert dead_nodes(model)["hidden 1"].tolist() == [True, False, False]


def test_guided_prox_hits_later_units_harder():
    torch.manual_seed(0)
    model = MLP((8, 6, 2))
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.ones(6, 8) / math.sqrt(8))  # every unit norm 1
    prox = make_pruner("group_prox", model, lam=1.0, guidance="linear")
    opt = torch.optim.SGD(model.parameters(), lr=0.6)  # thresholds 0.6 * c_j, c = (1..6) / 3.5: the last 1.03
    prox.on_step_end(FitState(model, opt, 0, 1, 1))
    norms = model.layers[0].weight.norm(dim=1)
    assert (norms[1:] <= norms[:-1]).all() and norms[-1] == 0 and norms[0] > 0


def test_prune_magnitude_takes_one_sparsity_per_weight():
    w = {"a": torch.arange(1.0, 11.0), "b": torch.arange(1.0, 5.0)}
    mask = prune_magnitude(w, {"a": 0.5, "b": 0.25})
    assert mask["a"].tolist() == [False] * 5 + [True] * 5 and mask["b"].tolist() == [False, True, True, True]
    with pytest.raises(ValueError, match="one fraction per weight"):
        prune_magnitude(w, {"a": 0.5})
    with pytest.raises(ValueError, match="scope 'layer'"):
        prune_magnitude(w, {"a": 0.5, "b": 0.5}, scope="global")


def test_magnitude_schedule_follows_the_chapter_ramp_then_retrains():
    c = MLPMnistConfig(epochs=10, ramp_end=0.5, target_sparsity=(0.9, 0.8, 0.5))
    schedule = magnitude_schedule(c, MLP(c.widths), c.epochs, 1.0)
    assert sorted(schedule) == [1, 2, 3, 4, 5]  # pruning during the ramp, retraining after
    assert list(schedule[5].values()) == [0.9, 0.8, 0.5]
    firsts = [schedule[e]["layers.0.weight"] for e in sorted(schedule)]
    assert firsts == sorted(firsts) and firsts[0] < 0.9
    assert list(magnitude_schedule(c, MLP(c.widths), c.epochs, 0.5)[5].values()) == [0.45, 0.4, 0.25]


def test_harness_uses_the_chapter_profile_and_slimming_only_with_batchnorm():
    cfg = ComparisonConfig(mlp_profile="paper", vgg_profile="quick")
    assert chapter_config(cfg, "mlp").epochs == 20 and chapter_config(cfg, "vgg").profile == "quick"
    assert "slimming" not in methods_for(cfg, "mlp") and methods_for(cfg, "vgg")[-1] == "slimming"
    assert methods_for(cfg, "mlp")[0] == "dense" and "dense" not in methods_for(
        ComparisonConfig(methods=("stochastic_l2",)), "mlp")  # a probe point runs its method alone
    assert chapter_config(ComparisonConfig(mlp_lambda_l2=1e-2), "mlp").lambda_l2 == 1e-2


def _runs() -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for method, acc, removed in (("dense", 0.98, 0.0), ("stochastic_l2", 0.978, 0.60), ("magnitude", 0.975, 0.30),
                                     ("group_lasso", 0.90, 0.80), ("relevance", 0.979, 0.10)):
            rows.append({"setting": "mlp", "variant": method, "seed": seed, "shrunk_test_accuracy": acc + 0.001 * seed,
                         "nodes_removed": removed + 0.01 * seed, "weight_sparsity": removed, "flops": 100,
                         "shrunk_flops": 100 * (1 - removed), "max_abs_diff": 1e-12, "latency_ms[batch_1]": 0.1})
    return pd.DataFrame(rows)


def test_winner_is_the_most_nodes_removed_within_the_tolerance():
    runs = _runs()
    summary = summarize(runs)
    w = winner(summary, runs, tolerance=1.0)
    assert w["best"] == "stochastic_l2" and w["runner_up"] == "magnitude"
    assert w["best_vs_runner_up"]["resolved"] and w["best_vs_runner_up"]["mean"] == pytest.approx(30.0)
    assert "group_lasso" not in w["within_tolerance"]  # 8 points below dense
    assert set(pareto(summary)) == {"stochastic_l2", "group_lasso", "relevance"}  # magnitude is beaten by l2
    assert winner(summary, runs, tolerance=0.0).get("best") is None
    runs.loc[(runs["variant"] == "magnitude") & (runs["seed"] == 1), "nodes_removed"] = 0.9  # seeds now disagree
    assert not winner(summarize(runs), runs, tolerance=1.0)["best_vs_runner_up"]["resolved"]


def test_findings_name_the_winner_and_flag_a_baseline():
    runs = _runs()
    runs.loc[runs["variant"] == "magnitude", "nodes_removed"] = 0.9
    summary = summarize(runs)
    text = findings({"headline": headline(ComparisonConfig(), summary, runs)})
    assert "magnitude + retraining (baseline, Han et al.: 90.0 ± 0.0% of the nodes removed" in text
    assert "stochastic + L2 (our reconstruction) minus magnitude + retraining, hidden nodes removed" in text
    assert "It is a baseline, not one of the three papers' methods." in text
    assert [t.verdict for t in targets(runs, summary)] == ["met", "met"]


def test_probe_rule_takes_the_most_nodes_within_the_tolerance_else_the_most_accurate():
    from pruninglib.experiments.compare_probes import mark_selected, selected

    rows = [("group_lasso", "mlp_group_lambda", v, acc, removed) for v, acc, removed in
            ((5e-3, 0.980, 0.40), (1e-2, 0.978, 0.55), (2e-2, 0.960, 0.80))]  # 2e-2 loses 2 points: out
    rows += [("guided", "mlp_guided_lambda", v, acc, 0.9) for v, acc in ((1e-2, 0.95), (2e-2, 0.96), (4e-2, 0.94))]
    table = pd.DataFrame([{"method": m, "parameter": p, "value": v, "shrunk_val_accuracy": a,
                           "drop_points": 100 * (a - 0.981), "nodes_removed": r, "qualifies": 100 * (a - 0.981) >= -1}
                          for m, p, v, a, r in rows])
    assert selected(mark_selected(table)) == {"mlp_group_lambda": 1e-2, "mlp_guided_lambda": 2e-2}
