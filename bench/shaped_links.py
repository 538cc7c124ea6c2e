#!/usr/bin/env python3
"""Scaling over shaped links: 1 host against 2 hosts, for each link rate and gradient compression.

The two hosts are network namespaces joined by a veth pair (scripts/netns_hosts.sh), the link
shaped by tc's token bucket to each rate, one compute thread per host. For each model:
  * 1 host (one process, one thread, no communication), measured again before each rate's
    group of runs, so that the speedups use the median of measurements spread over the study;
  * 2 hosts for each rate x compression: `train` on synthetic CIFAR-sized data, the same batch
    per worker (weak scaling), img/s of the last epoch (the first warms up);
  * per rate, `bench --allreduce` from 4 KB to 64 MB (the link's latency and bandwidth, for the
    step-time model);
  * the step-time model's prediction of every 2-host row (`ringtrain forecast`): from the link's
    allreduce measurement, the compressor's measured compute, one worker's speed measured
    while a second 1-host run shares the machine (as the two "hosts" here share its cores;
    measured next to each 1-host run), and the lock-step cost calibrated on 2 hosts over the
    unshaped link (fp32, measured next to each 1-host run): no shaped-link run goes into it.
Writes the table (markdown) to stdout and everything measured to --json.

    sudo .venv/bin/python bench/shaped_links.py --models resnet18 --json shaped.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETNS = os.path.join(SRC, "scripts", "netns_hosts.sh")
ADDR0 = "10.231.77.1"
CALIBRATION = "none"  # the link the lock-step cost is calibrated on: the veth pair unshaped


def netns(tag, *args):
    subprocess.run(["bash", NETNS, tag, *args], check=True)


def run_two(tag, argv, port, log):
    """argv on both hosts as ranks 0 and 1 (logs LOG.0, LOG.1); its wall seconds. Raises with the
    log tail on failure."""
    start = time.perf_counter()
    procs = []
    for rank in (0, 1):
        env = ["env", f"RANK={rank}", "WORLD_SIZE=2", "LOCAL_RANK=0", f"MASTER_ADDR={ADDR0}", f"MASTER_PORT={port}"]
        f = open(f"{log}.{rank}", "w")
        procs.append((subprocess.Popen(["ip", "netns", "exec", f"rt_h{rank}_{tag}", *env, *argv], stdout=f,
                                       stderr=subprocess.STDOUT), f))
        if rank == 0:
            time.sleep(0.3)
    for p, f in procs:
        rc = p.wait()
        f.close()
        if rc != 0:
            tail = open(f.name).read()[-1500:]
            raise RuntimeError(f"{' '.join(argv[:3])} ... exited {rc}:\n{tail}")
    return time.perf_counter() - start


def last_epoch(run_dir):
    h = json.load(open(os.path.join(run_dir, "history.json")))[-1]
    return {"images_per_second": h["images_per_second"], "comm": h.get("comm", {})}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "ringtrain"))
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--rates", default="500mbit,1gbit,2500mbit,5gbit")
    ap.add_argument("--modes", default="none,bf16,fp16,powersgd:4")
    ap.add_argument("--batch-size", type=int, default=32, help="per worker")
    ap.add_argument("--steps", type=int, default=8, help="optimiser steps per epoch (2 epochs; the last is timed)")
    ap.add_argument("--json", default="shaped_links.json")
    ap.add_argument("--from", dest="source", help="predict and tabulate the measurements of this JSON; run nothing")
    a = ap.parse_args()
    if a.source:
        results = json.load(open(a.source))
        predict(a, results, tempfile.mkdtemp(prefix="shaped_links_"))
        json.dump(results, open(a.json, "w"), indent=1)
        print(table(results))
        return
    tag = f"sl{os.getpid()}"
    work = tempfile.mkdtemp(prefix="shaped_links_")
    subprocess.run([sys.executable, os.path.join(SRC, "scripts", "make_synthetic_cifar.py"), f"{work}/data",
                    str(2 * a.batch_size * a.steps // 5 + 1), "10"], check=True)
    netns(tag, "up")
    results = {"batch_size": a.batch_size, "steps": a.steps, "models": {}, "links": {}}
    port = 29800
    try:
        common = ["train", "--data", f"{work}/data", "--epochs", "2", "--batch-size", str(a.batch_size),
                  "--threads", "1", "--seed", "1", "--amp", "none", "--limit-test", "10", "--timeout", "300",
                  "--checkpoint-every", "0", "--keep-checkpoints", "1"]
        for rate in [CALIBRATION, *a.rates.split(",")]:
            netns(tag, "shape", rate)
            port += 1
            run_two(tag, [a.bin, "bench", "--allreduce", "--min-size", "4K", "--max-size", "64M", "--iters", "5",
                          "--warmup", "2", "--threads", "1", "--json", "--timeout", "300"], port, f"{work}/ar_{rate}")
            text = open(f"{work}/ar_{rate}.0").read()
            results["links"][rate] = json.loads(text[text.index("{"):])["rows"]
        for model in a.models.split(","):
            m = results["models"].setdefault(model, {"one_host": [], "two_hosts": {}})
            for rate in a.rates.split(","):
                netns(tag, "shape", rate)
                out = f"{work}/{model}_1_{rate}"
                subprocess.run([a.bin, *common, "--model", model, "--limit-train", str(a.batch_size * a.steps),
                                "--out", out], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                m["one_host"].append(last_epoch(out)["images_per_second"])
                # Two 1-host runs at once: one worker's speed when another shares the machine.
                shared = [subprocess.Popen([a.bin, *common, "--model", model, "--limit-train",
                                            str(a.batch_size * a.steps), "--out", f"{out}_shared{k}"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in (0, 1)]
                if any(p.wait() != 0 for p in shared):
                    raise RuntimeError(f"a shared 1-host run of {model} failed")
                m.setdefault("one_host_shared", []).append(
                    statistics.mean(last_epoch(f"{out}_shared{k}")["images_per_second"] for k in (0, 1)))
                # 2 hosts over the unshaped link, fp32: calibrates the model's lock-step cost.
                netns(tag, "shape", CALIBRATION)
                port += 1
                run_two(tag, [a.bin, *common, "--model", model, "--limit-train", str(2 * a.batch_size * a.steps),
                              "--out", f"{out}_calibration"], port, f"{out}_calibration")
                m.setdefault("calibration", []).append(last_epoch(f"{out}_calibration")["images_per_second"])
                netns(tag, "shape", rate)
                for mode in a.modes.split(","):
                    port += 1
                    out = f"{work}/{model}_2_{rate}_{mode.replace(':', '')}"
                    run_two(tag, [a.bin, *common, "--model", model, "--limit-train", str(2 * a.batch_size * a.steps),
                                  "--grad-compression", mode, "--powersgd-warmup", "0", "--out", out], port, out)
                    m["two_hosts"][f"{rate} {mode}"] = last_epoch(out)
                    r = m["two_hosts"][f"{rate} {mode}"]
                    print(f"{model} {rate} {mode}: {r['images_per_second']:.1f} img/s "
                          f"(1 host {m['one_host'][-1]:.1f})", file=sys.stderr, flush=True)
                json.dump(results, open(a.json, "w"), indent=1)
    finally:
        netns(tag, "down")
    predict(a, results, work)
    json.dump(results, open(a.json, "w"), indent=1)
    print(table(results))


def predict(a, results, work):
    """The step-time model's img/s for every 2-host row (ringtrain forecast)."""
    for rate, rows in results["links"].items():
        json.dump({"world_size": 2, "rows": rows}, open(f"{work}/link_{rate}.json", "w"))
    for model, m in results["models"].items():
        compute = statistics.median(m.get("one_host_shared") or m["one_host"])
        calibrate = []  # measurements from before the lock-step cost was modelled have none
        if m.get("calibration") and CALIBRATION in results["links"]:
            calibrate = ["--calibrate-img-per-s", str(statistics.median(m["calibration"])),
                         "--calibrate-allreduce", f"{work}/link_{CALIBRATION}.json"]
        timing = []  # the gradient timing, measured by the first prediction, reused by the others
        for key, r in m["two_hosts"].items():
            rate, mode = key.split(" ")
            out = subprocess.run([a.bin, "forecast", "--model", model, "--batch-size", str(a.batch_size), "--nproc", "2",
                                  "--compute-img-per-s", str(compute), "--allreduce", f"{work}/link_{rate}.json",
                                  "--grad-compression", mode, "--threads", "1", "--json", *calibrate, *timing],
                                 check=True, capture_output=True, text=True).stdout
            j = json.loads(out)
            if not timing:
                open(f"{work}/timing_{model}.json", "w").write(out)
                timing = ["--gradient-timing", f"{work}/timing_{model}.json"]
                m["bucket_ready"] = j["bucket_ready"]
                m["backward_share"] = j["gradient_timing"]["backward_share"]
            p = j["rows"][0]
            m["sync_seconds"] = j["sync_seconds"]
            r["predicted_images_per_second"] = p["images_per_second"]
            r["prediction_error"] = p["images_per_second"] / r["images_per_second"] - 1


