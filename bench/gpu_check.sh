#!/usr/bin/env bash
# Issue 5's GPU checks in one script, for a GPU machine lent by this workplace's `device` tool
# (one H200; torch 2.11 cu130 in its python3; no network; none of ringtrain's Debian packages):
#   here:  scripts/setup.sh && scripts/device_bundle.sh       # binary, libraries, CIFAR-10 -> .device/
#   there: run(command="bash bench/gpu_check.sh", carry=[".device"], timeout_s=570)
# The tool stops a command after ~570 s, so the checks run most valuable first, and every
# command runs under `timeout` with its step's deadline (seconds after the start): a step gets
# its own budget plus whatever the steps before it left unused, so the script ends by 520 s
# however a step hangs (and at most 5 s later, the last step's grace between SIGTERM and SIGKILL).
#
#   step           budget  ends by  what
#   bundle             10      10   untar bin/ringtrain, bin/zstd, lib/ into /tmp/ringtrain-gpu
#   probe              15      25   python3 says where torch's lib/ is and its version (no import)
#   smi                10      35   nvidia-smi -L
#   loads              25      60   `ringtrain-run models`: the binary loads with the bundle's, torch's
#                                   and NVIDIA's libraries
#   data               45     105   zstd -dc | tar -x: the real CIFAR-10, 60,000 JPEGs, into /dev/shm
#                                   (kept there from an earlier call to a still-warm machine)
#   fast              225     330   1. train --recipe fast --cuda-graph: resnet50, 10 epochs on the full
#                                      data; if that fails (not a timeout), again without --cuda-graph in
#                                      what is left of its window, when that is at least 60 s
#   fast-report         5     335      its final accuracy and speed into summary.txt
#   eager              30     365   2. resnet20, seed 3, 2 epochs of 5,000 real images, fp32, eager
#   graph              30     395      the same with --cuda-graph
#   agree               5     400      per-epoch train losses agree to 2% (cuDNN is not bitwise deterministic)
#   compare            50     450   3. bench/compare.py --rounds 1: ringtrain against Python PyTorch,
#                                      resnet50, batch 512, bf16 + channels_last, train and forward, eager
#   compare-graph      50     500      the same with --cuda-graph on both sides
#   images             20     520   4. the image-file path on CUDA (issue 15): the CIFAR JPEGs streamed
#                                      from their files at --image-size 64 by 8 loader threads into
#                                      page-locked batches, resnet18, 1 epoch of 5,000; its data wait
#                                      share and speed into summary.txt
#                     ---
#                     520   (checked at the start: the script refuses to run if the budgets add up to more)
#
# LD_LIBRARY_PATH is set for ringtrain alone, by the wrapper $rt/bin/ringtrain-run that this
# script writes and passes everywhere (compare.py's --ringtrain too): python3 and its torch run
# with the environment unchanged. $OUT gets 8 files (the tool's limit), each copied as soon as
# its step ends, so that a later timeout cannot lose it: summary.txt (appended as it goes),
# fast.log, fast-history.json, fast-metrics.json, eager-history.json, graph-history.json,
# compare.json, compare-graph.json (compare.py rewrites its JSON after every measurement;
# "complete": false marks one cut short). The run folders (checkpoints of hundreds of MB) stay
# on that machine, in /dev/shm/ringtrain-gpu (or /tmp/ringtrain-gpu where /dev/shm is small).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
summary=$out/summary.txt
: > "$summary"
exec 3>&1  # say() writes to the script's stdout here, so that it is not doubled inside `| tee -a`
say() { echo "$*" >&3; echo "$*" >> "$summary"; }

# --- the budget: the table above, in the order the steps run
budget_s=520
steps=(bundle probe smi loads data fast fast-report eager graph agree compare compare-graph images)
declare -A budget=([bundle]=10 [probe]=15 [smi]=10 [loads]=25 [data]=45 [fast]=225 [fast-report]=5
                   [eager]=30 [graph]=30 [agree]=5 [compare]=50 [compare-graph]=50 [images]=20)
