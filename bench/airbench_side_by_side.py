#!/usr/bin/env python3
"""airbench94 side by side: ringtrain's `--recipe airbench94` against bench/airbench_reference.py.

Two measurements, each alternating the two programs (ringtrain, Python, ringtrain, ...) on the
same machine so that its drift falls on both:

  ratio   PAIRS pairs of short runs (2 epochs of 10,240 training images, 1,000 test images):
          the steady epoch's training seconds (epoch 2; epoch 1 includes the paper loader's
          one-time preprocessing), their ratio per pair, and the data wait.
  workers the recipe data-parallel: --nproc 2 --global-batch 1024 --batch-size 512 (one thread
          each) against one worker with --global-batch 1024 --batch-size 512 (two micro-batches
          a step, two threads): the same BatchNorm batches and steps, so the weights should end
          within float noise of each other (the allreduce adds in another order); the largest
          difference of each tensor relative to its scale, and both accuracies.
  seeds   whole runs, 10 epochs of all 50,000 images and the flip-translate TTA test of all
          10,000, for --rt-seeds and --py-seeds: test accuracy with and without TTA, training
          and evaluation seconds, and wall time from start to exit (data loading included).
          ringtrain's 10 epochs are 490 steps (the last batch of each epoch 848 images); the
          Python loader drops a last partial batch, so it runs --epochs 10.2: also 490 steps.

Results go to --results (one small JSON file per run, kept in the repository under
bench/results/airbench94-<cpu>/, <cpu> being avx2, avx512f or avx512_bf16, so that figures of
different machines are never pooled); the run folders and logs go to --runs. A run whose result
is there is not run again, so a study can be continued in a later session on a machine of the
same kind (a ringtrain run that was stopped resumes from its checkpoint, its wall time then
unknown). `summary` prints the tables from --results. While the file --runs/HOLD exists the
study waits between runs (touch it to build or test on the same cores without slowing a run).

Precision follows ringtrain's --amp auto: bf16 autocast where the CPU has AVX512-BF16, fp32
otherwise; the Python run is given the same (--precision bf16 or fp32).

    .venv/bin/python bench/airbench_side_by_side.py ratio --data data/cifar10 --pairs 3
    .venv/bin/python bench/airbench_side_by_side.py seeds --data data/cifar10 --rt-seeds 0-4 --py-seeds 0-2
    .venv/bin/python bench/airbench_side_by_side.py workers --data data/cifar10
    .venv/bin/python bench/airbench_side_by_side.py summary
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(SRC, ".venv", "bin", "python")
REFERENCE = os.path.join(SRC, "bench", "airbench_reference.py")


def seeds(text):
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def wait_while_held(a):
    """Holds the study between runs while the file --runs/HOLD exists (touch it to build or test on
    the same cores without slowing a timed run; remove it to go on)."""
    hold = os.path.join(a.runs, "HOLD")
    if os.path.exists(hold):
        print(f"airbench_side_by_side: held by {hold}", flush=True)
        while os.path.exists(hold):
            time.sleep(5)


def timed(argv, log):
    start = time.perf_counter()
    with open(log, "a") as f:
        rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        sys.exit(f"airbench_side_by_side: {' '.join(argv[:4])} ... exited {rc}; see {log}")
    return time.perf_counter() - start


def run_ringtrain(a, name, seed, extra, threads=None):
    run = os.path.join(a.runs, name)
    result = os.path.join(a.results, name + ".json")
    if os.path.exists(result):
        return json.load(open(result))
    # A run stopped before (a session's end) resumes from its checkpoint; its wall time is then
    # not known (the stopped piece's is lost) and is reported as null.
    wait_while_held(a)
    resumed = os.path.exists(os.path.join(run, "checkpoint.safetensors"))
    argv = [a.bin, "train", "--data", a.data, "--recipe", "airbench94", "--seed", str(seed), "--out", run,
            "--threads", str(threads or a.threads), *extra, *(["--resume", run] if resumed else [])]
    wall = timed(argv, run + ".log")
    m = json.load(open(os.path.join(run, "metrics.json")))
    h = json.load(open(os.path.join(run, "history.json")))
    r = {"program": "ringtrain", "seed": seed, "test_accuracy_tta": m["test_accuracy"],
         "test_accuracy": m["test_accuracy_without_tta"], "epoch_train_seconds": [e["train_seconds"] for e in h],
         "data_wait_seconds": [e["data_wait_seconds"] for e in h], "train_seconds": m["train_seconds"],
         "total_seconds": m["total_seconds"], "tta_seconds": m["tta_seconds"],
         "wall_seconds": None if resumed else wall, "data_wait_share": m["data_wait_share"],
         "precision": m["environment"].get("precision", ""), "cpu": cpu_flags()}
    json.dump(r, open(result, "w"), indent=2)
    return r


def run_python(a, name, seed, extra):
    result = os.path.join(a.results, name + ".json")
    if os.path.exists(result):
        return json.load(open(result))
    wait_while_held(a)
    raw = os.path.join(a.runs, name + ".raw.json")
    precision = "bf16" if cpu_flags() == "avx512_bf16" else "fp32"
    argv = [PY, REFERENCE, "--data", a.data, "--threads", str(a.threads), "--seed", str(seed), "--json", raw,
            "--precision", precision, *extra]
    wall = timed(argv, os.path.join(a.runs, name + ".log"))
    p = json.load(open(raw))
    r = {"program": "python", "seed": seed, "test_accuracy_tta": p["test_accuracy_tta"],
         "test_accuracy": p["test_accuracy"], "epoch_train_seconds": p["epoch_seconds"],
         "data_wait_seconds": p["data_seconds"], "train_seconds": p["train_seconds"],
         "total_seconds": p["train_seconds"] + p["eval_seconds"], "tta_seconds": p["eval_seconds"],
         "wall_seconds": wall, "data_wait_share": sum(p["data_seconds"]) / p["train_seconds"],
         "precision": p["precision"], "cpu": cpu_flags()}
    json.dump(r, open(result, "w"), indent=2)
    return r


def cpu_flags():
    flags = open("/proc/cpuinfo").read().split("flags", 2)[1].split("\n")[0]
    return "avx512_bf16" if "avx512_bf16" in flags else ("avx512f" if "avx512f" in flags else "avx2")


SHORT = ["--limit-train", "10240", "--limit-test", "1000"]


def ratio(a):
    for i in range(1, a.pairs + 1):
        run_ringtrain(a, f"ratio_rt_{i}", i, [*SHORT, "--epochs", "2"])
        run_python(a, f"ratio_py_{i}", i, [*SHORT, "--epochs", "2"])


def workers(a):
    one = run_ringtrain(a, "workers_1", 0, ["--global-batch", "1024", "--batch-size", "512"])
    two = run_ringtrain(a, "workers_2", 0, ["--global-batch", "1024", "--batch-size", "512", "--nproc", "2"], threads=1)
    result = os.path.join(a.results, "workers_weights.json")
    if not os.path.exists(result):
        from safetensors.numpy import load_file
        import numpy as np
        w1 = load_file(os.path.join(a.runs, "workers_1", "checkpoint.safetensors"))
        w2 = load_file(os.path.join(a.runs, "workers_2", "checkpoint.safetensors"))
        rel = {}
        for k, v in w1.items():
            if not k.startswith("model/") or v.dtype.kind != "f":
                continue
            scale = float(np.abs(v).max()) or 1.0
            rel[k] = float(np.abs(v.astype(np.float64) - w2[k].astype(np.float64)).max()) / scale
        worst = sorted(rel.items(), key=lambda kv: -kv[1])[:5]
        json.dump({"tensors": len(rel), "worst_relative_difference": worst,
                   "median_relative_difference": statistics.median(rel.values())}, open(result, "w"), indent=2)
    r = json.load(open(result))
    print(f"1 worker: {100 * one['test_accuracy_tta']:.2f}% TTA ({100 * one['test_accuracy']:.2f}% plain), "
          f"{one['train_seconds']:.0f} s; 2 workers: {100 * two['test_accuracy_tta']:.2f}% "
          f"({100 * two['test_accuracy']:.2f}%), {two['train_seconds']:.0f} s; weights: {r['tensors']} tensors, "
          f"median relative difference {r['median_relative_difference']:.2e}, worst {r['worst_relative_difference'][0]}")


def seed_runs(a):
    rt, py = seeds(a.rt_seeds), seeds(a.py_seeds)
    for i in range(max(len(rt), len(py))):
        if i < len(rt):
            run_ringtrain(a, f"rt_seed{rt[i]}", rt[i], [])
        if i < len(py):
            run_python(a, f"py_seed{py[i]}", py[i], ["--epochs", "10.2"])


def load(out, prefix):
    rows = []
    for f in sorted(os.listdir(out)):
        if f.startswith(prefix) and f.endswith(".json") and not f.endswith(".raw.json"):
            rows.append(json.load(open(os.path.join(out, f))))
    return rows


def spread(values, fmt="{:.2f}"):
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} +- {fmt.format(statistics.stdev(values))}"


def summary(a):
    rt, py = load(a.results, "ratio_rt_"), load(a.results, "ratio_py_")
    if rt and py:
        print("| pair | ringtrain epoch 2 (s) | Python epoch 2 (s) | Python / ringtrain |")
        print("|---|---|---|---|")
        ratios = []
        for r, p in zip(rt, py):
            ratios.append(p["epoch_train_seconds"][1] / r["epoch_train_seconds"][1])
            print(f"| {r['seed']} | {r['epoch_train_seconds'][1]:.1f} | {p['epoch_train_seconds'][1]:.1f} "
                  f"| {ratios[-1]:.3f} |")
        print(f"\nmedian ratio {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}); "
              f"data wait in epoch 2: ringtrain {spread([100 * r['data_wait_seconds'][1] / r['epoch_train_seconds'][1] for r in rt])}%, "
              f"Python {spread([100 * p['data_wait_seconds'][1] / p['epoch_train_seconds'][1] for p in py])}%\n")
    for name, all_rows in (("ringtrain", load(a.results, "rt_seed")), ("Python", load(a.results, "py_seed"))):
        if not all_rows:
            continue
        rows = all_rows
        print(f"{name}: {len(rows)} seeds ({', '.join(str(r['seed']) for r in rows)}), {rows[0]['precision']}, "
              f"{rows[0]['cpu']}")
        print(f"  test accuracy with TTA  {spread([100 * r['test_accuracy_tta'] for r in rows])}%")
        print(f"  without TTA             {spread([100 * r['test_accuracy'] for r in rows])}%")
        # A run that shared the cores with other work keeps its accuracy but not its times
        # ("timing_valid": false, with a "note" saying why).
        rows = [r for r in all_rows if r.get("timing_valid", True)]
        if len(rows) < len(all_rows):
            print(f"  times below from {len(rows)} of the {len(all_rows)} runs (the others shared the cores)")
        print(f"  training seconds        {spread([r['train_seconds'] for r in rows], '{:.0f}')}")
        print(f"  TTA test seconds        {spread([r['tta_seconds'] for r in rows], '{:.0f}')}")
        walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] is not None]
        print(f"  wall seconds            {spread(walls, '{:.0f}')}"
              f"{f' ({len(rows) - len(walls)} resumed runs left out)' if len(walls) < len(rows) else ''}")
        print(f"  data wait share         {spread([100 * r['data_wait_share'] for r in rows], '{:.2f}')}%")
    seeds_ratio(a)


def seeds_ratio(a):
    rt, py = load(a.results, "rt_seed"), load(a.results, "py_seed")
    if rt and py:
        r = statistics.mean([x["train_seconds"] for x in rt if x.get("timing_valid", True)])
        p = statistics.mean([x["train_seconds"] for x in py if x.get("timing_valid", True)])
        print(f"\nwhole runs (490 steps each): Python / ringtrain training seconds {p / r:.3f} "
              f"(means {p:.0f} s / {r:.0f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["ratio", "seeds", "workers", "summary"])
    ap.add_argument("--data", default=os.path.join(SRC, "data", "cifar10"))
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "ringtrain"))
    ap.add_argument("--results", default=os.path.join(SRC, "bench", "results", f"airbench94-{cpu_flags()}"))
    ap.add_argument("--runs", default=os.path.join(SRC, "runs", "airbench_side_by_side"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--rt-seeds", default="0-4")
    ap.add_argument("--py-seeds", default="0-2")
    a = ap.parse_args()
    os.makedirs(a.results, exist_ok=True)
    os.makedirs(a.runs, exist_ok=True)
    {"ratio": ratio, "seeds": seed_runs, "workers": workers, "summary": summary}[a.what](a)
    if a.what != "summary":
        summary(a)


if __name__ == "__main__":
    main()
