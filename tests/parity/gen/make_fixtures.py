"""Writes the golden fixtures that tests/parity/test_parity.cpp compares rnnkit against.

Run with Debian's python3-torch:  /usr/bin/python3 tests/parity/gen/make_fixtures.py
Everything is computed by PyTorch in float64 from float32-representable inputs and weights, and
stored as F64 safetensors in tests/parity/fixtures/. The C++ tests never run Python.
"""
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts"))
import rnnkit_torch as rt  # noqa: E402
import torch_to_rnnkit  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures")
torch.set_default_dtype(torch.float64)


def f32(t):
    """Rounds to float32 and back, so rnnkit's float32 run starts from exactly the same numbers."""
    return t.float().double()


def randomize(module, gen, scale=0.5):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(f32((torch.rand(p.shape, generator=gen) * 2 - 1) * scale))


def save(name, tensors, meta):
    tensors = {k: (v.double() if v.is_floating_point() else v.int()) for k, v in tensors.items()}
    rt.write_safetensors(os.path.join(OUT, name + ".safetensors"), tensors,
                         {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()})


T, B = 5, 3
LENGTHS = [5, 2, 4]  # unsorted, unequal: exercises packing and the per-sequence reverse direction


def run_recurrent(m, cell, x, h0, c0, lengths, R, Rh, Rc):
    """Forward of a packed batch and the backward of sum(y R) + sum(hn Rh) (+ sum(cn Rc)): outputs and
    gradients by the names the C++ test reads."""
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
    out, fin = m(packed, (h0, c0) if cell == "lstm" else h0)
    y, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
    hn, cn = fin if cell == "lstm" else (fin, None)
    loss = (y * R).sum() + (hn * Rh).sum()
    if cn is not None:
        loss = loss + (cn * Rc).sum()
    loss.backward()
    t = {"y": y, "hn": hn, "grad.x": x.grad, "grad.h0": h0.grad}
    if cn is not None:
        t.update({"cn": cn, "grad.c0": c0.grad})
    for k, p in m.named_parameters():
        t["grad.rnn." + k] = p.grad
    return t


def recurrent_case(gen, name, cell, I, H, layers, bidir, T, lengths, with_f32=False):
    """with_f32: also PyTorch's own float32 results ("f32." + name), the measure of how close float32
    arithmetic can get at these sizes (the float32 test accepts rnnkit's error up to a few times it)."""
    B, D = len(lengths), 2 if bidir else 1
    m = rt.RnnkitModule({"input_size": I, "cell": cell, "hidden_size": H, "num_layers": layers,
                         "bidirectional": bidir, "output_size": 1}).rnn
    randomize(m, gen)
    x = f32(torch.randn(T, B, I, generator=gen)).requires_grad_()
    h0 = f32(torch.randn(layers * D, B, H, generator=gen) * 0.5).requires_grad_()
    c0 = f32(torch.randn(layers * D, B, H, generator=gen) * 0.5).requires_grad_()
    R = f32(torch.randn(T, B, D * H, generator=gen))
    Rh = f32(torch.randn(layers * D, B, H, generator=gen))
    Rc = f32(torch.randn(layers * D, B, H, generator=gen))
    r = run_recurrent(m, cell, x, h0, c0, lengths, R, Rh, Rc)
    t = {"x": x, "h0": h0, "y": r["y"], "hn": r["hn"], "R": R, "Rh": Rh, "grad.x": r["grad.x"],
         "grad.h0": r["grad.h0"], "lengths": torch.tensor(lengths)}
    if cell == "lstm":
        t.update({"c0": c0, "cn": r["cn"], "Rc": Rc, "grad.c0": r["grad.c0"]})
    for k, p in m.named_parameters():
        t["rnn." + k] = p
        t["grad.rnn." + k] = r["grad.rnn." + k]
    if with_f32:
        m32 = copy.deepcopy(m).float()
        m32.zero_grad()
        leaf = lambda v: v.detach().float().requires_grad_()  # noqa: E731
        t32 = run_recurrent(m32, cell, leaf(x), leaf(h0), leaf(c0), lengths, R.float(), Rh.float(), Rc.float())
        t.update({"f32." + k: v.double() for k, v in t32.items()})
    save(name, {k: v.detach() for k, v in t.items()},
         {"cell": cell, "input_size": str(I), "hidden_size": str(H), "num_layers": str(layers),
          "bidirectional": str(int(bidir))})