total=0
for s in "${steps[@]}"; do total=$((total + ${budget[$s]})); done
if ((total > budget_s)); then say "FAIL: the step budgets add up to ${total}s, over ${budget_s}s"; exit 2; fi
start=$SECONDS
deadline=0  # seconds after the start by which the current step must end
step=""
status=0
elapsed() { echo $((SECONDS - start)); }
left() { echo $((deadline - (SECONDS - start))); }
begin() {  # begin STEP: the next row of the table; its deadline is the sum of the rows so far
  step=$1
  deadline=$((deadline + ${budget[$1]}))
  say "[$(elapsed)s] $step: up to $(left)s (its deadline ${deadline}s)"
}
within() {  # within GRACE CMD ARGS..: CMD under `timeout` at the step's deadline; SIGKILL GRACE s after SIGTERM
  local grace=$1 s
  shift
  s=$(left)
  if ((s < 3)); then echo "[$(elapsed)s] $step: no time left" >&2; return 125; fi
  timeout -k "$grace" "$s" "$@"
}
finish() {  # finish RC: the step's verdict and the time left into summary.txt (RC 125: skipped)
  local verdict=ok
  case $1 in
    0) ;;
    124 | 137) verdict="TIMEOUT (deadline ${deadline}s)"; status=1 ;;
    125) verdict="SKIPPED (no time left, or no data)"; status=1 ;;
    *) verdict="FAIL (exit $1)"; status=1 ;;
  esac
  say "[$(elapsed)s] $step: $verdict; $((budget_s - $(elapsed)))s of ${budget_s}s left"
}

# --- set-up: unpack, find torch, write the ringtrain wrapper, check it loads, unpack the data.
# The program stays in /tmp ($rt; /dev/shm may be noexec); the 60,000 JPEGs and the run folders
# go to /dev/shm where it has room ($work): that machine runs under gVisor, where tens of
# thousands of small files on its disk are slow to write and to read back.
rt=/tmp/ringtrain-gpu
work=$rt
shm_free_kb=$(df -Pk /dev/shm 2> /dev/null | awk 'NR == 2 {print $4}')
if [ -w /dev/shm ] && ((${shm_free_kb:-0} > 4 * 1024 * 1024)); then work=/dev/shm/ringtrain-gpu; fi
runs=$work/runs
data=$work/data
archive=$root/.device/cifar10-jpeg.tar.zst
py=${PYTHON:-python3}
begin bundle
within 5 rm -rf "$rt/bin" "$rt/lib" "$runs" && mkdir -p "$rt" "$runs" \
  && within 5 tar -C "$rt" -xzf "$root/.device/ringtrain-bundle.tar.gz"
rc=$?
finish $rc
((rc == 0)) || { say "FAIL: no .device bundle (scripts/device_bundle.sh here, carry .device)"; exit 2; }

begin probe  # where torch's libraries are, without importing it (a cold import takes many seconds)
within 5 "$py" -c 'import importlib.metadata as m, importlib.util as u, os
print(os.path.join(u.find_spec("torch").submodule_search_locations[0], "lib")); print("torch", m.version("torch"))' \
  > "$rt/probe.out" 2> "$rt/probe.err"
rc=$?
finish $rc
if ((rc != 0)); then say "FAIL: $py has no torch: $(tail -3 "$rt/probe.err")"; exit 1; fi
torch_lib=$(head -1 "$rt/probe.out")
say "$(tail -1 "$rt/probe.out") in $py, libraries in $torch_lib; ringtrain's work folder $work"

begin smi
within 5 nvidia-smi -L 2>&1 | tee -a "$summary"
finish "${PIPESTATUS[0]}"

# The bundle's libraries first, then torch's and NVIDIA's (torch's wheel brings CUDA);
# no empty entry (it would mean the working directory).
site=$(dirname "$(dirname "$torch_lib")")
libpath=$rt/lib:$torch_lib
for d in "$site"/nvidia/*/lib "$site"/nvidia/*/*/lib; do [ -d "$d" ] && libpath+=:$d; done
ringtrain=$rt/bin/ringtrain-run
cat > "$ringtrain" << WRAPPER
#!/bin/sh
# Written by bench/gpu_check.sh: ringtrain with its libraries on the library path of ringtrain
# alone, so that python3 and its torch keep the environment as it is.
LD_LIBRARY_PATH='$libpath'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
exec '$rt/bin/ringtrain' "\$@"
WRAPPER
chmod +x "$ringtrain"

