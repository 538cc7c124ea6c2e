#!/usr/bin/env python3
"""PyTorch reference benchmark for `ringtrain bench` (like-for-like speed comparison).

What it measures (images per second, higher is better):

  train    One SGD training step on a synthetic batch that lives on the device:
           zero_grad(set_to_none=True); [autocast] logits = model(x);
           loss = cross_entropy(logits, y); loss.backward(); optimizer.step().
  forward  Inference only: model.eval(), torch.inference_mode(), [autocast] model(x).
  epoch    One full training pass over a CIFAR-10 subset, data pipeline included,
           done the way a typical torchvision user would: uint8 N x 32 x 32 x 3 array
           in memory, a Dataset that does exactly what torchvision.datasets.CIFAR10
           does (PIL.Image.fromarray + transform), RandomCrop(32, padding=4),
           RandomHorizontalFlip, ToTensor, Normalize, DataLoader(shuffle=True,
           drop_last=False, persistent_workers=False, pin_memory on CUDA).

Like-for-like conditions (these must match the C++ side):

  * Model: torchvision.models.<model>(num_classes=10) with the CIFAR stem
    (conv1 = 3x3 stride 1 padding 1, no bias; maxpool = Identity).
  * Optimiser: SGD(lr=0.1, momentum=0.9, weight_decay=1e-4, fused=True): the one fused kernel
    per parameter group that ringtrain's FusedSgd calls (src/train/optimizer.h), on CPU and GPU.
  * Loss: F.cross_entropy on logits; labels in [0, 10).
  * Inputs: 3 x 32 x 32 float32 (channels_last for model and input with
    --channels-last); synthetic inputs are created once, on the device.
  * --amp bf16|fp16: torch.autocast around forward + loss only (backward and
    optimiser step outside), fp16 only on CUDA and with a GradScaler.
  * --threads N: torch.set_num_threads(N) and (if still allowed) one inter-op thread.
    The JSON/text output reports torch.get_num_threads() actually in effect.
  * Timing: --warmup untimed steps, then --reps repetitions of --steps steps, each
    repetition timed separately with time.perf_counter (torch.cuda.synchronize
    before and after on CUDA); median/min/max over repetitions are reported.
    The epoch is timed from creating the DataLoader iterator (worker start-up
    included, as persistent_workers=False) to the end of the last step.
  * cudnn.benchmark is on for CUDA, as ringtrain sets it for training and bench.

Exit status 2 with one line on stderr for usage errors (unknown model, missing
data directory, fp16 on CPU, CUDA not available).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision import transforms

MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
MODES = ("train", "forward", "epoch")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGE_EXTS = (".png", ".jpg", ".jpeg")


class UsageError(Exception):
    """An error reported as one stderr line and exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports errors as a single stderr line (exit status 2)."""

    def error(self, message):
        print(f"pytorch_reference: error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv=None):
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18", choices=MODELS)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=0,
                   help="0 = torch default; else set_num_threads(N), 1 inter-op thread")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--channels-last", nargs="?", const="true", default="false", choices=["true", "false"],
                   help="true: channels_last model and input (ringtrain's flag, whose value it takes)")
    p.add_argument("--amp", default="none", choices=("none", "bf16", "fp16"))
    p.add_argument("--mode", default="train,forward",
                   help="comma list of train, forward, epoch")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--data", default=None, help="CIFAR-10 dir (image folder or binary)")
    p.add_argument("--limit-train", type=int, default=5120)
    p.add_argument("--workers", type=int, default=-1,
                   help="-1 = try 0, 1 and 2 in this process (the later ones start warm; compare.py runs each count in its own process); else DataLoader num_workers")
    p.add_argument("--cuda-graph", action="store_true",
                   help="train mode on CUDA: replay forward + backward as a CUDA graph")
    p.add_argument("--json", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.channels_last = args.channels_last == "true"

    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        p.error(f"--mode: unknown mode(s) {','.join(bad) or '(empty)'}; "
                f"choose from {','.join(MODES)}")
    args.modes = list(dict.fromkeys(modes))  # de-duplicate, keep order
    for name in ("batch_size", "reps", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or args.threads < 0 or args.workers < -1 or args.limit_train < 1:
        p.error("--warmup/--threads must be >= 0, --workers >= -1, --limit-train >= 1")
    if args.cuda_graph and (args.device != "cuda" or args.amp == "fp16"):
        p.error("--cuda-graph needs --device cuda and --amp none or bf16")
    if "epoch" in args.modes and not args.data:
        p.error("--mode epoch needs --data DIR")
    return args


# --------------------------------------------------------------------------- model

def build_model(name, device, channels_last):
    """torchvision ResNet with the CIFAR stem (3x3 conv1, no maxpool)."""
    model = getattr(torchvision.models, name)(num_classes=10)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def build_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, fused=True)


class Runner:
    """Holds model, optimiser and AMP settings; provides one train / forward step."""

    def __init__(self, args):
        self.device = torch.device(args.device)
        self.channels_last = args.channels_last
        self.amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
        self.model = build_model(args.model, self.device, args.channels_last)
        self.optimizer = build_optimizer(self.model)
        # GradScaler only for fp16 (CUDA); bf16 needs no loss scaling.
        self.scaler = torch.amp.GradScaler("cuda") if args.amp == "fp16" else None

    def autocast(self, cache_enabled=True):
        # A CUDA graph capture needs the cast cache off: cached casts would outlive it.
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype,
                              enabled=self.amp_dtype is not None, cache_enabled=cache_enabled)

    def to_input(self, x):
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.to(self.device, non_blocking=True, memory_format=fmt)

    def train_step(self, x, y):
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()

    def forward_step(self, x):
        with self.autocast():
            return self.model(x)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def synthetic_batch(runner, batch_size):
    """Random inputs and labels, created once on the device."""
    x = runner.to_input(torch.randn(batch_size, 3, 32, 32))
    y = torch.randint(0, 10, (batch_size,)).to(runner.device)
    return x, y


def timed_reps(runner, step, batch_size, warmup, reps, steps):
    """Run `warmup` untimed steps, then `reps` timed repetitions of `steps` steps."""
    for _ in range(warmup):
        step()
    runner.sync()
    rates = []
    for _ in range(reps):
        runner.sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        runner.sync()
        rates.append(batch_size * steps / (time.perf_counter() - t0))
    return rates


def bench_train(args):
    torch.manual_seed(args.seed)
    r = Runner(args)
    r.model.train()
    x, y = synthetic_batch(r, args.batch_size)
    step = graphed_train_step(r, x, y) if args.cuda_graph else (lambda: r.train_step(x, y))
    return timed_reps(r, step, args.batch_size, args.warmup, args.reps, args.steps)


def graphed_train_step(runner, x, y):
    """Forward, loss and backward captured once as a CUDA graph, the optimiser step outside it
    (the learning rate may change between steps), as `ringtrain bench --cuda-graph` does: three
    eager steps on a side stream first, then capture with gradients set to none, so that every
    replay writes them in place."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            runner.train_step(x, y)
    torch.cuda.current_stream().wait_stream(side)
    runner.optimizer.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        with runner.autocast(cache_enabled=False):
            loss = F.cross_entropy(runner.model(x), y)
        loss.backward()

    def step():
        graph.replay()
        runner.optimizer.step()
    return step


