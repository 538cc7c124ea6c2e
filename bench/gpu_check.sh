#!/usr/bin/env bash
# Issue 5's GPU checks in one script, for a GPU machine lent by this workplace's `device` tool
# (torch 2.11 cu130 in its python3, no network, none of ringtrain's Debian packages):
#   here:  scripts/setup.sh && scripts/device_bundle.sh       # binary, libraries, CIFAR-10 -> .device/
#   there: run(command="bash bench/gpu_check.sh", carry=[".device"], timeout_s=570)
# Steps, each with its own time limit so that one stuck step cannot eat the others':
#   1. the bundle loads against that machine's torch; nvidia-smi
#   2. --cuda-graph against eager training: resnet20, same seed, 2 epochs of 5,000 real images,
#      fp32: the per-epoch losses and accuracies must agree (cuDNN is not bitwise deterministic)
#   3. ringtrain against Python PyTorch on the GPU (bench/compare.py): resnet50, batch 512,
#      bf16 + channels_last, eager and with --cuda-graph on both sides
#   4. the `fast` recipe: resnet50, 10 epochs on the full real CIFAR-10 (with --cuda-graph;
#      without it if the graph step fails)
# $OUT gets 8 files (the tool's limit): summary.txt, compare.json, compare-graph.json, the
# histories of the eager, graph and fast runs, the fast run's metrics and log. The run folders
# (checkpoints of hundreds of MB) stay in /tmp on that machine.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
summary=$out/summary.txt
say() { echo "$*" | tee -a "$summary"; }
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started ))s; }

# --- 1. unpack; the loader finds the bundle's libraries, then torch's and NVIDIA's
rt=/tmp/ringtrain-gpu
rm -rf "$rt" && mkdir -p "$rt/data" "$rt/runs"
tar -C "$rt" -xzf "$root/.device/ringtrain-bundle.tar.gz" || { say "FAIL: no .device bundle (scripts/device_bundle.sh, carry .device)"; exit 2; }
py=${PYTHON:-python3}
torch_lib=$($py -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
site=$(dirname "$(dirname "$torch_lib")")
nvidia_libs=$(ls -d "$site"/nvidia/*/lib "$site"/nvidia/*/*/lib 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH=$rt/lib:$torch_lib:$nvidia_libs${LD_LIBRARY_PATH:-}
ringtrain=$rt/bin/ringtrain
nvidia-smi -L 2>&1 | tee -a "$summary"
say "torch: $($py -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))')"
if ! "$ringtrain" models > /dev/null; then
  say "FAIL: the bundled ringtrain does not load here:"; ldd "$ringtrain" | grep "not found" | tee -a "$summary"
  exit 1
fi
"$rt/bin/zstd" -dc "$root/.device/cifar10-jpeg.tar.zst" | tar -x -C "$rt/data"
say "data: $(find "$rt/data" -name '*.jpg' | wc -l) images ($(elapsed))"
data=$rt/data
runs=$rt/runs
status=0

# --- 2. CUDA graph against eager: same seed, same data order, same augmentation
small=(--data "$data" --model resnet20 --epochs 2 --limit-train 5000 --limit-test 1000 --batch-size 250
       --lr 0.1 --amp none --device cuda --seed 3)
timeout 150 "$ringtrain" train "${small[@]}" --out "$runs/eager" > "$runs/eager.log" 2>&1 || { say "FAIL: eager run:"; tail -3 "$runs/eager.log" | tee -a "$summary"; }
timeout 150 "$ringtrain" train "${small[@]}" --cuda-graph --out "$runs/graph" > "$runs/graph.log" 2>&1 || { say "FAIL: graph run:"; tail -3 "$runs/graph.log" | tee -a "$summary"; }
cp "$runs/eager/history.json" "$out/eager-history.json"; cp "$runs/graph/history.json" "$out/graph-history.json"
$py - "$runs/eager/history.json" "$runs/graph/history.json" <<'PY' 2>&1 | tee -a "$summary" || status=1
import json, sys
eager, graph = (json.load(open(p)) for p in sys.argv[1:3])
worst = 0.0
for e, g in zip(eager, graph):
    print(f"epoch {e['epoch']}: train loss eager {e['train_loss']:.4f} graph {g['train_loss']:.4f}; "
          f"test acc eager {e['test_accuracy']:.4f} graph {g['test_accuracy']:.4f}; "
          f"img/s eager {e['images_per_second']:.0f} graph {g['images_per_second']:.0f}")
    worst = max(worst, abs(e["train_loss"] - g["train_loss"]) / e["train_loss"])
ok = len(eager) == len(graph) == 2 and worst < 0.02
print(("ok" if ok else "FAIL") + f": --cuda-graph against eager, worst relative train-loss difference {worst:.4f}")
sys.exit(0 if ok else 1)
PY
say "(step 2 done at $(elapsed))"

# --- 3. against Python PyTorch on this GPU
for graph in "" --cuda-graph; do
  name=compare${graph:+-graph}
  timeout 150 $py "$root/bench/compare.py" --ringtrain "$ringtrain" --python "$py" --device cuda \
    --models resnet50 --configs bf16-cl --batch-size 512 --threads 0 --rounds 2 --warmup 5 --reps 3 --steps 10 \
    --modes train,forward $graph --json "$out/$name.json" 2>&1 | tee -a "$summary" || status=1
done
say "(step 3 done at $(elapsed))"

# --- 4. the fast recipe, 10 epochs on the full data
fast=(--data "$data" --recipe fast --device cuda --out "$runs/fast")
if ! timeout 300 "$ringtrain" train "${fast[@]}" --cuda-graph > "$runs/fast.log" 2>&1; then
  say "the fast recipe with --cuda-graph failed: $(grep -m1 'error' "$runs/fast.log"); again without it"
  rm -rf "$runs/fast"
  timeout 300 "$ringtrain" train "${fast[@]}" > "$runs/fast.log" 2>&1 || { say "FAIL: fast recipe run"; status=1; }
fi
cp "$runs/fast.log" "$out/fast.log"
cp "$runs/fast/history.json" "$out/fast-history.json" 2>/dev/null
cp "$runs/fast/metrics.json" "$out/fast-metrics.json" 2>/dev/null
$py - "$runs/fast/metrics.json" <<'PY' 2>&1 | tee -a "$summary"
import json, sys
m = json.load(open(sys.argv[1]))
print(f"fast recipe: final test accuracy {m['test_accuracy']:.4f} (best {m['best_test_accuracy']:.4f}), "
      f"{m['train_seconds']:.1f} s of training ({m['total_seconds']:.1f} s with evaluation), "
      f"{m['train_images_per_second']:.0f} img/s")
PY
say "(all done at $(elapsed), status $status)"
exit $status
