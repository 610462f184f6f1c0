"""The two method chapters' experiments and summaries: tuning runs never read the test split, paired targets pair
runs of the same seed, the crop formula per run, and the lambda rule of the guided chapter. Tiny synthetic data."""
import pandas as pd
import pytest
import torch

from pruninglib.config import GuidedMLPConfig, RelevanceLeNetConfig
from pruninglib.data.tensors import Dataset, Split
from pruninglib.experiments import guided_mlp, guided_summary, relevance_lenet5, relevance_summary


class Forbidden:
    """A test split that fails on any use: a run that reads it cannot pass."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was read ({name})")

    def __len__(self):
        raise AssertionError("the test split was read (len)")


def synthetic(n_train=200, n_val=100, forbid_test=True):
    """MNIST-shaped data whose label is the sign pattern of two pixels (learnable in a few steps)."""
    def split(n, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 1, 28, 28, generator=g)
        return Split(x, ((x[:, 0, 14, 14] > 0).long() * 2 + (x[:, 0, 3, 3] > 0).long()))

    def load(*args, **kwargs):
        test = Forbidden() if forbid_test else split(100, 2)
        return Dataset(split(n_train, 0), split(n_val, 1), test, {"name": "synthetic", "split": {}})
    return load


@pytest.fixture
def no_test(monkeypatch):
    monkeypatch.setattr(relevance_lenet5, "load_mnist", synthetic())
    monkeypatch.setattr(guided_mlp, "load_mnist", synthetic())


def test_relevance_tuning_run_never_reads_the_test_split(no_test, tmp_path):
    cfg = RelevanceLeNetConfig(evaluate_test=False, seeds=(0,), dense_seeds=(0,), test_size=50, bound=0.0,
                               eval_every=1, latency_batches=(1,), out_dir=str(tmp_path), device="cpu")
    result = relevance_lenet5.run(cfg, progress=False)
    t = result.summary
    assert set(t["variant"]) == {"dense", "relevance", "crop_only"}
    assert not [c for c in t.columns if "test" in c] and {"val_accuracy", "shrunk_val_accuracy"} <= set(t.columns)
    assert result.results["targets"] == [] and result.results["headline"]["split"] == "val"
    assert (t[t["variant"] != "dense"]["crops"] >= 1).all(), "bound 0: the gate opens at every evaluation"
    assert "test_accuracy" not in result.tables["crops"].columns


def test_relevance_final_run_reports_the_ablation_paired_by_seed(monkeypatch, tmp_path):
    """A final run (synthetic test split) has the crop-only arm and same-seed paired targets; the crop-only run
    with gamma0 = 0 ends with other weights than the relevance run of its seed (the decay acted)."""
    monkeypatch.setattr(relevance_lenet5, "load_mnist", synthetic(forbid_test=False))
    cfg = RelevanceLeNetConfig(seeds=(1, 0), dense_seeds=(0, 1), test_size=0, bound=0.0, eval_every=1,
                               latency_batches=(1,), out_dir=str(tmp_path), device="cpu")
    result = relevance_lenet5.run(cfg, progress=False)
    names = [t["name"] for t in result.results["targets"]]
    assert any("relevance minus crop-only final test accuracy" in n for n in names)
    a, b = (result.models[(v, 0)].prunable()["conv1.weight"] for v in ("relevance", "crop_only"))
    assert not torch.equal(a, b)
    assert result.results["targets"][0]["verdict"] == "met", "the crop formula holds in every cropped run"


def test_relevance_paired_targets_use_same_seed_pairs():
    """Rows in different seed orders per variant: each paired value is relevance minus crop-only of ONE seed."""
    cfg = RelevanceLeNetConfig(seeds=(0, 1, 2), dense_seeds=(2, 0, 1), bound=0.98, tau=0.04)
    table = pd.DataFrame({"variant": ["dense"] * 3 + ["relevance"] * 3 + ["crop_only"] * 3,
                          "seed": [2, 0, 1, 0, 1, 2, 2, 1, 0],
                          "test_accuracy": [0.991, 0.990, 0.992, 0.985, 0.986, 0.987, 0.980, 0.982, 0.984],
                          "weight_sparsity": [0.0] * 3 + [0.0784] * 3 + [0.04, 0.0784, 0.0784]})
    ck = pd.DataFrame({"variant": ["relevance", "crop_only"], "seed": [0, 0], "crops_before": [1, 1],
                       "sparsity": [0.04, 0.04]})
    formula, bound, dense, acc, sparsity = relevance_summary.targets(cfg, table, ck)
    assert dense.values == pytest.approx((99.0, 99.2, 99.1))  # seeds 0, 1, 2
    assert acc.values == pytest.approx((0.1, 0.4, 0.7))  # 98.5-98.4, 98.6-98.2, 98.7-98.0
    assert sparsity.values == pytest.approx((0.0, 0.0, 3.84)) and sparsity.verdict == "met on the mean only"
    assert formula.verdict == "met" and bound.verdict == "met"


def test_formula_gap_is_the_largest_per_run_and_zero_for_a_run_without_a_crop():
    """Relevance seed 2 cropped twice (the second crop 0.5 point off the formula), seed 0 never; crop-only seed 0
    once, exactly: gaps per run, the variants in order, then the config's seeds."""
    crops = pd.DataFrame({"variant": ["relevance"] * 3 + ["crop_only"], "seed": [2, 2, 1, 0],
                          "crops_before": [0, 1, 0, 1], "sparsity": [0.0, 0.045, 0.0, 0.04]})
    gaps = relevance_summary.formula_gaps((0, 1, 2), crops, 0.04)
    assert gaps == pytest.approx([0.0, 0.0, 0.005, 0.0, 0.0, 0.0])


