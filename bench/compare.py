#!/usr/bin/env python3
"""Runs ringtrain and Python PyTorch on the same work, on this machine, and prints the ratios.

    .venv/bin/python bench/compare.py                       # resnet18 + resnet50, steps only
    .venv/bin/python bench/compare.py --epoch --data data/cifar10

For each model and configuration (precision x memory format) it alternates
`ringtrain bench --json` and `bench/pytorch_reference.py --json` for --rounds rounds (A B A B ..,
so that a slow spell of a shared machine hits both sides) and reports, per mode, each side's
median images/s over the rounds and the median of the per-round ratios ringtrain / PyTorch.
With --epoch it also times one whole training epoch, data included: `ringtrain train` on a
class-balanced subset of --limit-train images against the PyTorch reference's epoch mode
(uint8 array in memory, torchvision transforms, DataLoader with the best of 0, 1 and 2 loader
workers, chosen by one epoch each first). Both sides start cold for every epoch (no warm-up
steps, a fresh process each), as a real first epoch does; the rounds alternate the two sides
as above.
--json FILE holds everything measured so far: it is rewritten (atomically: a temporary file,
then os.replace) at the start, after each measured side of each round ("in_progress": the
configuration being measured and its rounds so far) and after each row, so that a run killed
by a timeout still leaves valid JSON; "complete" turns true only at the end, and "error" says
why a run stopped early.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIGS = {  # name -> (amp, channels_last)
    "fp32": ("none", False),
    "fp32-cl": ("none", True),
    "bf16": ("bf16", False),
    "bf16-cl": ("bf16", True),
}


def save(a, everything):
    """Rewrites --json with everything so far: a temporary file beside it, then os.replace, so
    that a reader (or a kill mid-write) never sees half a file."""
    if not a.json_out:
        return
    tmp = f"{a.json_out}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(everything, f, indent=2)
    os.replace(tmp, a.json_out)


def on_sigterm(signum, frame):
    # `timeout` ends a step with SIGTERM; as SystemExit, main() records it in --json first.
    sys.exit(f"compare.py: stopped by signal {signum} (a timeout?)")


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def cpu_has_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except (OSError, StopIteration):
        return False


def step_rates(report):
    return {r["mode"]: r["images_per_second"]["median"] for r in report["results"]}


def ringtrain_epoch(a, model, amp, cl):
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [a.ringtrain, "train", "--data", a.data, "--model", model, "--epochs", "1",
             "--limit-train", str(a.limit_train), "--limit-test", "100", "--batch-size",
             str(a.batch_size), "--threads", str(a.threads), "--device", a.device, "--amp", amp,
             "--channels-last", "true" if cl else "false", "--out", tmp],
            capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"compare.py: ringtrain train failed: {out.stderr.strip()[-500:]}")
        with open(os.path.join(tmp, "history.json")) as f:
            return json.load(f)[0]["images_per_second"]


def epoch_row(a, model, cfg, amp, cl, common, py_env, everything):
    """Cold whole epochs, each in a fresh process (a second epoch in the same process would
    start warm). PyTorch's DataLoader worker count is chosen first by one epoch each with 0, 1
    and 2 workers; then --rounds rounds alternate ringtrain and PyTorch with that count, so that
    both sides get the same number of tries."""
    def python_epoch(workers):
        return run_json([a.python, os.path.join(HERE, "pytorch_reference.py"), "--mode", "epoch",
                         "--data", a.data, "--limit-train", str(a.limit_train), "--warmup", "0",
                         "--workers", str(workers)] + [x for x in common if x != "--json"] + ["--json"],
                        env=py_env)["epoch_best"]["images_per_second"]
    sweep, ours, theirs = {}, [], []
    everything["in_progress"] = {"model": model, "config": cfg, "mode": "epoch", "pytorch_worker_sweep": sweep,
                                 "ringtrain_rounds": ours, "pytorch_rounds": theirs}
    for w in (0, 1, 2):
        sweep[w] = python_epoch(w)
        save(a, everything)
    workers = max(sweep, key=sweep.get)
    for _ in range(a.rounds):
        ours.append(ringtrain_epoch(a, model, amp, cl))
        save(a, everything)
        theirs.append(python_epoch(workers))
        save(a, everything)
    ratios = [x / y for x, y in zip(ours, theirs)]
    row = {"model": model, "config": cfg, "mode": "epoch", "ringtrain": statistics.median(ours),
           "pytorch": statistics.median(theirs), "ratio": statistics.median(ratios), "ratios": ratios,
           "ringtrain_rounds": ours, "pytorch_rounds": theirs, "pytorch_workers": workers,
           "pytorch_worker_sweep": sweep, "images": a.limit_train}
    everything["rows"].append(row)
    everything["in_progress"] = None
    save(a, everything)
    print(f"{model:<9} {cfg:<8} {'epoch':<8} {row['ringtrain']:>10.1f} {row['pytorch']:>10.1f} "
          f"{row['ratio']:>6.2f}x  {min(ratios):.2f}-{max(ratios):.2f} (PyTorch with {workers} loader "
          f"workers, the best of a sweep: " + ", ".join(f"{w}: {v:.1f}" for w, v in sweep.items()) +
          f" img/s; {a.limit_train} images)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ringtrain", default=os.path.join(ROOT, "build", "ringtrain"))
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--models", default="resnet18,resnet50")
    p.add_argument("--configs", default="fp32,fp32-cl,bf16-cl",
                   help="comma list of " + ", ".join(CONFIGS))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--modes", default="train,forward")
    p.add_argument("--epoch", action="store_true", help="also compare one whole training epoch")
    p.add_argument("--data", default=os.path.join(ROOT, "data", "cifar10"))
    p.add_argument("--limit-train", type=int, default=1280)
    p.add_argument("--force-bf16", action="store_true",
                   help="run bf16 even where the CPU has no native bf16 (emulated: very slow)")
    p.add_argument("--python-jemalloc", action="store_true",
                   help="run Python with the allocator ringtrain links (LD_PRELOAD jemalloc, same "
                        "MALLOC_CONF), to see how much of the difference is the allocator")
    p.add_argument("--cuda-graph", action="store_true",
                   help="CUDA: both sides replay forward + backward as a CUDA graph (train mode; epochs stay eager on both)")
    p.add_argument("--json", dest="json_out",
                   help="write all measurements to this file (rewritten after each one; \"complete\": true at the end)")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)

    py_env = None
    if a.python_jemalloc:
        lib = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
        if not os.path.exists(lib):
            sys.exit(f"compare.py: --python-jemalloc needs {lib} (apt-get install libjemalloc2)")
        py_env = dict(os.environ, LD_PRELOAD=lib, MALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1")
    native_bf16 = a.device == "cuda" or cpu_has_bf16()
    everything = {"device": a.device, "threads": a.threads, "batch_size": a.batch_size,
                  "native_bf16": native_bf16, "rows": []}
    everything["python_allocator"] = "jemalloc (LD_PRELOAD)" if py_env else "glibc (default)"
    everything.update(cuda_graph=a.cuda_graph, rounds=a.rounds, complete=False, in_progress=None)
    save(a, everything)
    try:
        measure(a, py_env, native_bf16, everything)
    except BaseException as e:  # a failed side, SIGTERM, Ctrl-C: keep what was measured, say why it stopped
        everything["error"] = str(e.code) if isinstance(e, SystemExit) else f"{type(e).__name__}: {e}"
        save(a, everything)
        raise
    everything["complete"] = True
    save(a, everything)


def measure(a, py_env, native_bf16, everything):
    """The table: for each model and configuration, --rounds alternated rounds, then a row per mode."""
    print(f"PyTorch with the {everything['python_allocator']} allocator")
    print(f"ringtrain / PyTorch on {a.device}, {a.threads} threads, batch {a.batch_size}, "
          f"{a.rounds} interleaved rounds (median of per-round ratios)")
    print(f"{'model':<9} {'config':<8} {'mode':<8} {'ringtrain':>10} {'pytorch':>10} {'ratio':>7}  ratio range")
    for model in a.models.split(","):
        for cfg in a.configs.split(","):
            amp, cl = CONFIGS[cfg]
            if amp == "bf16" and not native_bf16 and not a.force_bf16:
                print(f"{model:<9} {cfg:<8} skipped: this CPU has no native bf16 (AVX512-BF16/AMX); "
                      "--force-bf16 runs it emulated")
                continue
            common = ["--model", model, "--batch-size", str(a.batch_size), "--threads", str(a.threads),
                      "--device", a.device, "--amp", amp, "--warmup", str(a.warmup),
                      "--reps", str(a.reps), "--steps", str(a.steps), "--json"] + ["--channels-last", "true" if cl else "false"] \
                + (["--cuda-graph"] if a.cuda_graph else [])
            ours, theirs = [], []
            everything["in_progress"] = {"model": model, "config": cfg, "modes": a.modes,
                                         "ringtrain_rounds": ours, "pytorch_rounds": theirs}
            for _ in range(a.rounds):
                ours.append(step_rates(run_json([a.ringtrain, "bench", "--mode", a.modes] + common)))
                save(a, everything)
                theirs.append(step_rates(run_json([a.python, os.path.join(HERE, "pytorch_reference.py"),
                                                   "--mode", a.modes] + common, env=py_env)))
                save(a, everything)
            for mode in a.modes.split(","):
                o = [r[mode] for r in ours]
                t = [r[mode] for r in theirs]
                ratios = [x / y for x, y in zip(o, t)]
                row = {"model": model, "config": cfg, "mode": mode, "ringtrain": statistics.median(o),
                       "pytorch": statistics.median(t), "ratio": statistics.median(ratios),
                       "ratios": ratios, "ringtrain_rounds": o, "pytorch_rounds": t}
                everything["rows"].append(row)
                save(a, everything)
                print(f"{model:<9} {cfg:<8} {mode:<8} {row['ringtrain']:>10.1f} {row['pytorch']:>10.1f} "
                      f"{row['ratio']:>6.2f}x  {min(ratios):.2f}-{max(ratios):.2f}", flush=True)
            everything["in_progress"] = None
            save(a, everything)
            if a.epoch:
                epoch_row(a, model, cfg, amp, cl, common, py_env, everything)


if __name__ == "__main__":
    main()
