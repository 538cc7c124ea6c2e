#!/usr/bin/env bash
# Files are untrusted (docs/security.md): nothing ringtrain reads can run code, and a crafted
# checkpoint or torch.save file gets one line naming it and exit code 2, within a time bound,
# with nothing half-written. Crafted files are made at test time by craft_files.py.
#  1. An old-format (TorchScript) checkpoint whose __setstate__ prints a marker: Python's
#     torch.jit.load prints it (the control); ringtrain's eval, --resume, export and a torchrun
#     restart never do. Where it is the newest checkpoint of a run folder, the one before is used.
#  2. Checkpoints crafted with a valid checksum (types, ranges, shapes, offsets, nesting) and
#     damaged ones (truncated, a flipped byte, a huge header length): eval refuses each.
#  3. torch.save files: a pickle that calls os.system (Python's unrestricted load runs it: the
#     control), tensors outside their storage, a negative stride, an overflowing size, a
#     truncated or missing record, a lying zip entry, 100,000-deep nesting: import and
#     --init-from refuse each; the same file without the crafted entry imports.
#  4. Python reads what ringtrain writes without running anything: a checkpoint with the
#     safetensors library, an export with torch.load(weights_only=True).
# Usage: untrusted_files.sh RINGTRAIN SOURCE_DIR WORK_DIR
set -uo pipefail
bin=$1 src=$2 work=$3/untrusted_files
py=$src/.venv/bin/python
[ -x "$py" ] || { echo "SKIP: no $py (run scripts/setup.sh)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
python3 "$src/scripts/make_synthetic_cifar.py" "$work/data" 16 40 > /dev/null
fail=0
. "$src/tests/integration/step.sh"
marker="RINGTRAIN-MARKER"

# refused NAME NEEDLE COMMAND...: exit 2 within 60 s, one line on stderr holding NEEDLE, no marker.
refused() {
  local name=$1 needle=$2; shift 2
  local start=$SECONDS
  timeout 60 "$@" > "$work/$name.stdout" 2> "$work/$name.stderr"; local rc=$?
  local lines; lines=$(grep -c . "$work/$name.stderr")
  if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$work/$name.stderr" &&
     ! grep -q "$marker" "$work/$name.stdout" "$work/$name.stderr"; then
    echo "ok: $name ($((SECONDS - start)) s): $(cut -c1-150 "$work/$name.stderr")"
  else
    echo "FAIL: $name: exit $rc, $lines lines on stderr (want exit 2, one line with '$needle', no marker):"
    head -c 1500 "$work/$name.stderr"; grep "$marker" "$work/$name.stdout"; fail=1
  fi
}
no_marker() {  # no_marker NAME: the step's output holds no marker
  if grep -q "$marker" "$work/$1.out"; then echo "FAIL: $1 ran code from a file"; fail=1; fi
}

step train "$bin" train --data "$work/data" --model resnet20 --epochs 2 --batch-size 16 --threads 2 \
  --out "$work/run" --log-every 100 --amp none --keep-checkpoints 2
step export "$bin" export "$work/run" --to "$work/exported.pt"

echo "== 1. an old checkpoint that runs code when TorchScript loads it"
step craft_marker "$py" "$src/tests/integration/craft_files.py" marker "$work/marker.pt"
"$py" -c "import torch, sys; torch.jit.load(sys.argv[1])" "$work/marker.pt" > "$work/control.out" 2>&1
grep -q "$marker" "$work/control.out" && echo "ok: control: Python's torch.jit.load runs the marker's code" \
  || { echo "FAIL: control: the marker checkpoint does not run its code in Python"; cat "$work/control.out"; fail=1; }
mkdir -p "$work/old_run" && cp "$work/marker.pt" "$work/old_run/checkpoint.pt"
refused eval_old "old TorchScript format" "$bin" eval --checkpoint "$work/marker.pt" --data "$work/data"
refused resume_old "old TorchScript format" "$bin" train --resume "$work/old_run" --data "$work/data" --epochs 3
refused export_old "old TorchScript format" "$bin" export "$work/marker.pt" --to "$work/old.pt"
# The newest checkpoint of a run folder is the marker: the one before is used, with a warning.
cp -r "$work/run" "$work/mixed" && cp "$work/marker.pt" "$work/mixed/checkpoint.safetensors"
step export_mixed "$bin" export "$work/mixed" --to "$work/mixed.pt" && no_marker export_mixed
grep -q "skipping.*old TorchScript format" "$work/export_mixed.out" \
  || { echo "FAIL: export_mixed did not say it skipped the newest"; fail=1; }
cp -r "$work/mixed" "$work/mixed2"
step resume_mixed "$bin" train --resume "$work/mixed" --epochs 3 --threads 2 --log-every 100 && no_marker resume_mixed
refused eval_mixed "old TorchScript format" "$bin" eval --checkpoint "$work/mixed2/checkpoint.safetensors" \
  --data "$work/data"
# A torchrun worker of the job that wrote --out's checkpoints (its identity kept in
# RINGTRAIN_JOB_ID, as a requeued job's is) continues from the newest readable one.
job=$("$py" -c "import json, struct, sys; d = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', d[:8])[0]
print(json.loads(json.loads(d[8:8 + n])['__metadata__']['ringtrain'])['job'])" "$work/mixed2/checkpoint.1.safetensors")
step torchrun_restart env RINGTRAIN_JOB_ID="$job" timeout 300 "$py" -m torch.distributed.run --standalone \
  --nproc-per-node 1 --max-restarts 1 --no-python "$bin" train --data "$work/data" --model resnet20 --epochs 3 \
  --batch-size 16 --threads 2 --out "$work/mixed2" --log-every 100 --amp none && no_marker torchrun_restart
grep -q "continuing this job (torchrun launch) from the newest checkpoint" "$work/torchrun_restart.out" \
  || { echo "FAIL: the torchrun worker did not continue from a checkpoint"; fail=1; }
[ $fail -eq 0 ] && echo "ok: export, --resume and a torchrun restart used the checkpoint before the marker"

echo "== 2. crafted and damaged checkpoints"
step craft_checkpoints "$py" "$src/tests/integration/craft_files.py" checkpoints \
  "$work/run/checkpoint.safetensors" "$work/ckpt"
step eval_same "$bin" eval --checkpoint "$work/ckpt/same.safetensors" --data "$work/data" --out "$work/eval_same"
for case in string_for_number:"checkpoint metadata is damaged" negative_position:"not a count" \
            nested_metadata:"nested more than 64" weight_of_other_shape:"expected Float [10, 64]" \
            momentum_of_no_parameter:"no parameter" tensor_of_code:"no part of a checkpoint" \
            offsets_past_end:"lies at bytes" shape_overflow:"more elements than can exist" \
            truncated:"checksum mismatch" huge_header:"not a ringtrain checkpoint" flipped_byte:"checksum mismatch" \
            config_of_wrong_types:"batch_size"; do
  name=${case%%:*} needle=${case#*:}
  [ "$name" = momentum_of_no_parameter ] || [ "$name" = config_of_wrong_types ] && continue  # resumed below
  refused "ckpt_$name" "$needle" "$bin" eval --checkpoint "$work/ckpt/$name.safetensors" --data "$work/data" \
    --out "$work/eval_$name"
  [ -e "$work/eval_$name" ] && { echo "FAIL: ckpt_$name left $work/eval_$name"; fail=1; }
done
for case in momentum_of_no_parameter:"no parameter" config_of_wrong_types:"batch_size"; do
  name=${case%%:*} needle=${case#*:}
  mkdir -p "$work/resume_$name" && cp "$work/ckpt/$name.safetensors" "$work/resume_$name/checkpoint.safetensors"
  refused "resume_$name" "$needle" "$bin" train --resume "$work/resume_$name" --data "$work/data" --epochs 3
done

echo "== 3. crafted torch.save files"
step craft_torch_save "$py" "$src/tests/integration/craft_files.py" torch_save "$work/exported.pt" "$work/ts"
"$py" -c "import torch, sys; torch.load(sys.argv[1], weights_only=False)" "$work/ts/runs_code_control.pt" \
  > /dev/null 2>&1
[ -e "$work/ts/marker_from_python" ] && echo "ok: control: Python's unrestricted torch.load runs the pickle's os.system" \
  || { echo "FAIL: control: the crafted pickle does not run in Python"; fail=1; }
step import_same "$bin" import "$work/ts/same.pt" --model resnet20 --to "$work/imported_same"
for case in runs_code:"global posix.system" offset_past_storage:"outside its storage" \
            size_past_storage:"outside its storage" negative_stride:"negative or non-integer" \
            overflowing_numel:"larger than can exist" truncated_record:"truncated or crafted" \
            missing_record:"is missing" lying_zip_entry:"$work/ts/lying_zip_entry.pt" \
            deeply_nested:"nested more than 100 deep" zip64_directory_offset:"a damaged zip archive"; do
  name=${case%%:*} needle=${case#*:}
  refused "import_$name" "$needle" "$bin" import "$work/ts/$name.pt" --model resnet20 --to "$work/imported_$name"
  [ -e "$work/imported_$name/checkpoint.safetensors" ] && { echo "FAIL: import_$name wrote a checkpoint"; fail=1; }
done
refused init_from_runs_code "global posix.system" "$bin" train --data "$work/data" --model resnet20 --epochs 1 \
  --batch-size 16 --init-from "$work/ts/runs_code.pt" --out "$work/init_from"
[ -e "$work/ts/marker_from_import" ] && { echo "FAIL: importing ran the pickle's os.system"; fail=1; }

echo "== 4. Python reads what ringtrain writes, without running anything"
"$py" - "$work/run/checkpoint.safetensors" "$work/exported.pt" <<'PY' || fail=1
import sys, torch
sd = torch.load(sys.argv[2], weights_only=True)
try:
    from safetensors.torch import load_file
except ImportError:
    print("ok: exported.pt loads with torch.load(weights_only=True) (safetensors not installed: checkpoint not read)")
    sys.exit(0)
ck = load_file(sys.argv[1])
same = all(torch.equal(ck["model/" + k], v) for k, v in sd.items())
print(f"{'ok' if same else 'FAIL'}: safetensors reads the checkpoint ({len(ck)} tensors) and its weights equal the "
      "export's, which torch.load(weights_only=True) reads")
sys.exit(0 if same else 1)
PY

[ $fail -eq 0 ] && echo "untrusted files: all checks passed"
exit $fail
