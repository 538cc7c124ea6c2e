#!/usr/bin/env bash
# Each attempt of the built-in launcher reports its own last step (issue 21, defect 10). A
# 2-worker job with --max-restarts 2 (13 steps an epoch, checkpoints at epoch ends): a worker is
# killed after a few steps of the first epoch, then a worker of the restarted attempt (which
# starts over at step 0) before it trains a step. Before, the second failure was recorded at the
# first attempt's last step (its file outlived it), claiming work the second attempt never did;
# now it records none.
# Usage: launcher_attempts.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2") work=$(realpath -m "$3")/launcher_attempts
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE \
  RINGTRAIN_JOB_ID
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 10 >/dev/null
fail=0
"$bin" train --data "$work/data" --model resnet20 --epochs 4 --batch-size 16 --threads 1 --seed 9 --amp none \
  --nproc 2 --max-restarts 2 --log-every 1 --timeout 30 --out "$work/run" > "$work/run.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do [ "$(grep -c 'step' "$work/run.log")" -ge 5 ] && break; sleep 0.1; done
old=$(pgrep -P $launcher)
first=$(echo "$old" | head -n 1)
kill -9 "$first" && echo "killed worker pid $first after $(grep -c 'step' "$work/run.log") progress lines"
# the restarted attempt's workers: killed as soon as they exist, long before their first step
for _ in $(seq 1 600); do
  second=$(pgrep -P $launcher | grep -vxF "$old" | head -n 1)
  [ -n "$second" ] && grep -q "restart 1/2" "$work/run.log" && break
  sleep 0.02
done
kill -9 "$second" && echo "killed worker pid $second of the restarted attempt"
wait $launcher; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: the job exited $rc"; tail -n 8 "$work/run.log"; fail=1; }
python3 - "$work/run/membership.jsonl" <<'PY' || fail=1
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
failures = [e for e in events if e["event"] == "failure"]
resumes = [e for e in events if e["event"] == "resume"]
print("failures at steps", [e.get("step") for e in failures], "lost", [e.get("lost_steps") for e in failures],
      "| resumes at steps", [e.get("step") for e in resumes])
ok = len(failures) == 2 and failures[0]["step"] >= 1
if not ok:
    print("FAIL: expected two failures, the first after a step")
elif failures[1]["step"] > 0:
    print("FAIL: the failure before any step of the second attempt claims the first attempt's steps")
    ok = False
sys.exit(0 if ok else 1)
PY
[ $fail -eq 0 ] && echo PASS
exit $fail
