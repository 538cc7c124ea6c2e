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


def write_tiff(path, width, height, photometric, bits, samples, data, tile=None, colormap=None, extra=None):
    """An uncompressed little-endian TIFF written field by field (what PIL cannot write: tiles,
    2- and 4-bit samples): `data` is the packed rows; with `tile` (side), RGB bytes cut into tiles."""
    entries = [(256, 4, [width]), (257, 4, [height]), (258, 3, [bits] * samples), (259, 3, [1]),
               (262, 3, [photometric]), (277, 3, [samples]), (284, 3, [1])]
    if colormap is not None:
        entries.append((320, 3, colormap))
    if extra is not None:
        entries.append((338, 3, [extra]))
    blobs = []
    if tile:
        bpp = samples * bits // 8
        rows = np.frombuffer(data, np.uint8).reshape(height, width * bpp)
        tiles = []
        for y0 in range(0, height, tile):
            for x0 in range(0, width, tile):
                t = np.zeros((tile, tile * bpp), np.uint8)
                part = rows[y0:y0 + tile, x0 * bpp:(x0 + tile) * bpp]
                t[:part.shape[0], :part.shape[1]] = part
                tiles.append(t.tobytes())
        entries += [(322, 4, [tile]), (323, 4, [tile]), (324, 4, "offsets"), (325, 4, [len(t) for t in tiles])]
        blobs = tiles
    else:
        entries += [(273, 4, "offsets"), (278, 4, [height]), (279, 4, [len(data)])]
        blobs = [data]
    entries.sort()
    ifd_at = 8
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    sizes = {3: 2, 4: 4}
    external = b""
    count_of = {tag: (len(blobs) if v == "offsets" else len(v)) for tag, _, v in entries}
    # Where the pixel data goes: after the IFD and its external values.
    ext_len = sum(sizes[t] * count_of[tag] for tag, t, _ in entries if sizes[t] * count_of[tag] > 4)
    data_at = extra_at + ext_len
    offsets, at = [], data_at
    for b in blobs:
        offsets.append(at)
        at += len(b)
    ifd = struct.pack("<H", len(entries))
    for tag, typ, values in entries:
        values = offsets if values == "offsets" else values
        packed = b"".join(struct.pack("<H" if typ == 3 else "<I", v) for v in values)
        if len(packed) <= 4:
            ifd += struct.pack("<HHI", tag, typ, len(values)) + packed.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, typ, len(values), extra_at + len(external))
            external += packed
    ifd += struct.pack("<I", 0)
    with open(path, "wb") as f:
        f.write(b"II*\0" + struct.pack("<I", ifd_at) + ifd + external + b"".join(blobs))


def write_bmp(path, width, height, bits, pixel_data, palette=None, compression=0, header=40, top_down=False,
              masks=None, colors=None):
    """A BMP written field by field (what PIL does not write: 4- and 16-bit, RLE, bit masks, the
    OS/2 core header, top-down rows). `pixel_data`: the stored rows (or the RLE stream)."""
    pal = b""
    if palette is not None:
        pal = b"".join(bytes([b, g, r]) + (b"" if header == 12 else b"\0") for r, g, b in palette)
    if header == 12:
        info = struct.pack("<IHHHH", 12, width, height, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", header, width, -height if top_down else height, 1, bits, compression,
                           len(pixel_data), 2835, 2835, colors if colors is not None else 0, 0)
        if header > 40:
            m = list(masks or [0, 0, 0, 0]) + [0] * 4
            info += struct.pack("<IIII", *m[:4])
            info += b"\0" * (header - len(info))
        elif masks is not None:
            info += struct.pack("<III", *masks[:3])
    offset = 14 + len(info) + len(pal)
    with open(path, "wb") as f:
        f.write(b"BM" + struct.pack("<IHHI", offset + len(pixel_data), 0, 0, offset) + info + pal + pixel_data)


def bmp_rows(rows_bytes):
    """Bottom-up rows padded to 4 bytes."""
    return b"".join(r + b"\0" * (-len(r) % 4) for r in reversed(rows_bytes))


def write_netpbm_plain(path, magic, width, height, maxval, values, comment=True):
    head = f"{magic}\n# made by make_image_references.py\n{width} {height}\n" + ("" if maxval is None else f"{maxval}\n")
    body = []
    for i, v in enumerate(values):
        body.append(str(v))
        if comment and i == len(values) // 2:
            body.append("# a comment in the data\n")
    sep = "" if magic == "P1" else " "
    with open(path, "w") as f:
        f.write(head + sep.join(body) + "\n")


