#!/usr/bin/env python3
"""Checks ringtrain's figures by looking at their pixels, and its trace by its events.

    check_reports.py curves PNG
    check_reports.py per_class PNG METRICS_JSON
    check_reports.py confusion PNG METRICS_JSON counts|normalized
    check_reports.py scaling SPEEDUP_PNG EFFICIENCY_PNG
    check_reports.py trace TRACE_JSON WORLD_SIZE

The geometry (image sizes, plot viewports, colours) is the one src/report/plots.cpp draws
with; a figure that does not show what its name says fails. Prints what it measured; exits 1
on a failed check. Needs Pillow and NumPy (the project's .venv has both).
"""
import json
import sys

import numpy as np
from PIL import Image

BLUE, ORANGE, GREEN, PURPLE, BLACK, GREY = (31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (0, 0, 0), (127, 127, 127)
failures = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


def load(path, size):
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    check(img.shape[1::-1] == size, f"{path}: {img.shape[1]}x{img.shape[0]} pixels (expected {size[0]}x{size[1]})")
    return img


def count_colour(img, colour, tol=40):
    return int((np.abs(img - np.array(colour)).sum(axis=2) < tol).sum())


def curves(path):
    img = load(path, (1400, 1000))
    h, w = img.shape[0] // 2, img.shape[1] // 2
    panels = {"loss (top left)": (img[:h, :w], [BLUE, ORANGE]), "accuracy (top right)": (img[:h, w:], [BLUE, ORANGE]),
              "learning rate (bottom left)": (img[h:, :w], [GREEN]), "images/s (bottom right)": (img[h:, w:], [PURPLE])}
    for name, (panel, colours) in panels.items():
        counts = [count_colour(panel, c) for c in colours]
        check(all(n >= 30 for n in counts), f"{name} panel draws its series: {counts} pixels of {colours}")
        check(count_colour(panel, BLACK, 60) >= 500, f"{name} panel has axes and labels")


def in_viewport(img, vx, vy, wx, wy, x, y):
    """Pixel (column, row) of world point (x, y) in viewport vx, vy (fractions) with window wx, wy."""
    height, width = img.shape[:2]
    fx = vx[0] + (vx[1] - vx[0]) * (x - wx[0]) / (wx[1] - wx[0])
    fy = vy[0] + (vy[1] - vy[0]) * (y - wy[0]) / (wy[1] - wy[0])
    return int(round(fx * (width - 1))), int(round((1 - fy) * (height - 1)))


def per_class(path, metrics_path):
    img = load(path, (1200, 700))
    classes = json.load(open(metrics_path))["test"]["per_class"]
    n = len(classes)
    vx, vy, wx, wy = (0.08, 0.97), (0.25, 0.92), (0, n), (0, 105)
    greenness = []
    worst = 0.0
    for i, c in enumerate(classes):
        col, base = in_viewport(img, vx, vy, wx, wy, i + 0.5, 0)
        col_l, _ = in_viewport(img, vx, vy, wx, wy, i + 0.25, 0)  # left of the value label
        # Up from the base while the pixels are coloured (not white, black or grey); the dashed
        # mean line may cross the bar, so the bar ends after a few non-coloured rows in a row.
        row, top, gap = base - 2, base - 2, 0
        while row > 0 and gap < 6:
            if np.ptp(img[row, col_l]) > 60:
                top, gap = row, 0
            else:
                gap += 1
            row -= 1
        row = top
        _, zero_row = in_viewport(img, vx, vy, wx, wy, 0, 0)
        _, full_row = in_viewport(img, vx, vy, wx, wy, 0, 100)
        measured = (zero_row - row) / (zero_row - full_row)
        worst = max(worst, abs(measured - c["accuracy"]))
        # The bar's colour: the median of its coloured pixels (the dashed mean line is grey).
        column = img[row + 1:base - 1, col_l]
        coloured = column[np.ptp(column, axis=1) > 60] if len(column) else column
        if len(coloured) >= 3:
            mid = np.median(coloured, axis=0)
            greenness.append((c["accuracy"], int(mid[1]) - int(mid[0])))
    check(worst <= 0.02, f"bar heights match the per-class accuracies of {metrics_path} (worst difference {worst:.3f})")
    ordered = all(g1 < g2 for a1, g1 in greenness for a2, g2 in greenness if a2 > a1 + 0.15)
    check(ordered, f"higher accuracy is drawn greener: (accuracy, green - red) = {greenness}")


def confusion(path, metrics_path, kind):
    img = load(path, (1100, 1000))
    counts = np.array(json.load(open(metrics_path))["test"]["confusion_matrix"], dtype=float)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if kind == "normalized" else counts
    zmax = values.max() if values.max() > 0 else 1
    n = len(values)
    vx, vy, wx, wy = (0.21, 0.95), (0.2, 0.92), (0, n), (0, n)
    worst = 0.0
    for t in range(n):
        for p in range(n):
            y0 = n - 1 - t  # true class 0 is the top row
            col, row = in_viewport(img, vx, vy, wx, wy, p + 0.12, y0 + 0.12)  # a corner, away from the number
            red = img[row, col][0] / 255
            expected = 1 - 0.97 * values[t, p] / zmax  # white -> (0.03, 0.19, 0.42)
            worst = max(worst, abs(red - expected))
    check(worst <= 0.06, f"{n}x{n} cell shades follow the {kind} confusion matrix (worst red-channel difference {worst:.3f})")


def scaling(speedup_path, efficiency_path):
    for path in (speedup_path, efficiency_path):
        img = load(path, (1100, 800))
        check(count_colour(img, BLACK, 60) >= 1000, f"{path}: axes, labels and the measured series")
        check(count_colour(img, BLUE) >= 30, f"{path}: a projected series")


def trace(path, world):
    events = json.load(open(path))["traceEvents"]
    spans = [e for e in events if e.get("ph") == "X"]
    check(sorted({e["pid"] for e in spans}) == list(range(world)), f"{path}: events of ranks 0..{world - 1}")
    for rank in range(world):
        mine = [e for e in spans if e["pid"] == rank]
        names = {e["name"] for e in mine}
        needed = {"data wait", "forward", "backward", "wait for gradient allreduce", "optimizer step"}
        check(needed <= names, f"rank {rank}: {sorted(needed)} present")
        buckets = [e for e in mine if e["name"].startswith("allreduce bucket ")]
        backward = [e for e in mine if e["name"] == "backward"]
        steps = [e for e in mine if e["name"].startswith("step ")]
        check(len(buckets) >= 2 and len(steps) >= 1, f"rank {rank}: {len(buckets)} bucket allreduces over {len(steps)} steps")
        overlapping = [b for b in buckets for k in backward
                       if b["ts"] < k["ts"] + k["dur"] and b["ts"] + b["dur"] > k["ts"]]
        check(len(overlapping) >= 1, f"rank {rank}: {len(overlapping)} bucket allreduces overlap a backward pass")
        check(all(e["dur"] >= 0 and e["ts"] >= 0 for e in mine), f"rank {rank}: times are non-negative")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    {"curves": curves, "per_class": per_class, "confusion": confusion, "scaling": scaling,
     "trace": lambda p, w: trace(p, int(w))}[mode](*args)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
