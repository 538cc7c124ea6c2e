#!/usr/bin/env bash
# The CIFAR "python version" (issue 23): what torchvision's CIFAR10/CIFAR100(download=True) leaves
# on disk is read directly, as the same images and labels as the binary version.
#  1. make_cifar_python.py writes small CIFAR-10 and CIFAR-100 sets in both versions (the python
#     one as Python 2's cPickle wrote the official files, and a protocol-5 copy) and checks that
#     torchvision reads the python version back as written;
#  2. a run on each python version ends with the same weights, bit for bit, and the same test
#     loss as the run on the binary version; a torchvision root (the folder holding
#     cifar-10-batches-py/) is found too;
#  3. a batch that calls os.system when unpickled, a truncated one and one with a label out of
#     range each stop the run with exit 2 and one line naming the file, and nothing is run; the
#     class count comes from the data, and an explicit one that disagrees is an error.
# Usage: cifar_python.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/cifar_python
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
unset RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT OMPI_COMM_WORLD_RANK OMPI_COMM_WORLD_SIZE
rm -rf "$work" && mkdir -p "$work"
fail=0
fix=$work/fixtures

echo "== 1. the fixtures, checked against torchvision"
"$py" "$src/tests/integration/make_cifar_python.py" "$fix" || exit 1

run=(train --model resnet20 --threads 1 --loader-threads 1 --amp none --batch-size 32 --epochs 1)
trains() {
  local name=$1; shift
  timeout 120 "$bin" "${run[@]}" --out "$work/$name" "$@" > "$work/$name.out" 2> "$work/$name.err" && return 0
  echo "FAIL: $name exited $? (124: timed out):"; tail -5 "$work/$name.err"; fail=1; return 1
}

# same NAME REFERENCE FORMAT: the run's checkpoint tensors equal the reference's, bit for bit, its
# test loss is the reference's and its metrics name the data's format.
same() {
  "$py" - "$work/$1" "$work/$2" "$3" <<'PY' || fail=1
import json, sys
from safetensors.numpy import load_file
run, ref, fmt = sys.argv[1:4]
a, b = load_file(f"{run}/checkpoint.safetensors"), load_file(f"{ref}/checkpoint.safetensors")
differ = [k for k in b if k not in a or a[k].tobytes() != b[k].tobytes()]
ma, mb = json.load(open(f"{run}/metrics.json")), json.load(open(f"{ref}/metrics.json"))
ok = not differ and len(a) == len(b) and ma["test_loss"] == mb["test_loss"]
print(f"{'ok' if ok else 'FAIL'} {run.split('/')[-1]}: {len(a)} tensors, {len(differ)} differ from "
      f"{ref.split('/')[-1]}; test loss {ma['test_loss']!r} vs {mb['test_loss']!r}")
fmt_seen = ma["environment"].get("data_format")
if fmt_seen != fmt:
    print(f"FAIL: data format {fmt_seen}, expected {fmt}")
    ok = False
sys.exit(0 if ok else 1)
PY
}

echo "== 2. the python versions train as the binary ones"
trains c10_bin --data "$fix/cifar-10-batches-bin" --num-classes 10  # explicit and agreeing
trains c10_py2 --data "$fix/cifar-10-batches-py" && same c10_py2 c10_bin cifar10-python
trains c10_py5 --data "$fix/cifar10-protocol5" && same c10_py5 c10_bin cifar10-python
mkdir -p "$work/tvroot" && cp -r "$fix/cifar-10-batches-py" "$work/tvroot/"
trains c10_root --data "$work/tvroot" && same c10_root c10_bin cifar10-python
grep -q "cifar10-python" "$work/c10_root.out" || { echo "FAIL: the log does not name the python version:"; head -5 "$work/c10_root.out"; fail=1; }
trains c100_bin --data "$fix/cifar-100-binary"  # the class count from the data
trains c100_py --data "$fix/cifar-100-python" && same c100_py c100_bin cifar100-python

echo "== 3. crafted and damaged batches"
# refused NAME FILE EXPECT...: exit 2, one stderr line naming FILE and holding EXPECT.
refused() {
  local name=$1 file=$2 expect=$3
  timeout 60 "$bin" "${run[@]}" --data "$work/$name" --out "$work/$name.run" > "$work/$name.out" \
    2> "$work/$name.err"; local rc=$?
  local lines; lines=$(wc -l < "$work/$name.err")
  if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$file" "$work/$name.err" || ! grep -qF -- "$expect" "$work/$name.err"; then
    echo "FAIL: $name: exit $rc, $lines stderr lines, expected exit 2 and one line naming $file with '$expect':"
    tail -3 "$work/$name.err"; fail=1
  else
    echo "ok $name: $(cat "$work/$name.err")"
  fi
}
for case in code truncated label; do cp -r "$fix/cifar-10-batches-py" "$work/$case"; done
"$py" - "$work/code/data_batch_2" "$work/pwned" <<'PY'
import os, pickle, sys
class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {sys.argv[2]}",))
pickle.dump({"data": Payload(), "labels": []}, open(sys.argv[1], "wb"), protocol=2)
PY
refused code "code/data_batch_2" "global posix.system"
[ -e "$work/pwned" ] && { echo "FAIL: the crafted batch ran its code"; fail=1; }
head -c 20000 "$fix/cifar-10-batches-py/test_batch" > "$work/truncated/test_batch"
refused truncated "truncated/test_batch" "truncated"
"$py" - "$work/label/data_batch_5" <<'PY'
import pickle, sys
batch = pickle.load(open(sys.argv[1], "rb"), encoding="latin1")
batch["labels"][3] = 10
pickle.dump(batch, open(sys.argv[1], "wb"), protocol=2)
PY
refused label "label/data_batch_5" "image 3 has label 10"
# An explicit class count that disagrees with the data stays an error.
cp -r "$fix/cifar-100-python" "$work/classes"
timeout 60 "$bin" "${run[@]}" --data "$work/classes" --num-classes 10 --out "$work/classes.run" > "$work/classes.out" \
  2> "$work/classes.err"
rc=$?
if [ $rc -eq 2 ] && grep -qF "pass --num-classes 100 or leave it out" "$work/classes.err"; then
  echo "ok classes: $(cat "$work/classes.err")"
else
  echo "FAIL: --num-classes 10 on CIFAR-100 exited $rc:"; tail -2 "$work/classes.err"; fail=1
fi

[ $fail -eq 0 ] && echo "PASS" || echo "FAILED"
exit $fail
