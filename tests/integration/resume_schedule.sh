#!/usr/bin/env bash
# A resume that changes the steps per epoch continues the learning-rate schedule where the images
# seen put it (issue 21, defect 1; train/schedule.h lr_at). resnet20 on 80 synthetic images, one
# worker; --lr 0.1 for --lr-ref-batch 8, so the peak lr is 0.2 at --batch-size 16 (5 steps per
# epoch) and 0.1 at --batch-size 8 (10 steps).
#  a. multistep (milestone 3, gamma 0.1), 2 epochs at 16 then 2 at 8: the epochs' lr is
#     0.2 0.2 0.1 0.01 (the schedule used the raw step count: 0.2 0.2 0.1 0.1, no decay at all);
#  b. the other way, 8 then 16: 0.1 0.1 0.2 0.02 (was 0.1 0.1 0.02 0.02: decayed at epoch 3);
#  c. cosine, 2 epochs at 16, then resumed to 4 epochs at 8: the last steps of epochs 3 and 4 are
#     steps 29 and 39 of the 40-step cosine (were 19 and 29: the raw step count lagged);
#  d. a checkpoint from the middle of an epoch (--checkpoint-every 2: step 4 of 5) resumed with
#     another --batch-size: refused with one
#     line and exit 2 (the rest of the epoch would not be the samples it had left).
# Usage: resume_schedule.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/resume_schedule
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 16 10 >/dev/null
fail=0
. "$src/tests/integration/step.sh"
common=(train --data "$work/data" --model resnet20 --threads 1 --seed 1
        --amp none --lr 0.1 --lr-ref-batch 8 --log-every 100)

lrs() {  # RUN: the lr of each epoch in its history
  python3 -c "import json,sys; print(' '.join('%.6g' % e['lr'] for e in json.load(open(sys.argv[1]))))" \
    "$work/$1/history.json"
}
expect_lrs() {  # LABEL RUN EXPECTED
  local got; got=$(lrs "$2")
  python3 - "$got" "$3" <<'PY' && echo "ok: $1: lr per epoch $got" || { echo "FAIL: $1: lr per epoch $got, expected $3"; fail=1; }
import sys
got, want = [list(map(float, a.split())) for a in sys.argv[1:3]]
sys.exit(0 if len(got) == len(want) and all(abs(g - w) <= 1e-6 * max(1, abs(w)) for g, w in zip(got, want)) else 1)
PY
}
two_phases() {  # NAME BATCH_BEFORE BATCH_AFTER FLAGS...: 2 epochs, then resumed to 4 with the other batch size
  local name=$1 before=$2 after=$3; shift 3
  step "${name}_1" "$bin" "${common[@]}" "$@" --epochs 2 --batch-size "$before" --out "$work/$name" &&
    step "${name}_2" "$bin" "${common[@]}" "$@" --epochs 4 --batch-size "$after" --resume "$work/$name"
}

ms=(--schedule multistep --milestones 3 --gamma 0.1)
two_phases a 16 8 "${ms[@]}" && expect_lrs "a. multistep, 5 then 10 steps per epoch" a "0.2 0.2 0.1 0.01"
two_phases b 8 16 "${ms[@]}" && expect_lrs "b. multistep, 10 then 5 steps per epoch" b "0.1 0.1 0.2 0.02"
if two_phases c 16 8 --schedule cosine; then
  # each epoch's last step: 4 and 9 of 10 (2 epochs) at peak 0.2, then 29 and 39 of 40 at peak 0.1
  want=$(python3 -c "
import math
c = lambda p: 0.05 * (1 + math.cos(math.pi * p))
print('%.6g %.6g %.6g %.6g' % (2 * c(4 / 10), 2 * c(9 / 10), c(29 / 40), c(39 / 40)))")
  expect_lrs "c. cosine, 5 then 10 steps per epoch" c "$want"
fi

# d. mid-epoch: --checkpoint-every 2 saves at steps 2 and 4 of 5 (step 4: checkpoint.1.safetensors).
if step d_1 "$bin" "${common[@]}" --epochs 1 --batch-size 16 --checkpoint-every 2 --keep-checkpoints 2 --out "$work/d"; then
  mkdir -p "$work/d_mid" && cp "$work/d/checkpoint.1.safetensors" "$work/d_mid/checkpoint.safetensors"
  "$bin" "${common[@]}" --epochs 1 --batch-size 8 --resume "$work/d_mid" > /dev/null 2> "$work/d_2.err"; rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l < "$work/d_2.err")" -eq 1 ] && grep -q "saved mid-epoch with --batch-size 16" "$work/d_2.err"; then
    echo "ok: d. refused: $(cat "$work/d_2.err")"
  else
    echo "FAIL: d. a mid-epoch checkpoint resumed with another --batch-size: exit $rc: $(head -c 300 "$work/d_2.err")"; fail=1
  fi
fi
exit $fail
