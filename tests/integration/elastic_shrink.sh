#!/usr/bin/env bash
# The elastic built-in launcher (--min-nproc): a worker that keeps failing is dropped and the job
# goes on with fewer workers.
#  a. 4 workers, --global-batch 32 --batch-size 8, --min-nproc 2: the worker on slot 1 is killed
#     (SIGKILL) twice. After the second failure slot 1 is dropped; 3 workers cannot share the
#     global batch, so slot 3 goes too, and 2 workers finish from the newest checkpoint. The job
#     exits 0; metrics.json records the failures (with the last step done and the steps lost),
#     drops and each attempt's first step (membership), world size 2, and the job's wall time
#     with its restarts (about the launcher's lifetime, more than the epochs' own); and its
#     weights are those of the same training on 1 worker, uninterrupted, within 1e-4 of their norm
#     (measured 1.5e-5 over 16 steps: float sums in other orders; global_batch.sh checks 1e-5).
#  b. 2 workers, --min-nproc 2: slot 1 killed twice leaves 1 worker, below the minimum: exit 3
#     with one line naming the slot.
# Usage: elastic_shrink.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/elastic_shrink
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 20 10 >/dev/null
fail=0
common=(train --data "$work/data" --model resnet20 --limit-train 100 --limit-test 20 --threads 1
        --seed 1 --timeout 30 --amp none --lr 0.002 --log-every 1 --global-batch 32 --batch-size 8)

# The pid of the launcher's worker on slot SLOT (LOCAL_RANK), or nothing.
worker_on_slot() {  # LAUNCHER_PID SLOT
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "LOCAL_RANK=$2" && { echo "$p"; return; }
  done
}
# Kills slot SLOT's worker twice, each time after 2 more progress lines (one per step here).
kill_slot_twice() {  # LAUNCHER_PID LOG SLOT
  local launcher=$1 log=$2 slot=$3 seen=0 k victim
  for k in 1 2; do
    for _ in $(seq 1 300); do [ "$(grep -c '\] epoch .* step' "$log")" -ge $((seen + 2)) ] && break; sleep 0.1; done
    victim=$(worker_on_slot "$launcher" "$slot")
    [ -n "$victim" ] && kill -9 "$victim" && echo "killed slot $slot's worker, pid $victim (kill $k)"
    for _ in $(seq 1 300); do [ "$(grep -c 'restart [0-9]/\|giving up' "$log")" -ge $k ] && break; sleep 0.1; done
    seen=$(grep -c '\] epoch .* step' "$log")
  done
}

echo "== a. 4 workers, slot 1 fails twice: the job ends on 2"
"$bin" "${common[@]}" --epochs 4 --out "$work/one" > "$work/one.log" 2>&1 || { echo "FAIL: the 1-worker run"; tail "$work/one.log"; fail=1; }
began=$(date +%s.%N)
"$bin" "${common[@]}" --epochs 4 --nproc 4 --min-nproc 2 --max-restarts 4 --checkpoint-every 1 --out "$work/shrink" \
  > "$work/shrink.log" 2>&1 &
launcher=$!
kill_slot_twice $launcher "$work/shrink.log" 1
wait $launcher; rc=$?
elapsed=$(python3 -c "import time; print(time.time() - $began)")
grep -E "^ringtrain: (restart|worker slot)" "$work/shrink.log"
[ $rc -eq 0 ] && echo "ok: the job finished" || { echo "FAIL: the job exited $rc"; tail -20 "$work/shrink.log"; fail=1; }
for run in one shrink; do "$bin" export "$work/$run" --to "$work/$run.pt" > /dev/null 2>&1; done
"$py" "$src/tests/integration/norm_diff.py" "$work/shrink.pt" "$work/one.pt" --tolerance 1e-4 \
  --label "the shrunk job trained as 1 worker uninterrupted" || fail=1
"$py" - "$work" "$elapsed" <<'PY' || fail=1
import json, sys
work, elapsed = sys.argv[1], float(sys.argv[2])
m = json.load(open(f"{work}/shrink/metrics.json"))
events = [(e["event"], e.get("slot"), e["world_size"]) for e in m["membership"]]
print("membership:", events)
ok = True
if m["world_size"] != 2 or ("drop", 1, 2) not in events or ("drop", 3, 2) not in events or \
        [e for e in events if e[0] == "failure" and e[1] == 1] == [] or events[-2:] != [("start", None, 2), ("resume", None, 2)]:
    print("FAIL: expected slots 1 and 3 dropped and a last start on 2 workers"); ok = False
failures = [e for e in m["membership"] if e["event"] == "failure"]
resumes = [e for e in m["membership"] if e["event"] == "resume"]
print("failures at steps", [e["step"] for e in failures], "losing", [e["lost_steps"] for e in failures],
      "steps; attempts started at steps", [e["step"] for e in resumes])
if len(failures) != 2 or len(resumes) != 3 or any(e["step"] < 1 or e["lost_steps"] < 0 for e in failures) or \
        any(f["step"] - f["lost_steps"] != r["step"] for f, r in zip(failures, resumes[1:])):
    print("FAIL: each failure's last step and lost steps, each attempt's first step"); ok = False
# The job's wall time, restarts included: about the launcher's lifetime, more than the epochs' own.
epochs = sum(e["seconds"] for e in json.load(open(f"{work}/shrink/history.json")))
print(f"total {m['total_seconds']:.1f} s (launcher ran {elapsed:.1f} s, the epochs {epochs:.1f} s), "
      f"{m['train_images_per_second']:.1f} img/s")
if not (0.6 * elapsed <= m["total_seconds"] <= elapsed and m["total_seconds"] > epochs):
    print("FAIL: the job's wall time does not count its restarts"); ok = False
sys.exit(0 if ok else 1)
PY

echo "== b. 2 workers, --min-nproc 2: slot 1 fails twice"
"$bin" "${common[@]}" --nproc 2 --min-nproc 2 --max-restarts 4 --checkpoint-every 1 --epochs 20 --out "$work/below" \
  > "$work/below.log" 2>&1 &
launcher=$!
kill_slot_twice $launcher "$work/below.log" 1
wait $launcher; rc=$?
line=$(grep "giving up" "$work/below.log")
if [ $rc -eq 3 ] && echo "$line" | grep -q "worker slot 1 failed 2 times each (last: rank 1, exit code 137); 1 worker left, below --min-nproc 2"; then
  echo "ok: exit 3: $line"
else echo "FAIL: exit $rc, $line"; tail -5 "$work/below.log"; fail=1; fi
exit $fail
