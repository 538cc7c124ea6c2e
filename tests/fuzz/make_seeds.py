#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_image_decode: small images of each kind the decoders handle
(baseline, progressive, greyscale, CMYK JPEG; RGB, grey, palette, RGBA, 16-bit PNG; lossy,
lossless and animated WebP; TIFF of each compression and mode PIL writes; BMP of 1, 8, 24 and
32 bits; binary and plain PBM/PGM/PPM),
each a few hundred bytes to a few KB, behind the harness's 4 leading bytes (DCT scale, region
top, left, extent); and with CACHE_DIR, those of fuzz_image_cache: resized-image cache entries
(Note [Image cache entries]) holding a JPEG and raw pixels. Made at need rather than committed:
needs Pillow (the project's .venv).

    make_seeds.py OUT_DIR [CACHE_DIR]
"""
import io
import os
import struct
import sys
import zlib

from PIL import Image


def gradient(mode, w, h):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 255) // w, (y * 255) // h, ((x + y) * 127) // (w + h)) for y in range(h) for x in range(w)])
    return img.convert(mode)


def encoded(img, fmt, **options):
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def cache_entry(fmt, side, w, h, source, payload):
    """An image cache entry (src/data/image_cache.h, Note [Image cache entries])."""
    path = source.encode()
    return (b"RTIMGC01" + struct.pack("<IIIIQqI", fmt, side, w, h, 12345, 1700000000123456789, len(path)) + path +
            struct.pack("<QI", len(payload), zlib.crc32(payload)) + payload)


def cache_seeds(out):
    os.makedirs(out, exist_ok=True)
    img = gradient("RGB", 24, 16)
    seeds = {
        "jpeg.rtc": cache_entry(1, 32, 24, 16, "/data/train/a/x.jpg", encoded(img, "JPEG", quality=95)),
        "raw.rtc": cache_entry(2, 32, 24, 16, "/data/train/b/y.png", img.tobytes()),
        "progressive.rtc": cache_entry(1, 64, 24, 16, "/d/p.jpg", encoded(img, "JPEG", quality=80, progressive=True)),
    }
    # Structured inputs (an odd first byte): the harness builds the entry, checksum included,
    # from byte 1 the format (even: JPEG), bytes 2-7 side, width, height, byte 8 the path length.
    for name, fmt, payload in (("built-jpeg.bin", 0, encoded(img, "JPEG", quality=95)),
                               ("built-raw.bin", 1, img.tobytes())):
        seeds[name] = struct.pack("<BBHHHB", 1, fmt, 32, 24, 16, 7) + payload
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


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
        "lossy.webp": encoded(gradient("RGB", 20, 12), "WEBP", quality=70),
        "lossless.webp": encoded(gradient("RGBA", 12, 9), "WEBP", lossless=True),
        "animated.webp": encoded(gradient("RGB", 10, 10), "WEBP", save_all=True,
                                 append_images=[gradient("RGB", 10, 10).rotate(90)]),
        "lzw.tif": encoded(gradient("RGB", 14, 9), "TIFF", compression="tiff_lzw"),
        "jpeg.tif": encoded(gradient("RGB", 16, 16), "TIFF", compression="jpeg"),
        "g4.tif": encoded(gradient("1", 20, 10), "TIFF", compression="group4"),
        "palette.tif": encoded(gradient("P", 9, 9), "TIFF", compression="packbits"),
        "cmyk.tif": encoded(gradient("CMYK", 6, 6), "TIFF"),
        "rgba.tif": encoded(gradient("RGBA", 7, 5), "TIFF", compression="tiff_adobe_deflate"),
        "rgb.bmp": encoded(gradient("RGB", 11, 7), "BMP"),
        "palette.bmp": encoded(gradient("P", 9, 5), "BMP"),
        "bilevel.bmp": encoded(gradient("1", 17, 3), "BMP"),
        "rgba.bmp": encoded(gradient("RGBA", 5, 5), "BMP"),
        "rgb.ppm": encoded(gradient("RGB", 9, 7), "PPM"),
        "grey.pgm": encoded(gradient("L", 9, 7), "PPM"),
        "bilevel.pbm": encoded(gradient("1", 13, 3), "PPM"),
        "plain.ppm": b"P3\n# plain\n3 2\n255\n0 1 2 3 4 5 6 7 8\n9 10 11 12 13 14 15 16 17\n",
        "plain.pbm": b"P1\n4 2\n0101\n1 0 1 0\n",
        "plain16.pgm": b"P2 2 2 1000 0 999 1000 5\n",
    }
    for i, (name, data) in enumerate(sorted(seeds.items())):
        prefix = bytes([i % 4, 3 + i, 5 + 2 * i, 7 + 3 * i])  # scale, top, left, extent
        with open(os.path.join(out, name), "wb") as f:
            f.write(prefix + data)
    if len(sys.argv) > 2:
        cache_seeds(sys.argv[2])
    print(f"{len(seeds)} seeds in {out}, {min(map(len, seeds.values()))}..{max(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
