#!/usr/bin/env bash
# Image folders of any size, streamed from their files (scripts/make_image_folder.py: 4 classes of
# shapes, 96..400 px, baseline/progressive/greyscale/CMYK JPEG and RGB/palette/RGBA PNG):
#  1. resnet18 at --image-size 64 learns them (test accuracy well above chance), with 2 loader
#     threads; `eval` of its checkpoint gives the run's final accuracy exactly; the file index is
#     cached beside the data and reused; `bench --mode data` runs on the folder.
#  2. a run resumed from a mid-epoch checkpoint ends with the uninterrupted run's weights.
#  3. the ImageNet stem (--image-size 96 --stem auto -> imagenet) trains; the model is recorded.
#  4. a corrupt JPEG stops the run with one line naming it (exit 2); with --skip-bad-images it
#     is left out, named, and counted in metrics.json; --image-size on 32x32 data is refused.
#  5. the resized-image cache (--cache-dir --max-side): one entry per image, none over the side;
#     a second run through it gives the first one's weights bitwise; a source whose
#     modification time changes is made again, and only it; raw entries; a cache folder that
#     cannot be made is one line and exit 2.
# Usage: image_files.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/image_files
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
rm -rf "$work" && mkdir -p "$work"
"$py" "$src/scripts/make_image_folder.py" "$work/data" --classes 4 --train 40 --val 12 || exit 1
. "$src/tests/integration/step.sh"
fail=0
common=(--data "$work/data" --num-classes 4 --model resnet18 --image-size 64 --batch-size 16 --threads 1
        --loader-threads 2 --amp none --seed 3)

echo "== 1. learns; eval reproduces; the index is cached"
step learn "$bin" train "${common[@]}" --epochs 6 --lr 0.4 --schedule cosine --out "$work/learn" || exit 1
step eval "$bin" eval --checkpoint "$work/learn/checkpoint.safetensors" --out "$work/learn_eval" --threads 1
"$py" - "$work" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
m = json.load(open(f"{w}/learn/metrics.json"))
e = json.load(open(f"{w}/learn_eval/metrics.json"))
cfg = json.load(open(f"{w}/learn/config.json"))
print(f"test accuracy {m['test_accuracy']:.3f} (best {m['best_test_accuracy']:.3f}), eval {e['test_accuracy']:.3f}; "
      f"data wait {100 * m['data_wait_share']:.1f}% of training; format {cfg['environment']['data_format']}, "
      f"stem {cfg['stem']}, mean {cfg['mean']}")
ok = True
if m["test_accuracy"] < 0.5:  # chance is 0.25
    print("FAIL: resnet18 did not learn the shapes (test accuracy below 0.5)"); ok = False
if e["test_accuracy"] != m["test_accuracy"]:
    print("FAIL: `eval` of the checkpoint does not give the run's final test accuracy"); ok = False
if cfg["environment"]["data_format"] != "image-files" or cfg["stem"] != "cifar" or cfg["image_size"] != 64:
    print("FAIL: expected streamed image files at 64 px with the CIFAR stem"); ok = False
if not cfg["mean"].startswith("0.485"):
    print("FAIL: large images are normalised with ImageNet's statistics by default"); ok = False
sys.exit(0 if ok else 1)
PY
[ -s "$work/data/.ringtrain-index/train.tsv" ] && [ -s "$work/data/.ringtrain-index/val.tsv" ] \
  || { echo "FAIL: no cached file index in data/.ringtrain-index/"; fail=1; }

step bench "$bin" bench --mode data --data "$work/data" --image-size 64 --batch-size 16 --reps 1 --threads 1 \
  --loader-threads 2 --json
"$py" -c "
import json, sys
r = json.load(open(sys.argv[1]))['results'][0]
print(f\"bench --mode data: {r['images']} image files at {r['image_size']} px, {r['images_per_second']['median']:.0f} img/s\")
sys.exit(0 if r['images'] == 160 and r['image_size'] == 64 and r['loader_threads'] == 2
         and r['images_per_second']['median'] > 0 else 1)" "$work/bench.out" || { echo "FAIL: bench --mode data"; fail=1; }

echo "== 2. a mid-epoch resume ends with the uninterrupted run's weights"
run=(train "${common[@]}" --epochs 2 --checkpoint-every 3 --keep-checkpoints 10)
step whole "$bin" "${run[@]}" --out "$work/whole" || exit 1
# 10 steps an epoch: checkpoints at steps 20 (end), 18, 15, 12, 10 (epoch end), 9, 6, 3.
mkdir -p "$work/resumed"
cp "$work/whole/checkpoint.3.safetensors" "$work/resumed/checkpoint.safetensors"
cp "$work/whole/config.json" "$work/resumed/config.json"
step resumed "$bin" train --resume "$work/resumed" --threads 1 --loader-threads 3 || exit 1
grep -q "resumed from .* at epoch 2 batch 2 (step 12)" "$work/resumed.out" \
  || { echo "FAIL: not resumed at epoch 2 batch 2 (step 12):"; grep resumed "$work/resumed.out"; fail=1; }
a=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['weights_fingerprint'])" "$work/whole/metrics.json")
b=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['weights_fingerprint'])" "$work/resumed/metrics.json")
echo "uninterrupted $a, resumed at step 12 with 3 loader threads: $b"
[ "$a" = "$b" ] || { echo "FAIL: the resumed run's weights differ"; fail=1; }

echo "== 3. the ImageNet stem"
step stem "$bin" train --data "$work/data" --num-classes 4 --model resnet18 --image-size 96 --batch-size 16 \
  --threads 1 --amp none --epochs 1 --limit-train 64 --out "$work/stem" || exit 1
