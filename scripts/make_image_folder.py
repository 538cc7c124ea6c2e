#!/usr/bin/env python3
"""Writes an image folder of large images (train/<class>/, val/<class>/) for tests and benchmarks.

    make_image_folder.py OUT [--classes 4] [--train 40] [--val 12] [--seed 1]
        Learnable synthetic images of varied sizes (96..400 px a side): each class a shape and a
        hue on a textured background. The files mix the formats a real data set holds: baseline
        and progressive JPEG, greyscale and CMYK JPEG, RGB, palette and RGBA PNG.
    make_image_folder.py OUT --from-cifar DIR [--per-class 100] [--size 500x375] [--quality 90]
        ImageNet-like JPEGs for the data-pipeline benchmark: CIFAR JPEGs (DIR/train/<class>/)
        upscaled to SIZE with grain (noise std 25), so that files are about as large as ImageNet's
        (~110 KB at 500x375, quality 90).

Needs Pillow and numpy (the project's .venv has both).
"""
import argparse
import os
import random

import numpy as np
from PIL import Image, ImageDraw

HUES = [(220, 40, 40), (40, 180, 60), (40, 80, 220), (230, 200, 30), (200, 60, 200), (30, 200, 200),
        (240, 130, 20), (120, 120, 120), (150, 90, 40), (250, 250, 250)]


def synthetic_image(label, rng, nrng):
    w, h = rng.randint(96, 400), rng.randint(96, 400)
    # Background: a random smooth gradient plus texture.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([rng.uniform(40, 200) + rng.uniform(-0.3, 0.3) * xx + rng.uniform(-0.3, 0.3) * yy
                     for _ in range(3)], axis=-1)
    base += nrng.normal(0, 12, size=base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    side = min(w, h)
    s = rng.uniform(0.35, 0.6) * side
    cx, cy = rng.uniform(s / 2, w - s / 2), rng.uniform(s / 2, h - s / 2)
    box = [cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2]
    colour = HUES[label % len(HUES)]
    shape = label % 4
    if shape == 0:
        d.ellipse(box, fill=colour)
    elif shape == 1:
        d.rectangle(box, fill=colour)
    elif shape == 2:
        d.polygon([(cx, box[1]), (box[0], box[3]), (box[2], box[3])], fill=colour)
    else:
        t = s / 5
        d.rectangle([box[0], cy - t, box[2], cy + t], fill=colour)
        d.rectangle([cx - t, box[1], cx + t, box[3]], fill=colour)
    return img


def save_varied(img, path_stem, i):
    """Saves in one of several formats, chosen by the file's number; returns the path."""
    kind = i % 10
    if kind in (0, 1, 2, 3):
        path = path_stem + ".jpg"
        img.save(path, quality=90)
    elif kind == 4:
        path = path_stem + ".jpg"
        img.save(path, quality=85, progressive=True)
    elif kind == 5:
        path = path_stem + ".jpg"
        img.convert("L").convert("RGB").convert("L").save(path, quality=90)
    elif kind == 6:
        path = path_stem + ".jpeg"
        img.convert("CMYK").save(path, quality=90)
    elif kind == 7:
        path = path_stem + ".png"
        img.save(path)
    elif kind == 8:
        path = path_stem + ".png"
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(path)
    else:
        path = path_stem + ".png"
        rgba = img.convert("RGBA")
        rgba.putalpha(200)
        rgba.save(path)
    return path


def make_synthetic(args):
    rng = random.Random(args.seed)
    nrng = np.random.default_rng(args.seed)
    for split, per_class in (("train", args.train), ("val", args.val)):
        for c in range(args.classes):
            folder = os.path.join(args.out, split, f"class_{c:02d}")
            os.makedirs(folder, exist_ok=True)
            for i in range(per_class):
                save_varied(synthetic_image(c, rng, nrng), os.path.join(folder, f"{i:05d}"), i)


def make_from_cifar(args):
    w, h = (int(v) for v in args.size.split("x"))
    nrng = np.random.default_rng(args.seed)
    src = os.path.join(args.from_cifar, "train")
    for c in sorted(os.listdir(src)):
        names = sorted(os.listdir(os.path.join(src, c)))[: args.per_class]
        folder = os.path.join(args.out, "train", c)
        os.makedirs(folder, exist_ok=True)
        for n in names:
            img = Image.open(os.path.join(src, c, n)).convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
            pixels = np.asarray(img, dtype=np.float32) + nrng.normal(0, args.grain, size=(h, w, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                os.path.join(folder, os.path.splitext(n)[0] + ".jpg"), quality=args.quality)
    # A val/ split of the same files' first images keeps the folder loadable as a data set.
    for c in sorted(os.listdir(os.path.join(args.out, "train"))):
        folder = os.path.join(args.out, "val", c)
        os.makedirs(folder, exist_ok=True)
        first = sorted(os.listdir(os.path.join(args.out, "train", c)))[0]
        os.link(os.path.join(args.out, "train", c, first), os.path.join(folder, first))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--train", type=int, default=40, help="training images per class")
    p.add_argument("--val", type=int, default=12, help="validation images per class")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--from-cifar", help="CIFAR JPEG folder to upscale instead of synthetic images")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--size", default="500x375")
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--grain", type=float, default=25.0, help="noise std added to upscaled images")
    args = p.parse_args()
    if args.from_cifar:
        make_from_cifar(args)
    else:
        make_synthetic(args)


if __name__ == "__main__":
    main()
