"""The Python module (`import rnnkit`): train, save, reload, predict, stream, and a model converted
from PyTorch giving PyTorch's outputs. Run by ctest (python_module) with the module on PYTHONPATH:
  PYTHONPATH=build/python /usr/bin/python3 -m pytest -q tests/python/test_module.py"""
import os
import sys

import numpy as np
import pytest

import rnnkit

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LOOMINGS = os.path.join(ROOT, "examples", "quickstart", "data", "loomings.txt")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    d = tmp_path_factory.mktemp("classify")
    with open(d / "train.ft", "w") as f:
        for i in range(40):
            f.write(f"__label__pos great tasty food {i} lovely\n__label__pos good kind staff {i} wonderful\n")
            f.write(f"__label__neg awful rude service {i} terrible\n__label__neg bad cold food {i} horrible\n")
    path = str(d / "m.safetensors")
    model = rnnkit.train(task="classify", train=str(d / "train.ft"), output=path, embedding_dim=8, hidden=8,
                         epochs=6, patience=0, lr=0.02, batch_size=16, seed=3)
    return model, path


def test_train_returns_the_model_with_its_history(classifier):
    model, path = classifier
    assert model.task == "classify"
    assert model.labels == ["neg", "pos"]
    assert len(model.history) == 6
    assert model.history[-1]["train_loss"] < model.history[0]["train_loss"]
    assert model.info["parameters"] > 0


def test_evaluate_gives_the_eval_commands_figures(classifier, tmp_path):
    model, path = classifier
    data = os.path.join(os.path.dirname(path), "train.ft")
    r = model.evaluate(data)
    assert r["task"] == "classify" and r["examples"] == 160
    assert r["accuracy"] == 1.0 and r["confusion"] == [80, 0, 0, 80]
    assert 0 < r["loss"] < 0.5
    assert set(r["classes"]) == {"neg", "pos"}
    # the loss is the mean cross-entropy of the predicted probabilities
    lines = open(data).read().splitlines()
    texts = [line.split(" ", 1)[1] for line in lines]
    labels = [line.split(" ", 1)[0][len("__label__"):] for line in lines]
    probs = [dict(p["top"]) for p in model.predict(texts, top_k=2)]
    nll = -sum(np.log(p[label]) for p, label in zip(probs, labels)) / len(texts)
    assert abs(r["loss"] - nll) < 1e-4
    with pytest.raises(rnnkit.Error, match="no label"):
        bad = tmp_path / "bad.ft"
        bad.write_text("no label here\n")
        model.evaluate(str(bad))
    # the model in memory is evaluated, not its file: a copy loaded and then deleted still answers
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(open(path, "rb").read())
    loaded = rnnkit.load(str(copy))
    copy.unlink()
    assert loaded.evaluate(data)["loss"] == r["loss"]


def test_predictions_are_right_and_survive_a_reload(classifier):
    model, path = classifier
    texts = ["great tasty food 7 lovely", "awful rude service 2 terrible", "good kind staff", "bad cold food"]
    got = model.predict(texts, top_k=2)
    assert [p["label"] for p in got] == ["pos", "neg", "pos", "neg"]
    for p in got:
        assert p["probability"] > 0.5
        assert abs(sum(prob for _, prob in p["top"]) - 1.0) < 1e-5
    again = rnnkit.load(path).predict(texts, top_k=2)
    assert again == got
    # One text alone gets what it gets in a padded batch.
    alone = model.predict(texts[1], top_k=2)
    assert alone["label"] == got[1]["label"]
    assert alone["probability"] == pytest.approx(got[1]["probability"], abs=1e-6)


def test_bad_input_raises_rnnkit_error(classifier, tmp_path):
    model, _ = classifier
    with pytest.raises(rnnkit.Error, match="top_k"):
        model.predict("good", top_k=0)
    with pytest.raises(rnnkit.Error, match="cannot open"):
        rnnkit.load(str(tmp_path / "missing.safetensors"))
    with pytest.raises(rnnkit.Error, match="nope"):
        rnnkit.train(task="classify", train=str(tmp_path / "x.ft"), output=str(tmp_path / "y"), nope=3)