def recurrent_fixtures(gen):
    for cell in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
        for layers in (1, 2):
            for bidir in (False, True):
                recurrent_case(gen, f"recurrent_{cell}_{layers}l_{'bi' if bidir else 'uni'}", cell, 4, 3, layers,
                               bidir, T, LENGTHS)


def wide_recurrent_fixtures(gen):
    """Sizes that fill the GEMM kernel's 32-column panels and 8-row blocks (H = 32: G*H = 32 to 128
    columns; B = 11: a whole block and a partial one), with every sequence at full length (the input
    projected step by step) and padded (one GEMM over the valid rows)."""
    for cell in ("rnn_tanh", "lstm", "gru"):
        for padded in (False, True):
            lengths = [6, 2, 5, 6, 1, 4, 6, 3, 6, 5, 2] if padded else [6] * 11
            recurrent_case(gen, f"recurrent_{cell}_wide_{'padded' if padded else 'full'}", cell, 20, 32, 2, True,
                           6, lengths, with_f32=True)


def model_loss(module, c, logits, batch):
    """The mean loss rnnkit defines: over valid rows (and outputs), ignoring negative labels."""
    lengths = torch.tensor(batch["lengths"])
    if c["output"] == "per_step":
        mask = torch.arange(logits.shape[0])[:, None] < lengths[None, :]  # (T, B)
        logits = logits[mask]
    if c["head"] == "softmax":
        labels = batch["labels"] if c["output"] != "per_step" else batch["labels"][mask]
        return F.cross_entropy(logits, labels.long(), ignore_index=-1)
    values = batch["values"] if c["output"] != "per_step" else batch["values"][mask]
    if c["head"] == "sigmoid":
        return F.binary_cross_entropy_with_logits(logits, values)
    return F.mse_loss(logits, values)


MODEL_CASES = {
    "model_lstm_embedding_last_softmax": {"vocab_size": 7, "embedding_dim": 4, "padding_idx": 0, "cell": "lstm",
                                          "hidden_size": 3, "num_layers": 2, "bidirectional": True,
                                          "output": "last", "output_size": 3, "head": "softmax"},
    "model_gru_features_per_step_identity": {"input_size": 2, "cell": "gru", "hidden_size": 4, "num_layers": 2,
                                             "output": "per_step", "output_size": 2, "head": "identity"},
    "model_rnn_features_last_sigmoid": {"input_size": 3, "cell": "rnn_tanh", "hidden_size": 3,
                                        "bidirectional": True, "output": "last", "output_size": 2,
                                        "head": "sigmoid"},
    "model_gru_embedding_mean_softmax": {"vocab_size": 8, "embedding_dim": 3, "padding_idx": 0, "cell": "gru",
                                         "hidden_size": 3, "num_layers": 2, "bidirectional": True,
                                         "output": "mean", "output_size": 3, "head": "softmax"},
    "model_lstm_embedding_per_step_softmax": {"vocab_size": 6, "embedding_dim": 3, "padding_idx": 0,
                                              "cell": "lstm", "hidden_size": 4, "output": "per_step",
                                              "output_size": 6, "head": "softmax"},
}


def make_batch(c, gen):
    lengths = torch.tensor(LENGTHS)
    valid = torch.arange(T)[:, None] < lengths[None, :]
    batch = {"lengths": LENGTHS}
    if c.get("vocab_size", 0) > 0:
        tokens = torch.randint(1, c["vocab_size"], (T, B), generator=gen)
        batch["tokens"] = torch.where(valid, tokens, torch.zeros_like(tokens))  # padded steps hold padding_idx
    else:
        batch["features"] = f32(torch.randn(T, B, c["input_size"], generator=gen))
    rows = (T, B) if c["output"] == "per_step" else (B,)
    if c["head"] == "softmax":
        labels = torch.randint(0, c["output_size"], rows, generator=gen)
        if c["output"] == "per_step":
            labels[1, 0] = -1  # an ignored label on a valid step
        batch["labels"] = labels
    elif c["head"] == "sigmoid":
        batch["values"] = (torch.rand(rows + (c["output_size"],), generator=gen) > 0.5).double()
    else:
        batch["values"] = f32(torch.randn(rows + (c["output_size"],), generator=gen))
    return batch


