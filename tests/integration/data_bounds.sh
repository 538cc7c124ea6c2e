#!/usr/bin/env bash
# Crafted data files (issue 20: nothing ringtrain reads can run code, crash it or hang it), each
# made here. Every bad input ends the run within a time bound with exit code 2 and one line on
# stderr naming the file; with --skip-bad-images an unreadable image is left out, named in a
# warning and counted in metrics.json's skipped_images.
#  1. the file-list cache: a listed ../ path and an empty list are ignored (a warning naming the
#     cache) and the folder listed again; a file name with a newline round-trips.
#  2. a FIFO named .jpg, listed or named by a crafted cache: refused without blocking.
#  3. decoders: a progressive JPEG of 160 scans; a 300-byte JPEG and PNG declaring huge images.
#  4. a sparse 30 GB CIFAR-10 batch: refused by its size, nothing allocated.
#  5. --skip-bad-images on the first-image probe, 32x32 folders in memory, --normalize computed,
#     a dangling link and a FIFO.
# Usage: data_bounds.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/data_bounds
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
rm -rf "$work" && mkdir -p "$work"
fail=0
limit=60  # seconds: every case here takes a few
# Training drops a last partial batch: each case's batch size divides its training images, so that
# every file is read.
run=(train --num-classes 2 --model resnet20 --threads 1 --loader-threads 1 --amp none)
train=("${run[@]}" --batch-size 4 --epochs 1)

# make_folder DIR SIDE: train/{a,b} (6 images each) and val/{a,b} (2 each), SIDE x SIDE, aged an
# hour so that its listing is cached.
make_folder() {
  "$py" - "$1" "$2" <<'PY'
import os, sys, time
from PIL import Image
root, side = sys.argv[1], int(sys.argv[2])
for split, n in (("train", 6), ("val", 2)):
    for c, cls in enumerate("ab"):
        os.makedirs(f"{root}/{split}/{cls}", exist_ok=True)
        for i in range(n):
            img = Image.new("RGB", (side, side), (40 + 150 * c, 9 * i, 128))
            img.save(f"{root}/{split}/{cls}/{i}." + ("png" if i % 2 else "jpg"))
old = time.time() - 3600
for d, _, _ in os.walk(root):
    os.utime(d, (old, old))
PY
}

# refused NAME FILE COMMAND...: exit 2 within $limit s, and stderr one line naming FILE.
refused() {
  local name=$1 file=$2; shift 2
  timeout $limit "$@" > "$work/$name.out" 2> "$work/$name.err"; local rc=$?
  local lines; lines=$(wc -l < "$work/$name.err")
  if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$file" "$work/$name.err"; then
    echo "FAIL: $name: exit $rc (124: timed out), $lines stderr lines, expected exit 2 and one line naming $file:"
    tail -5 "$work/$name.err"; fail=1
  else
    echo "ok $name: $(cat "$work/$name.err")"
  fi
}

# trains NAME COMMAND...: exit 0 within $limit s.
trains() {
  local name=$1; shift
  timeout $limit "$@" > "$work/$name.out" 2> "$work/$name.err"; local rc=$?
  [ $rc -eq 0 ] && return 0
  echo "FAIL: $name exited $rc (124: timed out):"; tail -5 "$work/$name.err"; fail=1; return 1
}

# skipped NAME RUN_DIR COUNT FILE...: the run left out COUNT images, each FILE named in a warning.
skipped() {
  local name=$1 dir=$2 count=$3 ok=1; shift 3
  for f in "$@"; do
    grep -q "left out an unreadable image (--skip-bad-images): .*/$f: " "$work/$name.err" \
      || { echo "FAIL: $name: $f not named as left out:"; tail -3 "$work/$name.err"; ok=0; }
  done
  local n; n=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['skipped_images'])" "$dir/metrics.json")
  [ "$n" = "$count" ] || { echo "FAIL: $name: metrics.json skipped_images '$n', expected $count"; ok=0; }
  [ $ok -eq 1 ] && echo "ok $name: $n left out, named and counted" || fail=1
}

# trained_on NAME N: the run's log says it trained on N images.
trained_on() {
  grep -q "$2 train / " "$work/$1.out" || { echo "FAIL: $1 did not train on $2 images:"; grep "data:" "$work/$1.out"; fail=1; }
}

