#!/usr/bin/env bash
# `ringtrain bench` and `ringtrain scale` on tiny settings: the JSON they write has the
# promised fields and sane values (positive rates, busbw = algbw x 2(n-1)/n, speedup and
# efficiency of the 1-worker row exactly 1, a validation row per world size); bad flags exit 2.
# Usage: bench_scale.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/bench_scale
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 64 20
fail=0
check() {  # check NAME PYTHON_EXPR_ON_j FILE
  if python3 -c "import json,sys; j=json.load(open('$3')); sys.exit(0 if ($2) else 1)"; then echo "ok: $1"
  else echo "FAIL: $1"; head -c 2000 "$3"; fail=1; fi
}
expect_exit2() {  # expect_exit2 DESCRIPTION ARGS...
  local what=$1; shift
  "$bin" "$@" > "$work/err.out" 2> "$work/err.txt"; local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l < "$work/err.txt")" -ge 1 ]; then echo "ok: $what -> $(tail -1 "$work/err.txt")"
  else echo "FAIL: $what: exit $rc"; cat "$work/err.txt"; fail=1; fi
}

echo "== bench: train, forward, data"
"$bin" bench --model resnet20 --batch-size 8 --threads 1 --warmup 1 --reps 2 --steps 1 --data-images 256 --json > "$work/bench.json" || fail=1
check "three modes, positive medians, per-rep rates" \
  "[r['mode'] for r in j['results']] == ['train','forward','data'] and all(r['images_per_second']['median'] > 0 and len(r['images_per_second']['reps']) == 2 for r in j['results']) and j['param_count'] == 269722" "$work/bench.json"

echo "== bench: bf16 autocast, channels_last"
"$bin" bench --model resnet20 --batch-size 4 --threads 1 --warmup 1 --reps 1 --steps 1 --amp bf16 --channels-last true --mode train --json > "$work/bf16.json" || fail=1
check "bf16 + channels_last recorded" "j['amp'] == 'bf16' and j['channels_last'] and j['results'][0]['images_per_second']['median'] > 0" "$work/bf16.json"

echo "== bench --mode compress"
"$bin" bench --mode compress --model resnet20 --grad-compression none,bf16,powersgd:2 --threads 1 --warmup 1 --reps 2 --steps 1 --json > "$work/compress.json" || fail=1
check "each compressor timed, PowerSGD's products and QR slower than a plain division" \
  "[r['compression'] for r in j['results']] == ['none', 'bf16', 'powersgd:2'] and all(r['seconds_per_step'] > 0 for r in j['results']) and j['results'][2]['seconds_per_step'] > j['results'][0]['seconds_per_step']" "$work/compress.json"
expect_exit2 "compress mode without compressors" bench --mode compress

echo "== bench --mode timing"
# resnet20 has 59 parameter tensors: the stem conv and its BatchNorm (3), 9 blocks of 2 convs and 2 BatchNorms (54), fc (2).
"$bin" bench --mode timing --model resnet20 --batch-size 16 --threads 1 --warmup 1 --reps 1 --steps 2 --json > "$work/timing.json" || fail=1
check "a readiness per parameter in [0, 1]; the classifier's gradients before the stem's, backward most of the step" \
  "len(j['results'][0]['ready']) == 59 and all(0 <= r <= 1 for r in j['results'][0]['ready']) and j['results'][0]['ready'][-1] < j['results'][0]['ready'][0] and 0.4 < j['results'][0]['backward_share'] < 0.95" "$work/timing.json"

echo "== bench --allreduce over 2 ranks"
"$bin" bench --allreduce --nproc 2 --max-size 64K --iters 3 --warmup 1 --json > "$work/allreduce.json" || fail=1
check "sizes 4K..64K, busbw = algbw for n = 2" \
  "[r['bytes'] for r in j['rows']] == [4096, 16384, 65536] and j['world_size'] == 2 and all(r['seconds'] > 0 and abs(r['busbw_gbs'] - r['algbw_gbs']) < 1e-12 and abs(r['algbw_gbs'] - r['bytes'] / r['seconds'] / 1e9) < 1e-9 for r in j['rows'])" "$work/allreduce.json"

echo "== forecast: the step-time model from given measurements"
# resnet20: 269,722 float32 gradients in one bucket (1,078,888 bytes), so nothing overlaps. Over 2
# workers: ring = 2 x 100 us + 1,078,888 B / 125 MB/s = 8.831 ms, all exposed; compute 32 / 50 =
# 640 ms; 64 images / 648.831 ms = 98.64 img/s.
# Every gradient ready at the end of backward (a gradient timing written by hand).
"$bin" forecast --model resnet20 --batch-size 32 --nproc 1,2 --compute-img-per-s 50 --link-gbps 1 --threads 1 \
  --json > "$work/predict_measured.json" || fail=1
"$src/.venv/bin/python" -c "
import json, sys
j = json.load(open(sys.argv[1]))
j['gradient_timing']['ready'] = [1.0] * len(j['gradient_timing']['ready'])
json.dump(j, open(sys.argv[2], 'w'))" "$work/predict_measured.json" "$work/timing_by_hand.json" || fail=1
"$bin" forecast --model resnet20 --batch-size 32 --nproc 1,2 --compute-img-per-s 50 --link-gbps 1 \
  --link-latency-us 100 --gradient-timing "$work/timing_by_hand.json" --json > "$work/predict.json" || fail=1
check "predicted by hand" \
  "abs(j['rows'][1]['exposed_seconds'] - 0.0088311) < 1e-6 and abs(j['rows'][1]['images_per_second'] - 98.640) < 0.01 and abs(j['rows'][0]['images_per_second'] - 50) < 1e-9 and j['buckets'] == 1" "$work/predict.json"
