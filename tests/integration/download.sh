#!/usr/bin/env bash
# `ringtrain download` against a local HTTP server (cifar_http_server.py) serving a small
# archive with the CIFAR-10 layout: a good download, a dropped connection resumed with a Range
# request, a stalled transfer retried, a server that ignores Range, a re-run resuming a .part,
# file:// URLs, and the errors (checksum, bad --md5, unreachable host, 404, unsafe archive; a
# zip, an mtree, an archive bomb), each exiting 2 with one line and leaving no data folder
# behind; and it never deletes a file it did not make (one named as the archive or its .part).
# Usage: download.sh RINGTRAIN WORK_DIR
set -uo pipefail
bin=$1 work=$2/download
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
rm -rf "$work" && mkdir -p "$work/srv/bad" "$work/srv/evil"
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# A small archive with the real one's layout, a copy with one byte flipped, and one whose
# entry climbs out of the target folder.
set_dir=$work/srv/cifar-10-batches-bin
python3 "$src/scripts/make_synthetic_cifar.py" "$set_dir" 16 16
printf '%s\n' airplane automobile bird cat deer dog frog horse ship truck > "$set_dir/batches.meta.txt"
(cd "$work/srv" && tar czf cifar-10-binary.tar.gz cifar-10-batches-bin)
archive=$work/srv/cifar-10-binary.tar.gz
md5=$(md5sum "$archive" | cut -d' ' -f1)
size=$(stat -c %s "$archive")
cp "$archive" "$work/srv/bad/cifar-10-binary.tar.gz"
python3 - "$work/srv/bad/cifar-10-binary.tar.gz" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xFF; open(p, "wb").write(b)
PY
python3 - "$work/srv/evil/cifar-10-binary.tar.gz" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    data = b"escaped"
    info = tarfile.TarInfo("../escaped.txt"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
PY
evil_md5=$(md5sum "$work/srv/evil/cifar-10-binary.tar.gz" | cut -d' ' -f1)
echo "archive: $size bytes, md5 $md5"

log=$work/server.log
python3 "$here/cifar_http_server.py" "$work/srv" "$work/port" "$log" > "$work/server.out" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "FAIL: the test server did not start"; cat "$work/server.out"; exit 1; }
base=http://127.0.0.1:$(cat "$work/port")
touch "$log"

# run NAME ARGS...: runs the binary, keeping stdout/stderr in $work/NAME.out/.err; sets rc.
run() {
  local name=$1; shift
  "$bin" download "$@" > "$work/$name.out" 2> "$work/$name.err"; rc=$?
}
# expect_data NAME DIR: exit 0, the unpacked files equal the source, nothing else left over.
expect_data() {
  local name=$1 dir=$2 f
  if [ "$rc" -ne 0 ]; then bad "$name: exited $rc: $(cat "$work/$name.err")"; return; fi
  for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin batches.meta.txt; do
    cmp -s "$set_dir/$f" "$dir/cifar-10-batches-bin/$f" || { bad "$name: $dir/cifar-10-batches-bin/$f differs from the source"; return; }
  done
  compgen -G "$dir/*.ringtrain-part" > /dev/null && bad "$name: a .ringtrain-part file is left in $dir"
  compgen -G "$dir/.cifar-10-batches-bin.unpack.*" > /dev/null && bad "$name: a scratch folder is left in $dir"
  grep -q "ringtrain train --data $dir/cifar-10-batches-bin" "$work/$name.out" || bad "$name: the last line does not say how to train"
  ok "$name: the unpacked files equal the source"
}
# expect_error NAME PATTERN DIR: exit 2, one line on stderr matching PATTERN, no data folder.
expect_error() {
  local name=$1 pattern=$2 dir=$3
  if [ "$rc" -ne 2 ]; then bad "$name: exited $rc, expected 2 ($(cat "$work/$name.err"))"; return; fi
  grep -qi -- "$pattern" "$work/$name.err" || { bad "$name: '$(cat "$work/$name.err")' lacks '$pattern'"; return; }
  [ "$(wc -l < "$work/$name.err")" -eq 1 ] || bad "$name: more than one line on stderr"
  [ -e "$dir/cifar-10-batches-bin" ] && bad "$name: $dir/cifar-10-batches-bin exists after a failure"
  ok "$name -> $(cat "$work/$name.err")"
}

