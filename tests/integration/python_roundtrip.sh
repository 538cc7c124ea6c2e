#!/usr/bin/env bash
# Weights to Python and back, checked by logits on the same images:
#  1. ringtrain trains resnet18 briefly, `export`s it; torchvision's resnet18 (CIFAR stem)
#     loads it with strict=True and gives ringtrain's logits (from `eval --save-logits`).
#  2. a torchvision resnet18 saved in Python is `import`ed; ringtrain's `eval --save-logits`
#     gives Python's logits.
#  3. another stem, another architecture and a non-checkpoint are refused (exit 2).
#  4. torchvision's own format (torch.save(model.state_dict()): an OrderedDict) of a resnet18 with
#     the ImageNet stem is imported (--stem imagenet), exported back tensor for tensor, and its
#     `eval` logits on a folder of large images equal torchvision's with Resize(256) +
#     CenterCrop(224) on the same pixels; --init-from it fine-tunes on 4 classes (a new head).
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
step eval "$bin" eval --checkpoint "$work/run/checkpoint.safetensors" --save-logits "$work/ringtrain_logits.pt" --amp none
"$py" "$src/tests/integration/roundtrip.py" check "$work/exported.pt" "$work/ringtrain_logits.pt" "$work/data" resnet18 \
  || { echo "FAIL: Python does not reproduce ringtrain's logits"; fail=1; }

echo "== 2. Python -> ringtrain"
step make "$py" "$src/tests/integration/roundtrip.py" make "$work/python.pt" "$work/python_logits.pt" \
  "$work/data" resnet18 && cat "$work/make.out"
step import "$bin" import "$work/python.pt" --model resnet18 --to "$work/imported" --data "$work/data" \
  && tail -1 "$work/import.out"
step eval_imported "$bin" eval --checkpoint "$work/imported/checkpoint.safetensors" \
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
torch.save(dict(m.state_dict()), '$work/imagenet_stem.pt')  # 7x7 stem: other shapes than the CIFAR stem's
"
for case in "imagenet_stem.pt:resnet18:conv1.weight" "python.pt:resnet50:missing" "data/test_batch.bin:resnet18:not a torch.save"; do
  IFS=: read -r file model needle <<< "$case"
  "$bin" import "$work/$file" --model "$model" --to "$work/refused" > /dev/null 2> "$work/err.txt"; rc=$?
  if [ $rc -eq 2 ] && grep -q "$needle" "$work/err.txt" && [ ! -e "$work/refused/checkpoint.safetensors" ]; then
    echo "ok: $file as $model -> $(cut -c1-160 "$work/err.txt")"
  else echo "FAIL: $file as $model: exit $rc: $(cat "$work/err.txt")"; fail=1; fi
done

echo "== 4. torchvision's own format, the ImageNet stem, fine-tuning"
step large_images "$py" "$src/scripts/make_image_folder.py" "$work/large" --classes 4 --train 8 --val 6
step tv_save "$py" -c "
import torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=4)
torch.save(m.state_dict(), '$work/tv_r18.pt')  # as torchvision's weight files: an OrderedDict with _metadata
torch.save(torchvision.models.resnet18().state_dict(), '$work/tv_r18_1000.pt')
"
step tv_import "$bin" import "$work/tv_r18.pt" --model resnet18 --stem imagenet --num-classes 4 --to "$work/tv" \
  --data "$work/large"
step tv_export "$bin" export "$work/tv" --to "$work/tv_back.pt"
step tv_eval "$bin" eval --checkpoint "$work/tv/checkpoint.safetensors" --save-logits "$work/tv_logits.pt" --amp none
"$py" - "$work" <<'PY' || { echo "FAIL: the imported ImageNet-stem resnet18 does not reproduce torchvision"; fail=1; }
import sys, numpy as np, torch, torchvision
from PIL import Image
from torchvision.transforms import v2
w = sys.argv[1]
a, b = torch.load(f"{w}/tv_r18.pt"), torch.load(f"{w}/tv_back.pt")
same = set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
print(f"exported back: {len(b)} tensors, {'equal' if same else 'NOT equal'} to torchvision's file")
m = torchvision.models.resnet18(num_classes=4)
m.load_state_dict(a)
m.eval()
# torchvision's evaluation transform on PIL's pixels (as tensors: the antialiased resize ringtrain calls).
t = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224), v2.ToDtype(torch.float32, scale=True),
                v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
ds = torchvision.datasets.ImageFolder(f"{w}/large/val")
x = torch.stack([t(torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1))
                 for p, _ in ds.samples])
with torch.no_grad():
    want = m(x)
got = torch.load(f"{w}/tv_logits.pt")["logits"]
diff = (want - got).abs().max().item()
print(f"ImageNet-stem resnet18 on {len(ds)} large images: max |logit difference| {diff:.3g} "
      f"(logits up to {want.abs().max().item():.3g})")
sys.exit(0 if same and diff <= 1e-4 * max(1.0, want.abs().max().item()) else 1)
PY
step finetune "$bin" train --data "$work/large" --num-classes 4 --model resnet18 --image-size 96 \
  --init-from "$work/tv_r18_1000.pt" --epochs 1 --batch-size 8 --threads 2 --amp none --out "$work/finetune"
grep -q "fc.weight \[4, 512\] (the file's \[1000, 512\]) starts fresh" "$work/finetune.out" \
  || { echo "FAIL: --init-from with 1000 classes did not start a new 4-class head"; fail=1; }

[ $fail -eq 0 ] && echo PASS
exit $fail