def test_guided_tuning_run_never_reads_the_test_split(no_test, tmp_path):
    cfg = GuidedMLPConfig(evaluate_test=False, seeds=(0,), phis=("group",), keep_fractions=(1.0, 0.2),
                          latency_batches=(1,), out_dir=str(tmp_path), device="cpu")
    result = guided_mlp.run(cfg, progress=False)
    t = result.summary
    assert {"val_accuracy", "val_accuracy_kept"} <= set(t.columns) and not [c for c in t.columns if "test" in c]
    assert result.results["targets"] == [] and "val_accuracy" in result.tables["kept"].columns
    cut = result.tables["kept"].query("keep == 0.2").set_index("variant")["val_accuracy"]
    assert t.set_index("variant")["val_accuracy_kept"].to_dict() == cut.to_dict()


def sweep_frame(scores):
    """A lambda sweep's records as load_records returns them: {lambda: (guided, unguided)} kept accuracies."""
    rows = []
    for lam, (g, u) in scores.items():
        for seed in (0, 1):
            for variant, v in (("group guided", g), ("group unguided", u), ("none", 0.99)):
                rows += [{"point": f"p{lam}{seed}", "lambda_group": lam, "variant": variant, "seed": seed,
                          "metric": m, "value": v} for m in ("val_accuracy_kept", "val_accuracy")]
    return pd.DataFrame(rows)


def test_lambda_rule_scores_both_arms_alike_and_breaks_ties_to_the_smaller_lambda():
    # 1e-3: guided alone is best (0.95) but the mean of both arms is 0.60; 2e-3 and 5e-3 tie at 0.80.
    frame = sweep_frame({1e-3: (0.95, 0.25), 2e-3: (0.90, 0.70), 5e-3: (0.70, 0.90)})
    assert guided_summary.choose_lambda(frame, "group") == 2e-3
    table = guided_summary.lambda_table(frame, "group")
    assert table.loc[1e-3, "score (mean of both)"] == pytest.approx(60.0) and (table["n"] == 2).all()


@pytest.mark.parametrize("phi", GuidedMLPConfig().phis)
def test_the_guided_paper_profile_uses_the_lambda_chosen_on_validation_and_3_seeds(phi):
    """The paper profile's lambdas are the ones the pre-stated rule picks from the committed sweep records."""
    paper = guided_mlp.PROFILES["paper"]
    assert paper[f"lambda_{phi}"] == guided_summary.choose_lambda(guided_summary.tuning(phi), phi)
    assert len(paper["seeds"]) >= 3


def test_epochs_that_fit_counts_whole_epochs_of_every_arm_and_seed():
    per_epoch = pd.Series({"dense": 30.0, "relevance": 50.0, "crop_only": 30.0})  # 110 s per seed and epoch
    assert relevance_summary.epochs_that_fit(per_epoch, seeds=3, budget_s=1800) == 5  # 1650 s; 6 would be 1980
    assert relevance_summary.epochs_that_fit(per_epoch, seeds=3, budget_s=1649) == 4


def test_the_paper_profile_trains_as_many_epochs_as_the_timing_record_allows():
    """The epoch count of the relevance chapter's paper profile comes from its committed timing record; 3 seeds of
    every arm."""
    cpu = relevance_summary.timing()["CPU s per epoch"]
    paper = relevance_lenet5.PROFILES["paper"]
    assert paper["epochs"] == relevance_summary.epochs_that_fit(cpu, seeds=len(paper["seeds"]))
    assert len(paper["seeds"]) >= 3
    assert paper["dense_seeds"] == paper["seeds"]