@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("lm") / "lm.safetensors")
    return rnnkit.train(task="lm", train=LOOMINGS, output=path, embedding_dim=16, hidden=32, seq_len=32, epochs=1,
                        batch_size=16, patience=0, layers=2)


def test_stream_step_by_step_equals_the_whole_sequence(language_model):
    ids = np.array([5, 9, 3, 12, 7, 7, 2, 30], dtype=np.int32)
    whole = language_model.forward(ids)  # (T, O)
    s = language_model.stream()
    for t, token in enumerate(ids):
        np.testing.assert_allclose(s.step(int(token)), whole[t], rtol=1e-5, atol=1e-6)
    assert s.steps == len(ids)
    s.reset()
    np.testing.assert_allclose(s.chunk(ids[:5]), whole[:5], rtol=1e-5, atol=1e-6)
    branch = s.copy()
    saved = s.save_state()
    np.testing.assert_allclose(s.chunk(ids[5:]), whole[5:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(branch.chunk(ids[5:]), whole[5:], rtol=1e-5, atol=1e-6)
    restored = language_model.stream()
    restored.load_state(saved)
    assert restored.steps == 5
    np.testing.assert_allclose(restored.chunk(ids[5:]), whole[5:], rtol=1e-5, atol=1e-6)
    state = restored.state
    assert state["h"].shape == (2 * 32,) and state["c"].shape == (2 * 32,) and state["steps"] == 8
    fresh = language_model.stream()
    fresh.state = state
    np.testing.assert_array_equal(fresh.step(4), restored.step(4))
    probs = language_model.stream().feed("Call me Ishmael")
    assert probs.shape[1] == len(language_model.info["labels"]) if "labels" in language_model.info else True
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_outputs_are_numpy_arrays_owning_no_copy(language_model):
    out = language_model.forward(np.zeros((2, 3), dtype=np.int32))
    assert out.shape == (2, 3, language_model.info["config"]["output_size"])
    assert out.dtype == np.float32
    assert not out.flags.owndata  # the result vector itself, handed over


def test_a_model_converted_from_pytorch_gives_pytorchs_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from torch_to_rnnkit import convert_module

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(30, 8, padding_idx=0)
            self.lstm = torch.nn.LSTM(8, 12, num_layers=2)
            self.out = torch.nn.Linear(12, 4)

        def forward(self, tokens):  # (T, B) -> (B, 4): the last step
            y, _ = self.lstm(self.emb(tokens))
            return torch.softmax(self.out(y[-1]), dim=1)

    net = Net().eval()
    path = str(tmp_path / "converted.safetensors")
    convert_module(net, path, head="softmax", output="last")
    tokens = torch.randint(1, 30, (5, 7))  # (B, T)
    with torch.no_grad():
        want = net(tokens.t()).numpy()
    got = rnnkit.load(path).forward(tokens.numpy().astype(np.int32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(rnnkit.Error, match="no task preprocessing"):  # nothing tells it how to read data
        rnnkit.load(path).evaluate(LOOMINGS)

    class Tagger(torch.nn.Module):  # features in, a sigmoid per step
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(3, 6)
            self.fc = torch.nn.Linear(6, 2)

        def forward(self, x):  # (T, B, 3) -> (T, B, 2)
            return torch.sigmoid(self.fc(self.gru(x)[0]))

    tagger = Tagger().eval()
    path = str(tmp_path / "tagger.safetensors")
    convert_module(tagger, path, head="sigmoid", output="per_step")
    x = torch.randn(4, 9, 3)  # (B, T, I)
    with torch.no_grad():
        want = tagger(x.transpose(0, 1)).transpose(0, 1).numpy()
    model = rnnkit.load(path)
    np.testing.assert_allclose(model.forward(x.numpy()), want, rtol=1e-5, atol=1e-6)
    # and streamed, one step at a time
    s = model.stream()
    for t in range(9):
        np.testing.assert_allclose(s.step(x[0, t].numpy()), want[0, t], rtol=1e-5, atol=1e-6)


def test_padded_rows_with_lengths_give_pytorchs_packed_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    from torch_to_rnnkit import convert_module

    torch.manual_seed(1)
    lengths = torch.tensor([7, 2, 5, 1, 6])  # unsorted, padded to 7 steps

    class Net(torch.nn.Module):  # tokens in, the last real step's softmax out, bidirectional
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(30, 8, padding_idx=0)
            self.lstm = torch.nn.LSTM(8, 12, num_layers=2, bidirectional=True)
            self.out = torch.nn.Linear(24, 4)

        def forward(self, tokens, lengths):  # (T, B) -> (B, 4)
            packed = pack_padded_sequence(self.emb(tokens), lengths, enforce_sorted=False)
            y, _ = pad_packed_sequence(self.lstm(packed)[0])  # (T, B, 24), zero past each length
            b = torch.arange(tokens.shape[1])
            last = torch.cat([y[lengths - 1, b, :12], y[0, b, 12:]], dim=1)  # forward's last, reverse's first
            return torch.softmax(self.out(last), dim=1)

    net = Net().eval()
    path = str(tmp_path / "packed.safetensors")
    convert_module(net, path, head="softmax", output="last")
    tokens = torch.randint(1, 30, (5, 7))  # (B, T); the padding's ids must not matter
    with torch.no_grad():
        want = net(tokens.t(), lengths).numpy()
    model = rnnkit.load(path)
    np.testing.assert_allclose(model.forward(tokens.numpy().astype(np.int32), lengths=lengths.tolist()), want,
                               rtol=1e-5, atol=1e-6)

    class Tagger(torch.nn.Module):  # features in, a sigmoid per step; padded steps see a zero state
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(3, 6)
            self.fc = torch.nn.Linear(6, 2)

        def forward(self, x, lengths):  # (T, B, 3) -> (T, B, 2)
            y, _ = pad_packed_sequence(self.gru(pack_padded_sequence(x, lengths, enforce_sorted=False))[0],
                                       total_length=x.shape[0])
            return torch.sigmoid(self.fc(y))

    tagger = Tagger().eval()
    path = str(tmp_path / "packed_tagger.safetensors")
    convert_module(tagger, path, head="sigmoid", output="per_step")
    x = torch.randn(5, 7, 3)  # (B, T, I)
    with torch.no_grad():
        want = tagger(x.transpose(0, 1), lengths).transpose(0, 1).numpy()
    np.testing.assert_allclose(rnnkit.load(path).forward(x.numpy(), lengths=lengths.tolist()), want,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(rnnkit.Error, match=r"lengths\[1\] is 8: a length must be 1 to 7"):
        rnnkit.load(path).forward(x.numpy(), lengths=[7, 8, 1, 1, 1])
    with pytest.raises(rnnkit.Error, match="lengths holds 2 values for 5 sequences"):
        rnnkit.load(path).forward(x.numpy(), lengths=[7, 7])


def test_forecast_and_series_tags_from_numpy(tmp_path):
    rows = ["day,dow,value"] + [f"{i},{i % 7},{100 + i // 4 + (i % 7) * 10}" for i in range(300)]
    (tmp_path / "series.csv").write_text("\n".join(rows) + "\n")
    model = rnnkit.train(task="forecast", train=str(tmp_path / "series.csv"), target="value", features="value",
                         window=14, output=str(tmp_path / "f.safetensors"), hidden=8, epochs=3, patience=0)
    from_csv = model.forecast(str(tmp_path / "series.csv"), horizon=3)
    values = np.array([100 + i // 4 + (i % 7) * 10 for i in range(300)], dtype=np.float64)
    from_arrays = model.forecast({"value": values}, horizon=3)
    assert from_csv.shape == (3, 1)
    np.testing.assert_allclose(from_arrays, from_csv)
    with pytest.raises(rnnkit.Error, match="value"):
        model.forecast({"other": values})
