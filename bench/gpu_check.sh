#!/usr/bin/env bash
# Issue 5's GPU checks in one script, for a GPU machine lent by this workplace's `device` tool
# (one H200; torch 2.11 cu130 in its python3; no network; none of ringtrain's Debian packages):
#   here:  scripts/setup.sh && scripts/device_bundle.sh       # binary, libraries, CIFAR-10 -> .device/
#   there: run(command="bash bench/gpu_check.sh", carry=[".device"], timeout_s=570)
# The tool stops a command after ~570 s, so the checks run most valuable first, and every
# command runs under `timeout` with its step's deadline (seconds after the start): a step gets
# its own budget plus whatever the steps before it left unused, so the script ends by 520 s
# however a step hangs (and at most 10 s later, the last step's grace between SIGTERM and SIGKILL).
#
#   step           budget  ends by  what                                     (first run, 2026-12-04)
#   bundle             10      10   untar bin/ringtrain, bin/zstd, lib/ into /tmp/ringtrain-gpu
#   probe              15      25   python3 says where torch's lib/ is and its version (no import)
#   smi                10      35   nvidia-smi -L
#   loads              25      60   `ringtrain-run models`: the binary loads with the bundle's, torch's
#                                   and NVIDIA's libraries
#   data               45     105   zstd -dc | tar -x: the real CIFAR-10, 60,000 JPEGs, into /dev/shm
#                                   (kept there from an earlier call to a still-warm machine)
#   fast              120     225   1. train --recipe fast --cuda-graph: resnet50, 10 epochs on the full
#                                      data; if that fails (not a timeout), again without --cuda-graph in
#                                      what is left of its window, when that is at least 60 s     (63 s)
#   fast-report         5     230      its final accuracy and speed into summary.txt
#   eager              20     250   2. resnet20, seed 3, 2 epochs of 5,000 real images, fp32, eager (9 s)
#   graph              20     270      the same with --cuda-graph                                    (6 s)
#   agree               5     275      per-epoch train losses agree to 2% (cuDNN is not bitwise deterministic)
#   compare            50     325   3. bench/compare.py --rounds 1: ringtrain against Python PyTorch,
#                                      resnet50, batch 512, bf16 + channels_last, train and forward, eager
#   compare-graph      50     375      the same with --cuda-graph on both sides
#   images             20     395   4. the image-file path on CUDA (issue 15): the CIFAR JPEGs streamed
#                                      from their files at --image-size 64 by 8 loader threads into
#                                      page-locked batches, resnet18, 1 epoch of 5,000 (lr 0.02: the
#                                      default 0.1 per 128 diverges in 20 steps from scratch); data wait
#                                      share and speed into summary.txt                            (4 s)
#   airbench          125     520   5. --recipe airbench94 against bench/airbench_reference.py --device
#                                      cuda (bf16, 490 steps each), and ringtrain's with --cuda-graph, for
#                                      seeds 0 and 1 (GPU_CHECK_SEEDS), alternating; accuracy with TTA,
#                                      training and wall seconds, epoch seconds into airbench.json (71 s)
#   variants            0     520   6. asked for alone (not in the default list), in the time the steps
#                                      not asked for pass on: where airbench94's time goes on this GPU,
#                                      4 epochs of ringtrain's recipe as it is and with one part off
#                                      (lookahead, augmentation, bf16, label smoothing, cuDNN's search;
#                                      --cuda-graph),
#                                      `bench` of its step alone, and the reference with and without
#                                      cuDNN's benchmark mode; per-epoch seconds into variants.json
#   kernels             0     520   7. asked for alone: airbench94's training step kernel by kernel, ringtrain
#                                      (`bench --mode train`) against bench/airbench_step.py, each under
#                                      Nsight Compute (one metric: gpu__time_duration); the last step's
#                                      kernels into kernels.txt, the raw CSVs as kernels-*.csv; and both
#                                      steps timed without the profiler
#                     ---
#                     520   (checked at the start: the script refuses to run if the budgets add up to more)
#
# GPU_CHECK_STEPS="fast graph compare images airbench" (the default) runs some of the checks
# 1-6 alone (graph: eager, graph and agree); the set-up always runs, and a step not asked for
# passes its budget on to the next, as a step that ends early does.
#
# LD_LIBRARY_PATH is set for ringtrain alone, by the wrapper $rt/bin/ringtrain-run that this
# script writes and passes everywhere (compare.py's --ringtrain too): python3 and its torch run
# with the environment unchanged. $OUT gets 8 files (the tool's limit), each copied as soon as
# its step ends, so that a later timeout cannot lose it: summary.txt (appended as it goes),
# fast.log, fast-history.json, fast-metrics.json, airbench.json, images-metrics.json,
# compare.json, compare-graph.json (the eager and graph runs' epochs are in summary.txt;
# compare.py rewrites its JSON after every measurement; "complete": false marks one cut short). The run folders (checkpoints of hundreds of MB) stay
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
steps=(bundle probe smi loads data fast fast-report eager graph agree compare compare-graph images airbench variants kernels)
declare -A budget=([bundle]=10 [probe]=15 [smi]=10 [loads]=25 [data]=45 [fast]=120 [fast-report]=5
                   [eager]=20 [graph]=20 [agree]=5 [compare]=50 [compare-graph]=50 [images]=20 [airbench]=125
                   [variants]=0 [kernels]=0)
