#!/usr/bin/python3
"""Converts an rnnkit model file into PyTorch.

  rnnkit_to_torch.py model.safetensors model.pt
writes {"config": ..., "state_dict": ..., "preprocessing": ...} with torch.save. Rebuild the module with
    import rnnkit_torch; m = rnnkit_torch.RnnkitModule(ckpt["config"]); m.load_state_dict(ckpt["state_dict"])
(scripts/rnnkit_torch.py is self-contained: copy it beside your code). With --check TOKENS it also
prints the module's outputs for one sequence of token ids (or comma-separated feature rows).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rnnkit_torch as rt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="rnnkit model file (.safetensors)")
    ap.add_argument("output", help="PyTorch checkpoint to write (.pt)")
    ap.add_argument("--check", help="space-separated token ids to run through the converted module")
    args = ap.parse_args()
    module, config, pre, _ = rt.load_model(args.input)
    torch.save({"config": config, "state_dict": module.state_dict(), "preprocessing": pre}, args.output)
    print(f"wrote {args.output}: {sum(p.numel() for p in module.parameters())} parameters, config {config}")
    if args.check:
        module.eval()
        ids = torch.tensor([int(t) for t in args.check.split()]).reshape(-1, 1)
        with torch.no_grad():
            logits, _ = module(ids, [ids.shape[0]])
        print("logits:", logits.reshape(-1).tolist())


if __name__ == "__main__":
    main()
