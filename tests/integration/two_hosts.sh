#!/usr/bin/env bash
# Two hosts on one machine: two network namespaces joined by a veth pair, with addresses that
# exist only inside them. Rank 0 runs in one, rank 1 in the other; rank 0's store is bound to
# its veth address (not to every interface); they train together over that link.
# Needs root (CI has it); exits 77 (skipped) where namespaces cannot be made.
# Usage: two_hosts.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/two_hosts
rm -rf "$work" && mkdir -p "$work"
. "$src/scripts/netns_hosts.sh"
trap netns_hosts_down EXIT
netns_hosts_up $$ || { echo "SKIP: cannot create network namespaces here (needs root and iproute2)"; exit 77; }
h0=$RT_H0 h1=$RT_H1 addr0=$RT_ADDR0 port=29611

python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 40
common=(train --data "$work/data" --model resnet20 --epochs 2 --batch-size 16 --threads 1 --seed 3 --timeout 60)
ip netns exec "$h0" env RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=$addr0 MASTER_PORT=$port \
  "$bin" "${common[@]}" --out "$work/run" > "$work/rank0.log" 2>&1 &
pid0=$!
# Rank 0 listens on its veth address only.
listen=""
for _ in $(seq 1 100); do
  listen=$(ip netns exec "$h0" ss -ltnH "sport = :$port" | awk '{print $4}')
  [ -n "$listen" ] && break
  sleep 0.1
done
ip netns exec "$h1" env RANK=1 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=$addr0 MASTER_PORT=$port \
  "$bin" "${common[@]}" --out "$work/run1" > "$work/rank1.log" 2>&1 &
pid1=$!
fail=0
wait $pid0 || { echo "FAIL: rank 0"; cat "$work/rank0.log"; fail=1; }
wait $pid1 || { echo "FAIL: rank 1"; cat "$work/rank1.log"; fail=1; }
echo "rank 0's store listened on: $listen"
[ "$listen" = "$addr0:$port" ] || { echo "FAIL: store bound to '$listen', expected $addr0:$port only"; fail=1; }
python3 - "$work/run/metrics.json" <<'PY' || fail=1
import json, sys
m = json.load(open(sys.argv[1]))
print(f"world {m['world_size']} test acc {m['test_accuracy']} bytes/step {m['comm_last_epoch']['bytes_allreduced_per_step']:.0f}")
sys.exit(0 if m["world_size"] == 2 and m["epochs"] == 2 else 1)
PY
[ -e "$work/run1/metrics.json" ] && { echo "FAIL: rank 1 wrote outputs; only rank 0 may"; fail=1; }
[ $fail -eq 0 ] && echo PASS
exit $fail