begin loads
within 5 "$ringtrain" models > /dev/null 2> "$rt/loads.err"
rc=$?
finish $rc
if ((rc != 0)); then
  say "FAIL: the bundled ringtrain does not load here: $(tail -3 "$rt/loads.err")"
  say "$(LD_LIBRARY_PATH=$libpath ldd "$rt/bin/ringtrain" | grep "not found")"
  exit 1
fi

begin data  # kept from an earlier call to a still-warm machine if it came from the same archive
stamp=$(sha256sum "$archive" 2> /dev/null | cut -d' ' -f1)
if [ -n "$stamp" ] && [ "$(cat "$data/.complete" 2> /dev/null)" = "$stamp" ]; then
  say "data: kept from an earlier call"
  rc=0
else
  # bin/zstd needs the bundle's libzstd: the library path for it alone as well
  # shellcheck disable=SC2016  # $1..$3 are the inner shell's arguments
  within 5 rm -rf "$data" && mkdir -p "$data" \
    && within 5 bash -o pipefail -c 'LD_LIBRARY_PATH=$1/lib "$1/bin/zstd" -dc "$2" | tar -x -C "$3"' _ \
      "$rt" "$archive" "$data" \
    && echo "$stamp" > "$data/.complete"
  rc=$?
fi
finish $rc
have_data=$((rc == 0))
say "data: $(find "$data" -name '*.jpg' | wc -l) images in $data"

# --- 1. the fast recipe, 10 epochs on the full data: with --cuda-graph, else eager
begin fast
if ((have_data)); then
  fast=(--data "$data" --recipe fast --device cuda --out "$runs/fast")
  echo "=== train ${fast[*]} --cuda-graph" > "$runs/fast.log"
  within 15 "$ringtrain" train "${fast[@]}" --cuda-graph >> "$runs/fast.log" 2>&1
  rc=$?
  if ((rc != 0 && rc != 124 && rc != 137)); then
    say "the fast recipe with --cuda-graph failed (exit $rc): $(grep -m1 -i 'error' "$runs/fast.log")"
    if (($(left) >= 60)); then
      say "  again without --cuda-graph, in the $(left)s left"
      rm -rf "$runs/fast"
      echo "=== train ${fast[*]} (eager, after the failure above)" >> "$runs/fast.log"
      within 15 "$ringtrain" train "${fast[@]}" >> "$runs/fast.log" 2>&1
      rc=$?
    else
      say "  no eager run: $(left)s left of its budget"
    fi
  fi
  cp "$runs/fast.log" "$out/fast.log"
  cp "$runs/fast/history.json" "$out/fast-history.json" 2> /dev/null
  cp "$runs/fast/metrics.json" "$out/fast-metrics.json" 2> /dev/null
  finish "$rc"
  ((rc == 0)) || tail -3 "$runs/fast.log" | sed 's/^/  /' | tee -a "$summary"
else
  finish 125
fi

begin fast-report  # the final metrics, or the epochs in the history of a run cut short
within 2 "$py" - "$runs/fast/metrics.json" "$runs/fast/history.json" << 'PY' 2>&1 | tee -a "$summary"
import json, os, sys
metrics, history = sys.argv[1:3]
if os.path.exists(metrics):
    m = json.load(open(metrics))
    print(f"fast recipe: final test accuracy {m['test_accuracy']:.4f} (best {m['best_test_accuracy']:.4f}), "
          f"{m['train_seconds']:.1f} s of training ({m['total_seconds']:.1f} s with evaluation), "
          f"{m['train_images_per_second']:.0f} img/s")
elif os.path.exists(history):
    h = json.load(open(history))
    print(f"fast recipe cut short after {len(h)} epochs: " + "; ".join(
        f"epoch {e['epoch']} test acc {e['test_accuracy']:.4f} {e['images_per_second']:.0f} img/s" for e in h))