def table(results):
    lines = []
    for model, m in results["models"].items():
        one = statistics.median(m["one_host"])
        lines.append(f"**{model}**, batch {results['batch_size']} per worker: 1 host {one:.1f} img/s "
                     f"(median of {len(m['one_host'])}, {min(m['one_host']):.1f}-{max(m['one_host']):.1f})\n")
        if m.get("one_host_shared"):
            lines.append(f"One worker while another shares the machine: {statistics.median(m['one_host_shared']):.1f} "
                         "img/s (median), the model's compute.\n")
        if m.get("calibration"):
            lines.append(f"2 hosts over the unshaped link, fp32: {statistics.median(m['calibration']):.1f} img/s "
                         f"(median of {len(m['calibration'])}, {min(m['calibration']):.1f}-{max(m['calibration']):.1f}), "
                         f"the model's lock-step cost: {1e3 * m.get('sync_seconds', 0):.0f} ms per step.\n")
        lines.append("| link | compression | 2 hosts img/s | speedup | efficiency | exposed comm / step | MB sent / step "
                     "| predicted img/s | error |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for key, r in m["two_hosts"].items():
            rate, mode = key.split(" ")
            c = r["comm"]
            speedup = r["images_per_second"] / one
            lines.append(f"| {rate} | {mode} | {r['images_per_second']:.1f} | {speedup:.2f}x | {speedup / 2:.0%} | "
                         f"{c.get('exposed_comm_seconds_per_step', 0) * 1e3:.0f} ms | "
                         f"{c.get('bytes_allreduced_per_step', 0) / 1e6:.2f} | "
                         f"{r.get('predicted_images_per_second', float('nan')):.1f} | "
                         f"{100 * r.get('prediction_error', float('nan')):+.1f}% |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