# (1) A good download, archive deleted afterwards.
run good --to "$work/d1" --url "$base/cifar-10-binary.tar.gz" --md5 "$md5"
expect_data good "$work/d1"
[ -e "$work/d1/cifar-10-binary.tar.gz" ] && bad "good: the archive was kept without --keep-archive"

# (2) The connection drops after 100000 bytes: the retry resumes with a Range request.
run dropped --to "$work/d2" --url "$base/drop/100000/cifar-10-binary.tar.gz" --md5 "$md5"
expect_data dropped "$work/d2"
grep -q "GET /drop/100000/cifar-10-binary.tar.gz Range: bytes=100000-" "$log" \
  && ok "dropped: resumed with Range: bytes=100000-" || bad "dropped: no Range request in the server log"

# (2b) With no retries left the .part is kept and the error says to re-run; the re-run resumes.
run no_retries --to "$work/d2b" --url "$base/drop/70000/cifar-10-binary.tar.gz" --md5 "$md5" --retries 0
expect_error no_retries "failed after 1 attempt.*re-run to resume" "$work/d2b"
[ "$(stat -c %s "$work/d2b/cifar-10-binary.tar.gz.ringtrain-part" 2>/dev/null)" = 70000 ] && ok "no_retries: kept 70000 bytes" \
  || bad "no_retries: the .ringtrain-part does not hold the 70000 bytes received"
run no_retries_rerun --to "$work/d2b" --url "$base/drop/70000/cifar-10-binary.tar.gz" --md5 "$md5" --retries 0
expect_data no_retries_rerun "$work/d2b"

# (2c) A .part that is already complete (killed before the rename): 416, verified, unpacked.
mkdir -p "$work/d2c" && cp "$archive" "$work/d2c/cifar-10-binary.tar.gz.ringtrain-part"
run complete_part --to "$work/d2c" --url "$base/cifar-10-binary.tar.gz?complete" --md5 "$md5"
expect_data complete_part "$work/d2c"

# (3) A stale .part and a server that ignores Range: starts again from zero, still correct.
mkdir -p "$work/d3" && head -c 5000 /dev/zero > "$work/d3/cifar-10-binary.tar.gz.ringtrain-part"
run norange --to "$work/d3" --url "$base/norange/cifar-10-binary.tar.gz" --md5 "$md5"
expect_data norange "$work/d3"

# (3b) A re-run resumes the .part an interrupted run left (its first 50000 bytes).
mkdir -p "$work/d3b" && head -c 50000 "$archive" > "$work/d3b/cifar-10-binary.tar.gz.ringtrain-part"
run rerun_resume --to "$work/d3b" --url "$base/cifar-10-binary.tar.gz?resume" --md5 "$md5"
expect_data rerun_resume "$work/d3b"
grep -q "GET /cifar-10-binary.tar.gz?resume Range: bytes=50000-" "$log" \
  && ok "rerun_resume: asked for bytes=50000-" || bad "rerun_resume: no Range request in the server log"

# (3c) A transfer that stalls is abandoned after --timeout and resumed.
start=$(date +%s)
run stalled --to "$work/d3c" --url "$base/stall/60000/cifar-10-binary.tar.gz" --md5 "$md5" --timeout 2
expect_data stalled "$work/d3c"
grep -q "GET /stall/60000/cifar-10-binary.tar.gz Range: bytes=60000-" "$log" \
  && ok "stalled: resumed after $(( $(date +%s) - start )) s" || bad "stalled: no Range request in the server log"

# (4) A corrupted archive: checksum mismatch, nothing left behind.
run corrupted --to "$work/d4" --url "$base/bad/cifar-10-binary.tar.gz" --md5 "$md5"
expect_error corrupted "MD5" "$work/d4"
compgen -G "$work/d4/cifar-10-binary.tar.gz*" > /dev/null && bad "corrupted: the archive or .part was left"

