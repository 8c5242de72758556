#!/usr/bin/env bash
# The architecture and class-balancing comparison behind docs/comparison.md.
#
#   bash benchmarks/compare_architectures.sh [DATA=../shared/data/fer2013.npz] [RUNS=~/runs/compare]
#
# Budget: every run gets the same compute, BUDGET CPU-minutes of training (CPU time of the
# training process, so other work on the machine does not change what a run gets), on one
# thread, with the same recipe (AdamW lr 1e-3, weight decay 0.05, batch 64, strong
# augmentation, cosine schedule over the budget). Runs are skipped when already evaluated, so
# the script can be stopped and started again.
#
# landmark_mlp runs when LANDMARKS names its feature file (extracted in a MediaPipe venv:
# PYTHONPATH=src python -m emostyle.training.landmarks DATA FILE; see training/landmarks.py).
# Every balancing strategy runs on each of BALANCE_ARCHS (the strongest and the weakest learner).
# Lanes: run several copies with different ARCHS/BALANCES and COMPARE=0, then one with the
# full lists (everything is skipped but the comparison) - runs use one thread each.
set -euo pipefail
DATA=${1:-../shared/data/fer2013.npz}
RUNS=${2:-$HOME/runs/compare}
BUDGET=${BUDGET:-5}
OUT=${OUT:-docs/comparison}
ARCHS=${ARCHS:-"vgg_small vgg_medium baseline_cnn attention_cnn multiscale hybrid_transformer specialists deep_cnn vgg16 resnet18 resnet34 resnet50 vit_tiny"}
BALANCES=${BALANCES-"weighted-loss weighted-sampler oversample undersample"}
BALANCE_ARCHS=${BALANCE_ARCHS:-"vgg_small baseline_cnn"}
LANDMARKS=${LANDMARKS:-}
COMPARE=${COMPARE:-1}
ES=${EMOSTYLE_CMD:-emostyle}
COMMON="--data $DATA --epochs 1000 --time-budget $BUDGET --budget-clock cpu --threads 1 \
  --optimizer adamw --lr 0.001 --weight-decay 0.05 --batch-size 64 --augment strong"

run() {  # run NAME ARCH BALANCE [EXTRA TRAIN OPTIONS]
  local dir="$RUNS/$1"
  if [ -f "$dir/eval_private/metrics.json" ]; then echo "skip $1 (done)"; return; fi
  if [ -f "$dir/last.pt" ]; then
    $ES train --out "$dir" --resume
  else
    $ES train --arch "$2" --balance "$3" --out "$dir" $COMMON "${@:4}"
  fi
  $ES evaluate "$dir" --data "$DATA" --split private
}

for arch in $ARCHS; do run "$arch" "$arch" none; done
for arch in $BALANCE_ARCHS; do
  [ -z "$BALANCES" ] || run "$arch" "$arch" none   # the unbalanced reference (skipped when done)
  for bal in $BALANCES; do run "$arch-$bal" "$arch" "$bal"; done
done
if [ -n "$LANDMARKS" ]; then run landmark_mlp landmark_mlp none --landmarks "$LANDMARKS"; fi
[ "$COMPARE" = 1 ] || exit 0

arch_runs=(); for arch in $ARCHS; do arch_runs+=("$RUNS/$arch"); done
if [ -n "$LANDMARKS" ]; then arch_runs+=("$RUNS/landmark_mlp"); fi
$ES compare "${arch_runs[@]}" --out "$OUT/architectures" \
  --title "FER2013 PrivateTest, ${BUDGET} CPU-minutes each"
for arch in $BALANCE_ARCHS; do
  bal_runs=("$RUNS/$arch"); for bal in $BALANCES; do bal_runs+=("$RUNS/$arch-$bal"); done
  $ES compare "${bal_runs[@]}" --out "$OUT/balancing_$arch" \
    --title "$arch: class balancing, ${BUDGET} CPU-minutes each"
done
