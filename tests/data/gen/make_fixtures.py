"""Converts fixtures/vectors.vec to word2vec binary and GloVe text, and writes an audio fixture with
torchaudio's reference features. Run through make_fixtures.sh."""
import json
import math
import os
import struct
import sys

import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts"))
import rnnkit_torch as rt  # noqa: E402


def vectors():
    with open(os.path.join(FIX, "vectors.vec"), encoding="utf-8") as f:
        count, dim = map(int, f.readline().split())
        rows = [line.rstrip("\n").rstrip(" ").split(" ") for line in f]
    assert len(rows) == count
    with open(os.path.join(FIX, "vectors.bin"), "wb") as f:
        f.write(f"{count} {dim}\n".encode())
        for r in rows:
            f.write(r[0].encode() + b" " + struct.pack(f"<{dim}f", *map(float, r[1:])) + b"\n")
    with open(os.path.join(FIX, "vectors.glove.txt"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(" ".join(r) + "\n")


def audio():
    sr = 16000
    t = torch.arange(int(0.3 * sr)) / sr
    # A 440 Hz tone, a chirp and a little noise: energy in several mel bands.
    x = 0.5 * torch.sin(2 * math.pi * 440 * t) + 0.3 * torch.sin(2 * math.pi * (300 + 4000 * t) * t)
    x = x + 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(3))
    x = (x.clamp(-1, 1) * 32767).round() / 32767  # what 16-bit PCM can hold
    torchaudio.save(os.path.join(FIX, "tone.wav"), x.unsqueeze(0), sr, encoding="PCM_S", bits_per_sample=16)
    y, _ = torchaudio.load(os.path.join(FIX, "tone.wav"))
    cfg = {"sample_rate": sr, "n_fft": 400, "win_length": 400, "hop_length": 160, "f_min": 20.0, "f_max": 8000.0,
           "n_mels": 40}
    mel = torchaudio.transforms.MelSpectrogram(center=False, power=2.0, norm=None, mel_scale="htk",
                                               window_fn=torch.hann_window, **cfg).double()(y.double())[0].T  # (frames, mels)
    log_mel = torch.log(torch.clamp(mel, min=1e-10))
    dct = torchaudio.functional.create_dct(13, 40, "ortho").double()  # (mels, mfcc)
    mfcc = log_mel @ dct
    rt.write_safetensors(os.path.join(FIX, "tone.expected.safetensors"),
                         {"log_mel": log_mel.contiguous(), "mfcc": mfcc.contiguous()},
                         {"config": json.dumps(cfg), "torchaudio": torchaudio.__version__})


if __name__ == "__main__":
    vectors()
    audio()
    print("wrote vectors.bin, vectors.glove.txt, tone.wav, tone.expected.safetensors")
