#!/usr/bin/env bash
# The golden run: a fixed small training whose final weights are recorded in
# tests/reference/golden_fingerprints.json from the code before the training loop was
# restructured (issue 12), so that a behaviour-preserving change keeps them bitwise.
#   resnet18 (CIFAR stem) on synthetic data, 2 workers (--nproc 2, Gloo), fp32, one thread
#   each, 2 epochs of 7 steps, a checkpoint every 3 steps; then the same run resumed from its
#   mid-epoch checkpoint of step 9 (epoch 2, batch 2).
# Checks: the resumed run ends with the uninterrupted run's weights (always), and both with the
# recorded fingerprint, where this machine's numerics are those it was recorded with: the
# table is keyed by numerics_canary.py's digest (LibTorch's kernels on this CPU, computed by
# Python torch, independent of ringtrain's code). ATen, oneDNN and MKL are pinned to their AVX2
# code paths, so that machines with AVX-512 and without compute alike. On a machine whose
# digest is not in the table the golden comparison is skipped (exit 77) after the resume check,
# with the digest and fingerprint to record (from the commit named in the table).
# Usage: golden.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/golden
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 40
. "$src/tests/integration/step.sh"
fail=0
run=(train --data "$work/data" --model resnet18 --epochs 2 --batch-size 16 --nproc 2 --threads 1 --seed 12
     --amp none --channels-last false --limit-test 40 --checkpoint-every 3 --keep-checkpoints 10 --timeout 120)
step uninterrupted "$bin" "${run[@]}" --out "$work/uninterrupted" || exit 1
# Checkpoints, newest first: step 14 (end), 12, 9, 7 (end of epoch 1), 6, 3.
mkdir -p "$work/resumed"
cp "$work/uninterrupted/checkpoint.2.safetensors" "$work/resumed/checkpoint.safetensors"
cp "$work/uninterrupted/config.json" "$work/resumed/config.json"
step resumed "$bin" train --resume "$work/resumed" --nproc 2 --threads 1 --timeout 120 || exit 1
grep -q "resumed from .* at epoch 2 batch 2 (step 9)" "$work/resumed.out" \
  || { echo "FAIL: the resumed run did not start at epoch 2 batch 2 (step 9):"; grep resumed "$work/resumed.out"; fail=1; }
canary=$("$py" "$src/tests/integration/numerics_canary.py") || { echo "FAIL: numerics_canary.py"; exit 1; }
"$py" - "$work" "$src/tests/reference/golden_fingerprints.json" "$canary" <<'PY' || fail=$?
import json, sys
work, table_path, canary = sys.argv[1:4]
a = json.load(open(f"{work}/uninterrupted/metrics.json"))
b = json.load(open(f"{work}/resumed/metrics.json"))
fa, fb = a["weights_fingerprint"], b["weights_fingerprint"]
print(f"uninterrupted {fa} (replicas {a['replica_fingerprints']}), resumed at step 9: {fb}")
if fa != fb or len(set(a["replica_fingerprints"])) != 1:
    print("FAIL: the resumed run or a replica does not end with the uninterrupted run's weights")
    sys.exit(1)
table = json.load(open(table_path))
row = table["machines"].get(canary)
if row is None:
    print(f"SKIP golden: no fingerprint is recorded for numerics {canary} (this machine, AVX2 paths); "
          f"to record it, run this script with the ringtrain of commit {table['recorded_from']} and add "
          f'"{canary}": {{"fingerprint": "{fa}", ...}} to {table_path}')
    sys.exit(77)
if row["fingerprint"] != fa:
    print(f"FAIL: golden fingerprint {row['fingerprint']} (recorded from {table['recorded_from']} on {row['machine']}), "
          f"this build {fa}: the training no longer computes what it did")
    sys.exit(1)
print(f"ok: golden fingerprint {fa}, as recorded from {table['recorded_from']} on {row['machine']}")
PY
[ $fail -eq 0 ] && echo PASS
exit $fail
