#!/usr/bin/env bash
# Packs what a GPU machine lent by this workplace's `device` tool needs for bench/gpu_check.sh
# into .device/ (git-ignored), because that machine has torch 2.11 (cu130) but none of the
# Debian -dev packages ringtrain builds against, and no network:
#   .device/ringtrain-bundle.tar.gz  bin/ringtrain, bin/zstd and lib/: the shared libraries they
#                                    load that come neither with torch (torch/lib, nvidia/*) nor
#                                    with the C runtime (glibc, libstdc++, libgcc: newer there)
#   .device/cifar10-jpeg.tar.zst     the real CIFAR-10 (../shared/data)
# ringtrain is built here against the pinned wheel torch==2.11.0+cu130, the same build of
# LibTorch as the GPU machine's torch, which it loads there instead. Run after a build:
#   scripts/device_bundle.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
archive=$root/../shared/data/cifar10-jpeg.tar.zst
out=$root/.device
for f in "$build/ringtrain" "$archive"; do
  [ -f "$f" ] || { echo "device_bundle: $f not found (build first: scripts/setup.sh)" >&2; exit 2; }
done
rm -rf "$out" && mkdir -p "$out/stage/bin" "$out/stage/lib"
cp "$build/ringtrain" "$(command -v zstd)" "$out/stage/bin/"
for b in "$out"/stage/bin/*; do ldd "$b"; done | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  case "$lib" in
    */torch/lib/* | */nvidia/* | */libcudart.so*) ;;  # the GPU machine's torch brings these
    */libc.so.* | */libm.so.* | */libpthread.so.* | */libdl.so.* | */librt.so.* | */ld-linux*) ;;
    */libstdc++.so.* | */libgcc_s.so.*) ;;
    *) cp -L "$lib" "$out/stage/lib/" ;;
  esac
done
tar -C "$out/stage" -czf "$out/ringtrain-bundle.tar.gz" bin lib
cp "$archive" "$out/"
rm -rf "$out/stage"
echo "device_bundle: $(du -sh "$out" | cut -f1) in $out; on the GPU machine run bench/gpu_check.sh with carry [\".device\"]"
