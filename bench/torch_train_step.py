"""PyTorch's time for the cases of bench_train_step.cpp: one training step (forward, backward, Adam)
and one inference pass, same shapes, same thread count.
Usage: /usr/bin/python3 bench/torch_train_step.py [threads]"""
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
cases = [(32, 50, 64, 128, 1, False), (64, 100, 64, 256, 2, False), (32, 50, 128, 256, 1, True)]


def best_ms(f, reps=5):
    f()
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


print(f"cell  B   T   I    H    L bi | train ms | infer ms   (torch {torch.__version__}, {threads} thread(s))")
for name, cls in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
    for B, T, I, H, L, bi in cases:
        rnn = cls(I, H, num_layers=L, bidirectional=bi)
        fc = torch.nn.Linear(H * (2 if bi else 1), 1)
        params = list(rnn.parameters()) + list(fc.parameters())
        opt = torch.optim.Adam(params)
        x = torch.rand(T, B, I) * 2 - 1
        y = torch.full((T, B, 1), 0.5)

        def train():
            opt.zero_grad()
            out, _ = rnn(x)
            loss = torch.nn.functional.mse_loss(fc(out), y)
            loss.backward()
            opt.step()

        def infer():
            with torch.no_grad():
                fc(rnn(x)[0])

        print(f"{name:5s} {B:<3d} {T:<3d} {I:<4d} {H:<4d} {L} {'y' if bi else 'n':2s} | "
              f"{best_ms(train):8.1f} | {best_ms(infer):8.1f}")
