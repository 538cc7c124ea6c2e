#!/usr/bin/env python3
"""Writes the image decode and transform references that tests/data/test_image_pipeline.cpp
checks ringtrain's C++ pipeline against: files in every format PIL reads, their pixels as PIL
decodes them (Image.open(f).convert("RGB"), and draft() for reduced DCT scales), and crops
made by torchvision's own transforms (v2.functional on uint8 tensors, and the PIL-image path).

    make_image_references.py OUT_DIR

OUT_DIR/manifest.json lists each case: the input file, what to compute, the reference's raw
uint8 HWC pixels (a .rgb file) and the largest difference allowed.
"""
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F1
from torchvision.transforms.v2 import functional as F


def textured(w, h, seed):
    """A photo-like image: smooth colour fields, edges and grain (JPEG has work to do)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 90 * np.sin(xx / (7 + 5 * c) + yy / (11 + 3 * c) + c) for c in range(3)], axis=-1)
    img[h // 3: h // 2, w // 4: w // 2] = [240, 30, 60]
    img += rng.normal(0, 10, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def write_png16(path, pixels16):
    """A 16-bit RGB PNG (which PIL cannot write): rows of big-endian samples, filter 0."""
    h, w, _ = pixels16.shape
    raw = b"".join(b"\x00" + pixels16[y].astype(">u2").tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def with_gamma_chunk(path, gamma):
    """Inserts a gAMA chunk after IHDR: PIL ignores it, and so must the decoder."""
    data = open(path, "rb").read()
    ihdr_end = 8 + 8 + 13 + 4
    chunk = png_chunk(b"gAMA", struct.pack(">I", int(gamma * 100000)))
    open(path, "wb").write(data[:ihdr_end] + chunk + data[ihdr_end:])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = []

    def ref(name, pixels, **case):
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        pixels.tofile(os.path.join(out, name + ".rgb"))
        case.update(name=name, ref=name + ".rgb", height=int(pixels.shape[0]), width=int(pixels.shape[1]))
        cases.append(case)

    img = textured(131, 97, 1)  # odd sizes: partial MCUs at both edges
    big = textured(500, 375, 2)
    # Smoother, as photographs are: an upscaled small image with light grain.
    photo_px = np.asarray(textured(60, 45, 3).resize((500, 375), Image.Resampling.BICUBIC), dtype=np.float32)
    photo_px += np.random.default_rng(4).normal(0, 5, size=photo_px.shape)
    photo = Image.fromarray(np.clip(photo_px, 0, 255).astype(np.uint8))
    files = {
        "baseline.jpg": lambda p: img.save(p, quality=90),
        "baseline444.jpg": lambda p: img.save(p, quality=95, subsampling=0),
        "progressive.jpg": lambda p: img.save(p, quality=85, progressive=True),
        "grey.jpg": lambda p: img.convert("L").save(p, quality=90),
        "cmyk.jpg": lambda p: img.convert("CMYK").save(p, quality=90),
        "large.jpg": lambda p: big.save(p, quality=90),
        "photo.jpg": lambda p: photo.save(p, quality=90),
        "rgb.png": lambda p: img.save(p),
        "grey.png": lambda p: img.convert("L").save(p),
        "palette.png": lambda p: img.convert("P", palette=Image.Palette.ADAPTIVE, colors=50).save(p),
        "rgba.png": lambda p: Image.merge("RGBA", (*img.split(), img.convert("L"))).save(p),
        "grey_alpha.png": lambda p: img.convert("LA").save(p),
        "png_named.jpg": lambda p: img.save(p, format="PNG"),  # the content decides, not the name
        "palette_trns.png": lambda p: img.convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(
            p, transparency=3),
        "rgb16.png": lambda p: write_png16(p, np.asarray(img, dtype=np.uint16) * 257 + np.arange(131, dtype=np.uint16)
                                           [None, :, None]),
        "gamma.png": lambda p: (img.save(p), with_gamma_chunk(p, 1.0)),
    }
    for name, save in files.items():
        save(os.path.join(out, name))
        ref("decode_" + name, np.asarray(Image.open(os.path.join(out, name)).convert("RGB")),
            kind="decode", file=name, tolerance=0)

    # Reduced DCT scales: libjpeg's scaled IDCT, as PIL's draft() requests it.
    for name in ("baseline.jpg", "progressive.jpg", "grey.jpg", "large.jpg"):
        for eighths in (4, 2, 1):
            im = Image.open(os.path.join(out, name))
            full_w, full_h = im.size
            im.draft("RGB", (full_w * eighths // 8, full_h * eighths // 8))  # PIL: scale = 8 // eighths
            ref(f"scaled{eighths}_{name}", np.asarray(im.convert("RGB")), kind="decode", file=name,
                eighths=eighths, tolerance=0)

    # Transforms on the decoded pixels of large.jpg, with fixed parameters.
    src = torch.from_numpy(np.asarray(Image.open(os.path.join(out, "large.jpg")).convert("RGB")).copy())
    chw = src.permute(2, 0, 1).contiguous()
    pil = Image.open(os.path.join(out, "large.jpg")).convert("RGB")
    crops = [  # top, left, height, width, size, flip
        (10, 20, 300, 400, 224, False),
        (0, 0, 375, 500, 224, True),
        (100, 150, 60, 80, 128, False),  # upscaling
        (37, 41, 129, 129, 64, True),
        (5, 7, 160, 160, 160, False),  # same size: a plain crop
        (200, 300, 175, 200, 96, False),
    ]
    for i, (top, left, h, w, size, flip) in enumerate(crops):
        t = F.resized_crop(chw, top, left, h, w, [size, size], interpolation=InterpolationMode.BILINEAR,
                           antialias=True)
        p = F1.resized_crop(pil, top, left, h, w, [size, size], interpolation=InterpolationMode.BILINEAR)
        if flip:
            t, p = F.horizontal_flip(t), F1.hflip(p)
        box = dict(top=top, left=left, box_height=h, box_width=w, size=size, flip=flip)
        ref(f"crop{i}_tensor", t.permute(1, 2, 0).numpy(), kind="resized_crop", file="large.jpg", tolerance=0, **box)
        # PIL's own resampling (torchvision's v1 path on PIL images): fixed point, may differ by a level or so.
        ref(f"crop{i}_pil", np.asarray(p), kind="resized_crop", file="large.jpg", tolerance=2, **box)
    for size in (224, 128, 64):
        short = int(size / 0.875)
        t = F.center_crop(F.resize(chw, [short], interpolation=InterpolationMode.BILINEAR, antialias=True), [size])
        ref(f"eval{size}_tensor", t.permute(1, 2, 0).numpy(), kind="eval", file="large.jpg", size=size, tolerance=0)
        p = F1.center_crop(F1.resize(pil, [short], interpolation=InterpolationMode.BILINEAR), [size])
        ref(f"eval{size}_pil", np.asarray(p), kind="eval", file="large.jpg", size=size, tolerance=2)
    portrait = torch.from_numpy(np.asarray(big.transpose(Image.Transpose.TRANSPOSE)).copy()).permute(2, 0, 1)
    Image.fromarray(portrait.permute(1, 2, 0).numpy()).save(os.path.join(out, "portrait.png"))
    t = F.center_crop(F.resize(portrait, [146], interpolation=InterpolationMode.BILINEAR, antialias=True), [128])
    ref("eval128_portrait", t.permute(1, 2, 0).numpy(), kind="eval", file="portrait.png", size=128, tolerance=0)

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__,
                   "pillow": Image.__version__, "cases": cases}, f, indent=1)
    print(f"{len(cases)} reference cases in {out}")


if __name__ == "__main__":
    main()
