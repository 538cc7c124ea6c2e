#!/usr/bin/env python3
"""Checks a TensorBoard log folder with TensorBoard's own reader (no TensorFlow needed).

    python tensorboard_check.py LOGDIR TAG=COUNT [TAG=COUNT ...]

Loads every events.out.tfevents.* file under LOGDIR with the `tensorboard` package's
EventAccumulator (which checks both CRCs of each record) and checks that each TAG has
exactly COUNT points, all finite. Prints what it found; exits 1 on any mismatch, 2 on bad
arguments.
"""
import glob
import math
import os
import sys


def parse_expectations(args):
    expected = {}
    for arg in args:
        tag, sep, count = arg.rpartition("=")
        if not sep or not tag or not count.isdigit():
            print(f"tensorboard_check: expected TAG=COUNT, got {arg!r}", file=sys.stderr)
            sys.exit(2)
        expected[tag] = int(count)
    return expected


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    logdir = sys.argv[1]
    expected = parse_expectations(sys.argv[2:])

    from tensorboard.backend.event_processing import event_accumulator

    files = sorted(glob.glob(os.path.join(logdir, "*tfevents*")))  # as EventAccumulator reads them
    print(f"tensorboard_check: {len(files)} event file(s) in {logdir}")
    for f in files:
        print(f"  {os.path.basename(f)} ({os.path.getsize(f)} bytes)")
    if not files:
        print(f"FAIL: no events.out.tfevents.* file under {logdir}")
        sys.exit(1)

    # size_guidance 0 = keep every point (the default samples scalars down to 10000).
    acc = event_accumulator.EventAccumulator(
        logdir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    found = acc.Tags().get("scalars", [])

    failures = []
    for tag in sorted(found):
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        values = [e.value for e in events]
        print(f"  {tag}: {len(events)} points, steps {steps[0]}..{steps[-1]}, "
              f"values {values[0]:.6g}..{values[-1]:.6g}")
        bad = [(s, v) for s, v in zip(steps, values) if not math.isfinite(v)]
        if tag in expected and bad:
            failures.append(f"{tag}: non-finite values at (step, value) {bad[:5]}")
    for tag, count in expected.items():
        if tag not in found:
            failures.append(f"{tag}: missing (found tags: {sorted(found)})")
        elif len(acc.Scalars(tag)) != count:
            failures.append(f"{tag}: {len(acc.Scalars(tag))} points, expected {count}")

    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        sys.exit(1)
    print(f"tensorboard_check: OK ({len(expected)} tag(s) checked)")


if __name__ == "__main__":
    main()
