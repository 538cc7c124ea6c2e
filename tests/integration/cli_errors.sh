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
expect_error "bad.pt is not a ringtrain checkpoint" eval --checkpoint "$work/bad.pt"
# Bad data, and flags that only the data can refute.
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 20 20
cp -r "$work/data" "$work/truncated" && truncate -s 30000 "$work/truncated/data_batch_2.bin"
expect_error "data_batch_2.bin: wrong file size 30000" train --data "$work/truncated" --out "$work/run8"
cp -r "$work/data" "$work/badlabel" && printf '\x0c' | dd of="$work/badlabel/test_batch.bin" bs=1 seek=$((3 * 3073)) conv=notrunc status=none
expect_error "test_batch.bin: record 3 has label 12" train --data "$work/badlabel" --out "$work/run9"
expect_error "--normalize must be one of" train --data "$work/data" --normalize imagenet1k --out "$work/run_n1"
expect_error "--mean 0.5,0.5: expected three" train --data "$work/data" --mean 0.5,0.5 --out "$work/run_n2"
expect_error "--std 1,0,1: expected three comma-separated positive" train --data "$work/data" --std 1,0,1 --out "$work/run_n3"
expect_error "--stem must be one of" train --data "$work/data" --stem vit --out "$work/run_n4"
expect_error "--image-size 64: .* holds 32x32 images" train --data "$work/data" --image-size 64 --out "$work/run_n5"
expect_error "resnet20 is a CIFAR ResNet and has no ImageNet stem" train --data "$work/data" --model resnet20 \
  --stem imagenet --batch-size 16 --out "$work/run_n6"
expect_error "bad.pt: not a torch.save file" train --data "$work/data" --init-from "$work/bad.pt" --batch-size 16 \
  --out "$work/run_n7"
expect_error "--batch-size 500 is larger than the 100 training images" train --data "$work/data" --model resnet20 --batch-size 500 --out "$work/run10"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/tiny" 20 1
expect_error "world size 2 is larger than the data" train --data "$work/tiny" --model resnet20 --nproc 2 --threads 1 --out "$work/run11"
expect_error "the loss or a gradient is not finite at epoch 1 step" train --data "$work/data" --model resnet20 --batch-size 10 --lr 1e30 --threads 1 --out "$work/nonfinite"
"$bin" train --data "$work/data" --model resnet20 --batch-size 10 --lr 1e30 --threads 1 --epochs 1 --skip-nonfinite --out "$work/skipped" > "$work/skipped.log" 2>&1 \
  || { echo "FAIL: --skip-nonfinite run failed"; tail -3 "$work/skipped.log"; fail=1; }
skipped=$(python3 -c "import json; print(json.load(open('$work/skipped/metrics.json'))['skipped_nonfinite_steps'])" 2>/dev/null)
[ "${skipped:-0}" -gt 0 ] && echo "ok: --skip-nonfinite skipped $skipped steps and finished" || { echo "FAIL: no skipped steps counted"; fail=1; }

expect_error "--cuda-graph records GPU kernels: it needs --device cuda" train --data "$work/data" --model resnet20 --device cpu --cuda-graph --out "$work/run12"
expect_error "--cuda-graph records GPU kernels" bench --device cpu --cuda-graph --mode train
expect_error "--cuda-graph replays one whole micro-batch step" train --data "$work/data" --cuda-graph --grad-accum 2 --out "$work/run13"
expect_error "--recipe: fastest not in" train --data "$work/data" --recipe fastest --out "$work/run14"
printf 'recipe: fastest\n' > "$work/badrecipe.yaml"
expect_error "unknown --recipe 'fastest': use one of reference, fast" train --data "$work/data" --config "$work/badrecipe.yaml" --out "$work/run15"
expect_error "unknown --recipe 'fastest': use one of reference, fast" train --data "$work/data" --config <(printf '{"recipe": "fastest"}') --out "$work/run16"
expect_error "--recipe and --resume cannot be combined" train --recipe fast --resume "$work/skipped"

# A recipe under a --config file under the flags given: each layer overrides the one before.
printf 'label_smoothing: 0.2\nepochs: 1\n' > "$work/over.yaml"
"$bin" train --recipe fast --config "$work/over.yaml" --data "$work/data" --model resnet20 --batch-size 25 \
  --amp none --threads 1 --out "$work/recipe" > "$work/recipe.log" 2>&1 \
  || { echo "FAIL: --recipe fast run failed"; tail -3 "$work/recipe.log"; fail=1; }
python3 - "$work/recipe/config.json" <<'PY' || fail=1
import json, sys
c = json.load(open(sys.argv[1]))
want = {"recipe": "fast", "schedule": "onecycle", "nesterov": True, "no_decay_bn_bias": True,
        "lr": 0.4, "lr_ref_batch": 512, "channels_last": True,  # from the recipe
        "label_smoothing": 0.2, "epochs": 1,                      # from the --config file
        "model": "resnet20", "batch_size": 25, "amp": "none"}     # from the flags
bad = {k: (c.get(k), v) for k, v in want.items() if c.get(k) != v}
print("FAIL: recipe layering (got, want):", bad) if bad else print("ok: recipe < --config < flags")
sys.exit(1 if bad else 0)
PY

for d in run1 run2 run3 run4 run5 run6 run7 run8 run9 run10 run11 run12 run13 run14 run15 run16; do
  [ -e "$work/$d" ] && { echo "FAIL: $work/$d was created by a failed run"; fail=1; }
done
[ $fail -eq 0 ] && echo PASS
exit $fail