# (5) --md5 that is not 32 hex digits.
run bad_md5 --to "$work/d5" --url "$base/cifar-10-binary.tar.gz" --md5 c32a1d4ab5d03f1284b67883e8d8753
expect_error bad_md5 "--md5" "$work/d5"

# (6) Nothing listens on the port: a clear line within a few seconds.
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s)
"$bin" download --to "$work/d6" --url "http://127.0.0.1:$closed_port/cifar-10-binary.tar.gz" \
  > "$work/unreachable.out" 2> "$work/unreachable.err" & pid=$!
( sleep 20 && kill $pid 2>/dev/null ) & watchdog=$!
wait $pid; rc=$?
kill $watchdog 2>/dev/null
expect_error unreachable "cannot reach .*no network.*file://" "$work/d6"
elapsed=$(( $(date +%s) - start ))
[ $elapsed -le 10 ] && ok "unreachable: failed in $elapsed s" || bad "unreachable: took $elapsed s"

# (7) 404.
run not_found --to "$work/d7" --url "$base/no-such-archive.tar.gz"
expect_error not_found "HTTP 404" "$work/d7"
compgen -G "$work/d7/*" > /dev/null && bad "not_found: left files in $work/d7"

# (8) A re-run over a complete folder: exit 0, no request.
requests=$(wc -l < "$log")
run again --to "$work/d1" --url "$base/cifar-10-binary.tar.gz" --md5 "$md5"
expect_data again "$work/d1"
grep -q "already holds" "$work/again.out" || bad "again: does not say the data is already there"
[ "$(wc -l < "$log")" -eq "$requests" ] && ok "again: no request to the server" || bad "again: the server was asked"

# (9) file:// URL (no network needed), keeping the archive.
run file_url --to "$work/d9" --url "file://$archive" --md5 "$md5" --keep-archive
expect_data file_url "$work/d9"
cmp -s "$archive" "$work/d9/cifar-10-binary.tar.gz" && ok "file_url: --keep-archive kept the archive" \
  || bad "file_url: the archive was not kept"
# ... and the archive already in the target folder is used in place and never deleted.
mkdir -p "$work/d9b" && cp "$archive" "$work/d9b/"
run in_place --to "$work/d9b" --url "file://$work/d9b/cifar-10-binary.tar.gz" --md5 "$md5"
expect_data in_place "$work/d9b"
[ -e "$work/d9b/cifar-10-binary.tar.gz" ] && ok "in_place: the user's archive is still there" || bad "in_place: the user's archive was deleted"

# (10) A file:// URL to a missing file, an incomplete existing folder, an archive escaping '..'.
run missing_file --to "$work/d10" --url "file://$work/nope.tar.gz"
expect_error missing_file "nope.tar.gz" "$work/d10"
mkdir -p "$work/d11/cifar-10-batches-bin"
run incomplete --to "$work/d11" --url "$base/cifar-10-binary.tar.gz" --md5 "$md5"
[ $rc -eq 2 ] && grep -q "not a complete CIFAR-10" "$work/incomplete.err" && ok "incomplete -> $(cat "$work/incomplete.err")" \
  || bad "incomplete: exited $rc ($(cat "$work/incomplete.err"))"
run escape --to "$work/d12" --url "$base/evil/cifar-10-binary.tar.gz" --md5 "$evil_md5"
expect_error escape "refusing" "$work/d12"
[ -e "$work/escaped.txt" ] && bad "escape: an entry was written outside the target folder"
compgen -G "$work/d12/.cifar-10-batches-bin.unpack.*" > /dev/null && bad "escape: a scratch folder is left"

