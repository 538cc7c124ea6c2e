#!/usr/bin/env bash
# `ringtrain predict` (issue 23): image files classified with a trained model.
#  1. a 32-px run (a folder of 32x32 images, held in memory): predict's logits on the test folder
#     equal eval's (--save-logits) for the same images; the top-k in text, CSV and JSON agree with
#     the logits; the same pixels as PNG, BMP, TIFF, PPM and lossless WebP get the same logits;
#     an image of another size is resized to 32 and centre-cropped (Resize(32) + CenterCrop(32));
#  2. a streamed run (96x96 JPEGs at --image-size 32): predict's logits equal eval's, with and
#     without --dct-scaling (which gives other logits: the JPEGs are decoded at half size), and
#     the JSON says which decoding and precision it used;
#  3. a missing path, a folder without images and a corrupt image: exit 2, one line naming it.
# Usage: predict.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/predict
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
rm -rf "$work" && mkdir -p "$work"
fail=0

# Folders of three classes (colour families with noise, so that a short run tells them apart):
# train/ 16 a class, test/ 6 a class, SIDE x SIDE PNGs named so that sorted paths are index order.
"$py" - "$work" <<'PY'
import os, sys
import numpy as np
from PIL import Image
root = sys.argv[1]
rng = np.random.default_rng(0)
for name, side in (("small", 32), ("large", 96)):
    for split, n in (("train", 16), ("test", 6)):
        for c, cls in enumerate(("blue", "green", "red")):
            d = f"{root}/{name}/{split}/{cls}"
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                px = rng.integers(0, 90, (side, side, 3))
                px[..., 2 - c] += 150
                ext = "png" if name == "small" else "jpg"  # JPEGs: --dct-scaling has work to do
                Image.fromarray(px.clip(0, 255).astype(np.uint8)).save(f"{d}/{i:03d}.{ext}", quality=90)
# The first small test image in other lossless formats, and a 50x40 image.
img = Image.open(f"{root}/small/test/blue/000.png")
os.makedirs(f"{root}/formats", exist_ok=True)
for ext, kw in (("png", {}), ("bmp", {}), ("tif", {"compression": "tiff_lzw"}), ("ppm", {}),
                ("webp", {"lossless": True})):
    img.save(f"{root}/formats/same.{ext}", **kw)
big = img.resize((50, 40))
big.save(f"{root}/big.png")
# What Resize(32) + CenterCrop(32) makes of it, as torchvision does on a uint8 tensor.
import torch
from torchvision.transforms.v2 import functional as F
t = torch.from_numpy(np.asarray(big).copy()).permute(2, 0, 1)
t = F.center_crop(F.resize(t, [32], antialias=True), [32])
Image.fromarray(t.permute(1, 2, 0).numpy()).save(f"{root}/big_as_32.png")
PY

common=(--model resnet20 --threads 1 --loader-threads 1 --amp none --batch-size 16 --epochs 2 --eval-batch-size 8)
for name in small large; do
  extra=(); [ $name = large ] && extra=(--image-size 32)
  "$bin" train --data "$work/$name" "${common[@]}" "${extra[@]}" --out "$work/run_$name" > "$work/train_$name.out" 2>&1 \
    || { echo "FAIL: training on $name:"; tail -5 "$work/train_$name.out"; exit 1; }
done

# compare NAME EVAL_LOGITS PREDICT_JSON: equal logits, image by image in order.
compare() {
  "$py" - "$@" <<'PY' || fail=1
import json, sys, torch
name, eval_pt, pred = sys.argv[1:4]
e = torch.load(eval_pt)["logits"]
p = json.load(open(pred))
q = torch.tensor([im["logits"] for im in p["images"]])
diff = (e - q).abs().max().item() if e.shape == q.shape else float("inf")
top_ok = all(im["top"][0]["index"] == int(torch.tensor(im["logits"]).argmax()) for im in p["images"])
ok = diff == 0 and top_ok
print(f"{'ok' if ok else 'FAIL'} {name}: {q.shape[0]} images, max |predict - eval| = {diff}, top-1 is the argmax: "
      f"{top_ok} ({p['precision']}, dct_scaling {p['dct_scaling']}, TTA {p['tta']})")
sys.exit(0 if ok else 1)
PY
}

echo "== 1. a 32-px run"
ck=$work/run_small/checkpoint.safetensors
"$bin" eval --checkpoint "$ck" --eval-batch-size 8 --save-logits "$work/eval_small.pt" --out "$work/eval_small" \
  > "$work/eval_small.out" 2>&1 || { echo "FAIL: eval:"; tail -3 "$work/eval_small.out"; fail=1; }
"$bin" predict --checkpoint "$ck" --eval-batch-size 8 --format json --out "$work/pred_small.json" "$work/small/test" \
  > "$work/pred_small.out" 2>&1 || { echo "FAIL: predict:"; tail -3 "$work/pred_small.out"; fail=1; }
