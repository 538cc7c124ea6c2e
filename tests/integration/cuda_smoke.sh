#!/usr/bin/env bash
# The CUDA path end to end, where there is a GPU (label "gpu"; skipped, exit 77, elsewhere): resnet20
# trains 2 epochs on synthetic data with --device cuda, eager and with --cuda-graph, and their
# per-epoch training losses agree within 2% (cuDNN is not bitwise deterministic). The GPU
# machine's own, longer checks are bench/gpu_check.sh.
# Usage: cuda_smoke.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/cuda_smoke
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 20 >/dev/null
common=(train --data "$work/data" --model resnet20 --epochs 2 --batch-size 32 --seed 3 --amp none --device cuda
        --log-every 100)
"$bin" "${common[@]}" --out "$work/eager" > "$work/eager.out" 2> "$work/eager.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "no CUDA device is visible" "$work/eager.err"; then
  echo "SKIP: no CUDA device here"; exit 77
fi
fail=0
[ $rc -eq 0 ] || { echo "FAIL: --device cuda exited $rc: $(head -c 400 "$work/eager.err")"; fail=1; }
"$bin" "${common[@]}" --cuda-graph --out "$work/graph" > "$work/graph.out" 2>&1 ||
  { echo "FAIL: --cuda-graph: $(tail -3 "$work/graph.out")"; fail=1; }
[ $fail -eq 0 ] && python3 - "$work" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
a, b = ([e["train_loss"] for e in json.load(open(f"{w}/{r}/history.json"))] for r in ("eager", "graph"))
print("train loss per epoch, eager:", a, "graph:", b)
sys.exit(0 if len(a) == len(b) == 2 and all(abs(x - y) <= 0.02 * abs(x) for x, y in zip(a, b)) else 1)
PY
exit $fail
