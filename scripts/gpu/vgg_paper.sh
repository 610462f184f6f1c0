#!/usr/bin/env bash
# The paper profile of the VGG-16 / CIFAR-10 chapter as one GPU job (issue 16): dense and stochastic pruning with
# L2 (3 seeds each), with L1 and with no regularizer, the L1-norm and network-slimming baselines (1 seed each),
# full width, all 45,000 training images, 40 epochs (baselines + 10 fine-tuning epochs): 11 trainings, the 9
# from-scratch ones side by side on the one GPU. Code: pruninglib/experiments/vgg_job.py (its docstring says what
# each step does).
#
# Needs: Python 3.10+ with torch, torchvision, pandas, scipy, Pillow, tqdm (nothing is downloaded, nothing is
# installed); the CIFAR-10 JPEG copy in data/CIFAR-10/ of this repository (git-ignored), its three files:
#   mkdir -p data/CIFAR-10 && cp "$PRUNINGLIB_DATA"/CIFAR-10/{CIFAR-10-images.tar.gz,original_order.csv.gz,batches.meta} data/CIFAR-10/
#
# Launch with the device tool (a copy of the working tree runs there, from the repository root; $OUT comes back):
#   run(command="bash scripts/gpu/vgg_paper.sh \"$OUT\" --commit <git rev-parse HEAD, pasted>",
#       carry=["data/CIFAR-10"], timeout_s=600)
# or on any GPU machine:  bash scripts/gpu/vgg_paper.sh OUT_FOLDER [--commit SHA] [--workers N] [--peak-tflops T]
# Check it first on a CPU (the same code path at a tiny size, about 1 min):  bash scripts/gpu/vgg_paper.sh OUT --dry-run
#
# Time on one H200: not yet measured. Estimate: 380 epochs of 45,000 images at 1.88 GFLOP per image and step are
# 32 PFLOP; at 10-20% of the H200's 989 TFLOP/s bf16 peak that is 2.7-5.4 min, plus about 2 min to decode the
# JPEGs, probe the speed, start the workers and measure: 5 to 8 min.
#
# Results: OUT/records.tar.gz.partNN and OUT/manifest.json (the run folder: results.json with a `job` block of
# speeds, the tables, the dynamics, the shrunk model) and OUT/job.log; at most 8 files of at most 16 MiB. Render
# the chapter from them on a CPU:
#   pruninglib publish vgg_cifar10 --profile paper -p from_records OUT
set -euo pipefail
out="${1:?usage: bash scripts/gpu/vgg_paper.sh OUT_FOLDER [--dry-run] [--commit SHA] [--workers N]}"
shift
cd "$(dirname "$0")/../.."
if [[ " $* " != *" --dry-run "* ]]; then
  for f in CIFAR-10-images.tar.gz original_order.csv.gz batches.meta; do
    [[ -f "data/CIFAR-10/$f" ]] || { echo "missing data/CIFAR-10/$f (see the header of $0)" >&2; exit 2; }
  done
  export PRUNINGLIB_DATA="$PWD/data"
fi
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PRUNINGLIB_CACHE="${PRUNINGLIB_CACHE:-$PWD/runs/gpu-cache}"
"${PYTHON:-python3}" -m pruninglib.experiments.vgg_job "$out" "$@" 2>&1 | tee "$out/job.log"
exit "${PIPESTATUS[0]}"
