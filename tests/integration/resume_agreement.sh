#!/usr/bin/env bash
# Every rank of a resumed run resumes the same checkpoint (issue 21, defect 5): each rank opens the
# newest checkpoint it sees, and only weights and buffers are broadcast, so ranks that read
# different files trained on with different momentum, step counters and compressor state. Now
# the ranks agree on the file's checksum at start-up.
#  a. two ranks (a torchrun-style environment) whose `--resume run` (relative: each rank in its
#     own folder, as on two hosts without a shared file system) holds the checkpoints of epochs 2
#     and 1 of one run: both refuse with one line naming the disagreement, exit 2 (they trained on);
#  b. control: the same checkpoint copied to both folders trains on (exit 0).
# Usage: resume_agreement.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2") work=$(realpath -m "$3")/resume_agreement
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 16 10 >/dev/null
fail=0
. "$src/tests/integration/step.sh"
common=(train --data "$work/data" --model resnet20 --batch-size 16 --threads 1 --seed 1 --amp none --timeout 60
        --log-every 100)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

step first "$bin" "${common[@]}" --epochs 2 --keep-checkpoints 2 --out "$work/first" || exit 1
two_ranks() {  # NAME CHECKPOINT_OF_RANK0 CHECKPOINT_OF_RANK1: resume `run` in $work/NAME.r0 and .r1
  local name=$1 p; p=$(port)
  for r in 0 1; do
    local file=$2; [ $r -eq 1 ] && file=$3
    mkdir -p "$work/$name.r$r/run" && cp "$work/first/$file" "$work/$name.r$r/run/checkpoint.safetensors"
    (cd "$work/$name.r$r" && RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
      exec "$bin" "${common[@]}" --epochs 3 --resume run > "$work/$name.$r.out" 2> "$work/$name.$r.err") &
  done
  wait %1; rc0=$?; wait %2; rc1=$?
}

two_ranks differ checkpoint.safetensors checkpoint.1.safetensors
ok=1
for r in 0 1; do
  rc=$rc0; [ $r -eq 1 ] && rc=$rc1
  if [ "$rc" -ne 2 ] || [ "$(wc -l < "$work/differ.$r.err")" -ne 1 ] ||
     ! grep -q "do not agree on the checkpoint they resume" "$work/differ.$r.err"; then
    echo "FAIL: a. rank $r resuming another checkpoint than its peer exited $rc: $(head -c 400 "$work/differ.$r.err")"
    fail=1 ok=0
  fi
done
[ $ok -eq 1 ] && echo "ok: a. refused: $(cat "$work/differ.1.err")"

two_ranks same checkpoint.safetensors checkpoint.safetensors
if [ "$rc0" -eq 0 ] && [ "$rc1" -eq 0 ] && grep -q "epoch 3/3" "$work/same.0.out"; then
  echo "ok: b. the same checkpoint on both ranks trains on"
else
  echo "FAIL: b. the same checkpoint on both ranks exited $rc0/$rc1: $(cat "$work"/same.*.err | head -c 600)"; fail=1
fi
exit $fail
