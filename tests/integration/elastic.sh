#!/usr/bin/env bash
# Elastic restart: a 2-worker job with --max-restarts 2 and a checkpoint every 2 steps; one of
# its workers, chosen at random, is killed with SIGKILL at a random moment, twice. The job
# still finishes, and its final weights are bitwise those of an uninterrupted run (CPU). Then the
# same under torchrun --max-restarts 1 --no-python with one killed worker.
# Usage: elastic.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/elastic
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 40
common=(train --data "$work/data" --model resnet20 --epochs 6 --batch-size 16 --threads 1 --seed 9
        --nproc 2 --checkpoint-every 2 --timeout 30)
fail=0
"$bin" "${common[@]}" --out "$work/reference" > "$work/reference.log" 2>&1 || { echo "FAIL: reference run"; tail "$work/reference.log"; exit 1; }

"$bin" "${common[@]}" --max-restarts 2 --out "$work/killed" > "$work/killed.log" 2>&1 &
launcher=$!
seen=0  # progress lines before this attempt
for kill_no in 1 2; do
  # Wait until this attempt has trained two steps of its own, then kill one of its workers at a
  # random moment (waiting for the log's count alone, a second kill could land after the run ended).
  for _ in $(seq 1 300); do
    [ "$(grep -c 'step' "$work/killed.log")" -ge $((seen + 2)) ] && break
    sleep 0.1
  done
  sleep "0.$((RANDOM % 9 + 1))"
  victim=$(pgrep -P $launcher | shuf -n 1)
  [ -n "$victim" ] && kill -9 "$victim" && echo "killed worker pid $victim (kill $kill_no)"
  for _ in $(seq 1 300); do grep -q "restart $kill_no/2" "$work/killed.log" && break; sleep 0.1; done
  seen=$(grep -c 'step' "$work/killed.log")
done
wait $launcher; rc=$?
grep -E "restart [0-9]/2|resumed from" "$work/killed.log"
[ $rc -eq 0 ] || { echo "FAIL: job exited $rc"; tail -20 "$work/killed.log"; fail=1; }
[ "$(grep -c 'restart [0-9]/2' "$work/killed.log")" -eq 2 ] || { echo "FAIL: expected 2 restarts"; fail=1; }
python3 - "$work" <<'PY' || fail=1
import json, sys
a = json.load(open(sys.argv[1] + "/reference/metrics.json"))
b = json.load(open(sys.argv[1] + "/killed/metrics.json"))
print("weights:", a["weights_fingerprint"], "uninterrupted,", b["weights_fingerprint"], "killed twice")
ok = a["weights_fingerprint"] == b["weights_fingerprint"] and a["test_loss"] == b["test_loss"] and b["epochs"] == 6
sys.exit(0 if ok else 1)
PY

# torchrun --max-restarts 1 --no-python: a killed worker makes the agent restart both workers,
# which meet in a store of the new round (Note [A store for each round]) and continue from their
# job's newest checkpoint in --out, ending with the uninterrupted run's weights.
if [ -x "$src/.venv/bin/torchrun" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$src/.venv/bin/torchrun" --nproc-per-node 2 --max-restarts 1 --master-port "$port" --no-python \
    "$bin" train --data "$work/data" --model resnet20 --epochs 6 --batch-size 16 --threads 1 --seed 9 \
    --checkpoint-every 2 --timeout 30 --out "$work/torchrun" > "$work/torchrun.log" 2>&1 &
  agent=$!
  # past the checkpoint of step 2 (a line per step), so that the restart resumes from one
  for _ in $(seq 1 600); do [ "$(grep -c 'step' "$work/torchrun.log")" -ge 8 ] && break; sleep 0.1; done
  sleep "0.$((RANDOM % 9 + 1))"
  victim=$(pgrep -P $agent -f ringtrain | shuf -n 1)
  [ -n "$victim" ] && kill -9 "$victim" && echo "torchrun: killed worker pid $victim"
  wait $agent; rc=$?
  grep -E "continuing this job|resumed from" "$work/torchrun.log"
  [ $rc -eq 0 ] || { echo "FAIL: torchrun job exited $rc"; tail -20 "$work/torchrun.log"; fail=1; }
  grep -q "continuing this job (torchrun launch)" "$work/torchrun.log" || { echo "FAIL: torchrun did not restart from the checkpoint"; fail=1; }
  python3 - "$work" <<'PY' || fail=1
import json, sys
a = json.load(open(sys.argv[1] + "/reference/metrics.json"))
b = json.load(open(sys.argv[1] + "/torchrun/metrics.json"))
print("weights:", a["weights_fingerprint"], "uninterrupted,", b["weights_fingerprint"], "torchrun, killed once")
sys.exit(0 if a["weights_fingerprint"] == b["weights_fingerprint"] and b["epochs"] == 6 else 1)
PY
fi
[ $fail -eq 0 ] && echo PASS
exit $fail
