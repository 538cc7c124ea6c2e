#!/usr/bin/env bash
# Real CIFAR-10 end to end: train resnet20 for 1 epoch on a class-balanced 5000-image subset;
# check that it learned (>= 15% on 1000 test images is 5 standard deviations above the 10% of
# chance; one epoch of 40 steps gives 15-22% here, as the same recipe does in PyTorch), that
# every output file is there, and that `ringtrain eval` on its checkpoint reproduces the test
# accuracy training reported.
# Usage: real_data_train_eval.sh RINGTRAIN DATA_DIR WORK_DIR
set -euo pipefail
bin=$1 data=$2 work=$3/real_data
rm -rf "$work" && mkdir -p "$work"
"$bin" train --data "$data" --model resnet20 --epochs 1 --limit-train 5000 --limit-test 1000 \
  --out "$work/run" --seed 1
for f in config.json history.json metrics.json classification_report.txt confusion_matrix.csv checkpoint.safetensors; do
  [ -s "$work/run/$f" ] || { echo "FAIL: $work/run/$f missing"; exit 1; }
done
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
acc=$(json "$work/run/metrics.json" "d['test_accuracy']")
total=$(json "$work/run/metrics.json" "d['test']['total']")
echo "train: test accuracy $acc on $total images"
[ "$total" = 1000 ] || { echo "FAIL: expected 1000 test images, got $total"; exit 1; }
python3 -c "import sys; sys.exit(0 if $acc >= 0.15 else 1)" || { echo "FAIL: accuracy $acc is not well above chance (0.10)"; exit 1; }
"$bin" eval --checkpoint "$work/run/checkpoint.safetensors" --data "$data" --out "$work/eval"
eval_acc=$(json "$work/eval/metrics.json" "d['test_accuracy']")
echo "eval: test accuracy $eval_acc"
[ "$acc" = "$eval_acc" ] || { echo "FAIL: eval accuracy $eval_acc differs from training's $acc"; exit 1; }
cmp <(tail -n +2 "$work/run/confusion_matrix.csv") <(tail -n +2 "$work/eval/confusion_matrix.csv")
echo "PASS"