# (11) Files of the user's named as the archive or as a .part: used if they are the archive,
# never deleted or changed if they are not.
mkdir -p "$work/d13"
echo "my notes, not an archive" > "$work/d13/cifar-10-binary.tar.gz"
echo "my own partial file" > "$work/d13/cifar-10-binary.tar.gz.part"
cp "$work/d13/cifar-10-binary.tar.gz" "$work/d13.notes" && cp "$work/d13/cifar-10-binary.tar.gz.part" "$work/d13.part"
run unrelated --to "$work/d13" --url "$base/cifar-10-binary.tar.gz?unrelated" --md5 "$md5"
expect_data unrelated "$work/d13"
cmp -s "$work/d13/cifar-10-binary.tar.gz" "$work/d13.notes" && cmp -s "$work/d13/cifar-10-binary.tar.gz.part" "$work/d13.part" \
  && ok "unrelated: the user's cifar-10-binary.tar.gz and .part are untouched" || bad "unrelated: a user's file was deleted or changed"
mkdir -p "$work/d13c" && cp "$work/d13.notes" "$work/d13c/cifar-10-binary.tar.gz"
run keep_over --to "$work/d13c" --url "$base/cifar-10-binary.tar.gz" --md5 "$md5" --keep-archive
expect_error keep_over "--keep-archive would replace" "$work/d13c"
cmp -s "$work/d13c/cifar-10-binary.tar.gz" "$work/d13.notes" && ok "keep_over: the user's file is untouched" || bad "keep_over: the user's file changed"
# ... and an archive that is already there and right is used in place and kept.
mkdir -p "$work/d13d" && cp "$archive" "$work/d13d/"
requests=$(wc -l < "$log")
run existing --to "$work/d13d" --url "$base/cifar-10-binary.tar.gz" --md5 "$md5"
expect_data existing "$work/d13d"
cmp -s "$archive" "$work/d13d/cifar-10-binary.tar.gz" && [ "$(wc -l < "$log")" -eq "$requests" ] \
  && ok "existing: used in place, kept, no request" || bad "existing: the archive was deleted or downloaded again"

# (12) Only tar and tar.gz: a zip of the right layout, an mtree naming local files to copy.
(cd "$work/srv" && python3 - <<'PY'
import os, zipfile
with zipfile.ZipFile("cifar.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir("cifar-10-batches-bin")):
        z.write("cifar-10-batches-bin/" + name)
lines = ["#mtree", "cifar-10-batches-bin type=dir"]
for name in sorted(os.listdir("cifar-10-batches-bin")):
    lines.append("cifar-10-batches-bin/%s type=file contents=%s/cifar-10-batches-bin/%s" % (name, os.getcwd(), name))
open("cifar.mtree", "w").write("\n".join(lines) + "\n")
PY
)
for kind in zip mtree; do
  f=$work/srv/cifar.$kind
  start=$(date +%s)
  run "format_$kind" --to "$work/d14_$kind" --url "file://$f" --md5 "$(md5sum "$f" | cut -d' ' -f1)"
  expect_error "format_$kind" "not a readable tar or tar.gz archive" "$work/d14_$kind"
  [ -e "$f" ] || bad "format_$kind: the user's file:// source was deleted"
done

# (13) An archive bomb: ~1 MB of .tar.gz declaring 1 GB; refused from its headers in seconds,
# writing nothing (the limit is 740 MB, 4x CIFAR-10's 185).
python3 - "$work/srv/bomb.tar.gz" <<'PY'
import io, sys, tarfile
class Zeros(io.RawIOBase):
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.left); b[:k] = bytes(k); self.left -= k; return k
with tarfile.open(sys.argv[1], "w:gz", compresslevel=1) as t:
    info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin"); info.size = 1 << 30
    t.addfile(info, io.BufferedReader(Zeros(info.size), 1 << 20))
PY
start=$(date +%s)
run bomb --to "$work/d15" --url "file://$work/srv/bomb.tar.gz" --md5 "$(md5sum "$work/srv/bomb.tar.gz" | cut -d' ' -f1)"
expect_error bomb "unpacks to more than 740 MB" "$work/d15"
elapsed=$(( $(date +%s) - start ))
[ $elapsed -le 60 ] && ok "bomb: refused in $elapsed s" || bad "bomb: took $elapsed s"
[ "$(du -sk "$work/d15" | cut -f1)" -lt 1024 ] && ok "bomb: nothing written" || bad "bomb: $(du -sh "$work/d15") left"

[ $fail -eq 0 ] && echo PASS
exit $fail