declare -A group=([fast]=fast [fast-report]=fast [eager]=graph [graph]=graph [agree]=graph [compare]=compare
                  [compare-graph]=compare [images]=images [airbench]=airbench [variants]=variants [kernels]=kernels)
wanted_steps=" ${GPU_CHECK_STEPS:-fast graph compare images airbench} "
wanted_steps=${wanted_steps//,/ }
for g in $wanted_steps; do
  case $g in
    fast | graph | compare | images | airbench | variants | kernels) ;;
    *) say "FAIL: GPU_CHECK_STEPS names '$g'; the checks are fast graph compare images airbench variants kernels"
       exit 2 ;;
  esac
done
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
  skip=0
  local g=${group[$1]:-}
  if [ -n "$g" ] && [[ $wanted_steps != *" $g "* ]]; then skip=1; return; fi
  say "[$(elapsed)s] $step: up to $(left)s (its deadline ${deadline}s)"
}
skip=0
within() {  # within GRACE CMD ARGS..: CMD under `timeout` at the step's deadline; SIGKILL GRACE s after SIGTERM
  local grace=$1 s
  shift
  ((skip)) && return 126  # a step not asked for (GPU_CHECK_STEPS) runs nothing; finish() says nothing
  s=$(left)
  if ((s < 3)); then echo "[$(elapsed)s] $step: no time left" >&2; return 125; fi
  timeout -k "$grace" "$s" "$@"
}
finish() {  # finish RC: the step's verdict and the time left into summary.txt (RC 125: skipped)
  local verdict=ok
  ((skip)) && return  # not asked for: nothing to say
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
# go to /dev/shm where it has room ($work): that machine may run under gVisor, where tens of
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
  if ((!skip && rc != 0 && rc != 124 && rc != 137)); then
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
  ((rc == 0 || skip)) || tail -3 "$runs/fast.log" | sed 's/^/  /' | tee -a "$summary"
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
    finish $rc
    ((rc == 0 || skip)) || tail -3 "$runs/$mode.log" | sed 's/^/  /' | tee -a "$summary"
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
    --limit-test 1000 --batch-size 250 --lr 0.02 --loader-threads 8 --amp bf16 --device cuda --seed 3 --out "$runs/images" \
    > "$runs/images.log" 2>&1
  rc=$?
  within 2 "$py" - "$runs/images/metrics.json" << 'PY' 2>&1 | tee -a "$summary"
import json, sys
m = json.load(open(sys.argv[1]))
print(f"image files at 64 px on CUDA: {m['train_images_per_second']:.0f} img/s, "
      f"{100 * m['data_wait_share']:.1f}% of training waiting for data, test accuracy {m['test_accuracy']:.4f}")
PY
  cp "$runs/images/metrics.json" "$out/images-metrics.json" 2> /dev/null
  finish "$rc"
  ((rc == 0 || skip)) || tail -3 "$runs/images.log" | sed 's/^/  /' | tee -a "$summary"
else
  finish 125
fi

# --- 5. airbench94 against its Python reference on this GPU: the same 490 steps of batch 1024
#        (the reference drops a last partial batch, so it runs 10.2 epochs), bf16, seeds 0 and 1
begin airbench
if ((have_data)); then
  rc=0
  for seed in ${GPU_CHECK_SEEDS:-0 1}; do
    for side in rt py rtgraph; do
      t0=$EPOCHREALTIME
      case $side in
        rt | rtgraph)
          flags=()
          [ $side = rtgraph ] && flags=(--cuda-graph)
          within 5 "$ringtrain" train --data "$data" --recipe airbench94 --device cuda --seed "$seed" "${flags[@]}" \
            --out "$runs/airbench-$side-$seed" > "$runs/airbench-$side-$seed.log" 2>&1 ;;
        py)
          within 5 "$py" "$root/bench/airbench_reference.py" --data "$data" --device cuda --precision bf16 \
            --epochs 10.2 --seed "$seed" --json "$runs/airbench-py-$seed.json" > "$runs/airbench-py-$seed.log" 2>&1 ;;
      esac
      rc=$?
      ((rc == 0)) || break 2
      echo "$t0 $EPOCHREALTIME" > "$runs/airbench-$side-$seed.wall"
    done
  done
  ((rc == 0 || skip)) || tail -3 "$runs"/airbench-*.log | sed 's/^/  /' | tee -a "$summary"
  ((skip)) || within 2 "$py" - "$runs" "$out/airbench.json" << 'PY' 2>&1 | tee -a "$summary"
