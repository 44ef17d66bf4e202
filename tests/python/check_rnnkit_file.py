"""Reads model files that rnnkit wrote with PyTorch (scripts/rnnkit_torch.py) and checks that the
equivalent nn.Module gives rnnkit's outputs, and that rnnkit_to_torch.py converts them.
Usage: /usr/bin/python3 tests/python/check_rnnkit_file.py DIR   (DIR from the ModelFileExport test)"""
import glob
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import rnnkit_torch as rt  # noqa: E402


def main():
    directory = sys.argv[1]
    models = sorted(p for p in glob.glob(os.path.join(directory, "model*.safetensors")) if ".expected." not in p)
    if not models:
        sys.exit(f"no model files in {directory}")
    worst = 0.0
    for path in models:
        module, config, pre, _ = rt.load_model(path)
        module.eval()
        expected, _ = rt.read_safetensors(path.replace(".safetensors", ".expected.safetensors"))
        with torch.no_grad():
            logits, _ = module(expected["tokens"].long(), expected["lengths"].tolist())
        diff = (logits.reshape(-1) - expected["logits"]).abs().max().item()
        worst = max(worst, diff)
        if diff > 1e-5:
            sys.exit(f"{path}: PyTorch differs from rnnkit by {diff} (config {config})")
        if pre.get("labels") != ["a", "b", "c"]:
            sys.exit(f"{path}: preprocessing not read back: {pre}")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "m.pt")
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "rnnkit_to_torch.py"), path, out],
                           check=True, stdout=subprocess.DEVNULL)
            ckpt = torch.load(out)
            again = rt.RnnkitModule(ckpt["config"])
            again.load_state_dict(ckpt["state_dict"])
    print(f"{len(models)} rnnkit model files read by PyTorch; largest difference {worst:.2e}")


if __name__ == "__main__":
    main()