echo "== 1. the file-list cache"
d=$work/cache; make_folder "$d" 32
"$py" -c "from PIL import Image; Image.new('RGB', (32, 32)).save('$work/outside.png')"
trains cache_first "$bin" "${train[@]}" --data "$d" --out "$work/cache_first.run" && trained_on cache_first 12
[ -s "$d/.ringtrain-index/train.tsv" ] || { echo "FAIL: no cache written"; fail=1; }
cp "$d/.ringtrain-index/train.tsv" "$work/honest.tsv"
sed -i 's|^files 12$|files 13|' "$d/.ringtrain-index/train.tsv"
printf '1\tb/../../../outside.png\n' >> "$d/.ringtrain-index/train.tsv"  # $work/outside.png
trains cache_outside "$bin" "${train[@]}" --data "$d" --out "$work/cache_outside.run" && trained_on cache_outside 12
grep -q "warning: ignoring the file-index cache $d/.ringtrain-index/train.tsv" "$work/cache_outside.err" \
  || { echo "FAIL: the ../ cache is not named in a warning:"; cat "$work/cache_outside.err"; fail=1; }
cmp -s "$work/honest.tsv" "$d/.ringtrain-index/train.tsv" || { echo "FAIL: the cache was not rebuilt"; fail=1; }
printf 'ringtrain-image-index 4\nclasses 2\na\nb\nfolders 3\n1\t.\n1\ta\n1\tb\nfiles 0\n' > "$d/.ringtrain-index/train.tsv"
trains cache_empty "$bin" "${train[@]}" --data "$d" --out "$work/cache_empty.run" && trained_on cache_empty 12
grep -q "ignoring the file-index cache" "$work/cache_empty.err" || { echo "FAIL: the empty cache is not named"; fail=1; }
echo "ok cache: a ../ entry and an empty list ignored, named, rebuilt"
cp "$d/train/a/1.png" "$d/train/a/new
line.png"
"$py" -c "import os, time; t = time.time() - 3600; os.utime('$d/train/a', (t, t))"
trains newline_list "$bin" "${train[@]}" --data "$d" --out "$work/newline_list.run" && trained_on newline_list 13
grep -q $'^0\ta/new%0Aline.png$' "$d/.ringtrain-index/train.tsv" || { echo "FAIL: the name is not escaped in the cache"; fail=1; }
trains newline_cached "$bin" "${train[@]}" --data "$d" --out "$work/newline_cached.run" && trained_on newline_cached 13
[ -s "$work/newline_cached.err" ] && { echo "FAIL: the cache with an escaped name was not used:"; cat "$work/newline_cached.err"; fail=1; }
printf 'not a png' > "$d/train/a/new
line.png"
refused newline_bad 'train/a/new\nline.png: not an image ringtrain reads' "$bin" "${train[@]}" --data "$d" --out "$work/x"

echo "== 2. a FIFO named .jpg"
d=$work/fifo; make_folder "$d" 32
trains fifo_first "$bin" "${train[@]}" --data "$d" --out "$work/fifo_first.run"  # caches the listing
mkfifo "$d/train/b/2b.jpg"
refused fifo_listed "train/b/2b.jpg: named as an image but not a readable file (a FIFO" \
  "$bin" "${train[@]}" --data "$d" --out "$work/x"
# A cache naming it, with the folders' times: opened without blocking, then refused.
"$py" - "$d" <<'PY'
import os, sys, time
d = sys.argv[1]
t = time.time() - 3600
for f in ("train", "train/a", "train/b"):
    os.utime(f"{d}/{f}", (t, t))
lines = open(f"{d}/.ringtrain-index/train.tsv").read().splitlines()
folders = lines.index("folders 3")
for i in range(folders + 1, folders + 4):  # "<mtime>\t<folder>": the folders' times now
    folder = lines[i].split("\t")[1]
    lines[i] = f"{os.stat(f'{d}/train/{folder}').st_mtime_ns}\t{folder}"
lines[lines.index("files 12")] = "files 13"
lines.insert(lines.index("1\tb/2.jpg") + 1, "1\tb/2b.jpg")
open(f"{d}/.ringtrain-index/train.tsv", "w").write("\n".join(lines) + "\n")
PY
refused fifo_cached "train/b/2b.jpg: a FIFO (named pipe), not a regular file" "$bin" "${train[@]}" --data "$d" --out "$work/x"

echo "== 3. decoders"
d=$work/decode; make_folder "$d" 40
"$py" - "$d" <<'PY'
import io, struct, sys
from PIL import Image
d = sys.argv[1]
def jpeg(**kw):
    b = io.BytesIO(); Image.new("RGB", (40, 40), (90, 20, 200)).save(b, "JPEG", **kw); return b.getvalue()