def rows_of(pixels):
    return [bytes(r) for r in np.ascontiguousarray(pixels, dtype=np.uint8).reshape(pixels.shape[0], -1)]


def rgb16(img, green_bits):
    """RGB as 16-bit little-endian 5-5-5 or 5-6-5 pixels."""
    a = np.asarray(img).astype(np.uint16)
    r, g, b = a[..., 0] >> 3, a[..., 1] >> (8 - green_bits), a[..., 2] >> 3
    v = (r << (5 + green_bits)) | (g << 5) | b
    return v.astype("<u2").view(np.uint8).reshape(a.shape[0], -1)


def premultiplied(img):
    a = np.asarray(Image.merge("RGBA", (*img.split(), img.convert("L"))), np.uint16)
    a[..., :3] = a[..., :3] * a[..., 3:] // 255
    return a.astype(np.uint8).tobytes()


# RLE streams for a 16x8 image (bottom row first): encoded runs, a run clipped at its row's end,
# absolute runs of odd and even length (padded to 16 bits of the file), a delta, line ends, the
# end of the bitmap after the last pixel (PIL refuses a bitmap that ends early).
RLE8 = bytes([4, 10, 3, 200, 0, 5, 1, 2, 3, 4, 5, 0, 4, 9, 0, 0,          # row 0: 4+3+5+4 = 16
              20, 7, 0, 0,                                                 # row 1: a run of 20, clipped to 16
              0, 4, 11, 12, 13, 14, 12, 8, 0, 0,                           # row 2: absolute 4, run 12
              0, 2, 3, 1, 5, 6, 0, 0,                                      # row 3: 5, delta 3 right 1 up, 6
              0, 0,                                                        # a line end that ends nothing
              16, 99, 0, 0, 16, 98, 0, 0, 16, 97, 0, 1])                   # rows 5-7, then end of bitmap
