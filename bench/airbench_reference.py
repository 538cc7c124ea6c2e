#!/usr/bin/env python3
"""airbench94 in Python PyTorch, on the CPU: the side-by-side reference for ringtrain's recipe.

Written from the paper (K. Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU",
arXiv:2404.00498) and its published airbench94.py, unchanged in method:

  network   2x2 patch-whitening conv (3 -> 24, weights from the patch covariance of 5,000
            training images, frozen; bias trained for the first 3 epochs), GELU, three groups
            (conv 3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv 3x3 -> BatchNorm -> GELU) of
            widths 64/256/256, BatchNorm without a trained weight (eps 1e-12, momentum 0.4),
            convs Dirac-initialised, max-pool 3, linear head without bias, x 1/9
  optimiser SGD, Nesterov, momentum 0.85; lr 11.5 and weight decay 0.0153 per 1024 images,
            decoupled (lr / (1024 (1 + 1 / (1 - momentum))) on the summed loss); BatchNorm
            biases at 64x the learning rate with the same decay per step
  schedule  triangular: 0.2 -> 1 at 23% of the steps -> 0.07; 9.9 epochs of 48 steps of 1024
  loss      cross-entropy summed over the batch, label smoothing 0.2
  data      translate by up to 2 pixels with reflect padding; the alternating flip (each image
            mirrored by a coin of its own in epoch 0, reversed every other epoch)
  lookahead every 5 steps the weights move to an EMA of themselves (decay 0.95^5 (step/total)^3);
            at the end the weights are the EMA's
  test      TTA level 2: the mean of the logits of the image, its mirror, and both shifted by
            one pixel diagonally each way (reflect padding), as the paper weights them

What differs from the GPU script: the CPU. The network runs in float32 (--precision fp32) or
under bf16 autocast (--precision bf16), channels_last unless --nchw; whitening patches are
drawn as 5,000 images chosen with the seed (an image folder is ordered by class, where the
paper takes the first 5,000 of torchvision's order); no torch.compile.

Data: an image folder with train/ and test/ (or val/) class subfolders of 32x32 images, as the
JPEG copy of CIFAR-10 unpacks (scripts/unpack_data.sh), or the CIFAR-10 binary version.

Prints one JSON object: accuracy with and without TTA, the epochs' seconds and their data
wait, the evaluation's seconds, and the wall time from start to end.

    .venv/bin/python bench/airbench_reference.py --data data/cifar10 --threads 2 --seed 0
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HYP = {
    "opt": {"train_epochs": 9.9, "batch_size": 1024, "lr": 11.5, "momentum": 0.85, "weight_decay": 0.0153,
            "bias_scaler": 64.0, "label_smoothing": 0.2, "whiten_bias_epochs": 3},
    "aug": {"flip": True, "translate": 2},
    "net": {"widths": {"block1": 64, "block2": 256, "block3": 256}, "batchnorm_momentum": 0.6,
            "scaling_factor": 1 / 9, "tta_level": 2},
}
CIFAR_MEAN = torch.tensor((0.4914, 0.4822, 0.4465))
CIFAR_STD = torch.tensor((0.2470, 0.2435, 0.2616))


def fail(message):
    print(f"airbench_reference: {message}", file=sys.stderr)
    sys.exit(2)


# --- data -----------------------------------------------------------------------------------

def read_image_folder(split_dir):
    from PIL import Image
    import numpy as np
    classes = sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d)))
    images, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(split_dir, name)
        for f in sorted(os.listdir(folder)):
            with Image.open(os.path.join(folder, f)) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
            labels.append(label)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.int64)


def read_cifar_binary(data_dir, names):
    raw = b"".join(open(os.path.join(data_dir, n), "rb").read() for n in names)
    records = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32).contiguous(), records[:, 0].long()


def load_cifar(data_dir):
    if os.path.exists(os.path.join(data_dir, "data_batch_1.bin")):
        train = read_cifar_binary(data_dir, [f"data_batch_{i}.bin" for i in range(1, 6)])
        test = read_cifar_binary(data_dir, ["test_batch.bin"])
        return train, test
    test_dir = next((os.path.join(data_dir, d) for d in ("test", "val") if os.path.isdir(os.path.join(data_dir, d))),
                    None)
    if not os.path.isdir(os.path.join(data_dir, "train")) or test_dir is None:
        fail(f"{data_dir}: found neither CIFAR-10 binary batches nor train/ and test/ image folders")
    return read_image_folder(os.path.join(data_dir, "train")), read_image_folder(test_dir)


def batch_flip_lr(inputs):
    flip_mask = (torch.rand(len(inputs), device=inputs.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(flip_mask, inputs.flip(-1), inputs)


def batch_crop(images, crop_size):
    r = (images.size(-1) - crop_size) // 2
    shifts = torch.randint(-r, r + 1, size=(len(images), 2), device=images.device)
    images_out = torch.empty((len(images), 3, crop_size, crop_size), device=images.device, dtype=images.dtype)
    for sy in range(-r, r + 1):
        for sx in range(-r, r + 1):
            mask = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            images_out[mask] = images[mask, :, r + sy:r + sy + crop_size, r + sx:r + sx + crop_size]
    return images_out


class CifarLoader:
    """The paper's loader: normalised images kept whole, pre-flipped and pre-padded once."""

    def __init__(self, images, labels, train, batch_size, aug, memory_format):
        self.images = images.float().div(255)
        self.labels = labels
        self.train, self.batch_size, self.aug = train, batch_size, aug
        self.memory_format = memory_format
        self.proc_images = {}
        self.epoch = 0
        self.data_seconds = 0.0

    def normalize(self, x):
        return (x - CIFAR_MEAN.to(x.device).view(1, 3, 1, 1)) / CIFAR_STD.to(x.device).view(1, 3, 1, 1)

    def __len__(self):
        n = len(self.images)
        return n // self.batch_size if self.train else math.ceil(n / self.batch_size)

    def __iter__(self):
        start = time.perf_counter()
        if self.epoch == 0:
            images = self.proc_images["norm"] = self.normalize(self.images)
            if self.aug.get("flip", False):
                images = self.proc_images["flip"] = batch_flip_lr(images)
            pad = self.aug.get("translate", 0)
            if pad > 0:
                self.proc_images["pad"] = F.pad(images, (pad,) * 4, "reflect")
        if self.aug.get("translate", 0) > 0:
            images = batch_crop(self.proc_images["pad"], self.images.shape[-2])
        elif self.aug.get("flip", False):
            images = self.proc_images["flip"]
        else:
            images = self.proc_images["norm"]
        if self.aug.get("flip", False) and self.epoch % 2 == 1:
            images = images.flip(-1)
        self.epoch += 1
        indices = (torch.randperm if self.train else torch.arange)(len(images), device=images.device)
        self.data_seconds += time.perf_counter() - start
        for i in range(len(self)):
            start = time.perf_counter()
            idxs = indices[i * self.batch_size:(i + 1) * self.batch_size]
            x = images[idxs].contiguous(memory_format=self.memory_format)
            y = self.labels[idxs]
            self.data_seconds += time.perf_counter() - start
            yield x, y


