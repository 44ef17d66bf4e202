"""The PyTorch side of rnnkit: the equivalent nn.Module and rnnkit model files (safetensors).

An rnnkit model is, in PyTorch terms, RnnkitModule below: `embedding` (optional) -> `rnn`
(nn.RNN / nn.LSTM / nn.GRU, time-major) -> dropout -> `fc` (nn.Linear), run over packed sequences.
Its state_dict names are the tensor names in the model file; docs/model-format.md specifies the file.

Needs only torch (Debian python3-torch); the safetensors container is read and written here.
"""
import json
import struct

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

FORMAT = "rnnkit"
FORMAT_VERSION = "1"

_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8"}
_TORCH_DTYPES = {v: k for k, v in _DTYPES.items()}

DEFAULT_CONFIG = {
    "vocab_size": 0, "embedding_dim": 0, "padding_idx": -1, "freeze_embedding": False, "input_size": 0,
    "cell": "lstm", "hidden_size": 0, "num_layers": 1, "bidirectional": False, "dropout": 0.0,
    "output_dropout": 0.0, "output": "last", "output_size": 0, "head": "softmax",
}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (contiguous, little-endian) and a {str: str} metadata map."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns ({name: tensor}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = _TORCH_DTYPES[info["dtype"]]
        buf = bytearray(raw[base + begin:base + end])
        tensors[name] = torch.frombuffer(buf, dtype=dtype).reshape(info["shape"]) if buf else \
            torch.zeros(info["shape"], dtype=dtype)
    return tensors, metadata


class RnnkitModule(nn.Module):
    """The PyTorch module an rnnkit model computes, with the same parameter names."""

    def __init__(self, config):
        super().__init__()
        c = dict(DEFAULT_CONFIG, **config)
        self.config = c
        if c["vocab_size"] > 0:
            pad = None if c["padding_idx"] < 0 else c["padding_idx"]
            self.embedding = nn.Embedding(c["vocab_size"], c["embedding_dim"], padding_idx=pad)
            self.embedding.weight.requires_grad_(not c["freeze_embedding"])
            input_size = c["embedding_dim"]
        else:
            self.embedding = None
            input_size = c["input_size"]
        kwargs = dict(input_size=input_size, hidden_size=c["hidden_size"], num_layers=c["num_layers"],
                      dropout=c["dropout"], bidirectional=c["bidirectional"])
        cell = c["cell"]
        if cell in ("rnn", "rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(nonlinearity="relu" if cell == "rnn_relu" else "tanh", **kwargs)
        elif cell == "lstm":
            self.rnn = nn.LSTM(**kwargs)
        elif cell == "gru":
            self.rnn = nn.GRU(**kwargs)
        else:
            raise ValueError(f"unknown cell {cell!r}")
        self.dropout = nn.Dropout(c["output_dropout"])
        directions = 2 if c["bidirectional"] else 1
        self.fc = nn.Linear(directions * c["hidden_size"], c["output_size"])

    def forward(self, x, lengths, state=None):
        """x: (T, B) token ids or (T, B, I) features; lengths: (B) ints >= 1.
        Returns logits ((B, O) for outputs "last" and "mean", (T, B, O) for "per_step") and the final state."""
        T = x.shape[0]
        inp = self.embedding(x) if self.embedding is not None else x
        lengths = torch.as_tensor(lengths, dtype=torch.int64)
        packed = pack_padded_sequence(inp, lengths, enforce_sorted=False)
        out, final = self.rnn(packed, state)
        y, _ = pad_packed_sequence(out, total_length=T)  # (T, B, D*H), zeros on padded steps
        H = self.config["hidden_size"]
        if self.config["output"] == "mean":
            feat = y.sum(0) / lengths.to(y.dtype)[:, None]
        elif self.config["output"] == "last":
            b = torch.arange(y.shape[1])
            feat = y[lengths - 1, b, :H]
            if self.config["bidirectional"]:
                feat = torch.cat([feat, y[0, :, H:]], dim=1)
        else:
            feat = y
        return self.fc(self.dropout(feat)), final


def save_model(module, path, preprocessing=None, dtype=torch.float32, extra=None):
    """Writes an RnnkitModule as an rnnkit model file."""
    metadata = dict(extra or {})
    metadata.update({"format": FORMAT, "format_version": FORMAT_VERSION,
                     "config": json.dumps(module.config), "preprocessing": json.dumps(preprocessing or {})})
    tensors = {k: v.to(dtype) for k, v in module.state_dict().items()}
    write_safetensors(path, tensors, metadata)


def load_model(path):
    """Reads an rnnkit model file: (RnnkitModule in float32, config, preprocessing, metadata)."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not an rnnkit model file (metadata format {metadata.get('format')!r})")
    config = json.loads(metadata["config"])
    module = RnnkitModule(config)
    module.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    return module, config, json.loads(metadata.get("preprocessing", "{}")), metadata
