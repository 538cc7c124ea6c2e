#!/usr/bin/env bash
# torchrun's default shared store across a restart on two hosts (issue 21, defect 4). Two
# network-namespace hosts each run `torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d
# --max-restarts 2`, with the agent's shared TCPStore (no TORCH_DISABLE_SHARE_RDZV_TCP_STORE).
# Host 1's worker is killed mid-run: its agent restarts it as attempt 1, host 0's agent restarts
# its own as attempt 0 again (a re-rendezvous does not count as a restart). Before, the workers
# named their keys after their own attempt and never met; now each round's rank 0 serves a store
# of the round (Note [A store for each round]). The job continues from its newest checkpoint and
# ends with the weights of the same training uninterrupted on 2 workers (the built-in launcher).
# Needs root; exits 77 (skipped) where namespaces cannot be made or torchrun is missing.
# Usage: torchrun_restart_hosts.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$(realpath "$1") src=$(realpath "$2") work=$(realpath -m "$3")/torchrun_restart_hosts
tr=$src/.venv/bin/torchrun
[ -x "$tr" ] || { echo "SKIP: no $tr (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE \
  RINGTRAIN_JOB_ID TORCH_DISABLE_SHARE_RDZV_TCP_STORE
. "$src/scripts/netns_hosts.sh"
trap 'pkill -9 -P $$ 2>/dev/null; netns_hosts_down' EXIT
netns_hosts_up "tr$$" || { echo "SKIP: cannot create network namespaces here (needs root and iproute2)"; exit 77; }
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 20 10 >/dev/null
common=(train --data "$work/data" --model resnet20 --epochs 4 --limit-train 100 --limit-test 20 --threads 1 --seed 1
        --timeout 30 --amp none --lr 0.002 --log-every 1 --batch-size 10 --checkpoint-every 2)
fail=0
agent() {  # HOST ADDRESS LOG IS_HOST: one node's torchrun in the background
  ip netns exec "$1" "$tr" --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint "$RT_ADDR0:29760" \
    --rdzv-id job --max-restarts 2 --local-addr "$2" --rdzv-conf "join_timeout=60,is_host=$4" --monitor-interval 0.5 \
    --no-python "$bin" "${common[@]}" --out "$work/run" > "$3" 2>&1 &
}
"$bin" "${common[@]}" --nproc 2 --out "$work/reference" > "$work/reference.log" 2>&1 ||
  { echo "FAIL: the uninterrupted 2-worker run"; tail "$work/reference.log"; fail=1; }

agent "$RT_H0" "$RT_ADDR0" "$work/host0.log" 1
a0=$!
sleep 1
agent "$RT_H1" "$RT_ADDR1" "$work/host1.log" 0
a1=$!
# past the first checkpoint (step 2; a progress line per step)
for _ in $(seq 1 1200); do [ "$(grep -c '^epoch' "$work/host0.log")" -ge 6 ] && break; sleep 0.1; done
victim=$(pgrep -P $a1 -f ringtrain | head -n 1)
[ -n "$victim" ] && kill -9 "$victim" && echo "== killed host 1's worker (pid $victim)"
wait $a0; rc0=$?
wait $a1; rc1=$?
grep -h "world size\|resumed from\|continuing this job\|ringtrain: error" "$work/host0.log" "$work/host1.log" | cut -c1-160
[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ] && echo "ok: both agents exited 0" ||
  { echo "FAIL: agents exited $rc0 and $rc1"; tail -n 5 "$work/host0.log" "$work/host1.log"; fail=1; }
grep -q "resumed from" "$work/host0.log" || { echo "FAIL: the restarted workers did not resume"; fail=1; }
python3 - "$work" <<'PY' || fail=1
import json, sys
a = json.load(open(sys.argv[1] + "/reference/metrics.json"))
b = json.load(open(sys.argv[1] + "/run/metrics.json"))
print("weights:", a["weights_fingerprint"], "uninterrupted,", b["weights_fingerprint"], "restarted on two hosts")
sys.exit(0 if a["weights_fingerprint"] == b["weights_fingerprint"] and b["epochs"] == 4 else 1)
PY
[ $fail -eq 0 ] && echo PASS
exit $fail
