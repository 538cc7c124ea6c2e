#!/usr/bin/env bash
# The main job: train on CIFAR-10 with ringtrain, the fastest recipe to accuracy, and show the results.
#   scripts/demo.sh [DATA] [extra `ringtrain train` flags...]
# DATA is a CIFAR-10 folder (the official binary batches, or train/ and test/ image folders),
# or the official cifar-10-binary.tar.gz. Without it, data/cifar10 is used, unpacked first
# from ../shared/data/cifar10-jpeg.tar.zst when that archive is there, or else the official
# archive is downloaded (`ringtrain download`) into data/cifar-10-batches-bin.
# RECIPE and EPOCHS choose the run (default: the airbench94 recipe, 2 of its 10 epochs, about
# 10 minutes on 2 CPU cores; EPOCHS=10 is the whole recipe; RECIPE=reference EPOCHS=10 is the
# course project's ResNet-50 run: use a GPU). MODEL overrides the recipe's model.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$data" ]; then
  data=data/cifar10
  if [ ! -e "$data/.complete" ] && [ -f ../shared/data/cifar10-jpeg.tar.zst ]; then
    scripts/unpack_data.sh ../shared/data/cifar10-jpeg.tar.zst "$data"
  elif [ ! -e "$data/.complete" ]; then
    build/ringtrain download --to data && data=data/cifar-10-batches-bin
  fi
elif [ -f "$data" ]; then  # the official archive: checked (MD5) and unpacked beside the project's data
  build/ringtrain download --to data --url "file://$(realpath "$data")" && data=data/cifar-10-batches-bin
fi
if [ ! -d "$data" ]; then
  echo "demo: no CIFAR-10 found at $data; pass a folder or cifar-10-binary.tar.gz: scripts/demo.sh PATH" >&2
  exit 2
fi
out=runs/demo-$(date +%Y%m%d-%H%M%S)
build/ringtrain train --data "$data" --recipe "${RECIPE:-airbench94}" --epochs "${EPOCHS:-2}" \
  ${MODEL:+--model "$MODEL"} --out "$out" "$@"
echo
cat "$out/classification_report.txt"
echo "run folder: $out (config.json, history.json, metrics.json, confusion_matrix.csv, checkpoint.safetensors,"
echo "  figures: training_curves.png, per_class_accuracy.png, confusion_matrix.png, confusion_matrix_normalized.png)"
