#!/usr/bin/env python3
"""Writes a small random data set in the CIFAR-10 binary layout, for fast tests.

    make_synthetic_cifar.py DIR [RECORDS_PER_TRAIN_BATCH] [TEST_RECORDS]
"""
import os
import random
import sys


def main():
    out = sys.argv[1]
    per_batch = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    test = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    rng = random.Random(1)
    os.makedirs(out, exist_ok=True)
    files = [(f"data_batch_{i}.bin", per_batch) for i in range(1, 6)] + [("test_batch.bin", test)]
    for name, records in files:
        with open(os.path.join(out, name), "wb") as f:
            for r in range(records):
                f.write(bytes([r % 10]) + rng.randbytes(3072))


if __name__ == "__main__":
    main()
