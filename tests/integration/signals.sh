#!/usr/bin/env bash
# Signals and stalls.
#  1. SIGINT to a training process: it finishes the step, saves a checkpoint, exits 4; the
#     run then continues with --resume.
#  2. SIGTERM to the built-in launcher: forwarded once to the workers, same outcome.
#  3. Two SIGINTs: the second exits at once (128 + 2).
#  4. A stopped peer (SIGSTOP): the other rank exits within the timeout with exit code 3 and a
#     message naming the operation and the stopped rank; no process is left behind.
#  5. The same with rank 0 stopped, which also hosts the rendezvous store.
# Usage: signals.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/signals
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 40
common=(train --data "$work/data" --model resnet20 --batch-size 8 --threads 1 --epochs 30 --timeout 6)
fail=0
wait_for() {  # wait_for FILE PATTERN: up to 30 s
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

echo "== 1. SIGINT to one process"
"$bin" "${common[@]}" --log-every 1 --out "$work/one" > "$work/one.log" 2>&1 &
pid=$!
wait_for "$work/one.log" "step 3/" && kill -INT $pid
wait $pid; rc=$?
echo "exit $rc: $(grep 'stopped by signal' "$work/one.log")"
[ $rc -eq 4 ] || { echo "FAIL: expected exit code 4, got $rc"; fail=1; }
[ -s "$work/one/checkpoint.safetensors" ] || { echo "FAIL: no checkpoint saved"; fail=1; }
[ -e "$work/one/metrics.json" ] && { echo "FAIL: an interrupted run wrote metrics.json"; fail=1; }
"$bin" train --resume "$work/one" --epochs 1 > "$work/one.resume.log" 2>&1 || { echo "FAIL: resume after SIGINT"; tail "$work/one.resume.log"; fail=1; }
grep -q "resumed from" "$work/one.resume.log" && echo "resumed: $(grep 'resumed from' "$work/one.resume.log")"

echo "== 2. SIGTERM to the launcher"
"$bin" "${common[@]}" --nproc 2 --log-every 1 --out "$work/two" > "$work/two.log" 2>&1 &
pid=$!
wait_for "$work/two.log" "step 3/" && kill -TERM $pid
wait $pid; rc=$?
echo "exit $rc: $(grep 'stopped by signal' "$work/two.log" | head -1)"
[ $rc -eq 4 ] || { echo "FAIL: launcher exit code $rc, expected 4"; tail "$work/two.log"; fail=1; }
[ -s "$work/two/checkpoint.safetensors" ] || { echo "FAIL: no checkpoint saved"; fail=1; }

echo "== 3. two SIGINTs"
"$bin" "${common[@]}" --log-every 1 --out "$work/twice" > "$work/twice.log" 2>&1 &
pid=$!
wait_for "$work/twice.log" "step 2/" && kill -INT $pid && kill -INT $pid
wait $pid; rc=$?
echo "exit $rc"
[ $rc -eq 130 ] || [ $rc -eq 4 ] || { echo "FAIL: exit code $rc after two SIGINTs"; fail=1; }

stall_test() {  # stall_test STOPPED_RANK: the other rank must exit 3 within the timeout, naming it
  local stopped=$1 other=$((1 - $1)) p rc took start
  p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$bin" "${common[@]}" --log-every 1 \
      --out "$work/stall$stopped" > "$work/stall$stopped.$r.log" 2>&1 &
    eval pid$r=$!
  done
  local spid=pid$stopped opid=pid$other
  wait_for "$work/stall$stopped.0.log" "step 3/" && kill -STOP ${!spid}
  start=$(date +%s)
  wait ${!opid}; rc=$?
  took=$(( $(date +%s) - start ))
  echo "rank $other exit $rc after ${took}s: $(tail -1 "$work/stall$stopped.$other.log")"
  kill -KILL ${!spid} 2>/dev/null; wait ${!spid} 2>/dev/null
  [ $rc -eq 3 ] || { echo "FAIL: rank $other exit code $rc, expected 3"; fail=1; }
  [ $took -le 20 ] || { echo "FAIL: took ${took}s with a 6 s timeout"; fail=1; }
  grep -q "rank $other: .*failed" "$work/stall$stopped.$other.log" || { echo "FAIL: no message naming the operation"; fail=1; }
  grep -q "$2" "$work/stall$stopped.$other.log" || { echo "FAIL: the message does not name the stopped rank $stopped"; fail=1; }
  if pgrep -f "$work/" >/dev/null; then echo "FAIL: processes left behind"; pkill -9 -f "$work/"; fail=1; fi
}
echo "== 4. a stopped peer (rank 1)"
stall_test 1 "rank 1 stopped responding"
echo "== 5. a stopped rank 0, which hosts the store"
stall_test 0 "rank 0 .* is stopped, hung or dead"

[ $fail -eq 0 ] && echo PASS
exit $fail
