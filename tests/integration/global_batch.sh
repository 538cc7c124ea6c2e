#!/usr/bin/env bash
# --global-batch: training that does not depend on the number of workers (data/epoch_plan.h,
# train/batchnorm_replay.h). resnet20 (BatchNorm), synthetic data, 100 training images,
# --global-batch 32 --batch-size 8: 3 steps of 4 micro-batches and a last step of 4 images in
# one micro-batch (on 2 and 4 workers the other ranks contribute an empty batch), 2 epochs, fp32.
#  a. 1, 2 and 4 workers end with the same weights: the parameters, and the BatchNorm running
#     statistics, within 1e-5 of the 1-worker run's relative to their norm (measured: 0.7-1.9e-6
#     and 0.2-0.8e-6: float sums in another order); the number of batches BatchNorm tracked equal;
#  b. a 4-worker run's checkpoint from the middle of epoch 2 resumed on 2 workers, and a
#     2-worker run's from the middle of epoch 1 resumed on 1 worker, end the same way;
#  c. control: without --global-batch, 2 workers x 16 against 1 x 32 (BatchNorm over 16 images
#     instead of 32) differ by more than 10x that tolerance (measured: 3.9e-4 and 1.4e-2), so a and b
#     can fail;
#  d. refused with one line (exit 2): a global batch that 3 workers cannot share, and a
#     mid-epoch checkpoint of 2 workers without --global-batch resumed on 1;
#  e. the samples each rank trained (--sample-log): over the 4-worker run up to its checkpoint and
#     the 2 workers resumed from it, every sample once per epoch, in the 1-worker run's micro-batches.
# Usage: global_batch.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/global_batch
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 20 10 >/dev/null
fail=0
. "$src/tests/integration/step.sh"
common=(train --data "$work/data" --model resnet20 --epochs 2 --limit-train 100 --limit-test 20 --threads 1
        --seed 1 --timeout 60 --amp none --lr 0.002 --log-every 100)
gb=(--global-batch 32 --batch-size 8)

run() {  # NAME FLAGS...: a run in $work/NAME, exported to $work/NAME.pt
  local name=$1; shift
  step "$name" "$bin" "${common[@]}" "$@" --out "$work/$name" &&
    step "${name}_export" "$bin" export "$work/$name" --to "$work/$name.pt"
}
resume() {  # NAME FROM_RUN CHECKPOINT FLAGS...: continue FROM_RUN's CHECKPOINT in $work/NAME
  local name=$1 from=$2 file=$3; shift 3
  mkdir -p "$work/$name" && cp "$work/$from/$file" "$work/$name/checkpoint.safetensors" &&
    step "$name" "$bin" "${common[@]}" "$@" --resume "$work/$name" &&
    step "${name}_export" "$bin" export "$work/$name" --to "$work/$name.pt"
}
compare() {  # RUN REF: prints "PARAMS BUFFERS ints-equal|ints-differ" (norm_diff.py)
  "$py" "$src/tests/integration/norm_diff.py" "$work/$1.pt" "$work/$2.pt"
}
expect_same() {  # LABEL RUN REF: within 1e-5 of their norm
  "$py" "$src/tests/integration/norm_diff.py" "$work/$2.pt" "$work/$3.pt" --tolerance 1e-5 --label "$1" || fail=1
}

echo "== a. 1, 2 and 4 workers"
run n1 "${gb[@]}" --sample-log "$work/samples/n1"
run n2 "${gb[@]}" --nproc 2 --checkpoint-every 1 --keep-checkpoints 100
run n4 "${gb[@]}" --nproc 4 --checkpoint-every 1 --keep-checkpoints 100 --sample-log "$work/samples/n4"
expect_same "2 workers = 1 worker" n2 n1
expect_same "4 workers = 1 worker" n4 n1

echo "== b. resumed mid-epoch on another number of workers"
# 8 steps, a checkpoint after each: checkpoint.7.safetensors is the oldest (step 1), checkpoint.3.safetensors step 5.
resume n4_to_2 n4 checkpoint.3.safetensors "${gb[@]}" --nproc 2 --sample-log "$work/samples/n4_to_2"
expect_same "4 workers, then 2 from step 5 (epoch 2) = 1 worker" n4_to_2 n1
resume n2_to_1 n2 checkpoint.6.safetensors "${gb[@]}" --nproc 1
expect_same "2 workers, then 1 from step 2 (epoch 1) = 1 worker" n2_to_1 n1

echo "== e. the samples each rank used (--sample-log)"
# The 4-worker run up to its checkpoint after step 5, then the 2 workers resumed from it: every
# sample once in each epoch, and every micro-batch the very one the 1-worker run trained.
"$py" - "$work/samples" <<'PY' && echo "ok: every sample once per epoch across the resize; the same micro-batches as 1 worker" || fail=1
import glob, json, os, sys
def lines(run):
    return [json.loads(l) for f in sorted(glob.glob(os.path.join(sys.argv[1], run, "*.jsonl"))) for l in open(f)]
one = lines("n1")
resized = [l for l in lines("n4") if l["global_step"] <= 5] + lines("n4_to_2")
ok = True
for name, log in (("1 worker", one), ("4 then 2 workers", resized)):
    for epoch in (1, 2):
        used = sorted(i for l in log if l["epoch"] == epoch for i in l["samples"])
        if used != list(range(100)):
            print(f"FAIL: {name}, epoch {epoch}: {len(used)} samples used, {len(set(used))} distinct, not each of 100 once")
            ok = False
key = lambda l: (l["epoch"], l["step"], l["micro"])
if {key(l): l["samples"] for l in one} != {key(l): l["samples"] for l in resized}:
    print("FAIL: the resized run's micro-batches are not the 1-worker run's"); ok = False
worlds = sorted({l["world"] for l in resized})
if worlds != [2, 4]:
    print(f"FAIL: the resized run's log shows world sizes {worlds}, not 2 and 4"); ok = False
sys.exit(0 if ok else 1)
PY

echo "== c. control: without --global-batch the micro-batches change with the workers"
run p1 --batch-size 32
run p2 --batch-size 16 --nproc 2 --checkpoint-every 1 --keep-checkpoints 100
r=$(compare p2 p1) && set -- $r &&
  if "$py" -c "import sys; sys.exit(0 if float('$1') > 1e-4 and float('$2') > 1e-4 else 1)"; then
    echo "ok: control: parameters differ by $1, running statistics by $2"
  else echo "FAIL: control: parameters differ by only $1, running statistics by $2: a and b cannot tell"; fail=1; fi

echo "== d. refused"
expect_exit2() {  # LABEL PATTERN ARGS...
  local label=$1 pattern=$2; shift 2
  "$bin" "$@" > "$work/refused.log" 2>&1
  local rc=$?
  if [ $rc -eq 2 ] && grep -q -- "$pattern" "$work/refused.log"; then echo "ok: $label: $(tail -1 "$work/refused.log")"
  else echo "FAIL: $label: exit $rc, $(tail -3 "$work/refused.log")"; fail=1; fi
}
expect_exit2 "a global batch 3 workers cannot share" "not a multiple of --batch-size 8 x 3 workers" \
  "${common[@]}" "${gb[@]}" --nproc 3 --out "$work/refused3"
mkdir -p "$work/p2_to_1" && cp "$work/p2/checkpoint.6.safetensors" "$work/p2_to_1/checkpoint.safetensors"
expect_exit2 "a mid-epoch checkpoint of 2 workers on 1" "saved mid-epoch by 2 workers" \
  "${common[@]}" --batch-size 16 --nproc 1 --resume "$work/p2_to_1"
exit $fail