compare small "$work/eval_small.pt" "$work/pred_small.json"
"$bin" predict --checkpoint "$ck" --top-k 2 "$work/small/test/red" > "$work/text.out" 2> "$work/text.err"
"$bin" predict --checkpoint "$ck" --top-k 2 --format csv "$work/small/test/red" > "$work/csv.out" 2>/dev/null
"$bin" predict --checkpoint "$ck" --format json --eval-batch-size 8 "$work/formats" "$work/big.png" \
  "$work/big_as_32.png" > "$work/formats.json" 2>/dev/null
"$py" - "$work" <<'PY' || fail=1
import csv, json, sys
w = sys.argv[1]
ok = True
text = open(f"{w}/text.out").read().splitlines()
rows = list(csv.DictReader(open(f"{w}/csv.out")))
if len(text) != 6 or len(rows) != 12 or not all(line.count("%") == 2 for line in text):
    print(f"FAIL: text {len(text)} lines, CSV {len(rows)} rows; expected 6 and 12:\n" + "\n".join(text[:3]))
    ok = False
for line, first in zip(text, rows[::2]):
    name, pct = line.split(": ", 1)[1].split(",")[0].rsplit(" ", 1)
    if name != first["class"] or abs(float(pct.rstrip("%")) - 100 * float(first["probability"])) > 0.006:
        print(f"FAIL: text '{line}' disagrees with CSV {first}")
        ok = False
images = {im["path"].rsplit("/", 1)[1]: im for im in json.load(open(f"{w}/formats.json"))["images"]}
same = [images[f"same.{e}"]["logits"] for e in ("png", "bmp", "tif", "ppm", "webp")]
if any(s != same[0] for s in same):
    print("FAIL: the same pixels in PNG, BMP, TIFF, PPM and WebP got different logits")
    ok = False
if images["big.png"]["logits"] != images["big_as_32.png"]["logits"]:
    print("FAIL: a 50x40 image is not classified as its Resize(32) + CenterCrop(32)")
    ok = False
s = sum(t["probability"] for t in images["same.png"]["top"])
if not 0.999 < s < 1.001:  # three classes, top 5: all of them
    print(f"FAIL: the probabilities of every class sum to {s}")
    ok = False
print(("ok" if ok else "FAIL") + f" outputs: text and CSV agree; 5 formats, 1 set of logits; 50x40 as its 32-px crop")
sys.exit(0 if ok else 1)
PY
grep -q "images classified by" "$work/text.err" || { echo "FAIL: no summary on stderr"; fail=1; }

echo "== 2. a streamed run"
ck=$work/run_large/checkpoint.safetensors
for dct in true false; do
  "$bin" eval --checkpoint "$ck" --eval-batch-size 8 --dct-scaling $dct --save-logits "$work/eval_large_$dct.pt" \
    --out "$work/eval_large_$dct" > "$work/eval_large_$dct.out" 2>&1 || { echo "FAIL: eval:"; tail -3 "$work/eval_large_$dct.out"; fail=1; }
  "$bin" predict --checkpoint "$ck" --eval-batch-size 8 --dct-scaling $dct --format json \
    --out "$work/pred_large_$dct.json" "$work/large/test" > /dev/null 2>&1
  compare "large_dct_$dct" "$work/eval_large_$dct.pt" "$work/pred_large_$dct.json"
done
"$py" - "$work" <<'PY' || fail=1
import sys, torch
w = sys.argv[1]
d = (torch.load(f"{w}/eval_large_true.pt")["logits"] - torch.load(f"{w}/eval_large_false.pt")["logits"]).abs().max()
print(f"{'ok' if d > 0 else 'FAIL'} --dct-scaling acts: max logit difference {d.item():.2e} between true and false")
sys.exit(0 if d > 0 else 1)
PY

echo "== 3. bad inputs"
refused() {
  local name=$1 expect=$2; shift 2
  timeout 60 "$bin" predict --checkpoint "$work/run_small/checkpoint.safetensors" "$@" > "$work/$name.out" \
    2> "$work/$name.err"; local rc=$?
  local lines; lines=$(wc -l < "$work/$name.err")
  if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$expect" "$work/$name.err"; then
    echo "FAIL: $name: exit $rc, $lines stderr lines, expected exit 2 and one line with '$expect':"
    tail -3 "$work/$name.err"; fail=1
  else
    echo "ok $name: $(cat "$work/$name.err")"
  fi
}
refused missing "nothing.png: no such image file or folder" "$work/nothing.png"
mkdir -p "$work/empty" && touch "$work/empty/notes.txt"
refused empty "empty: the folder holds no images" "$work/empty"
head -c 300 "$work/small/test/red/000.png" > "$work/cut.png"
refused corrupt "cut.png" "$work/cut.png"

[ $fail -eq 0 ] && echo "PASS" || echo "FAILED"
exit $fail
