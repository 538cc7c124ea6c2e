#!/usr/bin/env python3
"""Crafted inputs for tests/integration/untrusted_files.sh, written at test time.

    craft_files.py marker OUT.pt                # an old-format (TorchScript) checkpoint whose code prints a marker
    craft_files.py checkpoints GOOD OUTDIR      # variants of the good checkpoint GOOD, each with a valid checksum
    craft_files.py torch_save EXPORT OUTDIR     # variants of the exported state_dict EXPORT (a torch.save file)

Each variant is named after what is wrong with it. The checkpoint format (safetensors with a
CRC-32 in the header) is written here independently of ringtrain's C++ (see
src/core/safetensors.h, Note [Checksum in the header]), as someone crafting a file would.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib

import torch

MARKER = "RINGTRAIN-MARKER: code stored in the file ran"


# ---------------------------------------------------------------- the old executable format
def marker(out):
    class Evil(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.x = torch.zeros(1)

        @torch.jit.export
        def __getstate__(self):
            return (self.x, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[torch.Tensor, bool]):
            print("RINGTRAIN-MARKER: code stored in the file ran")
            self.x = state[0]
            self.training = state[1]

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Evil()), buf)
    payload = buf.getvalue()
    # The footer the old checkpoints carried: magic, payload size, CRC-32 of the payload.
    footer = b"RTCKPT01" + struct.pack("<QI", len(payload), zlib.crc32(payload))
    with open(out, "wb") as f:
        f.write(payload + footer)


# ---------------------------------------------------------------- checkpoints (safetensors)
PREFIX = b'{"__metadata__":{"crc32":"'


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    return header, data[8 + n :]


def write_safetensors(path, metadata, tensors, header_extra=None, raw_header=None):
    """tensors: list of (name, dtype, shape, bytes); offsets assigned in order."""
    meta = {k: v for k, v in metadata.items() if k != "crc32"}
    entries, at, blob = {}, 0, b""
    for name, dtype, shape, data in tensors:
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(data)]}
        at += len(data)
        blob += data
    if header_extra:
        header_extra(entries)
    body = json.dumps(meta, separators=(",", ":"))[1:-1]
    text = raw_header if raw_header is not None else (
        PREFIX.decode() + "00000000\"" + ("," + body if body else "") + "}"
        + "".join("," + json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) for k, v in entries.items())
        + "}")
    text = text.encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    data = bytearray(struct.pack("<Q", len(text)) + text + blob)
    if text.startswith(PREFIX):
        crc = zlib.crc32(bytes(data)) & 0xFFFFFFFF  # with the digits as '0'
        at = 8 + len(PREFIX)
        data[at : at + 8] = b"%08x" % crc
    open(path, "wb").write(bytes(data))


def checkpoints(good, outdir):
    header, blob = read_safetensors(good)
    metadata = header.pop("__metadata__")
    order = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    tensors = [(k, v["dtype"], v["shape"], blob[v["data_offsets"][0] : v["data_offsets"][1]]) for k, v in order]
    fields = json.loads(metadata["ringtrain"])
    os.makedirs(outdir, exist_ok=True)

    def variant(name, meta=None, ts=None, **kw):
        write_safetensors(os.path.join(outdir, name + ".safetensors"), meta or metadata, ts or tensors, **kw)

    def with_fields(change):
        f = json.loads(json.dumps(fields))
        change(f)
        return dict(metadata, ringtrain=json.dumps(f))

    head = [k for k, v in header.items() if k.startswith("model/") and len(v["shape"]) == 2][-1]  # the classifier's
    bias = head[: -len("weight")] + "bias"

    def replaced(name, dtype, shape, data):
        return [(name, dtype, shape, data) if t[0] == name else t for t in tensors]

    variant("same")  # the control: re-encoded unchanged, it must be accepted
    variant("string_for_number", with_fields(lambda f: f.update(num_classes="ten")))
    variant("negative_position", with_fields(lambda f: f.update(global_step=-5)))
    variant("config_of_wrong_types", with_fields(lambda f: f["config"].update(batch_size="many", threads=[1])))
    deep = json.loads(json.dumps(fields))
    deep["config"]["x"] = "DEEP"  # 100,000 nested lists, spliced in as text (Python's json would recurse)
    variant("nested_metadata", dict(metadata, ringtrain=json.dumps(deep).replace('"DEEP"', "[" * 100000 + "]" * 100000)))
    variant("weight_of_other_shape", ts=replaced(head, "F32", [3], b"\0" * 12))
    variant("momentum_of_no_parameter", ts=tensors + [("optimizer/momentum/fc.nothing", "F32", [1], b"\0" * 4)])
    variant("tensor_of_code", ts=tensors + [("code/__setstate__", "U8", [4], b"exec")])

    def past_end(entries):
        entries[bias]["data_offsets"][1] += 1 << 40

    variant("offsets_past_end", header_extra=past_end)

    def overflow(entries):
        entries[bias]["shape"] = [1 << 62, 1 << 62]

    variant("shape_overflow", header_extra=overflow)
    with open(os.path.join(outdir, "same.safetensors"), "rb") as f:
        data = f.read()
    open(os.path.join(outdir, "truncated.safetensors"), "wb").write(data[: len(data) // 2])
    open(os.path.join(outdir, "huge_header.safetensors"), "wb").write(struct.pack("<Q", 1 << 60) + data[8:])
    flipped = bytearray(data)
    flipped[len(data) * 2 // 3] ^= 0x10
    open(os.path.join(outdir, "flipped_byte.safetensors"), "wb").write(bytes(flipped))


# ---------------------------------------------------------------- torch.save files
class Storage:
    def __init__(self, key, numel, cls=torch.FloatStorage):
        self.key, self.numel, self.cls = key, numel, cls


class Tensor:
    """Pickles as torch.save pickles a tensor, with whatever offset, sizes and strides."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class RunsCode:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"echo '{MARKER}' > {self.path}",))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def torch_save_zip(path, obj, records, pickle_bytes=None):
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes if pickle_bytes is not None else buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for key, data in records.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")


