#!/usr/bin/env python3
"""Writes the reference fixtures in tests/reference/ with Python torch + torchvision (the
versions pinned in scripts/setup.sh). Run it with the project's venv:

    .venv/bin/python scripts/make_fixtures.py

The C++ tests compare against these files; they are checked in, so tests do not need Python.
"""
import json
import os

import torch
import torch.nn as nn
import torchvision

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "reference")


def cifar_stem(model):
    """torchvision ResNet with the CIFAR stem: 3x3 stride-1 first conv, no max-pool."""
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def resnets():
    counts, state_dicts = {}, {}
    for name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]:
        for classes in [10, 100]:
            m = cifar_stem(getattr(torchvision.models, name)(num_classes=classes))
            counts[f"{name}/{classes}"] = sum(p.numel() for p in m.parameters())
            if classes == 10 and name in ("resnet18", "resnet50"):
                state_dicts[name] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
    return {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "param_counts": counts, "state_dict": state_dicts}


def lr_trace(make_scheduler, steps, per_epoch_steps=None):
    """lr before each optimiser step; per_epoch_steps: scheduler stepped per epoch."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = make_scheduler(opt)
    lrs = []
    for step in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if per_epoch_steps is None:
            sched.step()
        elif (step + 1) % per_epoch_steps == 0:
            sched.step()
    return lrs


def schedules():
    epochs, spe = 10, 7
    total = epochs * spe
    sch = torch.optim.lr_scheduler
    return {
        "epochs": epochs, "steps_per_epoch": spe, "lr": 0.1,
        "multistep": lr_trace(lambda o: sch.MultiStepLR(o, milestones=[5, 8], gamma=0.1), total, spe),
        "cosine": lr_trace(lambda o: sch.CosineAnnealingLR(o, T_max=total), total),
        "onecycle": lr_trace(lambda o: sch.OneCycleLR(o, max_lr=0.1, total_steps=total), total),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("torchvision_resnets.json", resnets()), ("schedules.json", schedules())]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        print("wrote", os.path.join(OUT, name))


if __name__ == "__main__":
    main()
