#!/usr/bin/env bash
# Elastic across hosts with torchrun as the agent: two network-namespace hosts each run
# `torchrun --nnodes 1:2 --nproc-per-node 1 --rdzv-backend c10d ... --no-python ringtrain train
# --global-batch 32 --batch-size 8` into one (shared) run folder. Mid-run, host 1 is removed
# (its agent and worker killed): host 0's agent restarts its worker on a world of 1, which
# continues from the newest checkpoint mid-epoch. Then host 1 comes back: the agents restart
# the workers on a world of 2, which continue from the checkpoint host 0's worker saved when
# it was stopped (SIGTERM), and the job finishes on 2 workers with every epoch, its weights
# within 1e-3 of their norm of the same training on 1 worker uninterrupted (80 steps of float
# sums in other orders; global_batch.sh checks 1e-5 on 8).
# c10d rendezvous in namespaces: the agent on host 0 hosts the store (is_host: both "hosts"
# share one hostname), each agent names its own address (--local-addr), and the workers use
# their own store (TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1): with the agent's shared store, torchrun
# 2.11 itself cannot take a rejoining host back (its new agent waits for the store's address,
# which the others published only in their first round; torchrun_restart_hosts.sh covers the
# shared store). The job's identity is then its --rdzv-id (train/resume_point.h).
# Needs root; exits 77 (skipped) where namespaces cannot be made or torchrun is missing.
# Usage: torchrun_elastic.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/torchrun_elastic
py=$src/.venv/bin/python tr=$src/.venv/bin/torchrun
[ -x "$tr" ] || { echo "SKIP: no $tr (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
. "$src/scripts/netns_hosts.sh"
trap 'pkill -9 -P $$ 2>/dev/null; netns_hosts_down' EXIT
netns_hosts_up "te$$" || { echo "SKIP: cannot create network namespaces here (needs root and iproute2)"; exit 77; }
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 20 10 >/dev/null
common=(train --data "$work/data" --model resnet20 --epochs 20 --limit-train 100 --limit-test 20 --threads 1 --seed 1
        --timeout 20 --amp none --lr 0.002 --log-every 1 --global-batch 32 --batch-size 8)
fail=0
agent() {  # HOST ADDRESS LOG IS_HOST: one node's torchrun in the background
  ip netns exec "$1" env TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 "$tr" --nnodes 1:2 --nproc-per-node 1 \
    --rdzv-backend c10d --rdzv-endpoint "$RT_ADDR0:29750" --rdzv-id job --max-restarts 3 --local-addr "$2" \
    --rdzv-conf "join_timeout=60,last_call_timeout=2,close_timeout=10,is_host=$4" --monitor-interval 0.5 \
    --no-python "$bin" "${common[@]}" --checkpoint-every 1 --keep-checkpoints 2 --out "$work/run" > "$3" 2>&1 &
}
"$bin" "${common[@]}" --out "$work/one" > "$work/one.log" 2>&1 || { echo "FAIL: the 1-worker run"; tail "$work/one.log"; fail=1; }

agent "$RT_H0" "$RT_ADDR0" "$work/host0.log" 1
a0=$!
sleep 1
agent "$RT_H1" "$RT_ADDR1" "$work/host1.log" 0
a1=$!
for _ in $(seq 1 900); do [ "$(grep -c '^epoch' "$work/host0.log")" -ge 8 ] && break; sleep 0.1; done
echo "== host 1 removed after $(grep -c '^epoch' "$work/host0.log") progress lines of host 0"
pkill -9 -P $a1; kill -9 $a1 2>/dev/null; wait $a1 2>/dev/null
for _ in $(seq 1 900); do grep -q "world size 1 " "$work/host0.log" && break; sleep 0.1; done
grep -q "world size 1 " "$work/host0.log" && echo "ok: host 0 went on alone" || { echo "FAIL: host 0 did not go on alone"; fail=1; }
echo "== host 1 back"
agent "$RT_H1" "$RT_ADDR1" "$work/host1b.log" 0
a1=$!
wait $a0; rc0=$?
wait $a1; rc1=$?
grep -h "world size\|resumed from\|stopped by\|ringtrain: error" "$work/host0.log" | cut -c1-160
[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ] && echo "ok: both agents exited 0" || { echo "FAIL: agents exited $rc0 and $rc1"; tail -5 "$work/host0.log" "$work/host1b.log"; fail=1; }
"$bin" export "$work/run" --to "$work/run.pt" > /dev/null 2>&1
"$bin" export "$work/one" --to "$work/one.pt" > /dev/null 2>&1
"$py" "$src/tests/integration/norm_diff.py" "$work/run.pt" "$work/one.pt" --tolerance 1e-3 \
  --label "the resized job trained as 1 worker uninterrupted" || fail=1
"$py" - "$work" <<'PY' || fail=1
import json, re, sys
work = sys.argv[1]
log = open(f"{work}/host0.log").read()
sizes = [int(w) for w in re.findall(r"world size (\d+) \(", log)]
m = json.load(open(f"{work}/run/metrics.json"))
print("world sizes on host 0, in order:", sizes, "| finished on", m["world_size"], "after", m["epochs"], "epochs")
ok = True
if sizes[:1] != [2] or 1 not in sizes or sizes[-1] != 2 or sizes.index(1) > len(sizes) - 2 or m["world_size"] != 2 or m["epochs"] != 20:
    print("FAIL: expected 2 workers, then 1, then 2 again to the end"); ok = False
resumed = [int(s) for s in re.findall(r"resumed from .* \(step (\d+)\)", log)]
print("resumed at steps", resumed)
if len(resumed) < 2 or resumed[0] <= 0 or resumed != sorted(resumed) or resumed[-1] <= resumed[0]:
    print("FAIL: each change should continue from a later checkpoint, not start over"); ok = False
sys.exit(0 if ok else 1)
PY
exit $fail
