"""scripts/torch_to_rnnkit.py on files a user has: a whole nn.Module and a bare state_dict, with
foreign attribute names, each converted through the command line and compared with PyTorch.
Usage: /usr/bin/python3 tests/python/check_converters.py"""
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import rnnkit_torch as rt  # noqa: E402


class Classifier(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.emb = nn.Embedding(20, 6, padding_idx=0)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_relu": nn.RNN}[cell]
        kwargs = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
        self.encoder = rnn(6, 5, num_layers=2, bidirectional=True, **kwargs)
        self.head = nn.Linear(10, 3)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(tokens), torch.tensor(lengths), enforce_sorted=False)
        _, h = self.encoder(packed)
        h = h[0] if isinstance(h, tuple) else h
        return self.head(torch.cat([h[-2], h[-1]], dim=1))  # the last layer's two directions


def convert(source, *flags):
    with tempfile.TemporaryDirectory() as tmp:
        pt, out = os.path.join(tmp, "in.pt"), os.path.join(tmp, "out.safetensors")
        torch.save(source, pt)
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "torch_to_rnnkit.py"), pt, out, *flags],
                       check=True, stdout=subprocess.DEVNULL)
        module, config, pre, _ = rt.load_model(out)
        return module.eval(), config, pre


def main():
    torch.manual_seed(0)
    tokens = torch.randint(1, 20, (7, 4))
    lengths = [7, 3, 5, 1]
    for t, b in [(t, b) for b in range(4) for t in range(7) if t >= lengths[b]]:
        tokens[t, b] = 0
    for cell in ("lstm", "gru", "rnn_relu"):
        model = Classifier(cell).eval()
        with torch.no_grad():
            want = model(tokens, lengths)
        for source, flags in ((model, ["--labels", "neg,neu,pos", "--import", os.path.abspath(__file__)]),
                              (model.state_dict(), ["--cell", cell] if cell == "rnn_relu" else [])):
            module, config, pre = convert(source, *flags)
            with torch.no_grad():
                got, _ = module(tokens, lengths)
            diff = (got - want).abs().max().item()
            kind = type(source).__name__
            if diff > 1e-6 or config["cell"] != cell or config["padding_idx"] != 0:
                sys.exit(f"{cell} from {kind}: difference {diff}, config {config}")
            if kind == "Classifier" and pre.get("labels") != ["neg", "neu", "pos"]:
                sys.exit(f"labels not stored: {pre}")
    print("torch_to_rnnkit.py: modules and state_dicts of LSTM, GRU and relu RNN convert exactly")


if __name__ == "__main__":
    main()
