#!/usr/bin/env python3
"""The resized-image cache (--cache-dir, src/data/image_cache.h) on large real photographs
(bench/photo_folder.py makes the folder): what it gains in speed and costs in accuracy, as FFCV
reports for its max_resolution.

  loader  images/s of the image-file loader (`ringtrain bench --mode data`: read, decode, random
          resized crop to --image-size, flip, normalise, batch, on all cores) over the training
          split: without the cache, through a JPEG cache and a raw one at --max-side (epochs 2+:
          the first, untimed pass makes the entries, its rate reported apart), and
          torchvision's ImageFolder + DataLoader with --tv-workers workers (bench/data_reference.py;
          PIL decodes every file whole in each epoch). Alternating, --rounds times.
  train   a short training run of --model at --image-size on the folder, the same seed with and
          without the cache: test accuracy, img/s of epochs 2+, the data wait's share.

    .venv/bin/python bench/photo_folder.py /tmp/photos
    .venv/bin/python bench/photo_cache.py --data /tmp/photos --json bench/results/photo_cache-avx512_bf16.json
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(SRC, "build", "ringtrain")
PY = os.path.join(SRC, ".venv", "bin", "python")


def ringtrain_loader(a, cache_args):
    out = subprocess.run([BIN, "bench", "--mode", "data", "--data", a.data, "--image-size", str(a.image_size),
                          "--batch-size", str(a.batch_size), "--reps", str(a.reps), "--threads", str(a.threads),
                          "--json", *cache_args], check=True, capture_output=True, text=True).stdout
    r = json.loads(out[out.index("{"):])["results"][0]
    return {"median": r["images_per_second"]["median"], "first_pass": r["first_pass_images_per_second"],
            "images": r["images"]}


def torchvision_loader(a):
    out = subprocess.run([PY, os.path.join(SRC, "bench", "data_reference.py"), "--data", a.data, "--mode", "loader",
                          "--image-size", str(a.image_size), "--batch-size", str(a.batch_size), "--workers", a.tv_workers,
                          "--threads", str(a.threads), "--reps", str(a.reps), "--json"],
                         check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)["results"][0]["rows"]
    best = max(rows, key=lambda r: r["images_per_second"]["median"])
    return {"median": best["images_per_second"]["median"], "workers": best["workers"],
            "all": {r["workers"]: r["images_per_second"]["median"] for r in rows}}


def train(a, name, cache_args, work):
    run = os.path.join(work, name)
    subprocess.run([BIN, "train", "--data", a.data, "--model", a.model, "--image-size", str(a.image_size),
                    "--batch-size", str(a.batch_size), "--epochs", str(a.epochs), "--schedule", "cosine", "--lr",
                    str(a.lr), "--warmup-epochs", "1", "--threads", str(a.threads), "--seed", "1", "--out", run,
                    *cache_args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    m = json.load(open(os.path.join(run, "metrics.json")))
    h = json.load(open(os.path.join(run, "history.json")))
    return {"test_accuracy": m["test_accuracy"], "best_test_accuracy": m["best_test_accuracy"],
            "train_seconds": m["train_seconds"], "epoch1_images_per_second": h[0]["images_per_second"],
            "later_images_per_second": statistics.mean(e["images_per_second"] for e in h[1:]),
            "data_wait_share": m["data_wait_share"],
            "later_data_wait_share": sum(e["data_wait_seconds"] for e in h[1:]) / sum(e["train_seconds"] for e in h[1:])}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mode", default="loader,train")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--tv-workers", default="2", help="torchvision's DataLoader workers to try (the best counts)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="photo_cache_")
    cache = os.path.join(work, "cache")
    jpeg = ["--cache-dir", cache, "--max-side", str(a.max_side)]
    raw = [*jpeg, "--cache-format", "raw"]
    res = {"image_size": a.image_size, "max_side": a.max_side, "batch_size": a.batch_size, "threads": a.threads}
    modes = a.mode.split(",")
    if "loader" in modes:
        rows = {"ringtrain, no cache": [], "ringtrain, JPEG cache": [], "ringtrain, raw cache": [], "torchvision": []}
        for rnd in range(a.rounds):
            order = list(rows) if rnd % 2 == 0 else list(reversed(rows))
            for k in order:
                args = {"ringtrain, no cache": [], "ringtrain, JPEG cache": jpeg, "ringtrain, raw cache": raw}.get(k)
                r = torchvision_loader(a) if k == "torchvision" else ringtrain_loader(a, args)
                rows[k].append(r)
                print(f"{k}: {r['median']:.1f} img/s" + (f" (first pass {r['first_pass']:.1f})" if "first_pass" in r
                                                         else f" ({r['workers']} workers)"), file=sys.stderr, flush=True)
        res["loader"] = rows
        sizes = {}
        for fmt in ("jpeg", "raw"):
            d = os.path.join(cache, f"{fmt}-{a.max_side}")
            sizes[fmt] = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(d) for f in fs)
        src = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(os.path.join(a.data, "train"))
                  for f in fs)
        res["bytes"] = {"source_train": src, "cache_jpeg": sizes["jpeg"], "cache_raw": sizes["raw"]}
        shutil.rmtree(cache)
    if "train" in modes:
        res["train"] = {"no cache": train(a, "plain", [], work), "JPEG cache": train(a, "cached", jpeg, work)}
        res["train"]["JPEG cache, read again"] = train(a, "cached2", jpeg, work)
    if a.json:
        json.dump(res, open(a.json, "w"), indent=2)
    print(json.dumps(res, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
