#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_image_decode: small JPEGs and PNGs of each kind the decoders
handle (baseline, progressive, greyscale, CMYK JPEG; RGB, grey, palette, RGBA, 16-bit PNG),
each a few hundred bytes to a few KB, behind the harness's 4 leading bytes (DCT scale, region
top, left, extent). Made at need rather than committed: needs Pillow (the project's .venv).

    make_seeds.py OUT_DIR
"""
import io
import os
import sys

from PIL import Image


def gradient(mode, w, h):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 255) // w, (y * 255) // h, ((x + y) * 127) // (w + h)) for y in range(h) for x in range(w)])
    return img.convert(mode)


def encoded(img, fmt, **options):
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "baseline.jpg": encoded(gradient("RGB", 40, 24), "JPEG", quality=85),
        "progressive.jpg": encoded(gradient("RGB", 33, 17), "JPEG", quality=80, progressive=True),
        "grey.jpg": encoded(gradient("L", 24, 24), "JPEG", quality=90),
        "cmyk.jpg": encoded(gradient("CMYK", 16, 16), "JPEG", quality=90),
        "444.jpg": encoded(gradient("RGB", 20, 12), "JPEG", quality=95, subsampling=0),
        "rgb.png": encoded(gradient("RGB", 20, 13), "PNG"),
        "grey.png": encoded(gradient("L", 9, 9), "PNG"),
        "palette.png": encoded(gradient("RGB", 12, 12).convert("P"), "PNG"),
        "rgba.png": encoded(gradient("RGBA", 10, 6), "PNG"),
        "grey16.png": encoded(gradient("L", 8, 8).convert("I;16"), "PNG"),
    }
    for i, (name, data) in enumerate(sorted(seeds.items())):
        prefix = bytes([i % 4, 3 + i, 5 + 2 * i, 7 + 3 * i])  # scale, top, left, extent
        with open(os.path.join(out, name), "wb") as f:
            f.write(prefix + data)
    print(f"{len(seeds)} seeds in {out}, {min(map(len, seeds.values()))}..{max(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