grep -q '"stem": "imagenet"' "$work/stem/config.json" || { echo "FAIL: --stem auto at 96 px is not imagenet"; fail=1; }

echo "== 4. bad files"
cp -r "$work/data" "$work/bad"
f=$(ls "$work/bad/train/class_01/"*.jpg | head -1)
head -c 2000 "$f" > "$work/cut" && mv "$work/cut" "$f"  # truncated
"$bin" train --data "$work/bad" --num-classes 4 --model resnet18 --image-size 64 --batch-size 16 --threads 1 \
  --epochs 1 --out "$work/bad_run" > "$work/bad_run.out" 2>&1
rc=$?
if [ $rc -ne 2 ] || ! grep -q "class_01/$(basename "$f"): JPEG data is corrupt or truncated" "$work/bad_run.out"; then
  echo "FAIL: a truncated JPEG gave exit $rc:"; tail -3 "$work/bad_run.out"; fail=1
else
  grep "class_01" "$work/bad_run.out" | tail -1
fi
step skip "$bin" train --data "$work/bad" --num-classes 4 --model resnet18 --image-size 64 --batch-size 16 \
  --threads 1 --epochs 2 --skip-bad-images --out "$work/skip_run"
grep -q "left out an unreadable image (--skip-bad-images): .*class_01/$(basename "$f")" "$work/skip.out" \
  || { echo "FAIL: the skipped file is not named"; fail=1; }
"$py" - "$work/skip_run" <<'PY' || fail=1
import json, sys
m = json.load(open(f"{sys.argv[1]}/metrics.json"))
h = json.load(open(f"{sys.argv[1]}/history.json"))
per_epoch = [e["skipped_images"] for e in h]
print(f"skipped images: {m['skipped_images']} in metrics.json, per epoch {per_epoch}")
sys.exit(0 if m["skipped_images"] == 2 and per_epoch == [1, 1] else 1)
PY
python3 "$src/scripts/make_synthetic_cifar.py" "$work/small" 10 10
"$bin" train --data "$work/small" --image-size 64 --epochs 1 --out "$work/small_run" > "$work/small.out" 2>&1
rc=$?
if [ $rc -ne 2 ] || [ "$(grep -c 'image-size' "$work/small.out")" -ne 1 ]; then
  echo "FAIL: --image-size 64 on CIFAR binary data gave exit $rc:"; tail -3 "$work/small.out"; fail=1
fi

echo "== 5. the resized-image cache"
cached=(train "${common[@]}" --epochs 2 --cache-dir "$work/cache" --max-side 96)
step cache1 "$bin" "${cached[@]}" --out "$work/cache1" || exit 1
step cache2 "$bin" "${cached[@]}" --out "$work/cache2" || exit 1
"$py" - "$work" <<'PY' || fail=1
import glob, json, os, struct, sys
w = sys.argv[1]
entries = glob.glob(f"{w}/cache/jpeg-96/*/*.rtc")
sides = []
for e in entries:
    b = open(e, "rb").read()
    magic, fmt, side, width, height = b[:8], *struct.unpack("<IIII", b[8:24])
    sides.append(max(width, height))
    if magic != b"RTIMGC01" or fmt != 1 or side != 96:
        print(f"FAIL: {e} is not a JPEG entry of side 96"); sys.exit(1)
a, b = (json.load(open(f"{w}/cache{k}/metrics.json"))["weights_fingerprint"] for k in (1, 2))
print(f"{len(entries)} entries (longest side {max(sides)}); run making the cache {a}, run reading it {b}")
ok = len(entries) == 4 * 40 + 4 * 12 and max(sides) <= 96
if not ok:
    print("FAIL: expected one entry per image (208), none over 96 px")
if a != b:
    print("FAIL: a run reading the cache does not give the weights of the run that made it"); ok = False
sys.exit(0 if ok else 1)
PY
ls -l --time-style=+%s.%N "$work"/cache/jpeg-96/*/*.rtc | awk '{print $6, $7}' | sort -k2 > "$work/entries_before"
touch "$(ls "$work"/data/train/class_02/* | head -1)"
step cache_bench "$bin" bench --mode data --data "$work/data" --image-size 64 --batch-size 16 --reps 1 --threads 1 \
  --loader-threads 2 --cache-dir "$work/cache" --max-side 96 --json || fail=1
ls -l --time-style=+%s.%N "$work"/cache/jpeg-96/*/*.rtc | awk '{print $6, $7}' | sort -k2 > "$work/entries_after"
changed=$(diff "$work/entries_before" "$work/entries_after" | grep -c '^>')
echo "entries made again after touching one source: $changed"
[ "$changed" -eq 1 ] || { echo "FAIL: expected exactly one entry made again"; fail=1; }
step cache_raw "$bin" bench --mode data --data "$work/data" --image-size 64 --batch-size 16 --reps 1 --threads 1 \
  --cache-dir "$work/cache" --max-side 80 --cache-format raw --json || fail=1
[ "$(ls "$work"/cache/raw-80/*/*.rtc | wc -l)" -eq 160 ] || { echo "FAIL: expected 160 raw entries"; fail=1; }
touch "$work/not_a_folder"
"$bin" train "${common[@]}" --epochs 1 --cache-dir "$work/not_a_folder/c" --out "$work/cache_bad" > "$work/cache_bad.out" 2>&1
rc=$?
if [ $rc -ne 2 ] || [ "$(grep -c 'cannot create folder .*not_a_folder' "$work/cache_bad.out")" -ne 1 ]; then
  echo "FAIL: a cache folder that cannot be made gave exit $rc:"; tail -3 "$work/cache_bad.out"; fail=1
else
  grep 'cannot create folder' "$work/cache_bad.out"
fi

[ $fail -eq 0 ] && echo PASS
exit $fail
