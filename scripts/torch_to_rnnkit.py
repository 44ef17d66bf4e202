#!/usr/bin/python3
"""Converts a PyTorch model into an rnnkit model file (.safetensors).

Accepts either a whole nn.Module saved with torch.save(model, path), or a state_dict saved with
torch.save(model.state_dict(), path). The model must be embedding (optional) -> nn.RNN / nn.LSTM /
nn.GRU (time-major, bias=True) -> nn.Linear; attribute names do not matter. rnnkit assumes the
forward pass of scripts/rnnkit_torch.py (packed sequences; the last valid step, or every step).

  torch_to_rnnkit.py model.pt model.safetensors --head softmax --output last [--labels a,b,c]
  torch_to_rnnkit.py state_dict.pt model.safetensors --head sigmoid --output per_step \\
      [--cell rnn_relu] [--preprocessing prep.json]

A pickled module needs its class: --import FILE.py runs that file (its `if __name__ == "__main__"`
part excepted) so classes defined there, even in a script run as __main__, can be unpickled.

Sizes, cell, layer count and direction are read from the weights; for a state_dict of an nn.RNN
say --cell rnn_relu if it used relu (the weights cannot tell).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rnnkit_torch as rt  # noqa: E402


def _find(module, types):
    return [(n, m) for n, m in module.named_modules() if isinstance(m, types)]


def convert_module(module, path, head="softmax", output="last", preprocessing=None, freeze_embedding=False):
    """Writes `module` (embedding? -> RNN/LSTM/GRU -> Linear) as an rnnkit model file; returns the config."""
    rnns = _find(module, (nn.RNN, nn.LSTM, nn.GRU))
    linears = _find(module, nn.Linear)
    embeddings = _find(module, nn.Embedding)
    if len(rnns) != 1 or len(linears) != 1 or len(embeddings) > 1:
        raise ValueError(f"expected one recurrent layer, one nn.Linear and at most one nn.Embedding, found "
                         f"{len(rnns)}, {len(linears)}, {len(embeddings)}")
    rnn_name, rnn = rnns[0]
    if rnn.batch_first or not rnn.bias or getattr(rnn, "proj_size", 0):
        raise ValueError(f"{rnn_name}: rnnkit needs batch_first=False, bias=True and no proj_size")
    cell = {nn.LSTM: "lstm", nn.GRU: "gru"}.get(type(rnn))
    if cell is None:
        cell = "rnn_relu" if rnn.nonlinearity == "relu" else "rnn_tanh"
    _, fc = linears[0]
    config = dict(rt.DEFAULT_CONFIG, cell=cell, hidden_size=rnn.hidden_size, num_layers=rnn.num_layers,
                  bidirectional=rnn.bidirectional, dropout=float(rnn.dropout), output=output,
                  output_size=fc.out_features, head=head)
    if embeddings:
        emb = embeddings[0][1]
        config.update(vocab_size=emb.num_embeddings, embedding_dim=emb.embedding_dim,
                      padding_idx=-1 if emb.padding_idx is None else int(emb.padding_idx),
                      freeze_embedding=freeze_embedding or not emb.weight.requires_grad)
    else:
        config["input_size"] = rnn.input_size
    state = {}
    if embeddings:
        state["embedding.weight"] = embeddings[0][1].weight
    for k, v in rnn.state_dict().items():
        state["rnn." + k] = v
    state["fc.weight"], state["fc.bias"] = fc.weight, fc.bias
    return _write(config, state, path, preprocessing)


def convert_state_dict(sd, path, head="softmax", output="last", cell=None, preprocessing=None):
    """Infers the architecture from a state_dict's names and shapes and writes the model file."""
    keys = [k for k in sd if k.endswith("weight_ih_l0")]
    if len(keys) != 1:
        raise ValueError(f"expected exactly one '...weight_ih_l0' tensor, found {keys}")
    prefix = keys[0][: -len("weight_ih_l0")]
    w_ih, w_hh = sd[prefix + "weight_ih_l0"], sd[prefix + "weight_hh_l0"]
    H = w_hh.shape[1]
    gates = w_hh.shape[0] // H
    inferred = {4: "lstm", 3: "gru", 1: "rnn_tanh"}[gates]
    if cell is not None and {"rnn_tanh": 1, "rnn_relu": 1, "rnn": 1, "lstm": 4, "gru": 3}[cell] != gates:
        raise ValueError(f"--cell {cell} does not match the weights ({gates} gates)")
    layers = 1 + max(int(k[len(prefix):].split("_l")[1].split("_")[0]) for k in sd if k.startswith(prefix + "weight_ih_l"))
    bidir = (prefix + "weight_ih_l0_reverse") in sd
    D = 2 if bidir else 1
    rest = {k: v for k, v in sd.items() if not k.startswith(prefix)}
    fcs = [k for k, v in rest.items() if k.endswith(".weight") and v.dim() == 2 and v.shape[1] == D * H
           and k[:-len("weight")] + "bias" in rest]
    if len(fcs) != 1:
        raise ValueError(f"cannot tell the output layer: candidates {fcs}")
    fc_w = fcs[0]
    embs = [k for k, v in rest.items() if k.endswith(".weight") and v.dim() == 2 and k != fc_w]
    if len(embs) > 1:
        raise ValueError(f"cannot tell the embedding: candidates {embs}")
    config = dict(rt.DEFAULT_CONFIG, cell=cell or inferred, hidden_size=H, num_layers=layers, bidirectional=bidir,
                  output=output, output_size=rest[fc_w].shape[0], head=head)
    state = {("rnn." + k[len(prefix):]): v for k, v in sd.items() if k.startswith(prefix)}
    if embs:
        e = rest[embs[0]]
        if e.shape[1] != w_ih.shape[1]:
            raise ValueError(f"{embs[0]} has width {e.shape[1]} but the recurrent layer reads {w_ih.shape[1]}")
        zero_rows = (e == 0).all(dim=1).nonzero().flatten().tolist()
        config.update(vocab_size=e.shape[0], embedding_dim=e.shape[1], padding_idx=zero_rows[0] if zero_rows else -1)
        state["embedding.weight"] = e
    else:
        config["input_size"] = w_ih.shape[1]
    state["fc.weight"], state["fc.bias"] = rest[fc_w], rest[fc_w[:-len("weight")] + "bias"]
    return _write(config, state, path, preprocessing)