else:
    sys.exit("fast recipe: no metrics.json or history.json")
PY
finish "${PIPESTATUS[0]}"

# --- 2. CUDA graph against eager: same seed, same data order, same augmentation
small=(--data "$data" --model resnet20 --epochs 2 --limit-train 5000 --limit-test 1000 --batch-size 250
       --lr 0.1 --amp none --device cuda --seed 3)
for mode in eager graph; do
  begin $mode
  if ((have_data)); then
    flags=()
    [ $mode = graph ] && flags=(--cuda-graph)
    within 10 "$ringtrain" train "${small[@]}" "${flags[@]}" --out "$runs/$mode" > "$runs/$mode.log" 2>&1
    rc=$?
    cp "$runs/$mode/history.json" "$out/$mode-history.json" 2> /dev/null
    finish $rc
    ((rc == 0)) || tail -3 "$runs/$mode.log" | sed 's/^/  /' | tee -a "$summary"
  else
    finish 125
  fi
done
begin agree
within 2 "$py" - "$runs/eager/history.json" "$runs/graph/history.json" << 'PY' 2>&1 | tee -a "$summary"
import json, sys
eager, graph = (json.load(open(p)) for p in sys.argv[1:3])
worst = 0.0
for e, g in zip(eager, graph):
    print(f"epoch {e['epoch']}: train loss eager {e['train_loss']:.4f} graph {g['train_loss']:.4f}; "
          f"test acc eager {e['test_accuracy']:.4f} graph {g['test_accuracy']:.4f}; "
          f"img/s eager {e['images_per_second']:.0f} graph {g['images_per_second']:.0f}")
    worst = max(worst, abs(e["train_loss"] - g["train_loss"]) / e["train_loss"])
ok = len(eager) == len(graph) == 2 and worst < 0.02
print(("ok" if ok else "FAIL") + f": --cuda-graph against eager, worst relative train-loss difference {worst:.4f}")
sys.exit(0 if ok else 1)
PY
finish "${PIPESTATUS[0]}"

# --- 3. against Python PyTorch on this GPU, one round each (every process starts cold:
#        CUDA, cuDNN's search for every convolution); the JSON grows as sides finish
for name in compare compare-graph; do
  begin $name
  flags=()
  [ $name = compare-graph ] && flags=(--cuda-graph)
  within 5 "$py" -u "$root/bench/compare.py" --ringtrain "$ringtrain" --python "$py" --device cuda \
    --models resnet50 --configs bf16-cl --batch-size 512 --threads 0 --rounds 1 --warmup 5 --reps 3 --steps 10 \
    --modes train,forward "${flags[@]}" --json "$runs/$name.json" 2>&1 | tee -a "$summary"
  rc=${PIPESTATUS[0]}
  cp "$runs/$name.json" "$out/$name.json" 2> /dev/null
  finish "$rc"
done

# --- 4. image files on CUDA: the loader's threads, page-locked batches, non-blocking copies
begin images
if ((have_data)); then
  within 5 "$ringtrain" train --data "$data" --image-size 64 --model resnet18 --epochs 1 --limit-train 5000 \
    --limit-test 1000 --batch-size 250 --loader-threads 8 --amp bf16 --device cuda --seed 3 --out "$runs/images" \
    > "$runs/images.log" 2>&1
  rc=$?
  within 2 "$py" - "$runs/images/metrics.json" << 'PY' 2>&1 | tee -a "$summary"
import json, sys
m = json.load(open(sys.argv[1]))
print(f"image files at 64 px on CUDA: {m['train_images_per_second']:.0f} img/s, "
      f"{100 * m['data_wait_share']:.1f}% of training waiting for data, test accuracy {m['test_accuracy']:.4f}")
PY
  finish "$rc"
  ((rc == 0)) || tail -3 "$runs/images.log" | sed 's/^/  /' | tee -a "$summary"
else
  finish 125
fi

say "all done at $(elapsed)s of ${budget_s}s, status $status"
exit $status
