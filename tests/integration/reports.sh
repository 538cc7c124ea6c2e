#!/usr/bin/env bash
# Reports of real runs (issue: reports and interop):
#  1. a 2-epoch run with --tensorboard draws its PNGs, each checked by its pixels
#     (check_reports.py), and TensorBoard's own reader loads its scalars;
#  2. a 2-worker run with --trace gives one trace-event file with both ranks, whose bucket
#     allreduces overlap their backward passes;
#  3. `report` on the 1-worker and 2-worker runs writes the comparison, whose speedup and
#     efficiency equal the ones computed here from the runs' metrics.json;
#  4. bad input: a missing folder, an unfinished run, a malformed --trace-steps: exit 2.
# Usage: reports.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/reports
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 64 40 > /dev/null
check="$py $src/tests/integration/check_reports.py"
fail=0
. "$src/tests/integration/step.sh"
common=(--data "$work/data" --model resnet20 --epochs 2 --limit-test 40 --log-every 2 --lr 0.05)

echo "== 1. figures and TensorBoard of a 2-epoch run"
step one "$bin" train "${common[@]}" --batch-size 32 --threads 2 --tensorboard --out "$work/one"
for f in training_curves per_class_accuracy confusion_matrix confusion_matrix_normalized; do
  [ -s "$work/one/$f.png" ] || { echo "FAIL: no $f.png"; fail=1; }
done
$check curves "$work/one/training_curves.png" || fail=1
$check per_class "$work/one/per_class_accuracy.png" "$work/one/metrics.json" || fail=1
$check confusion "$work/one/confusion_matrix.png" "$work/one/metrics.json" counts || fail=1
$check confusion "$work/one/confusion_matrix_normalized.png" "$work/one/metrics.json" normalized || fail=1
# 320 images / 32 = 10 steps per epoch; a progress line every 2 steps: 5 per epoch.
"$py" "$src/tests/integration/tensorboard_check.py" "$work/one/tensorboard" \
  epoch/train_loss=2 epoch/test_accuracy=2 epoch/lr=2 epoch/images_per_second=2 train/running_loss=10 \
  || { echo "FAIL: TensorBoard does not read the expected scalars"; fail=1; }

echo "== 2. trace of a 2-worker run"
step two "$bin" train "${common[@]}" --batch-size 16 --nproc 2 --threads 1 --bucket-mb 0.1 \
  --trace "$work/two/trace.json" --trace-steps 2-4 --out "$work/two"
$check trace "$work/two/trace.json" 2 || fail=1

echo "== 3. comparison of the two runs"
step report "$bin" report "$work/one" "$work/two" --out "$work/cmp" && sed -n 1,6p "$work/report.out"
"$py" - "$work/one/metrics.json" "$work/two/metrics.json" "$work/cmp/comparison.json" <<'PY' || fail=1
import json, sys
one, two, cmp = (json.load(open(p)) for p in sys.argv[1:])
speedup = two["train_images_per_second"] / one["train_images_per_second"]
efficiency = speedup / (two["world_size"] / one["world_size"])
rows = cmp["runs"]
ok = (len(rows) == 2 and rows[0]["speedup"] == 1 and abs(rows[1]["speedup"] - speedup) < 1e-12
      and abs(rows[1]["efficiency"] - efficiency) < 1e-12 and rows[1]["world_size"] == 2
      and rows[1]["test_accuracy"] == two["test_accuracy"])
print(("ok" if ok else "FAIL") + f": comparison speedup {rows[1]['speedup']:.3f} (expected {speedup:.3f}), "
      f"efficiency {rows[1]['efficiency']:.3f} (expected {efficiency:.3f})")
sys.exit(0 if ok else 1)
PY
grep -q "| two | resnet20 | 2 |" "$work/cmp/comparison.md" || { echo "FAIL: comparison.md lacks the 2-worker row"; fail=1; }

echo "== 4. refused"
mkdir -p "$work/unfinished" && cp "$work/one/config.json" "$work/unfinished/"
for case in "missing folder|report $work/nope" "unfinished run|report $work/one $work/unfinished" \
            "bad --trace-steps|train --data $work/data --model resnet20 --trace $work/t.json --trace-steps 5-2"; do
  IFS='|' read -r what args <<< "$case"
  # shellcheck disable=SC2086
  "$bin" $args > /dev/null 2> "$work/err.txt"; rc=$?
  if [ $rc -eq 2 ] && [ -s "$work/err.txt" ]; then echo "ok: $what -> $(head -c 200 "$work/err.txt")"
  else echo "FAIL: $what: exit $rc: $(cat "$work/err.txt")"; fail=1; fi
done

[ $fail -eq 0 ] && echo PASS
exit $fail
