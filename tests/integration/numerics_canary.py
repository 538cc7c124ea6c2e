#!/usr/bin/env python3
"""Prints a short digest of this machine's float32 numerics for the golden run (golden.sh):
the gradients of one forward/backward of the model the golden run trains (torchvision's
resnet18 with the CIFAR stem, batch 16, one thread), computed by Python torch, that is by the
same LibTorch kernels ringtrain calls but by none of ringtrain's code. Machines with the same
digest compute the golden run's arithmetic alike; a refactoring of ringtrain cannot change it.
"""
import hashlib

import torch
import torchvision

torch.set_num_threads(1)
torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=10)
model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
model.maxpool = torch.nn.Identity()
x = torch.randn(16, 3, 32, 32)
y = torch.randint(0, 10, (16,))
torch.nn.functional.cross_entropy(model(x), y).backward()
digest = hashlib.sha256()
for p in model.parameters():
    digest.update(p.grad.numpy().tobytes())
print(digest.hexdigest()[:16])
