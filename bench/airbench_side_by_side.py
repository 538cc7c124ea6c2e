#!/usr/bin/env python3
"""airbench94 side by side: ringtrain's `--recipe airbench94` against bench/airbench_reference.py.

Two measurements, each alternating the two programs (ringtrain, Python, ringtrain, ...) on the
same machine so that its drift falls on both:

  ratio   PAIRS pairs of short runs (4 epochs of 10,240 training images, 1,000 test images):
          the training seconds of epoch 2 (epoch 1 includes the paper loader's one-time
          preprocessing) and of epoch 4 (after the whitening layer's 3 epochs: no gradient into
          it from then on, as in 7 of a whole run's 10 epochs), their ratio per pair, and the
          data wait.
  workers the recipe data-parallel: (1, with --short) 4 epochs of 10,240 images at --global-batch 1024
          --batch-size 512 on 1 worker with 1 thread, on 2 workers (--nproc 2, 1 thread each)
          and, for scale, on 1 worker with 2 threads: the same micro-batches, BatchNorm batches and
          steps, so 2 workers should give 1 worker's weights (how many tensors are bitwise equal,
          and the largest difference of each relative to its scale); (2) the whole recipe on 2
          hosts over a 1 Gbit/s link (network namespaces joined by a shaped veth pair,
          scripts/netns_hosts.sh, as root; one thread each): accuracy, wall time, and img/s
          against the step-time model's forecast (`ringtrain forecast` from the link's measured
          allreduce and one worker's measured speed while another shares the machine).
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

from shaped_links import netns, run_two  # two network-namespace hosts (bench/shaped_links.py)

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
    return record(a, name, seed, run, None if resumed else wall)


def record(a, name, seed, run, wall):
    """A finished ringtrain run's figures, kept in --results/NAME.json."""
    m = json.load(open(os.path.join(run, "metrics.json")))
    h = json.load(open(os.path.join(run, "history.json")))
    r = {"program": "ringtrain", "seed": seed, "test_accuracy_tta": m["test_accuracy"],
         "test_accuracy": m["test_accuracy_without_tta"], "epoch_train_seconds": [e["train_seconds"] for e in h],
         "data_wait_seconds": [e["data_wait_seconds"] for e in h], "train_seconds": m["train_seconds"],
         "total_seconds": m["total_seconds"], "tta_seconds": m["tta_seconds"], "wall_seconds": wall,
         "data_wait_share": m["data_wait_share"], "precision": m["environment"].get("precision", ""),
         "cpu": cpu_flags(), "build": build()}
    json.dump(r, open(os.path.join(a.results, name + ".json"), "w"), indent=2)
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


def build():
    """The commit the checkout is at (the binary built from it, changes or not)."""
    r = subprocess.run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip()


def cpu_flags():
    flags = open("/proc/cpuinfo").read().split("flags", 2)[1].split("\n")[0]
    return "avx512_bf16" if "avx512_bf16" in flags else ("avx512f" if "avx512f" in flags else "avx2")


SHORT = ["--limit-train", "10240", "--limit-test", "1000"]


def ratio(a):
    for i in range(1, a.pairs + 1):
        run_ringtrain(a, f"ratio4_rt_{i}", i, [*SHORT, "--epochs", "4"])
        run_python(a, f"ratio4_py_{i}", i, [*SHORT, "--epochs", "4"])


def compare_weights(runs, a_name, b_name):
    """How far two runs' final weights are apart: per floating-point model tensor, the largest
    difference relative to the tensor's largest magnitude."""
    from safetensors.numpy import load_file
    import numpy as np
    w1 = load_file(os.path.join(runs, a_name, "checkpoint.safetensors"))
    w2 = load_file(os.path.join(runs, b_name, "checkpoint.safetensors"))
    rel = {}
    for k, v in w1.items():
        if not k.startswith("model/") or v.dtype.kind != "f":
            continue
        scale = float(np.abs(v).max()) or 1.0
        rel[k] = float(np.abs(v.astype(np.float64) - w2[k].astype(np.float64)).max()) / scale
    worst = max(rel.items(), key=lambda kv: kv[1])
    return {"runs": [a_name, b_name], "tensors": len(rel), "bitwise_equal": sum(v == 0 for v in rel.values()),
            "median_relative_difference": statistics.median(rel.values()), "worst": list(worst)}


