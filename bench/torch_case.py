"""PyTorch's side of bench/compare.py for one case: a training step (forward, MSE on every step,
backward, Adam), an inference pass, and streaming (the module called one step at a time at batch 1
with its state carried), the same as bench_train_step's one-case mode; and the training step on a padded
batch (sequence b of (b + 1) * T / B steps, as in bench_train_step) through PyTorch's packed sequences, the
loss on the valid steps only.
Usage: /usr/bin/python3 bench/torch_case.py CELL B T I H LAYERS BIDIR THREADS [REPS]
Prints one JSON line: train_ms, infer_ms, stream_us, ragged_train_ms, max_rss_mb, train_max_rss_mb,
base_rss_mb (before any tensor) (times: best of REPS after a warm-up)."""
import json
import resource
import sys
import time

import torch


def best_ms(f, reps):
    f()
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0


def main():
    base = rss_mb()  # the interpreter and torch's libraries, before any tensor
    cell, B, T, I, H, L, bi, threads = sys.argv[1], *map(int, sys.argv[2:9])
    reps = int(sys.argv[9]) if len(sys.argv) > 9 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    rnn = cls(I, H, num_layers=L, bidirectional=bool(bi))
    fc = torch.nn.Linear(H * (2 if bi else 1), 1)
    opt = torch.optim.Adam(list(rnn.parameters()) + list(fc.parameters()))
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

    # A padded batch: sequence b has (b + 1) * T / B valid steps (about half of T * B in all), packed
    # with pack_padded_sequence, the way PyTorch runs variable lengths; MSE over the valid steps.
    lengths = torch.tensor([max(1, (b + 1) * T // B) for b in range(B)])
    valid = (torch.arange(T)[:, None] < lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
    pack = torch.nn.utils.rnn.pack_padded_sequence

    def train_padded():
        opt.zero_grad()
        out, _ = rnn(pack(x, lengths, enforce_sorted=False))
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
        loss = torch.nn.functional.mse_loss(fc(out)[valid], y[valid])
        loss.backward()
        opt.step()

    step = torch.rand(1, 1, I)
    steps = 200

    def stream():
        with torch.no_grad():
            state = None
            for _ in range(steps):
                out, state = rnn(step, state)
                fc(out)

    train_ms = best_ms(train, reps)
    train_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # training alone
    result = {"train_ms": train_ms, "infer_ms": best_ms(infer, reps),
              "stream_us": best_ms(stream, reps) * 1e3 / steps,
              "ragged_train_ms": best_ms(train_padded, reps),
              "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
              "train_max_rss_mb": train_peak,
              "base_rss_mb": base}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
