#!/usr/bin/env bash
# Data-parallel training is the training of one process with the global batch (CPU, Gloo, real
# processes). Weights are compared tensor by tensor after `export` (compare_weights.py):
#  a. 2 workers x --batch-size B --sync-bn end with the weights of 1 worker x --batch-size 2B;
#  b. the same with --grad-accum 2 on both sides (each micro-batch's SyncBN group, the union
#     over ranks, is the single process's micro-batch);
#  c. without --sync-bn the 2 workers differ from it by far more than the tolerance (each
#     rank normalises its own B images), so a and b can fail; each pair records the same
#     global batch and scaled lr;
#  d. the 2 replicas of the run without --sync-bn end with the same weights
#     (metrics.json "replica_fingerprints", one per rank, and "weights_fingerprint");
#  e. that run's final evaluation (2 ranks, a shard each, counts summed) equals `ringtrain eval`
#     of its checkpoint in one process: same confusion matrix and accuracy, loss to 1e-6.
# Why a and b hold: the sampler draws one seeded permutation per epoch and strides it over the
# ranks, so with 2B dividing the data a step's 2 x B images are the single process's 2B;
# augmentation depends only on (seed, epoch, sample); the lr is scaled by the global batch;
# gradients are averaged over ranks. Only the summation order differs (fp32: --amp none).
# Usage: equivalence.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/equivalence
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
# A launcher's environment left in ours would make the 1-worker runs join a group.
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
# 5 x 64 = 320 training images: 2B = 64 divides them (no padding, no short last batch).
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 64 100
fail=0
. "$src/tests/integration/step.sh"
B=32
limit_test=60
# A small --lr: this network on random images is ill-conditioned in float32 (one step differs
# from float64 by ~0.5% of the update, in a single process as well) and every step amplifies
# such noise, faster the larger the lr; 2 epochs x 5 steps keep it near 1% of the update.
common=(train --data "$work/data" --model resnet20 --epochs 2 --limit-test "$limit_test" --threads 1
        --seed 1 --timeout 60 --amp none)
lr=0.002
# Tolerances (compare_weights.py): parameters relative to how far training moved them, BatchNorm
# running statistics relative to their scale. Measured over seeds 1-3 for a and b: parameters
# 4.5e-3 - 1.8e-2, buffers 3e-6 - 1.2e-5; without --sync-bn (c) 0.47 - 0.83 and 1.6e-2 - 6.2e-2.
tol=(--param-tol 5e-2 --buffer-tol 1e-3)
differ=5  # c: without --sync-bn both worst differences must exceed 5 x the tolerances

train_and_export() {  # NAME FLAGS...: a run in $work/NAME, exported to $work/NAME.pt
  local name=$1; shift
  step "$name" "$bin" "${common[@]}" --lr $lr "$@" --out "$work/$name" &&
    step "${name}_export" "$bin" export "$work/$name" --to "$work/$name.pt"
}
same_batch_and_lr() {  # TWO ONE: world sizes 2 and 1, the same global batch and scaled lr
  python3 - "$work/$1/metrics.json" "$work/$2/metrics.json" <<'PY'
import json, sys
two, one = (json.load(open(p)) for p in sys.argv[1:])
f = lambda m: (m["world_size"], m["global_batch"], m["environment"]["global_batch"], m["environment"]["scaled_lr"])
print(f"  world size, global batch, environment global batch, scaled lr: {f(two)} (2 workers) vs {f(one)} (1)")
sys.exit(0 if f(two)[0] == 2 and f(one)[0] == 1 and f(two)[1:] == f(one)[1:] else 1)
PY
}
compare() {  # LABEL TWO ONE [compare_weights.py flags]
  local label=$1 two=$2 one=$3; shift 3
  [ -e "$work/$two.pt" ] && [ -e "$work/$one.pt" ] && [ -e "$work/init.pt" ] ||
    { echo "FAIL: $label: a run or export failed"; fail=1; return; }
  if same_batch_and_lr "$two" "$one"; then echo "ok: $label: same global batch and scaled lr";
  else echo "FAIL: $label: the runs' world sizes, global batches or scaled lr"; fail=1; fi
  if "$py" "$src/tests/integration/compare_weights.py" "$work/$two.pt" "$work/$one.pt" "$work/init.pt" \
      "${tol[@]}" "$@"; then
    echo "ok: $label"
  else echo "FAIL: $label"; fail=1; fi
}
start=$(date +%s)