def workers(a):
    """The recipe data-parallel. (1, with --short; tests/integration/airbench_workers.sh checks the
    same in CI) The same steps on 1 and 2 workers: 4 epochs of 10,240 images
    (through the whitening layer's freeze and the lookahead's updates) at --global-batch 1024
    --batch-size 512, on 1 worker with 1 thread, on 2 workers with 1 thread each, and on 1 worker
    with 2 threads (the float noise of another thread count, for scale). (2) The whole recipe on
    2 hosts over a 1 Gbit/s link (network namespaces, scripts/netns_hosts.sh; needs root), one
    thread each: accuracy and wall time, against the step-time model's forecast from the link's
    measured allreduce and one worker's measured speed (two 1-thread workers sharing the machine,
    as the two hosts share it)."""
    r = {"short": []}
    if a.short:
        short = [*SHORT, "--epochs", "4", "--global-batch", "1024", "--batch-size", "512", "--tta", "none"]
        run_ringtrain(a, "workers_short_1w1t", 0, short, threads=1)
        run_ringtrain(a, "workers_short_2w", 0, [*short, "--nproc", "2"], threads=1)
        run_ringtrain(a, "workers_short_1w2t", 0, short, threads=2)
        r["short"] = [compare_weights(a.runs, "workers_short_1w1t", "workers_short_2w"),
                      compare_weights(a.runs, "workers_short_1w1t", "workers_short_1w2t")]
        json.dump(r, open(os.path.join(a.results, "workers_short.json"), "w"), indent=2)
    name = "workers_2hosts_1gbit"
    if not os.path.exists(os.path.join(a.results, name + ".json")):
        wait_while_held(a)
        tag = f"ab{os.getpid()}"
        netns(tag, "up")
        try:
            netns(tag, "shape", "1gbit")
            link = os.path.join(a.runs, "link_1gbit.json")
            run_two(tag, [a.bin, "bench", "--allreduce", "--min-size", "4K", "--max-size", "64M", "--iters", "5",
                               "--warmup", "2", "--threads", "1", "--json", "--timeout", "300"], 29811,
                         os.path.join(a.runs, "link_1gbit"))
            text = open(os.path.join(a.runs, "link_1gbit.0")).read()
            json.dump({"world_size": 2, "rows": json.loads(text[text.index("{"):])["rows"]}, open(link, "w"))
            # One worker's speed while another shares the machine: the steady epochs (4) of two
            # 1-thread runs at once, at the per-worker batch of 512.
            procs = [subprocess.Popen([a.bin, "train", "--data", a.data, "--recipe", "airbench94", "--seed", "0",
                                       *SHORT, "--epochs", "4", "--batch-size", "512", "--tta", "none", "--threads",
                                       "1", "--out", os.path.join(a.runs, f"workers_compute{k}")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in (0, 1)]
            if any(p.wait() != 0 for p in procs):
                sys.exit("airbench_side_by_side: a 1-thread compute run failed")
            compute = statistics.mean(
                json.load(open(os.path.join(a.runs, f"workers_compute{k}", "history.json")))[-1]["images_per_second"]
                for k in (0, 1))
            run = os.path.join(a.runs, name)
            resumed = os.path.exists(os.path.join(run, "checkpoint.safetensors"))
            wall = run_two(tag, [a.bin, "train", "--data", a.data, "--recipe", "airbench94", "--seed", "0",
                                      "--global-batch", "1024", "--batch-size", "512", "--threads", "1", "--out", run,
                                      "--timeout", "600", *(["--resume", run] if resumed else [])], 29812, run)
        finally:
            netns(tag, "down")
        rec = record(a, name, 0, run, None if resumed else wall)
        forecast = json.loads(subprocess.run(
            [a.bin, "forecast", "--model", "airbench94", "--batch-size", "512", "--nproc", "2", "--compute-img-per-s",
             str(compute), "--allreduce", link, "--threads", "1", "--json"],
            check=True, capture_output=True, text=True).stdout)
        rec["compute_images_per_second"] = compute
        rec["forecast_images_per_second"] = forecast["rows"][0]["images_per_second"]
        rec["measured_images_per_second"] = statistics.mean(
            e["images_per_second"] for e in json.load(open(os.path.join(run, "history.json")))[3:])
        json.dump(rec, open(os.path.join(a.results, name + ".json"), "w"), indent=2)
    two = json.load(open(os.path.join(a.results, name + ".json")))
    for c in r["short"]:
        print(f"{c['runs'][0]} vs {c['runs'][1]}: {c['bitwise_equal']} of {c['tensors']} tensors bitwise equal, "
              f"median relative difference {c['median_relative_difference']:.2e}, worst {c['worst'][1]:.2e} "
              f"({c['worst'][0]})")
    print(f"2 hosts over 1 Gbit/s: {100 * two['test_accuracy_tta']:.2f}% TTA ({100 * two['test_accuracy']:.2f}% "
          f"plain), training {two['train_seconds']:.0f} s, wall {two['wall_seconds'] or float('nan'):.0f} s; "
          f"epochs 4-10 {two['measured_images_per_second']:.0f} img/s, forecast "
          f"{two['forecast_images_per_second']:.0f} img/s (one worker {two['compute_images_per_second']:.0f} img/s)")


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
    # Short pairs: 2 epochs (earlier studies: "ratio_"), or 4 (since 57182e7: "ratio4_"), whose
    # epoch 4 comes after the whitening layer's 3 epochs, as 7 of a whole run's 10 do.
    for prefix, epochs in (("ratio_", [2]), ("ratio4_", [2, 4])):
        rt, py = load(a.results, prefix + "rt_"), load(a.results, prefix + "py_")
        if not (rt and py):
            continue
        for e in epochs:
            print(f"| pair | ringtrain epoch {e} (s) | Python epoch {e} (s) | Python / ringtrain |")
            print("|---|---|---|---|")
            ratios = []
            for r, p in zip(rt, py):
                ratios.append(p["epoch_train_seconds"][e - 1] / r["epoch_train_seconds"][e - 1])
                print(f"| {r['seed']} | {r['epoch_train_seconds'][e - 1]:.1f} | {p['epoch_train_seconds'][e - 1]:.1f} "
                      f"| {ratios[-1]:.3f} |")
            print(f"\nepoch {e}: median ratio {statistics.median(ratios):.3f} (range {min(ratios):.3f}-"
                  f"{max(ratios):.3f}); data wait: ringtrain "
                  f"{spread([100 * r['data_wait_seconds'][e - 1] / r['epoch_train_seconds'][e - 1] for r in rt])}%, "
                  f"Python {spread([100 * p['data_wait_seconds'][e - 1] / p['epoch_train_seconds'][e - 1] for p in py])}%\n")
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
        timed_rows = [r for r in all_rows if r.get("timing_valid", True)]
        if len(timed_rows) < len(all_rows):
            print(f"  times below from {len(timed_rows)} of the {len(all_rows)} runs (the others shared the cores)")
        # Times of different builds are not pooled ("build": what a run's binary was, where it
        # changed the speed and not the weights).
        for build in sorted({r.get("build", "") for r in timed_rows}):
            rows = [r for r in timed_rows if r.get("build", "") == build]
            if build:
                print(f"  {build}: seeds {', '.join(str(r['seed']) for r in rows)}")
            print(f"  training seconds        {spread([r['train_seconds'] for r in rows], '{:.0f}')}")
            print(f"  TTA test seconds        {spread([r['tta_seconds'] for r in rows], '{:.0f}')}")
            walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] is not None]
            print(f"  wall seconds            {spread(walls, '{:.0f}')}"
                  f"{f' ({len(rows) - len(walls)} resumed runs left out)' if len(walls) < len(rows) else ''}")
            print(f"  data wait share         {spread([100 * r['data_wait_share'] for r in rows], '{:.2f}')}%")
    seeds_ratio(a)


def seeds_ratio(a):
    rt, py = load(a.results, "rt_seed"), load(a.results, "py_seed")
    p = [x["train_seconds"] for x in py if x.get("timing_valid", True)]
    for build in sorted({x.get("build", "") for x in rt}):
        r = [x["train_seconds"] for x in rt if x.get("timing_valid", True) and x.get("build", "") == build]
        if r and p:
            print(f"\nwhole runs (490 steps each){f', ringtrain {build}' if build else ''}: Python / ringtrain "
                  f"training seconds {statistics.mean(p) / statistics.mean(r):.3f} (means {statistics.mean(p):.0f} s "
                  f"/ {statistics.mean(r):.0f} s)")


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
    ap.add_argument("--short", action="store_true", help="workers: also the short 1-against-2-worker weight check")
    a = ap.parse_args()
    os.makedirs(a.results, exist_ok=True)
    os.makedirs(a.runs, exist_ok=True)
    {"ratio": ratio, "seeds": seed_runs, "workers": workers, "summary": summary}[a.what](a)
    if a.what != "summary":
        summary(a)


if __name__ == "__main__":
    main()
