"""PyTorch's side of the char-LM comparison (examples/char-lm/README.md): the same data split, the
same windows and the same hyper-parameters as `rnnkit train --task lm` with --embedding-dim 64
--hidden 256 --layers 2 --seq-len 100 --batch-size 64 --lr 2e-3 --clip 5: characters of
moby-dick.txt, the last 10 % as validation, non-overlapping 100-character windows shuffled every
epoch, Adam 2e-3, gradient norm clipped at 5, validation bits per character every 100 steps.
Usage: /usr/bin/python3 examples/char-lm/torch_reference.py [STEPS] [THREADS]"""
import math
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 400
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
torch.manual_seed(1)
text = open("../shared/data/moby-dick.txt", encoding="utf-8", errors="replace").read()
cut = int(len(text) * 0.9)
chars = sorted(set(text[:cut]))
index = {c: i + 1 for i, c in enumerate(chars)}  # 0: characters the training part never had
ids = lambda s: torch.tensor([index.get(c, 0) for c in s], dtype=torch.long)  # noqa: E731
train, valid = ids(text[:cut]), ids(text[cut:])
V, T, B = len(chars) + 1, 100, 64


def windows(x):
    n = (len(x) - 1) // T
    return x[: n * T].view(n, T), x[1 : n * T + 1].view(n, T)


class CharLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, 64)
        self.rnn = torch.nn.LSTM(64, 256, num_layers=2)
        self.fc = torch.nn.Linear(256, V)

    def forward(self, x):  # x (T, B)
        return self.fc(self.rnn(self.emb(x))[0])


model = CharLM()
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
xt, yt = windows(train)
xv, yv = windows(valid)


def valid_bits():
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(xv), 256):
            x, y = xv[s : s + 256].t(), yv[s : s + 256].t()
            total += torch.nn.functional.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train()
    return total / count / math.log(2)


start, step = time.perf_counter(), 0
train_time = 0.0
while step < steps:
    order = torch.randperm(len(xt))
    for s in range(0, len(order) - B + 1, B):
        t0 = time.perf_counter()
        idx = order[s : s + B]
        x, y = xt[idx].t(), yt[idx].t()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        train_time += time.perf_counter() - t0
        step += 1
        if step % 100 == 0:
            print(f"step {step}: train loss {loss.item():.4f}, valid {valid_bits():.3f} bits/char, "
                  f"training {train_time:.1f} s, wall {time.perf_counter() - start:.1f} s", flush=True)
        if step == steps:
            break
