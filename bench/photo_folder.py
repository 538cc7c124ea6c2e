#!/usr/bin/env python3
"""A folder of large real photographs for the image-file data pipeline and its resized-image
cache (docs/performance.md): the desktop backgrounds of Debian's packages (gnome-backgrounds,
mate-backgrounds, plasma-workspace-wallpapers, sway-backgrounds, ukui-wallpapers,
lomiri-wallpapers: JPEGs of 1280-5640 px, progressive and baseline, PNGs with alpha, WebP),
downloaded with `apt-get download` and unpacked (nothing installed), as a 3-class orientation
task that a small network learns from few images and that needs the pictures' content:
upright, sideways (turned 90 degrees either way) and upside down. Each photo appears in one
split only (one in five goes to val/), turned as its class says and saved in its own format
(JPEG at quality 92, progressive where it was; PNG; WebP at quality 90).

    .venv/bin/python bench/photo_folder.py OUT [--work /tmp/photo-debs]
"""
import argparse
import hashlib
import os
import subprocess
import sys

from PIL import Image

PACKAGES = ["gnome-backgrounds", "mate-backgrounds", "plasma-workspace-wallpapers", "sway-backgrounds",
            "ukui-wallpapers", "lomiri-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"]
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
MIN_BYTES = 100_000  # thumbnails and icons left out
TURN = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def unpack(work):
    x = os.path.join(work, "x")
    if os.path.isdir(x):
        return x
    debs = os.path.join(work, "debs")
    os.makedirs(debs, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True, stdout=subprocess.DEVNULL)
    for d in sorted(os.listdir(debs)):
        subprocess.run(["dpkg-deb", "-x", os.path.join(debs, d), x], check=True)
    return x


def photos(root):
    found = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if f.lower().endswith(EXTENSIONS) and not os.path.islink(p) and os.path.getsize(p) >= MIN_BYTES:
                found.append(p)
    # one copy of each picture (packages ship the same file under several names)
    seen, unique = set(), []
    for p in sorted(found):
        digest = hashlib.sha256(open(p, "rb").read()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            unique.append(p)
    return unique


def save(img, src, out, progressive):
    ext = os.path.splitext(src)[1].lower()
    if ext in (".jpg", ".jpeg"):
        img.convert("RGB").save(out + ".jpg", "JPEG", quality=92, progressive=progressive)
    elif ext == ".png":
        img.save(out + ".png", "PNG")
    else:
        img.save(out + ".webp", "WEBP", quality=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--work", default="/tmp/photo-debs")
    a = ap.parse_args()
    srcs = photos(unpack(a.work))
    Image.MAX_IMAGE_PIXELS = None
    turns = {"upright": [0], "sideways": [90, 270], "upside_down": [180]}
    counts = {}
    for i, src in enumerate(srcs):
        split = "val" if i % 5 == 4 else "train"
        img = Image.open(src)
        img.load()
        progressive = bool(img.info.get("progressive"))
        stem = f"{i:03d}_" + os.path.splitext(os.path.basename(src))[0].replace(" ", "_")
        for cls, angles in turns.items():
            angle = angles[i % len(angles)]
            turned = img.transpose(TURN[angle]) if angle else img
            folder = os.path.join(a.out, split, cls)
            os.makedirs(folder, exist_ok=True)
            save(turned, src, os.path.join(folder, stem), progressive)
            counts[split] = counts.get(split, 0) + 1
    print(f"photo_folder: {len(srcs)} photos -> {counts.get('train', 0)} training and {counts.get('val', 0)} "
          f"validation images in {a.out}")


if __name__ == "__main__":
    sys.exit(main())