echo "== the initial weights (measure of how far training moves each tensor)"
# --lr 1e-30 changes no weight (a step of ~1e-31 is below float32's resolution; BatchNorm biases
# become ~1e-31 instead of 0): this run's export holds the initial weights of every run below.
step init "$bin" "${common[@]}" --lr 1e-30 --limit-train 64 --batch-size 64 --out "$work/init" &&
  step init_export "$bin" export "$work/init" --to "$work/init.pt" &&
  "$py" - "$work/init.pt" <<'PY' || fail=1
import sys, torch
s = torch.load(sys.argv[1])
bn = [k[:-len(".weight")] for k in s if k.endswith(".weight") and k.split(".")[-2].startswith("bn")]
ok = bool(bn) and all(torch.equal(s[k + ".weight"], torch.ones_like(s[k + ".weight"])) for k in bn)
bias = max(s[k + ".bias"].abs().max().item() for k in bn)
ok &= bias < 1e-20
print(f"{'ok' if ok else 'FAIL'}: initial weights: {len(bn)} BatchNorm layers with weight 1 and bias "
      f"{bias:.1e} (0 + a step of 1e-30)")
sys.exit(0 if ok else 1)
PY

echo "== a. --sync-bn: 2 workers x $B = 1 worker x $((2 * B))"
train_and_export one --batch-size $((2 * B))
train_and_export two_syncbn --nproc 2 --batch-size $B --sync-bn
compare "a. 2 x $B --sync-bn vs 1 x $((2 * B))" two_syncbn one

echo "== b. --sync-bn --grad-accum 2: 2 workers x $B = 1 worker x $((2 * B)), both accumulating 2"
train_and_export one_accum --batch-size $((2 * B)) --grad-accum 2
train_and_export two_syncbn_accum --nproc 2 --batch-size $B --sync-bn --grad-accum 2
compare "b. 2 x $B --sync-bn --grad-accum 2 vs 1 x $((2 * B)) --grad-accum 2" two_syncbn_accum one_accum

echo "== c. without --sync-bn the weights differ (the comparison can fail)"
train_and_export two_plain --nproc 2 --batch-size $B
compare "c. 2 x $B without --sync-bn differs from 1 x $((2 * B))" two_plain one --expect-differ $differ --quiet

echo "== d. the replicas of a run without --sync-bn agree"
python3 - "$work/two_plain/metrics.json" <<'PY' || fail=1
import json, sys
m = json.load(open(sys.argv[1]))
replicas, rank0 = m.get("replica_fingerprints"), m.get("weights_fingerprint")
ok = isinstance(replicas, list) and len(replicas) == 2 and all(r == rank0 for r in replicas)
print(f"{'ok' if ok else 'FAIL'}: d. replica_fingerprints {replicas} (one per rank, must all be "
      f"weights_fingerprint {rank0})")
sys.exit(0 if ok else 1)
PY

echo "== e. sharded evaluation (2 ranks) = ringtrain eval in one process"
step eval "$bin" eval --checkpoint "$work/two_plain/checkpoint.safetensors" --data "$work/data" \
  --limit-test $limit_test --threads 1 --out "$work/eval" &&
python3 - "$work/two_plain/metrics.json" "$work/eval/metrics.json" "$limit_test" <<'PY' || fail=1
import json, sys
two, one = (json.load(open(p)) for p in sys.argv[1:3])
ok = True
cm2, cm1 = two["test"]["confusion_matrix"], one["test"]["confusion_matrix"]
images = sum(map(sum, cm1))
same = cm2 == cm1 and images == int(sys.argv[3])
print(f"{'ok' if same else 'FAIL'}: e. confusion matrix over {images} images "
      f"{'identical' if same else f'differs: {cm2} (2 ranks) vs {cm1} (eval)'}")
ok &= same
acc = two["test_accuracy"] == one["test_accuracy"]
print(f"{'ok' if acc else 'FAIL'}: e. test accuracy {two['test_accuracy']} (2 ranks) vs {one['test_accuracy']} (eval)")
ok &= acc
rel = abs(two["test_loss"] - one["test_loss"]) / abs(one["test_loss"])
loss = rel <= 1e-6
print(f"{'ok' if loss else 'FAIL'}: e. test loss {two['test_loss']!r} (2 ranks) vs {one['test_loss']!r} (eval): "
      f"rel diff {rel:.2e}, tolerance 1e-6")
ok &= loss
sys.exit(0 if ok else 1)
PY

echo "took $(( $(date +%s) - start ))s"
[ $fail -eq 0 ] && echo PASS
exit $fail
