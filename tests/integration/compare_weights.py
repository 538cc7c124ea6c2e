#!/usr/bin/env python3
"""Compares the exported weights of a run with those of a reference run, tensor by tensor.

    compare_weights.py RUN.pt REFERENCE.pt INIT.pt --param-tol X --buffer-tol Y [--expect-differ F] [--quiet]

All three are `ringtrain export` state_dicts; INIT.pt holds the initial weights of both runs.
For every tensor it prints max |run - reference| and a relative difference:
  parameters: relative to how far training moved the reference, max |run - ref| / max |ref - init|.
    Their own scale would not do: BatchNorm biases start at 0 and stay near it, and a float32
    step of this network differs from a float64 one by ~0.5% of the update (BatchNorm backward
    cancels), which later steps amplify; relative to the update that noise has one size everywhere.
  buffers (BatchNorm running statistics): relative to their scale, max |run - ref| / max |ref|.
  integer tensors (num_batches_tracked) must be equal.
Exit status 0 when every parameter's relative difference is <= X, every buffer's <= Y and the
integers agree; with --expect-differ F instead when the worst parameter is >= F * X and the worst
buffer >= F * Y (the comparison can fail). --quiet prints only the five worst tensors.
Needs torch (the project's .venv).
"""
import argparse
import sys

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("reference")
    ap.add_argument("init")
    ap.add_argument("--param-tol", type=float, required=True)
    ap.add_argument("--buffer-tol", type=float, required=True)
    ap.add_argument("--expect-differ", type=float, metavar="F")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    run, ref, init = (torch.load(p) for p in (args.run, args.reference, args.init))
    if not set(run) == set(ref) == set(init):
        print(f"FAIL: the files hold different tensors: {sorted(set(run) ^ set(ref))} {sorted(set(ref) ^ set(init))}")
        return 1
    ints_agree = True
    rows = []  # (rel, abs, name, shape, kind)
    for name in ref:  # the export's order: parameters, then buffers
        a, b = run[name], ref[name]
        if a.shape != b.shape:
            print(f"FAIL: {name}: shape {list(a.shape)} vs {list(b.shape)}")
            return 1
        if not b.is_floating_point():
            if not torch.equal(a, b):
                print(f"  {name}: {a.tolist()} vs {b.tolist()} (integers: differ)")
                ints_agree = False
            continue
        a, b = a.double(), b.double()
        diff = (a - b).abs().max().item()
        buffer = name.endswith("running_mean") or name.endswith("running_var")
        scale = b.abs().max().item() if buffer else (b - init[name].double()).abs().max().item()
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        rows.append((rel, diff, name, list(b.shape),
                     "of scale" if buffer else "of update"))
    shown = sorted(rows, reverse=True)[:5] if args.quiet else rows
    if args.quiet:
        print(f"  the 5 most different of {len(rows)} tensors:")
    for rel, diff, name, shape, kind in shown:
        print(f"  {name:30s} {str(shape):16s} max abs diff {diff:.2e}  max rel diff {rel:.2e} {kind}")
    params = max(r for r in rows if r[4] == "of update")
    buffers = max(r for r in rows if r[4] == "of scale")
    print(f"  worst parameter {params[2]}: {params[0]:.2e} of update (max abs diff {params[1]:.2e}); "
          f"worst buffer {buffers[2]}: {buffers[0]:.2e} of scale (max abs diff {buffers[1]:.2e})")
    if args.expect_differ is None:
        ok = params[0] <= args.param_tol and buffers[0] <= args.buffer_tol and ints_agree
        print(f"  tolerances: parameters {args.param_tol:.0e}, buffers {args.buffer_tol:.0e}; "
              f"num_batches_tracked {'equal' if ints_agree else 'DIFFER'}")
    else:
        f = args.expect_differ
        ok = params[0] >= f * args.param_tol and buffers[0] >= f * args.buffer_tol
        print(f"  must exceed {f:g} x the tolerances: parameters {f * args.param_tol:.1e}, "
              f"buffers {f * args.buffer_tol:.1e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
