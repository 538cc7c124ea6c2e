#!/usr/bin/env bash
# Unpacks the JPEG CIFAR-10 archive (../shared/data/cifar10-jpeg.tar.zst) into DEST once.
# Usage: scripts/unpack_data.sh ARCHIVE DEST
set -euo pipefail
archive=$1 dest=$2
if [ -f "$dest/.complete" ]; then exit 0; fi
if [ ! -f "$archive" ]; then
  echo "unpack_data: $archive not found; put the CIFAR-10 JPEG archive there (see ../shared/data/README.md)" >&2
  exit 2
fi
rm -rf "$dest.partial" && mkdir -p "$dest.partial"
zstd -dc "$archive" | tar -x -C "$dest.partial"
rm -rf "$dest" && mv "$dest.partial" "$dest" && touch "$dest/.complete"
echo "unpack_data: $(find "$dest" -type f -name '*.jpg' | wc -l) images in $dest"