import json, os, sys
runs, out = sys.argv[1:3]
def wall(run):  # seconds from the start to the end of a run, as the script timed it from outside
    start, end = map(float, open(os.path.join(runs, run + ".wall")).read().split())
    return end - start

rows = []
seeds = sorted({int(f.split("-")[-1].split(".")[0]) for f in os.listdir(runs) if f.startswith("airbench-")})
for seed in seeds:
    for side in ("rt", "py", "rtgraph"):  # the order they ran in
        run = f"airbench-{side}-{seed}"
        if side == "py" and os.path.exists(os.path.join(runs, run + ".json")):
            r = json.load(open(os.path.join(runs, run + ".json")))
            rows.append({"program": "python", "seed": seed, "test_accuracy_tta": r["test_accuracy_tta"],
                         "test_accuracy": r["test_accuracy"], "train_seconds": r["train_seconds"],
                         "total_seconds": r["train_seconds"] + r["eval_seconds"], "wall_seconds": wall(run),
                         "epoch_seconds": r["epoch_seconds"]})
        elif side != "py" and os.path.exists(os.path.join(runs, run, "metrics.json")):
            m = json.load(open(os.path.join(runs, run, "metrics.json")))
            history = json.load(open(os.path.join(runs, run, "history.json")))
            rows.append({"program": "ringtrain" + (" --cuda-graph" if side == "rtgraph" else ""), "seed": seed,
                         "test_accuracy_tta": m["test_accuracy"], "test_accuracy": m["test_accuracy_without_tta"],
                         "train_seconds": m["train_seconds"], "total_seconds": m["total_seconds"],
                         "wall_seconds": wall(run), "epoch_seconds": [e["train_seconds"] for e in history]})
json.dump(rows, open(out, "w"), indent=1)
for r in rows:
    print(f"airbench94 {r['program']:<22} seed {r['seed']}: {100 * r['test_accuracy_tta']:.2f}% with TTA "
          f"({100 * r['test_accuracy']:.2f}% without), training {r['train_seconds']:.2f} s, "
          f"with evaluation {r['total_seconds']:.2f} s, wall {r['wall_seconds']:.1f} s")
PY
  finish "$rc"
else
  finish 125
fi

