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
  # (with --nproc each worker's line passes through before the launcher's own)
  if [[ "$*" != *--nproc* ]] && [ "$(wc -l <<<"$err")" -ne 1 ]; then
    echo "FAIL: ringtrain $*: not one line: '$err'"; fail=1
  fi
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
expect_error "--eval-batch-size must be positive, got -1" eval --checkpoint "$work/none.pt" --eval-batch-size -1
expect_error "Could not convert: --eval-batch-size = abc (see ringtrain eval --help)" eval --eval-batch-size abc
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
# The count is part of the checkpoint (issue 21, defect 10): resumed for a second epoch, in which
# every step is non-finite, metrics.json counts the first epoch's skipped steps and all the second's.
# (The resume itself failed before: the history's NaN loss, written as null, did not read back.)
cp "$work/skipped/metrics.json" "$work/skipped_epoch1.json"
"$bin" train --resume "$work/skipped" --epochs 2 > "$work/skipped2.log" 2>&1 \
  || { echo "FAIL: resuming the --skip-nonfinite run failed"; tail -3 "$work/skipped2.log"; fail=1; }
read -r skipped2 steps1 steps2 < <(python3 -c "
import json
m1, m2 = (json.load(open('$work/' + f)) for f in ('skipped_epoch1.json', 'skipped/metrics.json'))
print(m2['skipped_nonfinite_steps'], m1['steps'], m2['steps'])" 2>/dev/null)
[ "${skipped2:-0}" -eq $(( ${skipped:-0} + ${steps2:-0} - ${steps1:-0} )) ] && [ "${skipped:-0}" -gt 0 ] &&
  [ "${steps2:-0}" -gt "${steps1:-0}" ] \
  && echo "ok: resumed, $skipped2 skipped steps counted over both epochs" \
  || { echo "FAIL: resumed: $skipped2 skipped steps counted, expected $skipped + $(( ${steps2:-0} - ${steps1:-0} ))"; fail=1; }

expect_error "--cuda-graph records GPU kernels: it needs --device cuda" train --data "$work/data" --model resnet20 --device cpu --cuda-graph --out "$work/run12"
expect_error "--cuda-graph records GPU kernels" bench --device cpu --cuda-graph --mode train
expect_error "--cuda-graph replays one whole micro-batch step" train --data "$work/data" --cuda-graph --grad-accum 2 --out "$work/run13"
expect_error "--recipe: fastest not in" train --data "$work/data" --recipe fastest --out "$work/run14"
printf 'recipe: fastest\n' > "$work/badrecipe.yaml"
expect_error "unknown --recipe 'fastest': use one of reference, fast" train --data "$work/data" --config "$work/badrecipe.yaml" --out "$work/run15"
expect_error "unknown --recipe 'fastest': use one of reference, fast" train --data "$work/data" --config <(printf '{"recipe": "fastest"}') --out "$work/run16"
expect_error "--recipe and --resume cannot be combined" train --recipe fast --resume "$work/skipped"

# Crafted input (issue 20): each is exit code 2 within 20 s and exactly one line on stderr naming
# the problem; never a crash, a hang, a huge allocation or "internal error".
expect_crafted() {
  local pattern=$1; shift
  local rc start elapsed
  start=$(date +%s)
  timeout 20 "$bin" "$@" >/dev/null 2>"$work/crafted.err"; rc=$?
  elapsed=$(( $(date +%s) - start ))
  if [ $rc -ne 2 ]; then echo "FAIL: crafted ringtrain ${*:1:3}... exited $rc, expected 2 ($(head -c 300 "$work/crafted.err"))"; fail=1; return; fi
  if [ "$(wc -l < "$work/crafted.err")" -ne 1 ]; then echo "FAIL: crafted ringtrain ${*:1:3}...: not one line on stderr: $(head -c 300 "$work/crafted.err")"; fail=1; return; fi
  if ! grep -q -- "$pattern" "$work/crafted.err"; then echo "FAIL: crafted ringtrain ${*:1:3}...: '$(head -c 300 "$work/crafted.err")' lacks '$pattern'"; fail=1; return; fi
  echo "ok (${elapsed} s): $(head -c 200 "$work/crafted.err")"
}
# Config files: a recursive alias (was SIGSEGV), a billion laughs (was bad_alloc), deep nesting,
# a file too large, and values of the wrong type (were "internal error").
printf 'milestones: &x [1, *x]\n' > "$work/self_alias.yaml"
expect_crafted "self_alias.yaml: line 1: an alias (\*name) refers to a mapping or list that contains it" \
  train --data "$work/data" --config "$work/self_alias.yaml" --out "$work/run_c1"
python3 - "$work/laughs.yaml" <<'PY'
import sys
lines = ["l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
lines += ["l%d: &l%d [" % (i, i) + ", ".join(["*l%d" % (i - 1)] * 10) + "]" for i in range(1, 10)]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
expect_crafted "laughs.yaml: more than 100000 values once its aliases" train --data "$work/data" --config "$work/laughs.yaml" --out "$work/run_c2"
python3 -c 'import sys; sys.stdout.write("{\"milestones\": " + "[" * 500000 + "]" * 500000 + "}")' > "$work/deep.json"
expect_crafted "deep.json: nested deeper than 32 levels" train --data "$work/data" --config "$work/deep.json" --out "$work/run_c3"
python3 -c 'import sys; sys.stdout.write("[" * 1000 + "]" * 1000)' > "$work/deep.yaml"
expect_crafted "deep.yaml: .*nested deeper than 32 levels" train --data "$work/data" --config "$work/deep.yaml" --out "$work/run_c4"
{ printf 'epochs: 1\n'; head -c 2000000 /dev/zero | tr '\0' '#'; printf '\n'; } > "$work/big.yaml"
expect_crafted "big.yaml is 2,000,011 bytes, more than a config file can be (1,048,576 at most)" train --data "$work/data" --config "$work/big.yaml" --out "$work/run_c5"
expect_crafted "/dev/zero is not a regular file" train --data "$work/data" --config /dev/zero --out "$work/run_c6"
printf '{"recipe": 5}' > "$work/recipe_number.json"
expect_crafted "recipe_number.json: 'recipe' must be a string, got number 5" train --data "$work/data" --config "$work/recipe_number.json" --out "$work/run_c7"
printf 'epochs: ten\n' > "$work/epochs_text.yaml"
expect_crafted "epochs_text.yaml: 'epochs' must be a whole number, got string \"ten\"" train --data "$work/data" --config "$work/epochs_text.yaml" --out "$work/run_c8"
printf '{"model": 20, "batch_size": 1e300}' > "$work/types.json"
expect_crafted "types.json: 'model' must be a string, got number 20" train --data "$work/data" --config "$work/types.json" --out "$work/run_c9"
printf '"a\\nb": 1\n' > "$work/newline_key.yaml"  # a key with a line break: the message stays one line
expect_crafted "newline_key.yaml: unknown configuration key 'a.nb'" train --data "$work/data" --config "$work/newline_key.yaml" --out "$work/run_c11"
printf '{"batch_size": 1e999}' > "$work/overflow.json"
expect_crafted "overflow.json: not valid JSON" train --data "$work/data" --config "$work/overflow.json" --out "$work/run_c10"
# Upper limits, for flags and config files alike (Note [Upper limits]).
expect_crafted "--threads must be at most 1024, got 100000" train --data "$work/data" --threads 100000 --out "$work/run_l1"
expect_crafted "--loader-threads must be at most 1024, got 99999999" train --data "$work/data" --loader-threads 99999999 --out "$work/run_l2"
expect_crafted "--prefetch must be at most 64, got 1000000" train --data "$work/data" --prefetch 1000000 --out "$work/run_l3"
expect_crafted "--image-size must be at most 4096, got 1000000" train --data "$work/data" --image-size 1000000 --out "$work/run_l4"
expect_crafted "--batch-size must be at most 65536, got 100000000" train --data "$work/data" --batch-size 100000000 --out "$work/run_l5"
expect_crafted "--eval-batch-size must be at most 65536" train --data "$work/data" --eval-batch-size 9000000000 --out "$work/run_l6"
expect_crafted "--num-classes must be >= 0, got -5" train --data "$work/data" --num-classes -5 --out "$work/run_l7"
expect_crafted "--num-classes must be at most 100000, got 1000000000" train --data "$work/data" --num-classes 1000000000 --out "$work/run_l8"
expect_crafted "--epochs must be at most 100000" train --data "$work/data" --epochs 9000000000000 --out "$work/run_l9"
expect_crafted "--grad-accum must be at most 4096" train --data "$work/data" --grad-accum 100000000 --out "$work/run_l10"
expect_crafted "--global-batch must be at most 67108864" train --data "$work/data" --global-batch 100000000000 --out "$work/run_l11"
printf 'prefetch: 100000\nthreads: 2\n' > "$work/prefetch.yaml"
expect_crafted "--prefetch must be at most 64, got 100000" train --data "$work/data" --config "$work/prefetch.yaml" --out "$work/run_l12"
expect_crafted "--eval-batch-size must be at most 65536, got 100000000" eval --checkpoint "$work/none.pt" --eval-batch-size 100000000
expect_crafted "--threads must be at most 1024, got 5000" eval --checkpoint "$work/none.pt" --threads 5000
expect_crafted "--batch-size must be at most 65536" bench --mode forward --batch-size 10000000
# --trace-steps: a hand parser (a long value overflowed the stack inside std::regex).
expect_crafted "--trace-steps '1111111111111111111111111111111111111...': expected FIRST-LAST" \
  train --data "$work/data" --trace-steps "$(head -c 100000 /dev/zero | tr '\0' '1')" --out "$work/run_t1"
expect_crafted "--trace-steps '3-5x': expected FIRST-LAST" train --data "$work/data" --trace-steps 3-5x --out "$work/run_t2"
# report: a metrics.json listing 30,000 classes with a 2x2 confusion matrix once allocated 8.6 GB.
mkdir -p "$work/report_k" "$work/report_type"
python3 - "$work/report_k/metrics.json" "$work/report_type/metrics.json" <<'PY'
import json, sys
per_class = [{"class": "c%d" % i, "accuracy": 0.5} for i in range(30000)]
json.dump({"test": {"per_class": per_class, "confusion_matrix": [[1, 0], [0, 1]]}}, open(sys.argv[1], "w"))
json.dump({"test": {"per_class": [{"class": 3, "accuracy": "high"}, {"class": "b", "accuracy": 1}]}}, open(sys.argv[2], "w"))
PY
expect_crafted "report_k/metrics.json: test.confusion_matrix has 2 rows for 30000 classes" report "$work/report_k"
expect_crafted "report_type/metrics.json: test.per_class or test.confusion_matrix is damaged" report "$work/report_type"

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

for d in run1 run2 run3 run4 run5 run6 run7 run8 run9 run10 run11 run12 run13 run14 run15 run16 \
  run_c{1..11} run_l{1..12} run_t1 run_t2; do
  [ -e "$work/$d" ] && { echo "FAIL: $work/$d was created by a failed run"; fail=1; }
done
[ $fail -eq 0 ] && echo PASS
exit $fail
