#!/usr/bin/env python3
"""How far a run's exported weights are from a reference run's, relative to their norm.

    norm_diff.py RUN.pt REFERENCE.pt

Prints "PARAMS BUFFERS INTS": |run - ref| / |ref| over all parameters together, and over all
BatchNorm running statistics together (Frobenius norms of the concatenated tensors: one tensor
near zero, such as a BatchNorm bias after a few small steps, has no scale of its own), and
"ints-equal" or "ints-differ" for the integer tensors (num_batches_tracked). For runs that should
train alike up to float summation order (compare_weights.py measures against the update instead).
Needs torch (the project's .venv).
"""
import sys

import torch


def main():
    a, b = (torch.load(p) for p in sys.argv[1:3])
    if a.keys() != b.keys():
        sys.exit(f"{sys.argv[1]} and {sys.argv[2]} hold different tensors")

    def rel(keys):
        if not keys:
            return 0.0
        d = torch.cat([(a[k].double() - b[k].double()).flatten() for k in keys])
        return (d.norm() / torch.cat([b[k].double().flatten() for k in keys]).norm().clamp_min(1e-300)).item()

    floats = [k for k in b if b[k].is_floating_point()]
    buffers = [k for k in floats if ".running_" in k]
    params = [k for k in floats if k not in buffers]
    ints = all(torch.equal(a[k], b[k]) for k in b if not b[k].is_floating_point())
    print(f"{rel(params):.3e} {rel(buffers):.3e} {'ints-equal' if ints else 'ints-differ'}")


if __name__ == "__main__":
    main()