def torch_save(export, outdir):
    sd = torch.load(export, weights_only=True)
    os.makedirs(outdir, exist_ok=True)
    names = list(sd)

    def state(crafted_name=None, crafted=None, extra=None):
        """The export's state_dict as our own pickle (each tensor its own storage), one entry crafted."""
        obj, records = collections.OrderedDict(), {}
        for i, name in enumerate(names):
            t = sd[name].contiguous()
            key = str(i)
            records[key] = t.numpy().tobytes() if t.numel() else b""
            cls = torch.FloatStorage if t.dtype == torch.float32 else torch.LongStorage
            obj[name] = Tensor(Storage(key, t.numel(), cls), 0, t.shape, t.stride())
        if crafted_name:
            obj[crafted_name], extra_records = crafted
            records.update(extra_records)
        if extra:
            obj.update(extra)
        return obj, records

    w = [k for k, v in sd.items() if v.dim() == 2][-1]  # the classifier's weight
    n = sd[w].numel()
    rows, cols = sd[w].shape
    cases = {
        "same": state(),  # the control: our own pickle of the real state_dict, accepted
        "offset_past_storage": state(w, (Tensor(Storage("x", n), 10, (rows, cols), (cols, 1)), {"x": b"\0" * 4 * n})),
        "size_past_storage": state(w, (Tensor(Storage("x", n), 0, (rows + 1, cols), (cols, 1)), {"x": b"\0" * 4 * n})),
        "negative_stride": state(w, (Tensor(Storage("x", n), n - 1, (rows, cols), (-cols, 1)), {"x": b"\0" * 4 * n})),
        "overflowing_numel": state(w, (Tensor(Storage("x", 1 << 62), 0, (1 << 62, 1 << 62), (1, 1)), {"x": b""})),
        "truncated_record": state(w, (Tensor(Storage("x", n), 0, (rows, cols), (cols, 1)), {"x": b"\0" * (4 * n - 8)})),
        "missing_record": state(w, (Tensor(Storage("nowhere", n), 0, (rows, cols), (cols, 1)), {})),
        "runs_code": state(extra={"hook": RunsCode(os.path.join(outdir, "marker_from_import"))}),
    }
    for name, (obj, records) in cases.items():
        torch_save_zip(os.path.join(outdir, name + ".pt"), obj, records)
    # The exploit is real: Python's unrestricted load runs it (the test checks the file appears).
    torch_save_zip(os.path.join(outdir, "runs_code_control.pt"),
                   {"hook": RunsCode(os.path.join(outdir, "marker_from_python"))}, {})
    # Nested 100,000 deep: {"x": ((((None,),),),...)}, written by hand (Python's pickler would recurse).
    deep = b"\x80\x02}q\x00X\x01\x00\x00\x00xN" + b"\x85" * 100000 + b"s."
    torch_save_zip(os.path.join(outdir, "deeply_nested.pt"), None, {}, pickle_bytes=deep)
    # A zip entry that lies about its size: the data record claims 2 GB in both headers.
    obj, records = state()
    torch_save_zip(os.path.join(outdir, "lying_zip_entry.pt"), obj, records)
    data = bytearray(open(os.path.join(outdir, "lying_zip_entry.pt"), "rb").read())
    name = b"archive/data/0"
    for sig, size_at in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):
        at = 0
        while True:
            at = data.find(sig, at)
            if at < 0:
                break
            name_at = at + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                data[at + size_at : at + size_at + 8] = struct.pack("<II", 2_000_000_000, 2_000_000_000)
            at += 4
    open(os.path.join(outdir, "lying_zip_entry.pt"), "wb").write(bytes(data))
    # The zip64 end record's central-directory offset 197 GB past the file (fuzz_torch_save found
    # it: libarchive fails with no error string, and a NULL message crashed the formatter).
    data = bytearray(open(export, "rb").read())  # written by PyTorch's own zip writer, with zip64 records
    at = data.rfind(b"PK\x06\x06")
    assert at >= 0, "the export has no zip64 end record"
    offset = struct.unpack("<Q", data[at + 48 : at + 56])[0]
    data[at + 48 : at + 56] = struct.pack("<Q", offset + (0x2E << 32))
    open(os.path.join(outdir, "zip64_directory_offset.pt"), "wb").write(bytes(data))


def main():
    kind = sys.argv[1]
    if kind == "marker":
        marker(sys.argv[2])
    elif kind == "checkpoints":
        checkpoints(sys.argv[2], sys.argv[3])
    elif kind == "torch_save":
        torch_save(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
