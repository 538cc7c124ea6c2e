#!/usr/bin/env bash
# The four ways to start a data-parallel run give the same training: the built-in --nproc
# launcher, a torchrun-style environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), torchrun
# itself (--no-python), and mpirun (OpenMPI's OMPI_COMM_WORLD_*). Then a worker killed with
# SIGKILL makes the built-in launcher stop the other one and exit non-zero naming the rank.
# Usage: launchers.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/launchers
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 40 40
common=(train --data "$work/data" --model resnet20 --epochs 2 --batch-size 16 --threads 1 --seed 3 --timeout 60)
fail=0
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== built-in launcher"
"$bin" "${common[@]}" --nproc 2 --out "$work/nproc" > "$work/nproc.log" 2>&1 || { echo "FAIL: --nproc 2"; cat "$work/nproc.log"; fail=1; }
grep -q "^\[rank 0\] epoch 2/2" "$work/nproc.log" || { echo "FAIL: no [rank 0] prefixed output"; fail=1; }

echo "== environment (torchrun-style)"
p=$(port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$p \
    "$bin" "${common[@]}" --out "$work/env" > "$work/env.$r.log" 2>&1 &
done
wait %1 && wait %2 || { echo "FAIL: env launch"; cat "$work"/env.*.log; fail=1; }

echo "== ranks started with different flags refuse to train"
p=$(port)
RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$bin" "${common[@]}" --lr 0.1 --out "$work/disagree" > "$work/disagree.0.log" 2>&1 &
RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$bin" "${common[@]}" --lr 0.2 --out "$work/disagree" > "$work/disagree.1.log" 2>&1 &
wait %1; rc0=$?; wait %2; rc1=$?
if [ $rc0 -ne 2 ] || [ $rc1 -ne 2 ] || ! grep -q "do not agree" "$work/disagree.0.log"; then
  echo "FAIL: disagreeing ranks exited $rc0/$rc1"; cat "$work"/disagree.*.log; fail=1
else
  echo "ok: $(cat "$work/disagree.1.log")"
fi

if [ -x "$src/.venv/bin/torchrun" ]; then
  echo "== torchrun --no-python"
  "$src/.venv/bin/torchrun" --nproc-per-node 2 --master-port "$(port)" --no-python \
    "$bin" "${common[@]}" --out "$work/torchrun" > "$work/torchrun.log" 2>&1 || { echo "FAIL: torchrun"; tail -20 "$work/torchrun.log"; fail=1; }
fi

echo "== mpirun"
MPIRUN_FLAGS=(--oversubscribe -np 2 -x MASTER_ADDR=127.0.0.1 -x "MASTER_PORT=$(port)")
[ "$(id -u)" -eq 0 ] && MPIRUN_FLAGS+=(--allow-run-as-root)
mpirun "${MPIRUN_FLAGS[@]}" "$bin" "${common[@]}" --out "$work/mpirun" > "$work/mpirun.log" 2>&1 || { echo "FAIL: mpirun"; tail -20 "$work/mpirun.log"; fail=1; }

# Every launch: world size 2, the launcher recognised, and the very same training.
python3 - "$work" <<'PY' || fail=1
import json, os, sys
work = sys.argv[1]
runs = [r for r in ["nproc", "env", "torchrun", "mpirun"] if os.path.exists(f"{work}/{r}/metrics.json")]
expect = {"nproc": "nproc", "env": "torchrun", "torchrun": "torchrun", "mpirun": "mpirun"}
ok = len(runs) >= 3
hist = {}
for r in runs:
    m = json.load(open(f"{work}/{r}/metrics.json"))
    env = m["environment"]
    print(f"{r:9s} world {m['world_size']} global batch {m['global_batch']} launcher {env['launcher']} "
          f"test acc {m['test_accuracy']} exposed comm {m['comm_last_epoch']['exposed_comm_share']:.3f}")
    ok &= m["world_size"] == 2 and m["global_batch"] == 32 and env["launcher"] == expect[r]
    ok &= m["comm_last_epoch"]["bytes_allreduced_per_step"] == 269722 * 4
    hist[r] = [(h["train_loss"], h["test_loss"]) for h in json.load(open(f"{work}/{r}/history.json"))]
first = hist[runs[0]]
for r in runs[1:]:
    if hist[r] != first:
        print(f"FAIL: {r} trained differently from {runs[0]}: {hist[r]} vs {first}")
        ok = False
print("launch modes agree" if ok else "FAIL: launch modes")
sys.exit(0 if ok else 1)
PY

echo "== a 2-worker checkpoint resumes on 1 worker"
"$bin" train --resume "$work/nproc" --epochs 3 --nproc 1 > "$work/resume.log" 2>&1 || { echo "FAIL: resume on 1 worker"; tail "$work/resume.log"; fail=1; }
python3 - "$work/nproc" <<'PY' || fail=1
import json, sys
h = json.load(open(sys.argv[1] + "/history.json"))
m = json.load(open(sys.argv[1] + "/metrics.json"))
print("world size per epoch:", [e["world_size"] for e in h], "global batch:", [e["global_batch"] for e in h])
sys.exit(0 if [e["world_size"] for e in h] == [2, 2, 1] and m["epochs"] == 3 and m["world_size"] == 1 else 1)
PY

echo "== a killed worker stops the job"
"$bin" train --data "$work/data" --model resnet20 --epochs 200 --batch-size 8 --threads 1 --nproc 2 \
  --timeout 60 --out "$work/killed" > "$work/killed.log" 2>&1 &
launcher=$!
for _ in $(seq 1 100); do grep -q "step" "$work/killed.log" && break; sleep 0.2; done
victim=$(pgrep -P $launcher | tail -1)
kill -9 "$victim"
start=$(date +%s)
wait $launcher; rc=$?
took=$(( $(date +%s) - start ))
echo "launcher exit code $rc after ${took}s: $(grep 'ringtrain: error' "$work/killed.log" | tail -1)"
[ $rc -ne 0 ] || { echo "FAIL: launcher exited 0 after a worker was killed"; fail=1; }
grep -q "worker rank [01] failed" "$work/killed.log" || { echo "FAIL: no message naming the failed rank"; fail=1; }
[ $took -le 20 ] || { echo "FAIL: took ${took}s to stop"; fail=1; }
if pgrep -f "$work/killed" >/dev/null; then echo "FAIL: processes left behind"; pkill -9 -f "$work/killed"; fail=1; fi

[ $fail -eq 0 ] && echo PASS
exit $fail
