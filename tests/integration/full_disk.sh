#!/usr/bin/env bash
# A save into a full filesystem (a 3 MB tmpfs: room for the config and one resnet20
# checkpoint, not for a second) stops the run cleanly with exit code 2 and a message, and
# keeps the last good checkpoint loadable. Needs root for the mount; exits 77 (skipped)
# where it cannot mount.
# Usage: full_disk.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/full_disk
umount "$work/small" 2>/dev/null
rm -rf "$work" && mkdir -p "$work/small"
if ! mount -t tmpfs -o size=3m tmpfs "$work/small" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root)"; exit 77
fi
trap 'umount "$work/small" 2>/dev/null' EXIT
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 40
"$bin" train --data "$work/data" --model resnet20 --batch-size 32 --threads 1 --epochs 3 \
  --out "$work/small/run" > "$work/run.log" 2>&1
rc=$?
fail=0
echo "exit $rc: $(grep 'error' "$work/run.log" | tail -1)"
[ $rc -eq 2 ] || { echo "FAIL: expected exit code 2, got $rc"; tail "$work/run.log"; fail=1; }
grep -q "No space left on device" "$work/run.log" || { echo "FAIL: the message does not say the disk is full"; fail=1; }
[ -e "$work/small/run/metrics.json" ] && { echo "FAIL: metrics.json written by a failed run"; fail=1; }
ls "$work/small/run"
"$bin" eval --checkpoint "$work/small/run/checkpoint.safetensors" --data "$work/data" --out "$work/eval" > "$work/eval.log" 2>&1 \
  && echo "the last good checkpoint loads: $(head -1 "$work/eval.log")" \
  || { echo "FAIL: the last good checkpoint is not loadable"; cat "$work/eval.log"; fail=1; }
[ $fail -eq 0 ] && echo PASS
exit $fail
