#!/usr/bin/env bash
# Accuracy of each --grad-compression mode against fp32 on the real CIFAR-10: resnet20, 2 workers
# (--nproc 2, one thread each), the same budget for every mode, two seeds. Prints a Markdown table
# (test accuracy and final training loss, per seed and their mean) and keeps the runs in OUT.
# Usage: bench/compression_accuracy.sh DATA_DIR OUT [EPOCHS] [MODES] [SEEDS]
#   bench/compression_accuracy.sh build/data/cifar10 runs/compression 4 none,bf16,fp16,powersgd:4 1,2
set -euo pipefail
data=$1 out=$2 epochs=${3:-4} modes=${4:-none,bf16,fp16,powersgd:4} seeds=${5:-1,2}
bin=${RINGTRAIN:-$(dirname "$0")/../build/ringtrain}
mkdir -p "$out"
for seed in ${seeds//,/ }; do
  for mode in ${modes//,/ }; do
    dir="$out/${mode/:/}-seed$seed"
    [ -e "$dir/metrics.json" ] && continue  # done by an earlier call
    echo "== $mode seed $seed -> $dir" >&2
    # PowerSGD starts after one epoch of plain allreduce (390 steps of 2 x 64 images).
    "$bin" train --data "$data" --model resnet20 --epochs "$epochs" --batch-size 64 --nproc 2 --threads 1 \
      --schedule cosine --lr 0.1 --weight-decay 1e-4 --seed "$seed" --amp none \
      --grad-compression "$mode" --powersgd-warmup 390 --out "$dir" > "$dir.log" 2>&1
  done
done
python3 - "$out" "$modes" "$seeds" <<'PY'
import json, statistics, sys
out, modes, seeds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
print("| compression | " + " | ".join(f"test acc seed {s}" for s in seeds) + " | mean | final train loss (mean) | MB sent / step |")
print("|---|" + "---|" * (len(seeds) + 3))
base = None
for mode in modes:
    acc, loss, sent = [], [], 0
    for s in seeds:
        d = f"{out}/{mode.replace(':', '')}-seed{s}"
        m = json.load(open(f"{d}/metrics.json"))
        h = json.load(open(f"{d}/history.json"))
        acc.append(100 * m["test_accuracy"]); loss.append(h[-1]["train_loss"])
        sent = m["comm_last_epoch"]["bytes_allreduced_per_step"] / 1e6
    mean = statistics.mean(acc)
    base = mean if base is None else base
    delta = "" if mode == modes[0] else f" ({mean - base:+.2f})"
    print(f"| {mode} | " + " | ".join(f"{a:.2f}%" for a in acc) + f" | {mean:.2f}%{delta} | "
          f"{statistics.mean(loss):.4f} | {sent:.3f} |")
PY
