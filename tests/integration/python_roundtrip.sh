#!/usr/bin/env bash
# Weights to Python and back, checked by logits on the same images:
#  1. ringtrain trains resnet18 briefly, `export`s it; torchvision's resnet18 (CIFAR stem)
#     loads it with strict=True and gives ringtrain's logits (from `eval --save-logits`).
#  2. a torchvision resnet18 saved in Python is `import`ed; ringtrain's `eval --save-logits`
#     gives Python's logits.
#  3. an OrderedDict state_dict, another architecture and a non-checkpoint are refused (exit 2).
# Uses the project's venv (the pinned torch/torchvision of the LibTorch we link).
# Usage: python_roundtrip.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/python_roundtrip
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 16 40 > /dev/null
fail=0
. "$src/tests/integration/step.sh"

echo "== 1. ringtrain -> Python"
# fp32 throughout (--amp none): Python computes its logits in fp32, and where bf16 is native
# (AVX512-BF16, AMX, GPUs) --amp auto would pick bf16.
step train "$bin" train --data "$work/data" --model resnet18 --epochs 1 --batch-size 16 \
  --threads 2 --out "$work/run" --log-every 100 --amp none
step export "$bin" export "$work/run" --to "$work/exported.pt" && head -1 "$work/export.out"
step eval "$bin" eval --checkpoint "$work/run/checkpoint.pt" --save-logits "$work/ringtrain_logits.pt" --amp none
"$py" "$src/tests/integration/roundtrip.py" check "$work/exported.pt" "$work/ringtrain_logits.pt" "$work/data" resnet18 \
  || { echo "FAIL: Python does not reproduce ringtrain's logits"; fail=1; }

echo "== 2. Python -> ringtrain"
step make "$py" "$src/tests/integration/roundtrip.py" make "$work/python.pt" "$work/python_logits.pt" \
  "$work/data" resnet18 && cat "$work/make.out"
step import "$bin" import "$work/python.pt" --model resnet18 --to "$work/imported" --data "$work/data" \
  && tail -1 "$work/import.out"
step eval_imported "$bin" eval --checkpoint "$work/imported/checkpoint.pt" \
  --save-logits "$work/imported_logits.pt" --amp none
"$py" - "$work/python_logits.pt" "$work/imported_logits.pt" <<'PY' || { echo "FAIL: ringtrain does not reproduce Python's logits"; fail=1; }
import sys, torch
a, b = torch.load(sys.argv[1])["logits"], torch.load(sys.argv[2])["logits"]
diff = (a - b).abs().max().item()
print(f"imported resnet18: max |logit difference| {diff:.3g} (logits up to {a.abs().max().item():.3g})")
sys.exit(0 if diff <= 1e-4 * max(1.0, a.abs().max().item()) else 1)
PY

echo "== 3. refused"
step refused_inputs "$py" -c "
import torch, torchvision
m = torchvision.models.resnet18(num_classes=10)
torch.save(m.state_dict(), '$work/ordered.pt')          # an OrderedDict
torch.save(dict(m.state_dict()), '$work/imagenet_stem.pt')  # 7x7 stem: other shapes
"
for case in "ordered.pt:resnet18:OrderedDict" "imagenet_stem.pt:resnet18:conv1.weight" "python.pt:resnet50:missing" "data/test_batch.bin:resnet18:not a torch.save"; do
  IFS=: read -r file model needle <<< "$case"
  "$bin" import "$work/$file" --model "$model" --to "$work/refused" > /dev/null 2> "$work/err.txt"; rc=$?
  if [ $rc -eq 2 ] && grep -q "$needle" "$work/err.txt" && [ ! -e "$work/refused/checkpoint.pt" ]; then
    echo "ok: $file as $model -> $(cut -c1-160 "$work/err.txt")"
  else echo "FAIL: $file as $model: exit $rc: $(cat "$work/err.txt")"; fail=1; fi
done

[ $fail -eq 0 ] && echo PASS
exit $fail
