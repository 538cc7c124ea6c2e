#!/usr/bin/env bash
# The main job: train a ResNet on CIFAR-10 with ringtrain and show the results.
#   scripts/demo.sh [DATA] [extra `ringtrain train` flags...]
# DATA is a CIFAR-10 folder (the official binary batches, or train/ and test/ image folders),
# or the official cifar-10-binary.tar.gz. Without it, data/cifar10 is used, unpacked first
# from ../shared/data/cifar10-jpeg.tar.zst when that archive is there, or else the official
# archive is downloaded (`ringtrain download`) into data/cifar-10-batches-bin.
# MODEL and EPOCHS choose the run (default: resnet20, 3 epochs, the reference recipe otherwise;
# on a GPU try MODEL=resnet50 EPOCHS=10, the reference project's run).
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
# The short default run drops the lr after epoch 2; a chosen EPOCHS keeps the reference's 5,8.
milestones=${MILESTONES:-$([ -z "${EPOCHS:-}" ] && echo 2 || echo 5,8)}
build/ringtrain train --data "$data" --model "${MODEL:-resnet20}" --epochs "${EPOCHS:-3}" \
  --milestones "$milestones" --out "$out" "$@"
echo
cat "$out/classification_report.txt"
echo "run folder: $out (config.json, history.json, metrics.json, confusion_matrix.csv, checkpoint.safetensors,"
echo "  figures: training_curves.png, per_class_accuracy.png, confusion_matrix.png, confusion_matrix_normalized.png)"