# --- network ----------------------------------------------------------------------------------

class BatchNorm(nn.BatchNorm2d):
    def __init__(self, num_features, momentum, eps=1e-12, weight=False, bias=True):
        super().__init__(num_features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = weight
        self.bias.requires_grad = bias


class Conv(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size=3, padding="same", bias=False):
        super().__init__(in_channels, out_channels, kernel_size=kernel_size, padding=padding, bias=bias)

    def reset_parameters(self):
        super().reset_parameters()
        if self.bias is not None:
            self.bias.data.zero_()
        w = self.weight.data
        torch.nn.init.dirac_(w[:w.size(1)])


class ConvGroup(nn.Module):
    def __init__(self, channels_in, channels_out, batchnorm_momentum):
        super().__init__()
        self.conv1 = Conv(channels_in, channels_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(channels_out, batchnorm_momentum)
        self.conv2 = Conv(channels_out, channels_out)
        self.norm2 = BatchNorm(channels_out, batchnorm_momentum)
        self.activ = nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class Mul(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def make_net(memory_format):
    widths = HYP["net"]["widths"]
    momentum = HYP["net"]["batchnorm_momentum"]
    whiten_kernel_size = 2
    whiten_width = 2 * 3 * whiten_kernel_size ** 2
    net = nn.Sequential(
        Conv(3, whiten_width, whiten_kernel_size, padding=0, bias=True),
        nn.GELU(),
        ConvGroup(whiten_width, widths["block1"], momentum),
        ConvGroup(widths["block1"], widths["block2"], momentum),
        ConvGroup(widths["block2"], widths["block3"], momentum),
        nn.MaxPool2d(3),
        nn.Flatten(),
        nn.Linear(widths["block3"], 10, bias=False),
        Mul(HYP["net"]["scaling_factor"]),
    )
    net[0].weight.requires_grad = False
    return net.to(memory_format=memory_format)


def get_patches(x, patch_shape):
    c, (h, w) = x.shape[1], patch_shape
    return x.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w).float()


def get_whitening_parameters(patches):
    n, c, h, w = patches.shape
    patches_flat = patches.view(n, -1)
    est_patch_covariance = (patches_flat.T @ patches_flat) / n
    eigenvalues, eigenvectors = torch.linalg.eigh(est_patch_covariance, UPLO="U")
    return eigenvalues.flip(0).view(-1, 1, 1, 1), eigenvectors.T.reshape(c * h * w, c, h, w).flip(0)


def init_whitening_conv(layer, train_set, eps=5e-4):
    patches = get_patches(train_set, patch_shape=layer.weight.data.shape[2:])
    eigenvalues, eigenvectors = get_whitening_parameters(patches)
    eigenvectors_scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
    layer.weight.data[:] = torch.cat((eigenvectors_scaled, -eigenvectors_scaled))


class LookaheadState:
    def __init__(self, net):
        self.net_ema = {k: v.clone() for k, v in net.state_dict().items()}

    def update(self, net, decay):
        for ema_param, net_param in zip(self.net_ema.values(), net.state_dict().values()):
            if net_param.dtype in (torch.half, torch.float):
                ema_param.lerp_(net_param, 1 - decay)
                net_param.copy_(ema_param)


def triangle(steps, start=0, end=0, peak=0.5):
    xp = torch.tensor([0, int(peak * steps), steps])
    fp = torch.tensor([start, 1, end])
    x = torch.arange(1 + steps)
    m = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
    b = fp[:-1] - (m * xp[:-1])
    indices = torch.sum(torch.ge(x[:, None], xp[None, :]), 1) - 1
    indices = torch.clamp(indices, 0, len(m) - 1)
    return m[indices] * x + b[indices]


def infer(model, loader, tta_level, autocast):
    def infer_basic(inputs, net):
        return net(inputs).clone()

    def infer_mirror(inputs, net):
        return 0.5 * net(inputs) + 0.5 * net(inputs.flip(-1))

    def infer_mirror_translate(inputs, net):
        logits = infer_mirror(inputs, net)
        padded_inputs = F.pad(inputs, (1,) * 4, "reflect")
        inputs_translate_list = [padded_inputs[:, :, 0:32, 0:32], padded_inputs[:, :, 2:34, 2:34]]
        logits_translate_list = [infer_mirror(x, net) for x in inputs_translate_list]
        logits_translate = torch.stack(logits_translate_list).mean(0)
        return 0.5 * logits + 0.5 * logits_translate

    model.eval()
    infer_fn = [infer_basic, infer_mirror, infer_mirror_translate][tta_level]
    with torch.no_grad(), torch.autocast(loader.images.device.type, dtype=torch.bfloat16, enabled=autocast):
        return torch.cat([infer_fn(inputs, model).float() for inputs, _ in loader])


def evaluate(model, loader, tta_level, autocast):
    logits = infer(model, loader, tta_level, autocast)
    return (logits.argmax(1) == loader.labels).float().mean().item()


# --- training -----------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="CIFAR-10: an image folder (train/, test/) or the binary version")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="fp32, or bf16 autocast around forward and loss")
    p.add_argument("--nchw", action="store_true", help="contiguous NCHW instead of channels_last")
    p.add_argument("--epochs", type=float, default=HYP["opt"]["train_epochs"])
    p.add_argument("--batch-size", type=int, default=HYP["opt"]["batch_size"])
    p.add_argument("--limit-train", type=int, default=0, help="N training images drawn with the seed (0: all)")
    p.add_argument("--limit-test", type=int, default=0, help="N test images drawn with the seed (0: all)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: data, network and augmentation on the GPU")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="on cuda: let cuDNN time its kernels for each new shape (ringtrain does)")
    p.add_argument("--json", help="also write the JSON object to this file")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    wall_start = time.perf_counter()
    if not os.path.isdir(a.data):
        fail(f"no such folder: {a.data}")
    (train_x, train_y), (test_x, test_y) = load_cifar(a.data)
    if a.limit_train > 0:
        keep = torch.randperm(len(train_x))[:a.limit_train].sort().values
        train_x, train_y = train_x[keep], train_y[keep]
    if a.limit_test > 0:
        keep = torch.randperm(len(test_x))[:a.limit_test].sort().values
        test_x, test_y = test_x[keep], test_y[keep]
    device = torch.device(a.device)
    torch.backends.cudnn.benchmark = a.cudnn_benchmark
    train_x, train_y, test_x, test_y = (t.to(device) for t in (train_x, train_y, test_x, test_y))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    load_seconds = time.perf_counter() - wall_start
    memory_format = torch.contiguous_format if a.nchw else torch.channels_last
    autocast = a.precision == "bf16"

    batch_size = a.batch_size
    momentum = HYP["opt"]["momentum"]
    epochs = a.epochs
    test_loader = CifarLoader(test_x, test_y, False, 2000, {}, memory_format)
    train_loader = CifarLoader(train_x, train_y, True, batch_size, HYP["aug"], memory_format)
    total_train_steps = math.ceil(len(train_loader) * epochs)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=HYP["opt"]["label_smoothing"], reduction="none")

    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr = HYP["opt"]["lr"] / kilostep_scale
    wd = HYP["opt"]["weight_decay"] * batch_size / kilostep_scale
    lr_biases = lr * HYP["opt"]["bias_scaler"]

    model = make_net(memory_format).to(device)
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    other_params = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    param_configs = [dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases),
                     dict(params=other_params, lr=lr, weight_decay=wd / lr)]
    optimizer = torch.optim.SGD(param_configs, momentum=momentum, nesterov=True)
    lr_schedule = triangle(total_train_steps, start=0.2, end=0.07, peak=0.23)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: lr_schedule[i])
    alpha_schedule = 0.95 ** 5 * (torch.arange(total_train_steps + 1) / total_train_steps) ** 3
    lookahead_state = LookaheadState(model)

    # 5,000 training images for the whitening layer, chosen with the seed.
    pick = torch.randperm(len(train_x))[:5000].to(device)
    init_whitening_conv(model[0], train_loader.normalize(train_loader.images[pick]))

    current_steps = 0
    epoch_seconds, data_seconds = [], []
    for epoch in range(math.ceil(epochs)):
        start = time.perf_counter()
        data_before = train_loader.data_seconds
        model[0].bias.requires_grad = (epoch < HYP["opt"]["whiten_bias_epochs"])
        model.train()
        for inputs, labels in train_loader:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                outputs = model(inputs)
                loss = loss_fn(outputs.float(), labels).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            current_steps += 1
            if current_steps % 5 == 0:
                lookahead_state.update(model, decay=alpha_schedule[current_steps].item())
            if current_steps >= total_train_steps:
                lookahead_state.update(model, decay=1.0)
                break
        sync()
        epoch_seconds.append(time.perf_counter() - start)
        data_seconds.append(train_loader.data_seconds - data_before)
        print(f"epoch {epoch + 1}: {epoch_seconds[-1]:.1f} s (data {data_seconds[-1]:.1f} s), "
              f"steps {current_steps}/{total_train_steps}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    accuracy = evaluate(model, test_loader, 0, autocast)
    accuracy_tta = evaluate(model, test_loader, HYP["net"]["tta_level"], autocast)
    sync()
    eval_seconds = time.perf_counter() - start
    result = {
        "script": "bench/airbench_reference.py", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "seed": a.seed, "device": a.device, "cudnn_benchmark": a.cudnn_benchmark, "precision": a.precision,
        "channels_last": not a.nchw, "batch_size": batch_size,
        "epochs": epochs, "steps": current_steps, "train_images": len(train_x),
        "test_accuracy": accuracy, "test_accuracy_tta": accuracy_tta,
        "load_seconds": load_seconds, "epoch_seconds": epoch_seconds, "data_seconds": data_seconds,
        "train_seconds": sum(epoch_seconds), "eval_seconds": eval_seconds,
        "wall_seconds": time.perf_counter() - wall_start,
    }
    print(json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
