#!/usr/bin/env python3
"""How far a run's exported weights are from a reference run's, relative to their norm.

    norm_diff.py RUN.pt REFERENCE.pt [--tolerance X --label TEXT]

|run - ref| / |ref| over all parameters together, and over all BatchNorm running statistics
together (Frobenius norms of the concatenated tensors: one tensor near zero, such as a BatchNorm
bias after a few small steps, has no scale of its own), and whether the integer tensors
(num_batches_tracked) are equal. For runs that should train alike up to float summation order
(compare_weights.py measures against the update instead).
Without --tolerance it prints "PARAMS BUFFERS ints-equal|ints-differ". With it, one line
"ok: TEXT: ..." or "FAIL: TEXT: ...", and exit status 1 unless both are <= X and the integers equal.
Needs torch (the project's .venv).
"""
import argparse
import sys

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("reference")
    ap.add_argument("--tolerance", type=float)
    ap.add_argument("--label", default="weights")
    args = ap.parse_args()
    a, b = torch.load(args.run), torch.load(args.reference)
    if a.keys() != b.keys():
        sys.exit(f"{args.run} and {args.reference} hold different tensors")

    def rel(keys):
        if not keys:
            return 0.0
        d = torch.cat([(a[k].double() - b[k].double()).flatten() for k in keys])
        return (d.norm() / torch.cat([b[k].double().flatten() for k in keys]).norm().clamp_min(1e-300)).item()

    floats = [k for k in b if b[k].is_floating_point()]
    buffers = [k for k in floats if ".running_" in k]
    params = [k for k in floats if k not in buffers]
    ints = all(torch.equal(a[k], b[k]) for k in b if not b[k].is_floating_point())
    p, r = rel(params), rel(buffers)
    if args.tolerance is None:
        print(f"{p:.3e} {r:.3e} {'ints-equal' if ints else 'ints-differ'}")
        return
    ok = p <= args.tolerance and r <= args.tolerance and ints
    print(f"{'ok' if ok else 'FAIL'}: {args.label}: parameters {p:.3e}, running statistics {r:.3e} of their norm "
          f"(tolerance {args.tolerance:g}); integer tensors {'equal' if ints else 'differ'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
