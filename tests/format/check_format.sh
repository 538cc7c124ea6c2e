#!/usr/bin/env bash
# Every C++ file under src/ and tests/ is formatted by the repository's .clang-format.
# Usage: check_format.sh SOURCE_DIR     (fix: scripts/format.sh)
set -uo pipefail
src=$1
command -v clang-format > /dev/null || { echo "FAIL: clang-format is not installed (scripts/setup.sh installs it)"; exit 1; }
mapfile -t files < <(cd "$src" && find src tests -name '*.h' -o -name '*.cpp' | sort)
bad=()
for f in "${files[@]}"; do
  clang-format --style=file --dry-run --Werror "$src/$f" > /dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "FAIL: ${#bad[@]} of ${#files[@]} files are not formatted: ${bad[*]}"
  echo "fix with: scripts/format.sh"
  exit 1
fi
echo "ok: all ${#files[@]} C++ files follow .clang-format ($(clang-format --version | head -1))"