def run_model(module, c, batch):
    x = batch["tokens"] if "tokens" in batch else batch["features"]
    logits, _ = module(x, batch["lengths"])
    return logits, model_loss(module, c, logits, batch)


def batch_tensors(batch):
    t = {"lengths": torch.tensor(batch["lengths"])}
    for k in ("tokens", "features", "labels", "values"):
        if k in batch:
            t[k] = batch[k]
    return t


def model_fixtures(gen):
    for name, c in MODEL_CASES.items():
        module = rt.RnnkitModule(c)
        randomize(module, gen)
        if module.embedding is not None:
            with torch.no_grad():
                module.embedding.weight[c["padding_idx"]] = 0
        batch = make_batch(c, gen)
        logits, loss = run_model(module, c, batch)
        loss.backward()
        t = batch_tensors(batch)
        t["logits"] = logits.detach()
        t["loss"] = loss.detach().reshape(1)
        for k, p in module.named_parameters():
            t[k] = p.detach()
            t["grad." + k] = p.grad
        save(name, t, {"config": json.dumps(module.config)})


OPTIMIZER_CASES = {
    "sgd": ("sgd", {"lr": 0.1}),
    "sgd_momentum_dampening_wd": ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    "sgd_nesterov": ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "adam": ("adam", {"lr": 0.01}),
    "adam_wd": ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    "adamw": ("adamw", {"lr": 0.01, "weight_decay": 0.1}),
    "rmsprop": ("rmsprop", {"lr": 0.01}),
    "rmsprop_centered_momentum_wd": ("rmsprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5,
                                                 "weight_decay": 0.01}),
    "adagrad": ("adagrad", {"lr": 0.1}),
    "adagrad_decay_wd": ("adagrad", {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.01,
                                     "initial_accumulator_value": 0.5}),
}
TORCH_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                    "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}
OPT_STEPS = 3
CLIP = 0.5


def optimizer_fixtures(gen):
    c = {"vocab_size": 6, "embedding_dim": 3, "padding_idx": 0, "cell": "lstm", "hidden_size": 4,
         "output": "last", "output_size": 3, "head": "softmax"}
    base = rt.RnnkitModule(c)
    randomize(base, gen)
    with torch.no_grad():
        base.embedding.weight[0] = 0
    batch = make_batch(c, gen)
    for name, (kind, kwargs) in OPTIMIZER_CASES.items():
        module = rt.RnnkitModule(c)
        module.load_state_dict(base.state_dict())
        opt = TORCH_OPTIMIZERS[kind](module.parameters(), **kwargs)
        t = batch_tensors(batch)
        for k, p in module.named_parameters():
            t["init." + k] = p.detach().clone()
        losses = []
        for step in range(OPT_STEPS):
            opt.zero_grad()
            _, loss = run_model(module, c, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), CLIP)  # binding only on some steps
            opt.step()
            losses.append(loss.item())
            for k, p in module.named_parameters():
                t[f"step{step + 1}.{k}"] = p.detach().clone()
        t["losses"] = torch.tensor(losses)
        hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        save("optim_" + name, t, {"config": json.dumps(c), "optimizer": kind, "hyper": json.dumps(hyper),
                                  "steps": str(OPT_STEPS), "clip_norm": str(CLIP)})


