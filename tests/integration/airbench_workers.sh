#!/usr/bin/env bash
# The airbench94 recipe data-parallel (issue 22, item 5): the same micro-batches on 1 worker and
# on 2 give the same weights, bit for bit, through everything the recipe adds to a step (the
# whitening layer's data initialisation and its bias's freeze, BatchNorm biases at 64x the lr,
# Nesterov, label smoothing, the alternating flip, the lookahead's updates and its final copy).
# Synthetic 32x32 data, 2,048 training images, --global-batch 512 --batch-size 256 (2
# micro-batches a step on 1 worker, 1 on each of 2), 2 epochs of 4 steps, the whitening bias
# trained 1 epoch, a lookahead update every 3 steps (at steps 3 and 6, then the final copy at
# 8), fp32, 1 thread per process (another thread count is another order of float sums inside
# the kernels: docs/performance.md).
#  a. 2 workers = 1 worker: every model tensor of the checkpoints bitwise equal;
#  b. control: 1 worker with the 512 images of a step in one micro-batch (BatchNorm over 512
#     images, not 256) ends elsewhere, so that (a) can fail.
# Usage: airbench_workers.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/airbench_workers
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 410 50 >/dev/null
fail=0
. "$src/tests/integration/step.sh"
common=(train --data "$work/data" --recipe airbench94 --epochs 2 --limit-train 2048 --limit-test 100 --threads 1
        --seed 4 --amp none --whiten-bias-epochs 1 --ema-every 3 --tta none --timeout 120)
step one "$bin" "${common[@]}" --global-batch 512 --batch-size 256 --out "$work/one" || exit 1
step two "$bin" "${common[@]}" --global-batch 512 --batch-size 256 --nproc 2 --out "$work/two" || exit 1
step whole "$bin" "${common[@]}" --batch-size 512 --out "$work/whole" || exit 1
"$py" - "$work" <<'PY' || fail=1
import sys
from safetensors.numpy import load_file
w = sys.argv[1]
one, two, whole = (load_file(f"{w}/{r}/checkpoint.safetensors") for r in ("one", "two", "whole"))
names = [k for k in one if k.startswith("model/")]
equal = [k for k in names if (one[k] == two[k]).all()]
differ = [k for k in names if one[k].dtype.kind == "f" and not (one[k] == whole[k]).all()]
print(f"2 workers = 1 worker: {len(equal)} of {len(names)} model tensors bitwise equal; "
      f"control, batch 512 in one micro-batch: {len(differ)} tensors differ")
ok = len(equal) == len(names) and len(names) > 20
if not ok:
    print("FAIL: 2 workers do not give 1 worker's weights; first differing:",
          [k for k in names if k not in equal][:3])
if len(differ) < len(names) // 2:
    print("FAIL: the control (BatchNorm over 512 images) does not differ: the comparison cannot fail")
    ok = False
sys.exit(0 if ok else 1)
PY
[ $fail -eq 0 ] && echo PASS
exit $fail
