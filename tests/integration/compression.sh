#!/usr/bin/env bash
# --grad-compression end to end, 2 workers (--nproc 2, Gloo), resnet20 on synthetic data:
#   * PowerSGD (rank 2, after 2 uncompressed steps): a run resumed from its mid-epoch
#     checkpoint of step 6 (PowerSGD's Q and both ranks' error feedback in it) ends with the
#     uninterrupted run's weights, bitwise; both replicas agree;
#   * 2 -> 1 -> 2 workers: the 1-worker phase carries PowerSGD's state on unchanged;
#   * metrics.json records each mode and the bytes it sent per step: bf16 half of none's,
#     PowerSGD far fewer;
#   * a bad value is refused with one line and exit 2.
# (`none` bitwise equal to the code before compression existed: the golden_run test.)
# Usage: compression.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/compression
py=$src/.venv/bin/python
[ -x "$py" ] || py=python3
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 16 40  # 5 x 16 = 80 train images
. "$src/tests/integration/step.sh"
fail=0
run=(train --data "$work/data" --model resnet20 --batch-size 8 --nproc 2 --threads 1 --seed 5
     --amp none --limit-test 40 --checkpoint-every 3 --keep-checkpoints 10 --timeout 120)
# 80 images / (2 x 8) = 5 steps per epoch; checkpoints at steps 3, 5 (epoch end), 6, 9, 10.
step powersgd "$bin" "${run[@]}" --epochs 2 --grad-compression powersgd:2 --powersgd-warmup 2 --out "$work/powersgd" || exit 1
mkdir -p "$work/resumed"
cp "$work/powersgd/checkpoint.2.safetensors" "$work/resumed/checkpoint.safetensors"
cp "$work/powersgd/config.json" "$work/resumed/config.json"
step resumed "$bin" train --resume "$work/resumed" --nproc 2 --threads 1 --timeout 120 || exit 1
grep -q "resumed from .* at epoch 2 batch 1 (step 6)" "$work/resumed.out" \
  || { echo "FAIL: the resumed run did not start at epoch 2 batch 1 (step 6):"; grep resumed "$work/resumed.out"; fail=1; }
# 2 -> 1 -> 2 workers (issue 21, defect 10): the 1-worker phase compresses nothing, and its
# checkpoints carry PowerSGD's state on as it was, so the 2-worker phase after it continues it.
mkdir -p "$work/alone"
cp "$work/powersgd/checkpoint.3.safetensors" "$work/alone/checkpoint.safetensors"  # step 5, an epoch end
cp "$work/powersgd/config.json" "$work/alone/config.json"
step alone "$bin" train --resume "$work/alone" --nproc 0 --epochs 2 --threads 1 || exit 1
python3 - "$work/powersgd/checkpoint.3.safetensors" "$work/alone/checkpoint.safetensors" <<'PY' || fail=1
import json, struct, sys
def compression(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["ringtrain"]) if "ringtrain" in header.get("__metadata__", {}) else {}
    tensors = {k: data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
               for k, v in header.items() if k.startswith("grad_compression/")}
    return tensors, meta.get("grad_compression_world")
before, world_before = compression(sys.argv[1])
after, world_after = compression(sys.argv[2])
print(f"PowerSGD state: {len(before)} tensors from {world_before} workers; after the 1-worker epoch "
      f"{len(after)} from {world_after}")
ok = before and before == after and world_before == world_after == 2
print("ok: the 1-worker phase carried PowerSGD's state on unchanged" if ok else
      "FAIL: the 1-worker phase lost or changed PowerSGD's state")
sys.exit(0 if ok else 1)
PY
for mode in none bf16; do
  step "$mode" "$bin" "${run[@]}" --epochs 1 --grad-compression "$mode" --out "$work/$mode" || exit 1
done
"$py" - "$work" <<'PY' || fail=1
import json, sys
work = sys.argv[1]
m = {k: json.load(open(f"{work}/{k}/metrics.json")) for k in ("powersgd", "resumed", "none", "bf16")}
a, b = m["powersgd"], m["resumed"]
print(f"powersgd uninterrupted {a['weights_fingerprint']} (replicas {a['replica_fingerprints']}), "
      f"resumed at step 6: {b['weights_fingerprint']}")
ok = True
if a["weights_fingerprint"] != b["weights_fingerprint"] or len(set(a["replica_fingerprints"])) != 1:
    print("FAIL: with PowerSGD, the resumed run or a replica does not end with the uninterrupted run's weights")
    ok = False
comm = {k: v["comm_last_epoch"] for k, v in m.items()}
for k, want in (("powersgd", "powersgd:2"), ("none", "none"), ("bf16", "bf16")):
    if comm[k]["compression"] != want:
        print(f"FAIL: metrics.json of the {k} run records compression {comm[k]['compression']!r}, not {want!r}")
        ok = False
fp32, half, low = (comm[k]["bytes_allreduced_per_step"] for k in ("none", "bf16", "powersgd"))
print(f"bytes per step: none {fp32:.0f}, bf16 {half:.0f}, powersgd:2 {low:.0f} ({fp32 / low:.1f}x fewer)")
if half != fp32 / 2:
    print("FAIL: bf16 did not send half of fp32's bytes"); ok = False
if not low < fp32 / 4:
    print("FAIL: PowerSGD rank 2 did not send at least 4x fewer bytes than fp32"); ok = False
with open(f"{work}/powersgd/config.json") as f:
    if json.load(f).get("grad_compression") != "powersgd:2":
        print("FAIL: config.json does not record --grad-compression"); ok = False
sys.exit(0 if ok else 1)
PY
"$bin" train --data "$work/data" --grad-compression fp8 > "$work/bad.out" 2>&1; rc=$?
if [ $rc -ne 2 ] || [ "$(wc -l < "$work/bad.out")" -ne 1 ] || ! grep -q "expected none, bf16, fp16 or powersgd:R" "$work/bad.out"; then
  echo "FAIL: --grad-compression fp8 exited $rc with:"; cat "$work/bad.out"; fail=1
fi
[ $fail -eq 0 ] && echo PASS
exit $fail