RLE4 = bytes([5, 0x12, 0, 3, 0x34, 0x50, 8, 0xAB, 0, 0,                    # row 0: 5 + abs 3 (odd) + 8
              16, 0xCD, 0, 0,                                              # row 1
              0, 6, 0x12, 0x34, 0x56, 0, 10, 0x7F, 0, 0,                   # row 2: abs 6 + run 10
              0, 2, 2, 1, 4, 0x99, 0, 0,                                   # rows 3-4: delta, run 4
              16, 0x21, 0, 0, 16, 0x43, 0, 0, 16, 0x65, 0, 1])             # rows 5-7, end of bitmap


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
        # WebP (PIL's libwebp): lossy, lossless, with alpha, an animation (its first frame).
        "lossy.webp": lambda p: img.save(p, quality=80),
        "lossless.webp": lambda p: img.save(p, lossless=True),
        "alpha.webp": lambda p: img.convert("RGBA").save(p, quality=70),
        "alpha_lossless.webp": lambda p: Image.merge("RGBA", (*img.split(), img.convert("L"))).save(p, lossless=True),
        "animated.webp": lambda p: img.save(p, save_all=True, append_images=[img.rotate(90)], duration=100),
        # TIFF (PIL's libtiff): compressions, modes.
        "rgb.tif": lambda p: img.save(p),
        "lzw.tif": lambda p: img.save(p, compression="tiff_lzw"),
        "deflate.tif": lambda p: img.save(p, compression="tiff_adobe_deflate"),
        "packbits.tif": lambda p: img.save(p, compression="packbits"),
        "jpeg.tif": lambda p: img.save(p, compression="jpeg", quality=90),
        "grey.tif": lambda p: img.convert("L").save(p, compression="tiff_lzw"),
        "bilevel.tif": lambda p: img.convert("1").save(p, compression="group4"),
        "bilevel_raw.tif": lambda p: img.convert("1").save(p),
        "palette.tif": lambda p: img.convert("P", palette=Image.Palette.ADAPTIVE, colors=50).save(p),
        "rgba.tif": lambda p: Image.merge("RGBA", (*img.split(), img.convert("L"))).save(p, compression="tiff_lzw"),
        "grey_alpha.tif": lambda p: img.convert("LA").save(p),
        "cmyk.tif": lambda p: img.convert("CMYK").save(p),
        "tiled.tif": lambda p: write_tiff(p, 131, 97, 2, 8, 3, img.tobytes(), tile=32),
        "grey4.tif": lambda p: write_tiff(p, 131, 97, 1, 4, 1, np.packbits(np.unpackbits(
            (np.asarray(img.convert("L")) >> 4).astype(np.uint8)[..., None], axis=-1)[..., 4:].reshape(97, -1),
            axis=-1).tobytes()),
        "palette4.tif": lambda p: write_tiff(p, 131, 97, 3, 4, 1, np.packbits(np.unpackbits(
            (np.asarray(img.convert("L")) >> 4).astype(np.uint8)[..., None], axis=-1)[..., 4:].reshape(97, -1),
            axis=-1).tobytes(), colormap=[(i * 4099) % 65536 for i in range(48)]),
        "associated_alpha.tif": lambda p: write_tiff(p, 131, 97, 2, 8, 4, premultiplied(img), extra=1),
        # BMP: what PIL writes, and what it reads but does not write.
        "rgb.bmp": lambda p: img.save(p),
        "grey.bmp": lambda p: img.convert("L").save(p),
        "palette.bmp": lambda p: img.convert("P", palette=Image.Palette.ADAPTIVE, colors=50).save(p),
        "bilevel.bmp": lambda p: img.convert("1").save(p),
        "rgba.bmp": lambda p: img.convert("RGBA").save(p),
        "top_down.bmp": lambda p: write_bmp(p, 131, 97, 24, b"".join(
            r + b"\0" * (-len(r) % 4) for r in rows_of(np.asarray(img)[..., ::-1])), top_down=True),
        "core.bmp": lambda p: write_bmp(p, 131, 97, 24, bmp_rows(rows_of(np.asarray(img)[..., ::-1])), header=12),
        "rgb555.bmp": lambda p: write_bmp(p, 131, 97, 16, bmp_rows(rows_of(rgb16(img, 5)))),
        "rgb565.bmp": lambda p: write_bmp(p, 131, 97, 16, bmp_rows(rows_of(rgb16(img, 6))), compression=3,
                                          masks=[0xF800, 0x7E0, 0x1F]),
        "bitfields_v5.bmp": lambda p: write_bmp(p, 131, 97, 32, bmp_rows(rows_of(np.concatenate(
            [np.asarray(img), np.full((97, 131, 1), 255, np.uint8)], axis=-1))), compression=3, header=124,
            masks=[0xFF, 0xFF00, 0xFF0000, 0xFF000000]),
        "palette4.bmp": lambda p: write_bmp(p, 131, 97, 4, bmp_rows([bytes(np.packbits(np.unpackbits(
            r[:, None], axis=-1)[:, 4:].reshape(-1))) for r in (np.asarray(img.convert("L")) >> 4).astype(np.uint8)]),
            palette=[(i * 16, 255 - i * 16, (i * 77) % 256) for i in range(16)]),
        "rle8.bmp": lambda p: write_bmp(p, 16, 8, 8, RLE8, palette=[(i, (i * 3) % 256, 255 - i) for i in range(256)],
                                        compression=1),
        "rle4.bmp": lambda p: write_bmp(p, 16, 8, 4, RLE4, palette=[(i * 16, 128, 255 - i * 16) for i in range(16)],
                                        compression=2),
        # Netpbm: binary as PIL writes them, plain and other maxvals by hand.
        "rgb.ppm": lambda p: img.save(p),
        "grey.pgm": lambda p: img.convert("L").save(p),
        "bilevel.pbm": lambda p: img.convert("1").save(p),
        "grey16.pgm": lambda p: open(p, "wb").write(b"P5 131 97 65535\n" + (np.asarray(img.convert("L"), ">u2")
                                                                             * 3).tobytes()),
        "grey1000.pgm": lambda p: open(p, "wb").write(b"P5\n131 97\n1000\n" + (np.asarray(img.convert("L"), ">u2")
                                                                                * 3).tobytes()),
        "rgb100.ppm": lambda p: open(p, "wb").write(b"P6 131 97 100\n" + (np.asarray(img) * 100 // 255).astype(
            np.uint8).tobytes()),
        "rgb65535.ppm": lambda p: open(p, "wb").write(b"P6 131 97 65535\n" + (np.asarray(img, ">u2") * 257
                                                                              + 3).tobytes()),
        "plain.pbm": lambda p: write_netpbm_plain(p, "P1", 131, 97, None, (np.asarray(img.convert("1")) == 0)
                                                  .astype(int).reshape(-1).tolist()),
        "plain.pgm": lambda p: write_netpbm_plain(p, "P2", 131, 97, 300, (np.asarray(img.convert("L"), int) + 40)
                                                  .reshape(-1).tolist()),
        "plain.ppm": lambda p: write_netpbm_plain(p, "P3", 131, 97, 255, np.asarray(img, int).reshape(-1).tolist()),
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
