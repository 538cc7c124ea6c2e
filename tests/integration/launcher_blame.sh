#!/usr/bin/env bash
# The built-in launcher blames the worker that hung, not the healthy one that timed out waiting
# for it (issue 21, defect 2). 2 workers, --max-restarts 1, --timeout 10: after a few steps slot
# 1's worker is stopped with SIGSTOP (it hangs: alive, never exits). Its peer's collective times
# out and exits 3 (reaped first); the stopped worker does not answer SIGTERM and is killed.
#  a. the launcher names rank 1 as hung, the membership record's failure is slot 1 (it blamed
#     rank 0, the first reaped, and after two such events dropped the healthy slot);
#  b. the restarted group finishes from the newest checkpoint (exit 0).
# Usage: launcher_blame.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/launcher_blame
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 20 10 >/dev/null
fail=0

worker_on_slot() {  # LAUNCHER_PID SLOT: the pid of the launcher's worker on SLOT (LOCAL_RANK)
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "LOCAL_RANK=$2" && { echo "$p"; return; }
  done
}

"$bin" train --data "$work/data" --model resnet20 --limit-train 100 --limit-test 20 --threads 1 --seed 1 \
  --amp none --batch-size 10 --epochs 2 --log-every 1 --timeout 10 --nproc 2 --max-restarts 1 --checkpoint-every 2 \
  --out "$work/run" > "$work/run.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do [ "$(grep -c '\] epoch .* step' "$work/run.log")" -ge 3 ] && break; sleep 0.1; done
victim=$(worker_on_slot $launcher 1)
if [ -n "$victim" ]; then
  kill -STOP "$victim" && echo "stopped slot 1's worker, pid $victim (SIGSTOP: it hangs)"
else
  echo "FAIL: no worker on slot 1 to stop"; fail=1
fi
wait $launcher; rc=$?
grep -E "^ringtrain: (error|restart)" "$work/run.log"
if grep -q "worker rank 1 hung" "$work/run.log" && grep -q "restart 1/1 after rank 1 failed" "$work/run.log"; then
  echo "ok: a. rank 1, the hung worker, is blamed"
else
  echo "FAIL: a. the hung worker (rank 1) is not the one blamed"; fail=1
fi
python3 - "$work/run/metrics.json" <<'PY' || fail=1
import json, sys
m = json.load(open(sys.argv[1]))
failures = [(e["slot"], e["rank"]) for e in m["membership"] if e["event"] == "failure"]
print("membership failures (slot, rank):", failures)
sys.exit(0 if failures == [(1, 1)] else 1)
PY
[ $rc -eq 0 ] && echo "ok: b. the restarted workers finished" || { echo "FAIL: b. the job exited $rc"; tail -5 "$work/run.log"; fail=1; }
exit $fail
