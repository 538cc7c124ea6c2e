#!/usr/bin/env bash
# Installs everything ringtrain needs and builds it in Release into build/.
# Idempotent and quiet: re-running skips what is already there.
#   Debian packages  (apt-get; needs root or sudo)
#   .venv/           Python venv with the pinned torch wheel (its LibTorch is what we link)
#                    and the matching torchvision (Python references and fixtures)
#   build/           cmake -DCMAKE_BUILD_TYPE=Release
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0        # pinned: the LibTorch we build against (the GPU machine runs 2.11 too)
TORCHVISION_VERSION=0.26.0  # the torchvision release that matches it
TENSORBOARD_VERSION=2.21.0  # reads our event files in the tests
SAFETENSORS_VERSION=0.8.0   # reads our checkpoints in the tests (Hugging Face's own reader)
DEB_PACKAGES=(build-essential cmake pkg-config python3-venv zstd
  libcli11-dev nlohmann-json3-dev libfmt-dev libjpeg62-turbo-dev libturbojpeg0-dev libpng-dev libwebp-dev libtiff-dev zlib1g-dev libgtest-dev libgloo-dev
  libyaml-cpp-dev libjemalloc-dev libplplot-dev plplot-driver-cairo fonts-dejavu-core
  libprotobuf-dev protobuf-compiler libboost-dev libcurl4-openssl-dev libarchive-dev libssl-dev
  openmpi-bin iproute2 clang-format)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Disk: a first install needs about 12 GiB (the venv with torch's CUDA wheels 5 GiB, pip's
# downloads while it installs 3 GiB, the build 3 GiB). Say so plainly rather than fail in pip.
need_gib() {
  local want=$1 avail
  avail=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
  if ((avail < want)); then
    echo "setup: only ${avail} GiB free on $(df -P . | awk 'NR==2 {print $6}'); a first install needs about ${want} GiB: free some space and run it again" >&2
    exit 1
  fi
}

PY=.venv/bin/python
[ -x "$PY" ] || need_gib 12
if [ ! -x "$PY" ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! "$PY" -c "import torch, torchvision, sys; sys.exit(not (torch.__version__.startswith('$TORCH_VERSION') and torchvision.__version__.startswith('$TORCHVISION_VERSION')))" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION into .venv (a few GB, once)"
  "$PY" -m pip install -q --no-cache-dir --disable-pip-version-check "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi
# tensorboard: the tests read our event files with TensorBoard's own reader.
if ! "$PY" -c "import tensorboard" 2>/dev/null; then
  echo "setup: installing tensorboard into .venv"
  "$PY" -m pip install -q --disable-pip-version-check "tensorboard==$TENSORBOARD_VERSION"
fi
# safetensors: the tests read our checkpoints with the format's reference reader.
if ! "$PY" -c "import safetensors" 2>/dev/null; then
  echo "setup: installing safetensors into .venv"
  "$PY" -m pip install -q --disable-pip-version-check "safetensors==$SAFETENSORS_VERSION"
fi
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DRINGTRAIN_WERROR="${RINGTRAIN_WERROR:-OFF}" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" -- --no-print-directory
echo "setup: built $BUILD_DIR/ringtrain"
