#!/usr/bin/env bash
# Formats every C++ file under src/ and tests/ with the repository's .clang-format (the
# `format` test checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
find src tests -name '*.h' -o -name '*.cpp' | xargs clang-format -i --style=file
