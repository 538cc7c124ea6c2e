#!/usr/bin/env python3
"""Seed inputs for the tensor-file fuzzers (scripts/fuzz.sh), made with the venv's torch:

    make_tensor_seeds.py OUTDIR

OUTDIR/torch_save/: small torch.save files (a dict, an OrderedDict state_dict with _metadata,
one nested under "state_dict", protocol 4, shared and offset storages, each dtype);
OUTDIR/unpickler/: their data.pkl; OUTDIR/safetensors/ and OUTDIR/checkpoint/: small
safetensors files, one with a checkpoint's metadata and checksum; OUTDIR/numpy_pickle/: small
CIFAR-like batches (a dict of a uint8 array, label lists and strings) pickled as Python 2 wrote
the CIFAR python version and as Python 3 does at protocols 2, 4 and 5.
"""
import collections
import io
import json
import os
import struct
import sys
import zipfile
import zlib

import torch


def numpy_pickle_seeds(out):
    import pickle
    import numpy as np
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
    from make_cifar_python import Python2Pickler
    batches = {
        "batch": {"batch_label": "training batch 1 of 5", "labels": [3, 1, 4], "filenames": ["a.png", "b.png", "c.png"],
                  "data": np.arange(3 * 12, dtype=np.uint8).reshape(3, 12)},
        "meta": {"label_names": ["cat", "dog"], "num_vis": 3072, "num_cases_per_batch": 10000},
        "arrays": {"fine_labels": np.array([1, 2, 300], dtype="<i8"), "f": np.ones((2, 2), dtype=">f4"),
                   "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))},
    }
    for name, obj in batches.items():
        with open(os.path.join(out, f"{name}_py2.pkl"), "wb") as f:
            Python2Pickler(f, protocol=2).dump(obj)
        for protocol in (2, 4, 5):
            with open(os.path.join(out, f"{name}_p{protocol}.pkl"), "wb") as f:
                pickle.dump(obj, f, protocol=protocol)


def main():
    out = sys.argv[1]
    for d in ("torch_save", "unpickler", "safetensors", "checkpoint", "numpy_pickle"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    numpy_pickle_seeds(os.path.join(out, "numpy_pickle"))
    base = torch.arange(12.0)
    seeds = {
        "dict": {"a": torch.arange(6.0).view(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)},
        "state_dict": torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)).state_dict(),
        "nested": {"state_dict": collections.OrderedDict(w=torch.ones(2, 2)), "epoch": 3, "lr": 0.1, "ok": True},
        "views": {"x": base[2:8].view(2, 3), "y": base.view(3, 4).t(), "z": base[::3]},
        "dtypes": {str(t): torch.zeros(2, dtype=t) for t in (torch.float16, torch.bfloat16, torch.float64,
                                                              torch.int32, torch.int8, torch.uint8, torch.bool)},
    }
    for name, obj in seeds.items():
        for protocol in (2, 4):
            buf = io.BytesIO()
            torch.save(obj, buf, pickle_protocol=protocol)
            data = buf.getvalue()
            open(os.path.join(out, "torch_save", f"{name}_p{protocol}.pt"), "wb").write(data)
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
                open(os.path.join(out, "unpickler", f"{name}_p{protocol}.pkl"), "wb").write(z.read(pkl))

    def safetensors(path, tensors, metadata, checksum):
        prefix = '{"__metadata__":{"crc32":"00000000"' if checksum else '{"__metadata__":{'
        body = json.dumps(metadata, separators=(",", ":"))[1:-1]
        header, at, blob = prefix + ("," if checksum and body else "") + body + "}", 0, b""
        for name, t in tensors.items():
            raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            dtype = {torch.float32: "F32", torch.int64: "I64", torch.uint8: "U8"}[t.dtype]
            header += "," + json.dumps(name) + ":" + json.dumps(
                {"dtype": dtype, "shape": list(t.shape), "data_offsets": [at, at + len(raw)]})
            at += len(raw)
            blob += raw
        header = (header + "}").encode()
        header += b" " * ((8 - len(header) % 8) % 8)
        data = bytearray(struct.pack("<Q", len(header)) + header + blob)
        if checksum:
            data[34:42] = b"%08x" % (zlib.crc32(bytes(data)) & 0xFFFFFFFF)
        open(path, "wb").write(bytes(data))

    fields = {"model": "resnet20", "num_classes": 10, "param_count": 3, "class_names": ["a"] * 10,
              "config": {"model": "resnet20", "batch_size": 128}, "history": [], "epochs_done": 1,
              "global_step": 5, "batch_in_epoch": 0, "steps_in_epoch": 0, "world_size": 1,
              "partial_epoch": {"loss_x_images": 0, "correct": 0, "images": 0, "seconds": 0, "skipped_images": 0}}
    tensors = {"model/fc.bias": torch.zeros(10), "optimizer/momentum/fc.bias": torch.ones(10),
               "rng/cpu": torch.zeros(5056, dtype=torch.uint8)[:16]}
    meta = {"format": "ringtrain-checkpoint", "format_version": "2", "ringtrain": json.dumps(fields)}
    safetensors(os.path.join(out, "checkpoint", "small.safetensors"), tensors, meta, True)
    # A whole valid checkpoint of fuzz_checkpoint.cpp's tiny model (fc: Linear(4, 10), bn:
    # BatchNorm1d(10)): every model tensor, a momentum buffer per parameter, the generator.
    tiny = torch.nn.Module()
    tiny.fc, tiny.bn = torch.nn.Linear(4, 10), torch.nn.BatchNorm1d(10)
    whole = {f"model/{k}": v for k, v in tiny.state_dict().items()}
    whole.update({f"optimizer/momentum/{k}": torch.full_like(v, 0.5) for k, v in tiny.named_parameters()})
    whole["rng/cpu"] = torch.get_rng_state()
    fields_tiny = dict(fields, model="tiny", param_count=sum(p.numel() for p in tiny.parameters()))
    meta_tiny = dict(meta, ringtrain=json.dumps(fields_tiny))
    safetensors(os.path.join(out, "checkpoint", "tiny_whole.safetensors"), whole, meta_tiny, True)
    safetensors(os.path.join(out, "safetensors", "checksummed.safetensors"), tensors, meta, True)
    safetensors(os.path.join(out, "safetensors", "plain.safetensors"), {"a": torch.arange(4.0)}, {"k": "v"}, False)


if __name__ == "__main__":
    main()
