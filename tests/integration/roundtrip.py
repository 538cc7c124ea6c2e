"""Python side of the weights round trip (python_roundtrip.sh).

  roundtrip.py check STATE_DICT LOGITS DATA_DIR MODEL
      torchvision's MODEL with the CIFAR stem loads STATE_DICT (exported by ringtrain) with
      strict=True; its logits on DATA_DIR's test images must equal LOGITS (from ringtrain).
  roundtrip.py make OUT_STATE_DICT OUT_LOGITS DATA_DIR MODEL
      a seeded torchvision MODEL (BN statistics from a few training-mode passes) saved as a
      plain-dict state_dict, and its logits on the test images, for ringtrain import.
"""
import sys

import numpy as np
import torch
import torchvision

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def cifar_model(name):
    m = getattr(torchvision.models, name)(num_classes=10)
    m.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = torch.nn.Identity()
    return m


def test_images(data_dir):
    raw = np.fromfile(f"{data_dir}/test_batch.bin", dtype=np.uint8).reshape(-1, 3073)
    x = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return (x - MEAN) / STD, torch.from_numpy(raw[:, 0].astype(np.int64))


def main():
    mode, state_path, logits_path, data_dir, name = sys.argv[1:6]
    x, labels = test_images(data_dir)
    model = cifar_model(name)
    if mode == "check":
        result = model.load_state_dict(torch.load(state_path), strict=True)
        print(f"load_state_dict(strict=True): {result}")
        model.eval()
        with torch.no_grad():
            ours = model(x)
        theirs = torch.load(logits_path)
        assert torch.equal(theirs["labels"], labels), "labels differ: not the same images"
        diff = (ours - theirs["logits"]).abs().max().item()
        scale = ours.abs().max().item()
        print(f"{name}: {len(x)} images, max |logit difference| {diff:.3g} (logits up to {scale:.3g})")
        sys.exit(0 if diff <= 1e-4 * max(1.0, scale) else 1)
    torch.manual_seed(3)
    model = cifar_model(name)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 3, 32, 32))  # non-trivial running statistics
    model.eval()
    with torch.no_grad():
        logits = model(x)
    torch.save(dict(model.state_dict()), state_path)
    torch.save({"logits": logits}, logits_path)
    print(f"{name}: wrote {state_path} and the logits of {len(x)} test images")


if __name__ == "__main__":
    main()
