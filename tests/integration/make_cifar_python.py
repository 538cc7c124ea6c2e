#!/usr/bin/env python3
"""Writes a small CIFAR-10 and CIFAR-100 in the python version and in the binary version, with the
same random images and labels, and checks that torchvision reads the python version as those.

    make_cifar_python.py OUT [--train-per-batch N] [--test N] [--seed S]

OUT/cifar-10-batches-py/   data_batch_1..5, test_batch, batches.meta, written as Python 2's
                           cPickle wrote the official files (str as SHORT_BINSTRING/BINSTRING,
                           numpy.core.multiarray._reconstruct, protocol 2)
OUT/cifar10-protocol5/     the same batches pickled by this Python at protocol 5 (numpy 2's
                           _frombuffer of an in-band buffer): a copy a user re-saved
OUT/cifar-10-batches-bin/  the same images and labels as the binary version
OUT/cifar-100-python/      train, test, meta (fine and coarse labels), Python 2 style
OUT/cifar-100-binary/      train.bin, test.bin, fine_label_names.txt
torchvision.datasets.CIFAR10/CIFAR100 (their checksum check bypassed: the files are not the
official ones) must read back exactly the images and labels written, or this exits 1.
"""
import argparse
import os
import pickle
import struct
import sys

import numpy as np


class Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote it: str and bytes as (SHORT_)BINSTRING, numpy's
    globals under numpy.core (numpy 2 names them numpy._core)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_binstring(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_binstring
    dispatch[bytes] = save_binstring

    def save_global(self, obj, name=None):
        name = name or obj.__qualname__
        module = pickle.whichmodule(obj, name).replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")
        self.memoize(obj)


def dump_py2(obj, path):
    with open(path, "wb") as f:
        Python2Pickler(f, protocol=2).dump(obj)


def dump_py3(obj, path):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train-per-batch", type=int, default=32)
    ap.add_argument("--test", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    names10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    # CIFAR-10: five training batches and a test batch.
    c10 = {}
    for name, n in [(f"data_batch_{i}", a.train_per_batch) for i in range(1, 6)] + [("test_batch", a.test)]:
        c10[name] = (rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(x) for x in rng.integers(0, 10, n)])
    py2, py3, binary = (os.path.join(a.out, d) for d in ("cifar-10-batches-py", "cifar10-protocol5",
                                                          "cifar-10-batches-bin"))
    for d in (py2, py3, binary):
        os.makedirs(d, exist_ok=True)
    for name, (data, labels) in c10.items():
        batch = {"batch_label": f"{name} of the test", "labels": labels, "data": data,
                 "filenames": [f"img_{i}.png" for i in range(len(labels))]}
        dump_py2(batch, os.path.join(py2, name))
        dump_py3(batch, os.path.join(py3, name))
        with open(os.path.join(binary, name + ".bin"), "wb") as f:
            for row, label in zip(data, labels):
                f.write(bytes([label]) + row.tobytes())
    meta = {"num_cases_per_batch": a.train_per_batch, "label_names": names10, "num_vis": 3072}
    dump_py2(meta, os.path.join(py2, "batches.meta"))
    dump_py3(meta, os.path.join(py3, "batches.meta"))

    # CIFAR-100: one training file and a test file, fine and coarse labels.
    names100 = [f"fine_{c:02d}" for c in range(100)]
    c100 = {}
    for name, n in (("train", 5 * a.train_per_batch), ("test", a.test)):
        fine = rng.integers(0, 100, n)
        c100[name] = (rng.integers(0, 256, (n, 3072), dtype=np.uint8), [int(x) for x in fine],
                      [int(x) // 5 for x in fine])
    py100, bin100 = os.path.join(a.out, "cifar-100-python"), os.path.join(a.out, "cifar-100-binary")
    for d in (py100, bin100):
        os.makedirs(d, exist_ok=True)
    for name, (data, fine, coarse) in c100.items():
        dump_py2({"filenames": [f"img_{i}.png" for i in range(len(fine))], "batch_label": name,
                  "fine_labels": fine, "coarse_labels": coarse, "data": data}, os.path.join(py100, name))
        with open(os.path.join(bin100, name + ".bin"), "wb") as f:
            for row, fl, cl in zip(data, fine, coarse):
                f.write(bytes([cl, fl]) + row.tobytes())
    dump_py2({"fine_label_names": names100, "coarse_label_names": [f"coarse_{c:02d}" for c in range(20)]},
             os.path.join(py100, "meta"))
    with open(os.path.join(bin100, "fine_label_names.txt"), "w") as f:
        f.write("\n".join(names100) + "\n")

    # torchvision reads the python versions as what was written.
    import torchvision.datasets as tvd
    import torchvision.datasets.cifar as tv_cifar
    tv_cifar.check_integrity = lambda *args, **kwargs: True
    for cls in (tvd.CIFAR10, tvd.CIFAR100):
        cls._check_integrity = lambda self: True
    ok = True
    for root, cls, base, expect, names in (
            (a.out, tvd.CIFAR10, "cifar-10-batches-py", c10, names10),
            (a.out, tvd.CIFAR100, "cifar-100-python", c100, names100)):
        cls.base_folder = base
        for train in (True, False):
            ds = cls(root, train=train, download=False)
            keys = [k for k in expect if (k != "test_batch" and k != "test") == train]
            data = np.concatenate([expect[k][0] for k in keys]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            labels = sum((expect[k][1] for k in keys), [])
            if not (np.array_equal(ds.data, data) and list(ds.targets) == labels and ds.classes == names):
                print(f"FAIL: torchvision's {cls.__name__}(train={train}) does not read back what was written")
                ok = False
    print(f"wrote CIFAR-10 and CIFAR-100 python and binary versions in {a.out}"
          f"{'' if ok else ' (torchvision disagrees)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