def bench_forward(args):
    torch.manual_seed(args.seed)
    r = Runner(args)
    r.model.eval()
    x, _ = synthetic_batch(r, args.batch_size)
    with torch.inference_mode():
        return timed_reps(r, lambda: r.forward_step(x), args.batch_size,
                          args.warmup, args.reps, args.steps)


# --------------------------------------------------------------------------- data

def per_class_quota(limit):
    """N/10 images per class; any remainder goes to the first classes."""
    base, extra = divmod(limit, 10)
    return [base + (1 if c < extra else 0) for c in range(10)]


def load_image_folder(root, limit):
    """DIR/train/<class>/*.{png,jpg,jpeg}; classes sorted = labels; files sorted."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if len(classes) != 10:
        raise UsageError(f"{root}: expected 10 class folders, found {len(classes)}")
    quota = per_class_quota(limit)
    images, labels = [], []
    for label, cls in enumerate(classes):
        cdir = os.path.join(root, cls)
        files = sorted(f for f in os.listdir(cdir) if f.lower().endswith(IMAGE_EXTS))
        for f in files[:quota[label]]:
            with Image.open(os.path.join(cdir, f)) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if a.shape != (32, 32, 3):
                raise UsageError(f"{os.path.join(cdir, f)}: expected 32x32 RGB, got {a.shape}")
            images.append(a)
            labels.append(label)
    return np.stack(images), labels


def load_binary(root, limit):
    """DIR/data_batch_{1..5}.bin, records of 1 label byte + 3072 bytes CHW, file order."""
    quota = per_class_quota(limit)
    taken = [0] * 10
    images, labels = [], []
    for i in range(1, 6):
        path = os.path.join(root, f"data_batch_{i}.bin")
        if not os.path.isfile(path):
            raise UsageError(f"{path}: missing")
        raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
        for rec in raw:
            label = int(rec[0])
            if label < 10 and taken[label] < quota[label]:
                taken[label] += 1
                images.append(rec[1:].reshape(3, 32, 32).transpose(1, 2, 0))
                labels.append(label)
        if taken == quota:
            break
    return np.ascontiguousarray(np.stack(images)), labels


def load_cifar_subset(data_dir, limit):
    """Decode the class-balanced training subset once into uint8 N x 32 x 32 x 3."""
    if not os.path.isdir(data_dir):
        raise UsageError(f"data directory not found: {data_dir}")
    if os.path.isdir(os.path.join(data_dir, "train")):
        return load_image_folder(os.path.join(data_dir, "train"), limit)
    for root in (data_dir, os.path.join(data_dir, "cifar-10-batches-bin")):
        if os.path.isfile(os.path.join(root, "data_batch_1.bin")):
            return load_binary(root, limit)
    raise UsageError(f"{data_dir}: neither train/<class>/ images nor data_batch_1.bin found")


class CifarArrayDataset(torch.utils.data.Dataset):
    """Same __getitem__ as torchvision.datasets.CIFAR10."""

    def __init__(self, data, targets, transform):
        self.data, self.targets, self.transform = data, targets, transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        img = Image.fromarray(img)
        if self.transform is not None:
            img = self.transform(img)
        return img, target


def bench_epoch(args, data, targets, workers):
    torch.manual_seed(args.seed)
    r = Runner(args)
    r.model.train()
    # Untimed warm-up on synthetic data.
    x, y = synthetic_batch(r, args.batch_size)
    for _ in range(args.warmup):
        r.train_step(x, y)
    del x, y
    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])
    dataset = CifarArrayDataset(data, targets, transform)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, num_workers=workers,
        pin_memory=(args.device == "cuda"), drop_last=False, persistent_workers=False)
    r.sync()
    t0 = time.perf_counter()
    images = 0
    for xb, yb in loader:
        r.train_step(r.to_input(xb), yb.to(r.device, non_blocking=True))
        images += xb.shape[0]
    r.sync()
    seconds = time.perf_counter() - t0
    return {"mode": "epoch", "workers": workers, "images": images,
            "seconds": round(seconds, 4), "images_per_second": round(images / seconds, 3)}


# --------------------------------------------------------------------------- main

def summary(mode, rates, args):
    return {"mode": mode,
            "images_per_second": {"median": round(statistics.median(rates), 3),
                                  "min": round(min(rates), 3), "max": round(max(rates), 3)},
            "reps": [round(v, 3) for v in rates],
            "steps_per_rep": args.steps, "warmup": args.warmup}


def run(args):
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available")
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # as ringtrain does on CUDA
    if args.amp == "fp16" and args.device != "cuda":
        raise UsageError("--amp fp16 is only supported with --device cuda")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # inter-op pool already started; cannot be changed any more

    data = targets = None
    if "epoch" in args.modes:  # decode before any timing
        data, targets = load_cifar_subset(args.data, args.limit_train)

    results = []
    for mode in args.modes:
        if mode == "train":
            results.append(summary("train", bench_train(args), args))
        elif mode == "forward":
            results.append(summary("forward", bench_forward(args), args))
        else:
            for w in ([0, 1, 2] if args.workers == -1 else [args.workers]):
                results.append(bench_epoch(args, data, targets, w))

    param_count = sum(p.numel() for p in build_model(args.model, "cpu", False).parameters())
    report = {"tool": "pytorch", "torch": torch.__version__,
              "torchvision": torchvision.__version__, "model": args.model,
              "batch_size": args.batch_size, "threads": torch.get_num_threads(),
              "device": args.device, "channels_last": args.channels_last, "amp": args.amp,
              "cuda_graph": args.cuda_graph,
              "param_count": param_count, "results": results}
    epochs = [e for e in results if e["mode"] == "epoch"]
    if epochs:
        best = max(epochs, key=lambda e: e["images_per_second"])
        report["epoch_best"] = {"workers": best["workers"],
                                "images_per_second": best["images_per_second"]}
    return report


def print_text(rep):
    prefix = (f"pytorch {rep['torch'].split('+')[0]} {rep['model']} batch {rep['batch_size']} "
              f"threads {rep['threads']} {rep['device']} "
              f"{'fp32' if rep['amp'] == 'none' else rep['amp']} "
              f"{'NHWC' if rep['channels_last'] else 'NCHW'}:")
    for r in rep["results"]:
        if r["mode"] == "epoch":
            print(f"{prefix} epoch workers {r['workers']} {r['images']} images "
                  f"{r['seconds']:.2f} s {r['images_per_second']:.1f} img/s")
        else:
            ips = r["images_per_second"]
            print(f"{prefix} {r['mode']} {ips['median']:.1f} img/s "
                  f"(min {ips['min']:.1f}, max {ips['max']:.1f})")
    if "epoch_best" in rep:
        b = rep["epoch_best"]
        print(f"{prefix} epoch best workers {b['workers']} {b['images_per_second']:.1f} img/s")


def main(argv=None):
    args = parse_args(argv)
    try:
        rep = run(args)
    except UsageError as e:
        print(f"pytorch_reference: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep))
    else:
        print_text(rep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