def _write(config, state, path, preprocessing):
    module = rt.RnnkitModule(config)
    module.load_state_dict({k: v.detach().float() for k, v in state.items()}, strict=True)
    rt.save_model(module, path, preprocessing)
    return config


def _import_classes(path):
    """Loads a .py file as a module and exposes its names in __main__ too, where pickles of classes
    defined in a script look for them."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    main_module = sys.modules["__main__"]
    for name, value in vars(mod).items():
        if not name.startswith("__") and not hasattr(main_module, name):
            setattr(main_module, name, value)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="torch.save'd nn.Module or state_dict")
    ap.add_argument("output", help="rnnkit model file to write (.safetensors)")
    ap.add_argument("--head", choices=["softmax", "sigmoid", "identity"], default="softmax")
    ap.add_argument("--output-mode", dest="output_mode", choices=["last", "per_step"], default="last")
    ap.add_argument("--cell", choices=["rnn_tanh", "rnn_relu", "lstm", "gru"], help="state_dict only")
    ap.add_argument("--labels", help="comma-separated class names, stored as preprocessing {\"labels\": [...]}")
    ap.add_argument("--preprocessing", help="JSON file with the preprocessing state to store")
    ap.add_argument("--import", dest="imports", action="append", default=[],
                    help="a .py file defining the pickled module's classes (repeatable)")
    args = ap.parse_args()
    pre = {}
    if args.preprocessing:
        with open(args.preprocessing) as f:
            pre = json.load(f)
    if args.labels:
        pre["labels"] = args.labels.split(",")
    for path in args.imports:
        _import_classes(path)
    obj = torch.load(args.input, map_location="cpu")
    if isinstance(obj, nn.Module):
        config = convert_module(obj, args.output, args.head, args.output_mode, pre)
    elif isinstance(obj, dict):
        config = convert_state_dict(obj, args.output, args.head, args.output_mode, args.cell, pre)
    else:
        sys.exit(f"{args.input}: expected an nn.Module or a state_dict, got {type(obj).__name__}")
    print(f"wrote {args.output}: {json.dumps(config)}")


if __name__ == "__main__":
    main()