p = jpeg(progressive=True)
last = p.rfind(b"\xff\xda")
open(f"{d}/train/a/scans.jpg", "wb").write(p[:-2] + p[last:-2] * 150 + b"\xff\xd9")  # 160 scans
b = bytearray(jpeg(quality=20))
sof = b.find(b"\xff\xc0")
b[sof + 5:sof + 9] = struct.pack(">HH", 8000, 8000)  # 64 Mpx declared by a few hundred bytes
open(f"{d}/train/a/huge.jpg", "wb").write(bytes(b))
buf = io.BytesIO(); Image.new("RGB", (8, 8)).save(buf, "PNG"); b = bytearray(buf.getvalue())
b[16:24] = struct.pack(">II", 9000, 9000)
import zlib
b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
open(f"{d}/train/b/huge.png", "wb").write(bytes(b))
print(len(open(f"{d}/train/a/scans.jpg", "rb").read()), "bytes of scans.jpg,", len(b), "bytes of huge.png")
PY
for f in a/scans.jpg a/huge.jpg b/huge.png; do  # a folder with only this one bad
  one=$work/one_$(basename $f)
  cp -r "$d" "$one"
  for g in a/scans.jpg a/huge.jpg b/huge.png; do [ $g = $f ] || rm "$one/train/$g"; done
  refused "decode_$(basename $f)" "train/$f: " "$bin" "${run[@]}" --batch-size 13 --epochs 1 --data "$one" \
    --image-size 32 --out "$work/x"
done
grep -q "more than 100 scans" "$work/decode_scans.jpg.err" || { echo "FAIL: no scan limit in the message"; fail=1; }
trains decode_skip "$bin" "${run[@]}" --batch-size 5 --epochs 2 --data "$d" --image-size 32 --skip-bad-images \
  --out "$work/decode_skip.run"
skipped decode_skip "$work/decode_skip.run" 6 train/a/scans.jpg train/a/huge.jpg train/b/huge.png

echo "== 4. a sparse 30 GB CIFAR-10 batch"
d=$work/cifar; python3 "$src/scripts/make_synthetic_cifar.py" "$d" 10 10 > /dev/null
truncate -s 30730000000 "$d/data_batch_3.bin"
refused cifar_sparse "data_batch_3.bin: 30730000000 bytes, 10000000 records, more than the 100000" \
  "$bin" train --data "$d" --epochs 1 --threads 1 --out "$work/x"

echo "== 5. --skip-bad-images on every path"
d=$work/skip; make_folder "$d" 32
printf 'not a jpeg' > "$d/train/a/0.jpg"   # the first image: the one probed for the size
printf '\x89PNG\r\n\x1a\n cut' > "$d/val/b/1.png"
refused skip_off_first "train/a/0.jpg: not an image ringtrain reads" "$bin" "${train[@]}" --data "$d" --out "$work/x"
ln -s "$d/gone.jpg" "$d/train/b/9.jpg"
refused skip_off_link "train/b/9.jpg: named as an image but not a readable file (a symbolic link to nothing)" \
  "$bin" "${train[@]}" --data "$d" --out "$work/x"
mkfifo "$d/train/b/8.png"
trains skip_memory "$bin" "${train[@]}" --data "$d" --skip-bad-images --out "$work/skip_memory.run" \
  && trained_on skip_memory 11
grep -q '"data_format": "image-folder"' "$work/skip_memory.run/config.json" || { echo "FAIL: not held in memory"; fail=1; }
skipped skip_memory "$work/skip_memory.run" 4 train/a/0.jpg val/b/1.png train/b/9.jpg train/b/8.png
d=$work/skip_streamed; make_folder "$d" 40
printf '\xff\xd8\xff\xe0 cut' > "$d/train/b/3.png"
refused computed_off "train/b/3.png: " "$bin" "${train[@]}" --data "$d" --image-size 32 --normalize computed --out "$work/x"
trains computed_skip "$bin" "${run[@]}" --batch-size 4 --epochs 2 --data "$d" --image-size 32 --normalize computed \
  --skip-bad-images --out "$work/computed_skip.run" && trained_on computed_skip 12
grep -q "left out of the statistics (--skip-bad-images): .*/train/b/3.png: " "$work/computed_skip.err" \
  || { echo "FAIL: the file left out of the statistics is not named"; fail=1; }
skipped computed_skip "$work/computed_skip.run" 2 train/b/3.png  # then in each of the 2 epochs

[ $fail -eq 0 ] && echo PASS
exit $fail