# --- 6. where airbench94's time goes: one part off at a time, 4 epochs each (epoch 1 holds cuDNN's
#        search for every new shape; epochs 2-4 are the steady state)
begin variants
if ((have_data)); then
  rc=0
  variants=("recipe:" "no-lookahead:--ema-every 0" "no-augment:--augment false" "fp32:--amp none"
            "no-smoothing:--label-smoothing 0" "cuda-graph:--cuda-graph" "no-cudnn-search:--cudnn-benchmark false"
            "recipe-again:")
  for v in "${variants[@]}"; do
    name=${v%%:*}
    read -ra extra <<< "${v#*:}"
    within 5 "$ringtrain" train --data "$data" --recipe airbench94 --device cuda --seed 0 --epochs 4 "${extra[@]}" \
      --out "$runs/variant-$name" > "$runs/variant-$name.log" 2>&1 \
      || { rc=$?; tail -2 "$runs/variant-$name.log" | sed "s/^/  $name: /" | tee -a "$summary"; }
    ((rc == 124 || rc == 137 || rc == 125)) && break
  done
  within 5 "$ringtrain" bench --model airbench94 --device cuda --batch-size 1024 --amp bf16 --channels-last true \
    --mode train,forward --warmup 5 --reps 3 --steps 20 --json > "$runs/variant-bench.json" 2> "$runs/variant-bench.err" \
    || { rc=$?; tail -2 "$runs/variant-bench.err" | tee -a "$summary"; }
  for bm in off on; do
    flags=()
    [ $bm = on ] && flags=(--cudnn-benchmark)
    within 5 "$py" "$root/bench/airbench_reference.py" --data "$data" --device cuda --precision bf16 --epochs 4 \
      --seed 0 "${flags[@]}" --json "$runs/variant-python-benchmark-$bm.json" > "$runs/variant-python-$bm.log" 2>&1 \
      || { rc=$?; tail -2 "$runs/variant-python-$bm.log" | tee -a "$summary"; }
  done
  ((skip)) || within 2 "$py" - "$runs" "$out/variants.json" << 'PY' 2>&1 | tee -a "$summary"
import glob, json, os, sys
runs, out = sys.argv[1:3]
rows = {}
for d in sorted(glob.glob(os.path.join(runs, "variant-*"))):
    name = os.path.basename(d)[len("variant-"):]
    if os.path.isdir(d) and os.path.exists(os.path.join(d, "history.json")):
        rows[name] = [e["train_seconds"] for e in json.load(open(os.path.join(d, "history.json")))]
    elif name.startswith("python") and name.endswith(".json"):
        rows[name[:-5]] = json.load(open(d))["epoch_seconds"]
bench = os.path.join(runs, "variant-bench.json")
result = {"epoch_train_seconds": rows, "bench": json.load(open(bench)) if os.path.getsize(bench) else None}
json.dump(result, open(out, "w"), indent=1)
for name, secs in rows.items():
    steady = secs[1:4]
    print(f"variant {name:<24} epoch 1 {secs[0]:.2f} s, epochs 2-4 {' '.join(f'{s:.3f}' for s in steady)} "
          f"(mean {sum(steady) / max(1, len(steady)):.3f} s)")
for r in (result["bench"] or {}).get("results", []):
    rate = r["images_per_second"]["median"]
    print(f"bench airbench94 {r['mode']}, batch 1024, bf16, channels_last: {rate:.0f} img/s "
          f"({50000 / rate:.3f} s per 50,000 images)")
PY
  finish "$rc"
else
  finish 125
fi

# --- 7. airbench94's step kernel by kernel, under Nsight Compute, then timed without it
begin kernels
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2> /dev/null | head -1)
if ((skip)); then
  finish 126
elif [ -z "$ncu" ]; then
  say "kernels: no ncu on this machine"
  finish 125