"$bin" forecast --model resnet20 --batch-size 32 --compute-img-per-s 50 --allreduce "$work/allreduce.json" \
  --grad-compression powersgd:2 --threads 1 --json > "$work/predict2.json" || fail=1
check "predicted over a fitted link with PowerSGD, its compute measured" \
  "j['link']['beta_bytes_per_second'] > 0 and j['compress_seconds'] > 0 and j['compression'] == 'powersgd:2'" "$work/predict2.json"
expect_exit2 "forecast without a link" forecast --model resnet20 --compute-img-per-s 50

echo "== scale --nproc 1,2 (strong)"
"$bin" scale --nproc 1,2 --batch-size 16 --rounds 2 --out "$work/scale" --project-to 1,2,4,16 --links fitted,ib \
  -- --data "$work/data" --model resnet20 --epochs 1 --limit-test 20 --log-every 100 > "$work/scale.log" 2>&1 || { tail -20 "$work/scale.log"; fail=1; }
check "two alternating rounds: per-round rates, the 1-worker speedup exactly 1, the median within the range" \
  "j['rounds'] == 2 and all(len(m['round_images_per_second']) == 2 for m in j['measured']) and j['measured'][0]['speedup_min'] == j['measured'][0]['speedup_max'] == 1 and j['measured'][1]['speedup_min'] <= j['measured'][1]['speedup'] <= j['measured'][1]['speedup_max'] and min(j['measured'][1]['round_images_per_second']) <= j['measured'][1]['images_per_second'] <= max(j['measured'][1]['round_images_per_second'])" "$work/scale/scale.json"
check "projected rows flagged: 1 image per worker is extrapolated and too few for BatchNorm, 16 is neither" \
  "any(f.startswith('extrapolated') for f in j['projection'][1]['rows'][3]['flags']) and any(f.startswith('BatchNorm over 1 images') for f in j['projection'][1]['rows'][3]['flags']) and not [f for f in j['projection'][1]['rows'][0]['flags'] if not f.startswith('super')]" "$work/scale/scale.json"
[ -e "$work/scale/n1/round2/history.json" ] && [ -e "$work/scale/n2/round1/history.json" ] || { echo "FAIL: runs not in n<N>/round<K>"; fail=1; }
check "measured rows, validation, projection" \
  "[m['workers'] for m in j['measured']] == [1, 2] and [m['batch_per_worker'] for m in j['measured']] == [16, 8] and j['measured'][0]['speedup'] == 1 and j['measured'][1]['speedup'] > 0 and abs(j['measured'][1]['efficiency'] - j['measured'][1]['speedup'] / 2) < 1e-12 and len(j['validation']) == 2 and [p['link'] for p in j['projection']] == ['fitted', 'ib'] and [r['workers'] for r in j['projection'][1]['rows']] == [1, 2, 4, 16] and j['link_fit']['beta_bytes_per_second'] > 0" "$work/scale/scale.json"
py=$src/.venv/bin/python  # the project's venv (scripts/setup.sh), with torch and PIL
if [ -x "$py" ]; then  # the speedup and efficiency figures, checked by their pixels
  "$py" "$src/tests/integration/check_reports.py" scaling "$work/scale/scaling_speedup.png" \
    "$work/scale/scaling_efficiency.png" || fail=1
fi
grep -q "## Validation" "$work/scale/scale.md" && echo "ok: scale.md" || { echo "FAIL: no scale.md"; fail=1; }

echo "== bench/compare.py: the same work in Python PyTorch (its flags reach pytorch_reference.py)"
if [ -x "$py" ]; then
  "$py" "$src/bench/compare.py" --ringtrain "$bin" --python "$py" --models resnet18 --configs fp32,fp32-cl \
    --batch-size 4 --threads 1 --rounds 1 --warmup 0 --reps 1 --steps 1 --modes train,forward \
    --json "$work/compare.json" > "$work/compare.out" 2>&1 || { fail=1; tail -5 "$work/compare.out"; }
  check "compare.py: 4 rows, both sides measured" \
    "j['complete'] and len(j['rows']) == 4 and all(r['ringtrain'] > 0 and r['pytorch'] > 0 for r in j['rows'])" \
    "$work/compare.json"
  "$py" "$src/bench/airbench_step.py" --device cpu --batch-size 8 --warmup 1 --steps 1 > "$work/step.out" 2>&1 \
    && grep -q "img/s" "$work/step.out" && echo "ok: airbench_step.py" || { echo "FAIL: airbench_step.py"; cat "$work/step.out"; fail=1; }
else
  echo "skipped: no $py (scripts/setup.sh makes it)"
fi

echo "== bad flags"
expect_exit2 "unknown bench mode" bench --mode warp
expect_exit2 "allreduce without ranks" bench --allreduce
expect_exit2 "bad size" bench --allreduce --nproc 2 --max-size lots
expect_exit2 "bad --amp" bench --amp fp8 --mode train
expect_exit2 "scale without 1 first" scale --nproc 2,4 -- --data "$work/data"
expect_exit2 "strong batch not divisible" scale --nproc 1,3 --batch-size 16 -- --data "$work/data"
expect_exit2 "a flag scale sets" scale --nproc 1,2 -- --data "$work/data" --batch-size 8
expect_exit2 "unknown link" scale --links carrier-pigeon -- --data "$work/data"
expect_exit2 "bad --amp for train" train --data "$work/data" --amp fp8

[ $fail -eq 0 ] && echo PASS
exit $fail
