#!/usr/bin/env bash
# A run folder's checkpoints are continued only by their own job or by --resume (issue 21,
# defect 6; train/resume_point.h). Before, a fresh run into a finished run's folder trained
# over it, and torchrun with restarts silently resumed it and reported the old model.
#  a. a fresh `train --out DONE` into a finished run's folder: one line, exit 2, the folder as it was;
#  b. the built-in launcher (--nproc 2 --max-restarts 1): refused before any worker starts;
#  c. torchrun --max-restarts 1 (its own store, a new job): every worker refuses, the folder as it was;
#  d. torchrun with a store per round and the default --rdzv-id: refused, naming --rdzv-id;
#  e. `--resume DONE` continues it.
# Usage: stale_out.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2") work=$(realpath -m "$3")/stale_out
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE \
  RINGTRAIN_JOB_ID TORCHELASTIC_RUN_ID TORCH_DISABLE_SHARE_RDZV_TCP_STORE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 16 10 >/dev/null
fail=0
. "$src/tests/integration/step.sh"
common=(train --data "$work/data" --model resnet20 --batch-size 16 --threads 1 --seed 1 --amp none --timeout 30
        --log-every 100 --epochs 1)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tr=$src/.venv/bin/torchrun

step done_run "$bin" "${common[@]}" --out "$work/done" || exit 1
snapshot() { (cd "$work/done" && md5sum checkpoint.safetensors metrics.json history.json); }
before=$(snapshot)
unchanged() {  # LABEL: the finished run's files as they were
  [ "$(snapshot)" = "$before" ] || { echo "FAIL: $1: the finished run's files changed"; fail=1; }
}
refused() {  # LABEL RC ERRFILE PATTERN: exit code 2 with one line matching PATTERN
  local label=$1 rc=$2 err=$3 pattern=$4
  if [ "$rc" -eq 2 ] && [ "$(wc -l < "$err")" -eq 1 ] && grep -q -- "$pattern" "$err"; then
    echo "ok: $label: $(cat "$err")"
  else
    echo "FAIL: $label: exit $rc: $(head -c 600 "$err")"; fail=1
  fi
}

"$bin" "${common[@]}" --out "$work/done" > "$work/a.out" 2> "$work/a.err"
refused "a. a fresh run" $? "$work/a.err" "already holds checkpoints of another job"
unchanged a

"$bin" "${common[@]}" --nproc 2 --max-restarts 1 --out "$work/done" > "$work/b.out" 2> "$work/b.err"
refused "b. the built-in launcher" $? "$work/b.err" "already holds checkpoints of another job"
grep -q "world size" "$work/b.out" && { echo "FAIL: b. workers started"; fail=1; }
unchanged b

if [ -x "$tr" ]; then
  "$tr" --nproc-per-node 2 --max-restarts 1 --master-port "$(port)" --no-python \
    "$bin" "${common[@]}" --out "$work/done" > "$work/c.log" 2>&1
  rc=$?
  n=$(grep -c "already holds checkpoints of another job" "$work/c.log")
  if [ $rc -ne 0 ] && [ "$n" -ge 2 ] && ! grep -q "^epoch\|resumed from" "$work/c.log"; then
    echo "ok: c. torchrun: exit $rc, $n workers refused"
  else
    echo "FAIL: c. torchrun into a finished run's folder: exit $rc, $n refusals"; tail -5 "$work/c.log"; fail=1
  fi
  unchanged c
  TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 "$tr" --nnodes 1 --nproc-per-node 1 --max-restarts 1 --rdzv-backend c10d \
    --rdzv-endpoint "127.0.0.1:$(port)" --no-python "$bin" "${common[@]}" --out "$work/done" > "$work/d.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && grep -q "already holds checkpoints of another job" "$work/d.log" &&
     grep -q -- "give each job its own --rdzv-id" "$work/d.log"; then
    echo "ok: d. torchrun without an identity: exit $rc, refused naming --rdzv-id"
  else
    echo "FAIL: d. torchrun with a store per round and --rdzv-id none: exit $rc"; tail -5 "$work/d.log"; fail=1
  fi
  unchanged d
else
  echo "SKIP: c, d: no $tr"
fi

step e_resume "$bin" train --resume "$work/done" --epochs 2 && grep -q "resumed from .* at epoch 2" "$work/e_resume.out" &&
  echo "ok: e. --resume continues it" || { echo "FAIL: e. --resume"; fail=1; }
[ $fail -eq 0 ] && echo PASS
exit $fail