else
  rc=0
  step_rt=("$ringtrain" bench --model airbench94 --device cuda --batch-size 1024 --amp bf16 --channels-last true
           --mode train --json)
  step_py=("$py" "$root/bench/airbench_step.py" --device cuda --batch-size 1024)
  for side in rt py; do
    if [ $side = rt ]; then cmd=("${step_rt[@]}" --warmup 5 --reps 1 --steps 2); else cmd=("${step_py[@]}" --warmup 5 --steps 2); fi
    within 10 "$ncu" --clock-control none --cache-control none --target-processes all --metrics gpu__time_duration.sum \
      --csv --log-file "$runs/kernels-$side.csv" "${cmd[@]}" > "$runs/kernels-$side.log" 2>&1 \
      || { rc=$?; tail -3 "$runs/kernels-$side.log" | sed "s/^/  $side: /" | tee -a "$summary"; }
    cp "$runs/kernels-$side.csv" "$out/kernels-$side.csv" 2> /dev/null
  done
  within 5 "${step_rt[@]}" --warmup 10 --reps 3 --steps 50 > "$runs/kernels-rt-timed.json" 2>&1 || rc=$?
  within 5 "${step_py[@]}" --warmup 10 --steps 150 2>&1 | tee -a "$summary"
  st=${PIPESTATUS[0]}
  ((st == 0)) || rc=$st
  within 2 "$py" - "$runs" "$out/kernels.txt" << 'PY' 2>&1 | tee -a "$summary"
import collections, csv, json, os, re, sys
runs, out = sys.argv[1:3]
lines = []
def say(s=""):
    lines.append(s)

def last_step(path):
    """The kernels of the last optimiser step: after the previous step's fused SGD, to the last one's."""
    rows = [r for r in csv.reader(l for l in open(path) if l.startswith('"'))]
    head, rows = rows[0], rows[1:]
    name_col = head.index("Kernel Name") if "Kernel Name" in head else head.index("Function Name")
    value_col = head.index("Metric Value")
    unit_col = head.index("Metric Unit")
    kernels = []
    for r in rows:
        scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}.get(r[unit_col], 1.0)
        kernels.append((r[name_col], float(r[value_col].replace(",", "")) * scale))
    sgd = [i for i, (n, _) in enumerate(kernels) if "FusedSgd" in n or "fused_sgd" in n.lower()]
    if not sgd:
        return kernels[-300:], len(kernels), "no fused SGD kernel found: the last 300 kernels"
    groups = []  # runs of SGD kernels (a step's parameter groups may have a few kernels between them)
    for i in sgd:
        if groups and i <= groups[-1][-1] + 5:
            groups[-1].append(i)
        else:
            groups.append([i])
    end = groups[-1][-1] + 1
    begin = groups[-2][-1] + 1 if len(groups) > 1 else 0
    return kernels[begin:end], len(kernels), f"kernels {begin}-{end - 1} of {len(kernels)}"

def short(name):
    name = re.sub(r"\(.*", "", name)  # drop argument lists
    return name[:90]

steps = {}
for side in ("rt", "py"):
    path = os.path.join(runs, f"kernels-{side}.csv")
    if not os.path.exists(path):
        say(f"{side}: no CSV")
        continue
    kernels, total, where = last_step(path)
    steps[side] = kernels
    say(f"{side}: {len(kernels)} kernels in the last step ({where}), {sum(t for _, t in kernels):.0f} us of GPU time")
for side, kernels in steps.items():
    by = collections.OrderedDict()
    for n, t in kernels:
        c, s = by.get(short(n), (0, 0.0))
        by[short(n)] = (c + 1, s + t)
    say(f"\n{side}: kernels by name, most time first")
    for n, (c, s) in sorted(by.items(), key=lambda kv: -kv[1][1]):
        say(f"  {s:9.1f} us  {c:4d}x  {n}")
    say(f"\n{side}: the step in launch order")
    for n, t in kernels:
        say(f"  {t:8.1f} us  {short(n)}")
timed = os.path.join(runs, "kernels-rt-timed.json")
try:
    r = json.load(open(timed))["results"][0]["images_per_second"]["median"]
    say(f"\nringtrain bench airbench94 train, batch 1024, without the profiler: {r:.0f} img/s, {1024e3 / r:.2f} ms a step")
except Exception as e:
    say(f"ringtrain timed: {e}")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(l for l in lines if not l.startswith("  ") or "x  " in l)[:6000])
PY
  finish "$rc"
fi

say "all done at $(elapsed)s of ${budget_s}s, status $status"
exit $status
