#!/usr/bin/env python3
"""PyTorch reference for ringtrain's image-file data pipeline (`ringtrain bench --mode data`
on an image folder, and the data wait of a training run).

  loader  torchvision.datasets.ImageFolder(DIR/train) + DataLoader(batch, shuffle=True,
          num_workers=W): PIL decode, RandomResizedCrop(S) (scale 0.08-1, ratio 3/4-4/3,
          bilinear, antialiased), RandomHorizontalFlip, ToTensor, Normalize(ImageNet) -- the
          standard ImageNet training transform, the same work ringtrain's loader does. Images per
          second over whole passes (iterator creation to last batch, worker start-up included, as
          ringtrain's loader threads start with each epoch), for each W of --workers; the best W
          is the figure to compare with.
  train   torchvision.models.<model>(num_classes=C) (ImageNet stem) trained with SGD at S px on
          that loader: the share of the step time spent in next(iterator) (waiting for data),
          and images per second. ringtrain records the same in metrics.json (data_wait_share).

    data_reference.py --data DIR [--mode loader,train] [--image-size 128] [--batch-size 64]
                      [--workers 0,1,2,3] [--threads 2] [--reps 3] [--limit 0] [--json]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(size):
    return transforms.Compose([
        transforms.RandomResizedCrop(size),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def dataset(args):
    ds = torchvision.datasets.ImageFolder(f"{args.data}/train", transform=train_transform(args.image_size))
    if args.limit and args.limit < len(ds):
        g = torch.Generator().manual_seed(0)
        ds = Subset(ds, torch.randperm(len(ds), generator=g)[: args.limit].tolist())
    return ds


def loader(ds, args, workers):
    return DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                      persistent_workers=False, drop_last=False)


def bench_loader(args, ds):
    rows = []
    for w in args.workers:
        rates = []
        for rep in range(args.reps + 1):  # the first pass warms the page cache and is not counted
            t0 = time.perf_counter()
            n = sum(x.shape[0] for x, _ in loader(ds, args, w))
            if rep > 0:
                rates.append(n / (time.perf_counter() - t0))
        rows.append({"workers": w, "images_per_second": {"median": statistics.median(rates), "min": min(rates),
                                                         "max": max(rates), "reps": rates}})
        if not args.json:
            print(f"torchvision ImageFolder + DataLoader, {w} workers, {args.image_size} px: "
                  f"{statistics.median(rates):.1f} img/s (min {min(rates):.1f}, max {max(rates):.1f})", flush=True)
    return rows


def bench_train(args, ds, workers):
    classes = len(ds.dataset.classes) if isinstance(ds, Subset) else len(ds.classes)
    model = getattr(torchvision.models, args.model)(num_classes=classes).to(memory_format=torch.channels_last
                                                                             if args.channels_last else
                                                                             torch.contiguous_format)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, fused=True)
    model.train()
    wait = step_time = 0.0
    images = steps = 0
    it = iter(loader(ds, args, workers))
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        try:
            x, y = next(it)
        except StopIteration:
            break
        t1 = time.perf_counter()
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if steps >= 1:  # the first step (and the workers' start) is warm-up
            wait += t1 - t0
            step_time += t2 - t0
            images += x.shape[0]
        steps += 1
    total = time.perf_counter() - start
    row = {"model": args.model, "workers": workers, "steps": steps, "data_wait_share": wait / step_time,
           "images_per_second": images / step_time, "seconds": total}
    if not args.json:
        print(f"torchvision {args.model} at {args.image_size} px, batch {args.batch_size}, {workers} workers: "
              f"{row['images_per_second']:.1f} img/s, {100 * row['data_wait_share']:.1f}% of the step waiting "
              f"for data", flush=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--mode", default="loader")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", default="0,1,2,3")
    p.add_argument("--train-workers", type=int, default=-1, help="train mode: workers (-1: the loader's best)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--limit", type=int, default=0, help="use N training images (0: all)")
    p.add_argument("--model", default="resnet50")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    ds = dataset(args)
    out = {"tool": "torchvision", "torch": torch.__version__, "torchvision": torchvision.__version__,
           "threads": torch.get_num_threads(), "image_size": args.image_size, "batch_size": args.batch_size,
           "images": len(ds), "results": []}
    best = args.train_workers
    for mode in args.mode.split(","):
        if mode == "loader":
            rows = bench_loader(args, ds)
            out["results"].append({"mode": "loader", "rows": rows})
            if best < 0:
                best = max(rows, key=lambda r: r["images_per_second"]["median"])["workers"]
        elif mode == "train":
            out["results"].append({"mode": "train", **bench_train(args, ds, max(best, 0) if best >= 0 else 2)})
        else:
            print(f"data_reference.py: unknown --mode {mode}; use loader, train", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
