#!/usr/bin/env bash
# airbench94's whitening layer against the paper's own code (K. Jordan 2024, airbench94.py:
# get_patches, get_whitening_parameters, init_whitening_conv; bench/airbench_reference.py carries
# them unchanged), run in Python on the same
# images: ringtrain trains airbench94 for one epoch on a data set whose patch covariance has
# well separated eigenvalues (the filters are frozen: training leaves them as initialised),
# `export`s it, and Python checks
#   - each of the first 12 filters equals the paper's filter or its negative (an eigenvector's
#     sign is arbitrary), the other 12 their negatives;
#   - their sum of outer products equals (C + eps I)^-1 for the patch covariance C: a check
#     that no choice of sign or basis can pass by accident.
# Uses the project's venv (the pinned torch of the LibTorch we link).
# Usage: airbench_whitening.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/airbench_whitening
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work/data"
fail=0
. "$src/tests/integration/step.sh"

# 5 x 200 training and 100 test images in the CIFAR-10 binary layout: smooth random fields
# (neighbouring pixels correlated, more so across than along a row), the channels at
# different scales, plus noise of different scales.
step data "$py" - "$work/data" <<'PY' || exit 1
import sys, torch
torch.manual_seed(0)
def images(n):
    coarse = torch.randn(n, 3, 12, 5)
    smooth = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=True)
    x = (128 + 40 * smooth * torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1)
         + 3 * torch.randn(n, 3, 32, 32) * torch.tensor([1.0, 1.5, 2.2]).view(1, 3, 1, 1))
    return x.round().clamp(0, 255).to(torch.uint8)
for name, n in [(f"data_batch_{i}.bin", 200) for i in range(1, 6)] + [("test_batch.bin", 100)]:
    x = images(n)
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        for r in range(n):
            f.write(bytes([r % 10]) + x[r].numpy().tobytes())
PY
step train "$bin" train --data "$work/data" --model airbench94 --epochs 1 --batch-size 100 --threads 2 --amp none \
  --out "$work/run" --log-every 100 || exit 1
step export "$bin" export "$work/run" --to "$work/exported.pt" || exit 1
PYTHONPATH="$src/bench" "$py" - "$work" <<'PY' || fail=1
import json, sys, torch
w = sys.argv[1]
ours = torch.load(f"{w}/exported.pt")["whiten.weight"].double()
cfg = json.load(open(f"{w}/run/config.json"))
mean = torch.tensor([float(v) for v in cfg["mean"].split(",")]).view(1, 3, 1, 1)
std = torch.tensor([float(v) for v in cfg["std"].split(",")]).view(1, 3, 1, 1)
raw = b"".join(open(f"{w}/data/data_batch_{i}.bin", "rb").read() for i in range(1, 6))
records = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 3073)
train_images = ((records[:, 1:].view(-1, 3, 32, 32).float() / 255) - mean) / std

# the paper's code, as bench/airbench_reference.py carries it
from airbench_reference import get_patches, get_whitening_parameters
eps = 5e-4
patches = get_patches(train_images[:5000], patch_shape=(2, 2))
eigenvalues, eigenvectors = get_whitening_parameters(patches)
eigenvectors_scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
paper = torch.cat((eigenvectors_scaled, -eigenvectors_scaled)).double()

values = eigenvalues.flatten().double()
gaps = ((values[:-1] - values[1:]) / values[:-1]).min().item()
print(f"eigenvalues {values[0].item():.3g} .. {values[-1].item():.3g}, smallest relative gap {gaps:.2g}")
ok = gaps > 1e-2  # else an eigenvector is not determined well enough to compare
flat = ours.view(24, 12)
worst = 0.0
for i in range(12):
    a, b = flat[i], paper.view(24, 12)[i]
    worst = max(worst, min((a - b).abs().max().item(), (a + b).abs().max().item()) / b.abs().max().item())
print(f"filters against the paper's, up to sign: largest relative difference {worst:.2g}")
ok = ok and worst < 1e-3 and torch.equal(flat[12:], -flat[:12])
p = patches.double().view(patches.shape[0], -1)
inverse = torch.linalg.inv(p.T @ p / p.shape[0] + eps * torch.eye(12, dtype=torch.float64))
gram = flat[:12].T @ flat[:12]
rel = ((gram - inverse).abs().max() / inverse.abs().max()).item()
print(f"sum of the filters' outer products against (C + eps I)^-1: relative difference {rel:.2g}")
ok = ok and rel < 1e-4
print("ok: ringtrain's whitening layer is the paper's" if ok else "FAIL: the whitening layer differs from the paper's")
sys.exit(0 if ok else 1)
PY
exit $fail
