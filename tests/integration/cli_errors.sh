#!/usr/bin/env bash
# The command line: every subcommand answers --help; bad flags and bad input exit with code 2
# and one line naming the problem, and leave no run folder behind.
# Usage: cli_errors.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/cli_errors
rm -rf "$work" && mkdir -p "$work"
fail=0
for sub in "" train eval models; do
  "$bin" $sub --help >/dev/null 2>&1 || { echo "FAIL: ringtrain $sub --help exited $?"; fail=1; }
done
grep -q "resnet50 *23,520,842" <<<"$("$bin" models)" || { echo "FAIL: models does not list resnet50 with 23,520,842"; fail=1; }

# expect_error "pattern" args...: exit code 2, stderr one line matching pattern.
expect_error() {
  local pattern=$1; shift
  local err rc
  err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL: ringtrain $* exited $rc, expected 2 ($err)"; fail=1; return; fi
  if ! grep -q -- "$pattern" <<<"$err"; then echo "FAIL: ringtrain $*: '$err' lacks '$pattern'"; fail=1; fi
  echo "ok: ringtrain $* -> $(head -1 <<<"$err")"
}
mkdir -p "$work/empty"
expect_error "no such folder" train --data "$work/nope" --out "$work/run1"
expect_error "found neither" train --data "$work/empty" --out "$work/run2"
expect_error "--epochs must be positive" train --data "$work/empty" --epochs 0 --out "$work/run3"
expect_error "--lr must be positive" train --data "$work/empty" --lr -1 --out "$work/run4"
expect_error "unknown model 'resnet51'" train --data "$work/empty" --model resnet51 --out "$work/run5"
expect_error "--milestones must be strictly increasing" train --data "$work/empty" --milestones 8,5 --out "$work/run6"
expect_error "--schedule must be one of" train --data "$work/empty" --schedule steps --out "$work/run7"
expect_error "not expected" train --bogus-flag
expect_error "checkpoint .* does not exist" eval --checkpoint "$work/none.pt"
head -c 4096 /dev/urandom > "$work/bad.pt"
expect_error "bad.pt: no ringtrain checkpoint footer" eval --checkpoint "$work/bad.pt"
# Bad data, and flags that only the data can refute.
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 20 20
cp -r "$work/data" "$work/truncated" && truncate -s 30000 "$work/truncated/data_batch_2.bin"
expect_error "data_batch_2.bin: wrong file size 30000" train --data "$work/truncated" --out "$work/run8"
cp -r "$work/data" "$work/badlabel" && printf '\x0c' | dd of="$work/badlabel/test_batch.bin" bs=1 seek=$((3 * 3073)) conv=notrunc status=none
expect_error "test_batch.bin: record 3 has label 12" train --data "$work/badlabel" --out "$work/run9"
expect_error "--batch-size 500 is larger than the 100 training images" train --data "$work/data" --model resnet20 --batch-size 500 --out "$work/run10"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/tiny" 20 1
expect_error "world size 2 is larger than the data" train --data "$work/tiny" --model resnet20 --nproc 2 --threads 1 --out "$work/run11"
expect_error "the loss or a gradient is not finite at epoch 1 step" train --data "$work/data" --model resnet20 --batch-size 10 --lr 1e30 --threads 1 --out "$work/nonfinite"
"$bin" train --data "$work/data" --model resnet20 --batch-size 10 --lr 1e30 --threads 1 --epochs 1 --skip-nonfinite --out "$work/skipped" > "$work/skipped.log" 2>&1 \
  || { echo "FAIL: --skip-nonfinite run failed"; tail -3 "$work/skipped.log"; fail=1; }
skipped=$(python3 -c "import json; print(json.load(open('$work/skipped/metrics.json'))['skipped_nonfinite_steps'])" 2>/dev/null)
[ "${skipped:-0}" -gt 0 ] && echo "ok: --skip-nonfinite skipped $skipped steps and finished" || { echo "FAIL: no skipped steps counted"; fail=1; }

for d in run1 run2 run3 run4 run5 run6 run7 run8 run9 run10 run11; do
  [ -e "$work/$d" ] && { echo "FAIL: $work/$d was created by a failed run"; fail=1; }
done
[ $fail -eq 0 ] && echo PASS
exit $fail
