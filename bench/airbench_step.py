#!/usr/bin/env python3
"""airbench94's training step alone, in Python PyTorch: for a kernel-by-kernel comparison with
`ringtrain bench --model airbench94 --mode train` under Nsight Compute (bench/gpu_check.sh,
step `kernels`).

The network, loss and optimiser of bench/airbench_reference.py (its make_net, label smoothing
0.2 summed over the batch, SGD with Nesterov momentum 0.85 and the BatchNorm biases in their own
group) on random images already on the device, bf16 autocast, channels_last, and SGD's fused
kernel as ringtrain uses (the reference runs the default, foreach). The whitening layer's bias
is trained, as in the recipe's first 3 epochs. --warmup untimed steps (cuDNN's benchmark mode
times its kernels for the shape in the first), then --steps steps; prints their mean time.

    python3 bench/airbench_step.py --device cuda --warmup 5 --steps 2
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from airbench_reference import HYP, make_net  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--no-cudnn-benchmark", action="store_true")
    a = p.parse_args()
    device = torch.device(a.device)
    torch.backends.cudnn.benchmark = not a.no_cudnn_benchmark
    torch.manual_seed(0)
    model = make_net(torch.channels_last).to(device)
    momentum = HYP["opt"]["momentum"]
    norm_biases = [q for k, q in model.named_parameters() if "norm" in k and q.requires_grad]
    other = [q for k, q in model.named_parameters() if "norm" not in k and q.requires_grad]
    optimizer = torch.optim.SGD([dict(params=norm_biases, lr=0.064, weight_decay=1e-3),
                                 dict(params=other, lr=0.001, weight_decay=1e-3)],
                                momentum=momentum, nesterov=True, fused=device.type == "cuda")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=HYP["opt"]["label_smoothing"], reduction="none")
    x = torch.randn(a.batch_size, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (a.batch_size,), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = loss_fn(model(x).float(), y).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    for _ in range(a.warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    seconds = (time.perf_counter() - start) / max(1, a.steps)
    print(f"airbench94 step (Python), batch {a.batch_size}: {1000 * seconds:.2f} ms, "
          f"{a.batch_size / seconds:.0f} img/s")


if __name__ == "__main__":
    main()
