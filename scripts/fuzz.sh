#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) with clang 14, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-fuzz/, and runs each for SECONDS (default 60) on its seed
# corpus (tests/fuzz/seeds/<name>/, plus seeds made now from the venv's torch and PIL). Prints
# one line per harness: executions, coverage, corpus size, and what it found; exits 1 if any
# harness crashed, leaked or timed out (the reproducer is kept in build-fuzz/findings/<name>/).
#   scripts/fuzz.sh [SECONDS] [NAME ...]      # after scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true

# clang 14 and its runtime (libFuzzer, the sanitizers) from Debian.
missing=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
PY=.venv/bin/python
[ -x "$PY" ] || { echo "fuzz: run scripts/setup.sh first (it makes .venv with torch)" >&2; exit 2; }
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')

B=build-fuzz
mkdir -p "$B"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS="-gline-tables-only" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DRINGTRAIN_FUZZ=ON -DRINGTRAIN_SANITIZE=ON -DRINGTRAIN_BUILD_TESTS=OFF > /dev/null 2> "$B/configure.log" \
  || { cat "$B/configure.log" >&2; exit 1; }
names=("$@")
if ((${#names[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.cpp; do names+=("$(basename "$f" .cpp | sed 's/^fuzz_//')"); done
fi
cmake --build "$B" -j "$(nproc)" --target "${names[@]/#/fuzz_}" -- --no-print-directory > "$B/build.log" 2>&1 \
  || { tail -30 "$B/build.log"; echo "fuzz: the build failed (all of it in $B/build.log)" >&2; exit 1; }

# Seeds made now (nothing binary is committed): tensor files from torch, images from PIL.
"$PY" tests/fuzz/make_tensor_seeds.py "$B/seeds" > /dev/null
[ -f tests/fuzz/make_seeds.py ] && "$PY" tests/fuzz/make_seeds.py "$B/seeds/image_decode" "$B/seeds/image_cache" > /dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for name in "${names[@]}"; do
  corpus=$B/corpus/$name findings=$B/findings/$name
  mkdir -p "$corpus" "$findings"
  seeds=()
  for d in "tests/fuzz/seeds/$name" "$B/seeds/$name"; do [ -d "$d" ] && seeds+=("$d"); done
  log=$B/fuzz_$name.log
  set +e
  dict=(); [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  "$B/tests/fuzz/fuzz_$name" "$corpus" "${seeds[@]}" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  units=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    echo "fuzz_$name: clean for ${seconds} s: $execs executions, coverage $cov edges, corpus $units inputs"
  else
    echo "fuzz_$name: FOUND a problem (exit $rc) after $execs executions: $(ls "$findings" | head -3 | tr '\n' ' ')"
    grep -m3 -E "ERROR: |runtime error|SUMMARY" "$log" || tail -5 "$log"
    status=1
  fi
done
exit $status