def schedule_fixtures():
    epochs = 16
    metrics = [1.0, 0.9, 0.85, 0.86, 0.87, 0.84, 0.849, 0.85, 0.86, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76]
    cases = {
        "step": (torch.optim.lr_scheduler.StepLR, {"step_size": 3, "gamma": 0.5}),
        "exponential": (torch.optim.lr_scheduler.ExponentialLR, {"gamma": 0.9}),
        "cosine": (torch.optim.lr_scheduler.CosineAnnealingLR, {"T_max": 5, "eta_min": 0.001}),
        "plateau": (torch.optim.lr_scheduler.ReduceLROnPlateau, {"factor": 0.5, "patience": 1, "cooldown": 1,
                                                                 "threshold": 0.01, "min_lr": 0.02}),
    }
    t = {"metrics": torch.tensor(metrics)}
    meta = {}
    for name, (cls, kwargs) in cases.items():
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = cls(opt, **kwargs)
        lrs = []
        for e in range(epochs):
            opt.step()
            if name == "plateau":
                sched.step(metrics[e])
            else:
                sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        t["lr." + name] = torch.tensor(lrs)
        meta[name] = json.dumps(kwargs)
    save("schedules", t, meta)


def loss_fixtures(gen):
    logits = f32(torch.randn(6, 4, generator=gen) * 3)
    logits[0, 2] = 40.0  # extreme logits stay finite
    targets = torch.tensor([2, 0, -1, 3, 1, -1])
    lg = logits.clone().requires_grad_()
    ce = F.cross_entropy(lg, targets, ignore_index=-1)
    ce.backward()
    ce_sum = F.cross_entropy(logits, targets, ignore_index=-1, reduction="sum")
    bl = f32(torch.randn(5, 3, generator=gen) * 4)
    bl[0, 0], bl[0, 1] = 35.0, -35.0
    by = f32(torch.rand(5, 3, generator=gen))
    blg = bl.clone().requires_grad_()
    bce = F.binary_cross_entropy_with_logits(blg, by)
    bce.backward()
    mp = f32(torch.randn(5, 3, generator=gen))
    my = f32(torch.randn(5, 3, generator=gen))
    mpg = mp.clone().requires_grad_()
    mse = F.mse_loss(mpg, my)
    mse.backward()
    save("losses", {"ce.logits": logits, "ce.targets": targets, "ce.loss": ce.detach().reshape(1),
                    "ce.grad": lg.grad, "ce.loss_sum": ce_sum.reshape(1),
                    "bce.logits": bl, "bce.targets": by, "bce.loss": bce.detach().reshape(1), "bce.grad": blg.grad,
                    "mse.pred": mp, "mse.targets": my, "mse.loss": mse.detach().reshape(1), "mse.grad": mpg.grad},
         {})


class ForeignTagger(nn.Module):
    """A plain PyTorch model with its own attribute names, as a user would write it."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(9, 5, padding_idx=0)
        self.gru = nn.GRU(5, 6, num_layers=2, bidirectional=True)
        self.decoder = nn.Linear(12, 4)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.encoder(tokens), torch.tensor(lengths), enforce_sorted=False)
        out, _ = self.gru(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=tokens.shape[0])
        return self.decoder(y)


def conversion_fixture(gen):
    """A foreign module converted by scripts/torch_to_rnnkit.py; rnnkit must reproduce its outputs."""
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(7)  # before the module: its weights come from PyTorch's default initialisation
    model = ForeignTagger()
    model.eval()
    tokens = torch.randint(1, 9, (T, B), generator=gen)
    valid = torch.arange(T)[:, None] < torch.tensor(LENGTHS)[None, :]
    tokens = torch.where(valid, tokens, torch.zeros_like(tokens))
    with torch.no_grad():
        expected = model(tokens, LENGTHS)
    torch_to_rnnkit.convert_module(model, os.path.join(OUT, "converted_tagger.safetensors"),
                                   head="softmax", output="per_step",
                                   preprocessing={"labels": ["O", "B-PER", "I-PER", "MISC"]})
    torch.set_default_dtype(torch.float64)
    save("converted_tagger_expected", {"tokens": tokens, "lengths": torch.tensor(LENGTHS),
                                       "logits": expected.double()}, {})


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20261125)
    recurrent_fixtures(gen)
    model_fixtures(gen)
    optimizer_fixtures(gen)
    schedule_fixtures()
    loss_fixtures(gen)
    conversion_fixture(gen)
    wide_recurrent_fixtures(gen)  # last: the fixtures above keep the numbers they had before it
    print(f"wrote {len(os.listdir(OUT))} fixtures to {os.path.normpath(OUT)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
