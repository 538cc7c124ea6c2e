#!/usr/bin/env python3
"""The layering rules of src/ (src/layers.txt, docs/architecture.md), checked on every #include.

    check_layers.py SRC_DIR            # exit 1 naming each forbidden include
    check_layers.py --self-test SRC_DIR  # also proves that a planted violation is caught

The build enforces the folder rules too (each library's include path holds only the folders
src/layers.txt allows it); this check also covers headers no .cpp of their own folder includes,
and the rules the include path cannot express:
  * a folder includes only its own headers and those src/layers.txt lists for it, and never
    reaches another folder by a relative path ("../");
  * the torch-free folders (src/layers.txt) include no LibTorch header (torch/, ATen/, c10/);
  * only parallel/ includes c10d's headers (<torch/csrc/distributed/...>, Gloo, NCCL);
  * only the files named in CUDA_FILES include CUDA headers (ATen/cuda, c10/cuda), behind
    RT_WITH_CUDA.
"""
import os
import re
import shutil
import sys
import tempfile



def read_layers(src):
    """src/layers.txt as ({folder: folders it may include}, torch-free folders)."""
    below, torch_free = {}, set()
    with open(os.path.join(src, "layers.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, rest = line.partition(":")
            if name.strip() == "torch-free":
                torch_free = set(rest.split())
            else:
                below[name.strip()] = set(rest.split())
    return below, torch_free


C10D = re.compile(r"#include\s*[<\"](torch/csrc/distributed/|gloo/|nccl\.h)")
CUDA = re.compile(r"#include\s*[<\"](ATen/cuda/|c10/cuda/|cuda_runtime)")
TORCH = re.compile(r"#include\s*[<\"](torch|ATen|c10)/")
RELATIVE = re.compile(r'#include\s*"\.\./')
CUDA_FILES = {"model/cuda_graph.cpp", "model/precision.cpp"}
PROJECT = re.compile(r'#include\s*"([a-z_]+)/[^"]+"')


def violations(src):
    BELOW, torch_free = read_layers(src)
    found = []
    for folder in sorted(os.listdir(src)):
        path = os.path.join(src, folder)
        if not os.path.isdir(path):
            continue
        if folder not in BELOW:
            found.append(f"{folder}/: a folder the layering rules do not know; add it to src/layers.txt")
            continue
        allowed = BELOW[folder] | {folder}
        for name in sorted(os.listdir(path)):
            if not name.endswith((".h", ".cpp", ".proto")):
                continue
            rel = f"{folder}/{name}"
            with open(os.path.join(path, name), encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = PROJECT.match(line.strip())
                    if m and m.group(1) in BELOW and m.group(1) not in allowed:
                        found.append(f"src/{rel}:{lineno}: {folder}/ may not include {m.group(1)}/ "
                                     f"({line.strip()}); it may include {', '.join(sorted(allowed))}")
                    if RELATIVE.match(line.strip()):
                        found.append(f"src/{rel}:{lineno}: includes by a relative path ({line.strip()}); "
                                     f"name the folder: \"{folder}/...\" or one of {', '.join(sorted(allowed))}")
                    if TORCH.match(line.strip()) and folder in torch_free:
                        found.append(f"src/{rel}:{lineno}: {folder}/ is torch-free (src/layers.txt) and may not "
                                     f"include LibTorch ({line.strip()}); put the code in device/ or above")
                    if C10D.match(line.strip()) and folder != "parallel":
                        found.append(f"src/{rel}:{lineno}: only parallel/ includes c10d, Gloo or NCCL headers "
                                     f"({line.strip()}); go through parallel/communicator.h")
                    if CUDA.match(line.strip()) and rel not in CUDA_FILES:
                        found.append(f"src/{rel}:{lineno}: CUDA headers only in {', '.join(sorted(CUDA_FILES))} "
                                     f"({line.strip()})")
    return found


def main():
    args = sys.argv[1:]
    self_test = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    if len(args) != 1:
        sys.exit("usage: check_layers.py [--self-test] SRC_DIR")
    src = args[0]
    found = violations(src)
    for v in found:
        print("forbidden include:", v)
    if not found:
        print(f"layers: every #include under {src} follows the rules")
    if self_test:
        # A copy of src/ with one planted violation of each kind must be refused.
        plants = {"data/loader.cpp": '#include "parallel/communicator.h"\n',
                  "model/registry.cpp": "#include <torch/csrc/distributed/c10d/TCPStore.hpp>\n",
                  "train/trainer.cpp": "#include <c10/cuda/CUDAStream.h>\n",
                  "report/records.cpp": "#include <torch/torch.h>\n",
                  "eval/metrics.cpp": '#include "../train/run.h"\n'}
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "src")
            shutil.copytree(src, copy)
            for rel, line in plants.items():
                with open(os.path.join(copy, rel), "a", encoding="utf-8") as f:
                    f.write(line)
            caught = violations(copy)
            for rel in plants:
                if not any(v.startswith(f"src/{rel}:") for v in caught):
                    print(f"self-test FAILED: a planted include in {rel} was not caught")
                    found.append("self-test")
            if len(caught) >= len(plants) + len(violations(src)):
                print(f"self-test: the {len(plants)} planted violations are caught")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
