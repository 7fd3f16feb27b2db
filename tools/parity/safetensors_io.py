# The safetensors reading and writing the parity scripts share (plain struct + json, no safetensors package needed).
import json, struct, torch


def save(path, tensors):
    """Writes {name: tensor} (F32 or I64) as a safetensors file."""
    header, off, blobs = {}, 0, []
    for k, t in tensors.items():
        dt = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        b = t.contiguous().numpy().tobytes()
        header[k] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path, key=None):
    """The F32 tensor `key` (or the file's first tensor) of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hd = json.loads(f.read(n))
        data = f.read()
    name = key or [k for k in hd if k != "__metadata__"][0]
    meta = hd[name]
    lo, hi = meta["data_offsets"]
    return torch.frombuffer(bytearray(data[lo:hi]), dtype=torch.float32).view(*meta["shape"])
