"""Every invalid input a user can type, with the message they get: one table, run through the command line.

Each row fails before any work (exit status 2, nothing written), and its message names the parameter, the value
and what is allowed. The notebooks validate the same way: ``MLPMnistConfig.from_mapping(globals())`` raises the
same ConfigError as the command line.
"""
import pytest

from pruninglib.cli import main
from pruninglib.experiments import CHAPTERS

_FIELDS = ("batch_size, chosen, data_root, dense_weight_decay, device, epochs, lambda_l1, lambda_l2, latency_batches, "
           "lr, optimizer, out_dir, profile, prune_every, prune_factor, prune_form, prune_scale, ramp_end, ramp_start, "
           "reg_after_ramp, sample_nodes, seeds, target_sparsity, train_subset, val_size, variants, widths")

# (arguments after `pruninglib`, the complete message after "pruninglib: error: ")
INVALID = [
    ("run mlp_mnist -p epoch 3",
     f"parameter 'epoch' = 3 is not allowed: a parameter of MLPMnistConfig: {_FIELDS}"),
    ("run mlp_mnist -p epochs -1", "parameter 'epochs' = -1 is not allowed: an integer >= 1"),
    ("run mlp_mnist -p epochs 2.5", "parameter 'epochs' = 2.5 is not allowed: an integer >= 1"),
    ("run mlp_mnist -p epochs 3 -p epochs 4", "parameter 'epochs' is given twice with -p"),
    ("run mlp_mnist -p lr 0", "parameter 'lr' = 0 is not allowed: a number in (0.0, 10.0]"),
    ("run mlp_mnist -p lambda_l2 -0.0001", "parameter 'lambda_l2' = -0.0001 is not allowed: a number in [0.0, 1.0]"),
    ("run mlp_mnist -p target_sparsity [1.0,0.9,0.5]",
     "parameter 'target_sparsity' = 1.0 is not allowed: a number in [0.0, 1.0)"),
    ("run mlp_mnist -p target_sparsity [-0.1,0.9,0.5]",
     "parameter 'target_sparsity' = -0.1 is not allowed: a number in [0.0, 1.0)"),
    ("run mlp_mnist -p target_sparsity [0.9,0.5]",
     "parameter 'target_sparsity' = (0.9, 0.5) is not allowed: one value per linear layer (3 for these widths)"),
    ('run mlp_mnist -p variants ["l2","dropout"]',
     "parameter 'variants' = ('l2', 'dropout') is not allowed: distinct names from none, l1, l2"),
    ('run mlp_mnist -p chosen l1 -p variants ["l2"]',
     "parameter 'chosen' = 'l1' is not allowed: one of the variants ('l2',)"),
    ("run mlp_mnist -p prune_form cauchy",
     "parameter 'prune_form' = 'cauchy' is not allowed: one of 'laplace', 'gauss'"),
    ("run mlp_mnist -p widths [784,0,10]", "parameter 'widths' = (784, 0, 10) is not allowed: a list of at least 3 "
                                           "positive integers (input, hidden..., classes)"),
    ("run mlp_mnist -p widths [28,100,10]",
     "parameter 'widths' = (28, 100, 10) is not allowed: input width 784 and 10 classes for MNIST"),
    ("run mlp_mnist -p ramp_start 0.7 -p ramp_end 0.6",
     "parameter 'ramp_end' = 0.6 is not allowed: a fraction larger than ramp_start = 0.7"),
    ("run mlp_mnist -p seeds []", "parameter 'seeds' = () is not allowed: a non-empty list of non-negative integers"),
    ("run mlp_mnist -p latency_batches [0]",
     "parameter 'latency_batches' = (0,) is not allowed: a non-empty list of positive integers"),
    ("run mlp_mnist -p device tpu", "parameter 'device' = 'tpu' is not allowed: one of 'auto', 'cpu', 'cuda'"),
    ("run mlp_mnist --profile huge", "parameter 'profile' = 'huge' is not allowed: one of smoke, quick, paper"),
    ('run comparison -p methods ["stochastic_l2","dropout"]',
     "parameter 'methods' = ('stochastic_l2', 'dropout') is not allowed: distinct names from stochastic_l2, "
     "stochastic_l1, relevance, guided, group_lasso, magnitude, slimming"),
    ("run comparison -p vgg_group_lambda -0.001",
     "parameter 'vgg_group_lambda' = -0.001 is not allowed: a number in [0.0, 1.0]"),
    ("run comparison -p relevance_alpha 0", "parameter 'relevance_alpha' = 0 is not allowed: a number in (0.0, 1000000.0]"),
    ("run comparison -p relevance_tau 1.5", "parameter 'relevance_tau' = 1.5 is not allowed: a number in (0.0, 1.0)"),
    ("run resnet", f"unknown chapter 'resnet'; allowed: {', '.join(sorted(CHAPTERS))}"),
    ("run unet_dsb2018 -p image_size 100",
     "parameter 'image_size' = 100 is not allowed: an integer from 32 to 256, a multiple of 2^depth = 8"),
    ("run unet_dsb2018 -p depth 6", "parameter 'depth' = 6 is not allowed: an integer from 1 to 5"),
    ("run unet_dsb2018 -p max_images 5",
     "parameter 'max_images' = 5 is not allowed: 0 (all 670 images) or an integer from 12 to 670"),
    ("run unet_dsb2018 -p target_sparsity [0.5,0.9]",
     "parameter 'target_sparsity' = (0.5, 0.9) is not allowed: one value per U-Net level (depth + 1 = 4) and one "
     "for the head (5 values)"),
    ("run unet_dsb2018 -p baseline_norm linf",
     "parameter 'baseline_norm' = 'linf' is not allowed: one of 'l2', 'l1'"),
    ("run unet_dsb2018 -p test_fraction 0.9",
     "parameter 'test_fraction' = 0.9 is not allowed: a number in [0.05, 0.4]"),
    ("run vgg_cifar10 -p width 0", "parameter 'width' = 0 is not allowed: a number in (0.0, 1.0]"),
    ("run vgg_cifar10 -p target_sparsity [0.5,0.5]",
     "parameter 'target_sparsity' = (0.5, 0.5) is not allowed: one value per prunable weight: 13 convolutions and "
     "the classifier (14 values)"),
    ('run vgg_cifar10 -p baselines ["l1_norm","hrank"]',
     "parameter 'baselines' = ('l1_norm', 'hrank') is not allowed: distinct names from l1_norm, slimming (or none)"),
    ("run vgg_cifar10 -p sweep_fractions [0.5,1.0]",
     "parameter 'sweep_fractions' = 1.0 is not allowed: a number in (0.0, 1.0)"),
    ("run vgg_cifar10 -p train_subset 49900",
     "parameter 'train_subset' = 49900 is not allowed: at most 49500 (the training images left after val_size), "
     "or 0 for all"),
    ("run vgg_cifar10 -p augment yes", "parameter 'augment' = 'yes' is not allowed: true or false"),
    ("run relevance_lenet5 -p tau 1.0", "parameter 'tau' = 1.0 is not allowed: a number in (0.0, 1.0)"),
    ("run relevance_lenet5 -p tau 0", "parameter 'tau' = 0 is not allowed: a number in (0.0, 1.0)"),
    ("run relevance_lenet5 -p alpha 0", "parameter 'alpha' = 0 is not allowed: a number in (0.0, 1000000.0]"),
    ("run relevance_lenet5 -p gamma0 -0.001", "parameter 'gamma0' = -0.001 is not allowed: a number in [0.0, 1.0]"),
    ("run relevance_lenet5 -p bound 98", "parameter 'bound' = 98 is not allowed: a number in [0.0, 1.0]"),
    ("run guided_mlp -p lambda_group -0.1", "parameter 'lambda_group' = -0.1 is not allowed: a number in [0.0, 1.0]"),
    ('run guided_mlp -p phis ["l1","l0"]',
     "parameter 'phis' = ('l1', 'l0') is not allowed: distinct names from l1, l2sq, group"),
    ("run guided_mlp -p guidance random", "parameter 'guidance' = 'random' is not allowed: one of 'linear', 'exp'"),
    ("run guided_mlp -p kappa 0", "parameter 'kappa' = 0 is not allowed: a number in (0.0, 50.0]"),
    ("run mlp_mnist -p data_root /nonexistent/data",
     "data root /nonexistent/data (argument data_root) does not exist; create it, or point $PRUNINGLIB_DATA / "
     "data_root at the folder that holds the data sets (see data/README.md)"),
    ("run theory -p lambda_l2 -0.01", "parameter 'lambda_l2' = -0.01 is not allowed: a number in [0.0, 1.0]"),
    ("run theory -p lambda_l1 -1.0", "parameter 'lambda_l1' = -1.0 is not allowed: a number in [0.0, 1.0]"),
    ("run theory -p bn_lambda 2", "parameter 'bn_lambda' = 2 is not allowed: a number in [0.0, 1.0]"),
    ("run theory -p scalar_lambda -0.5", "parameter 'scalar_lambda' = -0.5 is not allowed: a number in [0.0, 100.0]"),
    ("run theory -p scalar_lambda 20", "parameter 'scalar_lambda' = 20 is not allowed: scalar_lr * scalar_lambda < 1 "
                                       "(scalar_lr = 0.1), else the L2 step flips the sign"),
    ("run theory -p curvature 30", "parameter 'curvature' = 30 is not allowed: scalar_lr * (curvature + "
                                   "scalar_lambda) < 2 (scalar_lr = 0.1, scalar_lambda = 0.5), else gradient descent "
                                   "on the toy loss diverges"),
    ("run theory -p scalar_w0 0", "parameter 'scalar_w0' = 0 is not allowed: a non-zero number in [-100.0, 100.0]"),
    ("run theory -p dead_tol 0", "parameter 'dead_tol' = 0 is not allowed: a number in (0.0, 1.0)"),
    ("run theory -p target_sparsity [0.9]", "parameter 'target_sparsity' = (0.9,) is not allowed: two values: the "
                                            "hidden layer, then the output layer"),
    ("run theory -p bn_channels [8,8,8,8]", "parameter 'bn_channels' = (8, 8, 8, 8) is not allowed: 1 to 3 positive "
                                            "integers (28x28 images allow 3 blocks)"),
    ("book --profile huge", "parameter 'profile' = 'huge' is not allowed: one of smoke, quick, paper"),
]


@pytest.mark.parametrize("args, message", INVALID, ids=[a for a, _ in INVALID])
def test_invalid_input_fails_before_any_work_with_its_message(args, message, capsys, tmp_path):
    argv = args.split() + (["--out", str(tmp_path / "run")] if args.startswith("run") else [])
    assert main(argv) == 2
    assert capsys.readouterr().err == f"pruninglib: error: {message}\n"
    assert not (tmp_path / "run").exists()


def test_missing_value_is_an_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "mlp_mnist", "-p", "epochs"])
    assert exit_.value.code == 2
    assert "argument -p/--param: expected 2 arguments" in capsys.readouterr().err
