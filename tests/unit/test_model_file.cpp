// Model files: save then load gives bit-identical outputs; every kind of bad file is refused with
// an error that names the file and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <unistd.h>

#include "rnnkit/rnnkit.h"

namespace rnnkit {
namespace {

class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("rnnkit_mf_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

ModelConfig tagger_config(CellKind cell, bool bidir) {
  ModelConfig c;
  c.vocab_size = 11, c.embedding_dim = 4, c.padding_idx = 0;
  c.cell = cell, c.hidden_size = 5, c.num_layers = 2, c.bidirectional = bidir, c.dropout = 0.1;
  c.output = OutputMode::PerStep, c.output_size = 3, c.head = Head::Softmax;
  return c;
}

Batch<float> token_batch() {
  Batch<float> b;
  b.T = 4, b.B = 2, b.lengths = {4, 3};
  b.tokens = {1, 2, 3, 4, 5, 6, 7, 0};
  return b;
}

TEST_F(ModelFileTest, SaveThenLoadGivesBitIdenticalOutputs) {
  for (CellKind cell : {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru}) {
    Model<float> model(tagger_config(cell, cell == CellKind::Gru));
    Rng rng(1);
    model.init(rng);
    save_model(path("m.safetensors"), model, R"({"vocab": ["<pad>", "a"], "labels": ["x", "y", "z"]})",
               {{"history", "[]"}});
    const LoadedModel<float> loaded = load_model<float>(path("m.safetensors"));
    EXPECT_EQ(loaded.model.params().values(), model.params().values());
    EXPECT_EQ(config_to_json(loaded.model.config()), config_to_json(model.config()));
    EXPECT_NE(loaded.preprocessing.find("labels"), std::string::npos);
    EXPECT_EQ(loaded.metadata.at("history"), "[]");
    ModelCache<float> a, b;
    model.forward(token_batch(), a, false, nullptr);
    loaded.model.forward(token_batch(), b, false, nullptr);
    EXPECT_EQ(a.logits, b.logits) << cell_name(cell);
  }
}

TEST_F(ModelFileTest, DoublePrecisionFilesLoadExactly) {
  ModelConfig c;
  c.input_size = 3, c.cell = CellKind::Lstm, c.hidden_size = 2, c.output_size = 1, c.head = Head::Identity;
  Model<double> model(c);
  Rng rng(2);
  model.init(rng);
  save_model(path("d.safetensors"), model, "{}", {}, true);
  EXPECT_EQ(load_model<double>(path("d.safetensors")).model.params().values(), model.params().values());
  const LoadedModel<float> f = load_model<float>(path("d.safetensors"));  // F64 -> float32 rounds
  EXPECT_FLOAT_EQ(f.model.params().values()[0], float(model.params().values()[0]));
}

// Saves a valid model, lets `mutate` spoil it, and checks the load error names `fragment`.
void expect_load_error(const std::string& file, const std::function<void(SafetensorsFile&)>& mutate,
                       const std::string& fragment) {
  Model<float> model(tagger_config(CellKind::Lstm, false));
  Rng rng(3);
  model.init(rng);
  save_model(file, model);
  SafetensorsFile f = read_safetensors(file);
  mutate(f);
  write_safetensors(file, f);
  try {
    load_model<float>(file);
    ADD_FAILURE() << "loaded a file that should fail with '" << fragment << "'";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(file), std::string::npos) << m;
    EXPECT_NE(m.find(fragment), std::string::npos) << m;
  }
}

TEST_F(ModelFileTest, RefusesFilesThatDoNotMatchTheArchitecture) {
  const std::string p = path("bad.safetensors");
  auto drop = [](const std::string& name) {
    return [name](SafetensorsFile& f) {
      f.tensors.erase(std::find_if(f.tensors.begin(), f.tensors.end(), [&](auto& t) { return t.name == name; }));
    };
  };
  expect_load_error(p, drop("rnn.bias_hh_l1"), "holds");
  expect_load_error(p, [](SafetensorsFile& f) { f.tensors[0].name = "embedding.weights"; }, "missing");
  expect_load_error(p, [](SafetensorsFile& f) { f.tensors[1].shape = {4, 20}; }, "has shape (4, 20)");
  expect_load_error(p, [](SafetensorsFile& f) { f.metadata.erase("config"); }, "lacks \"config\"");
  expect_load_error(p, [](SafetensorsFile& f) { f.metadata["format"] = "keras"; }, "expected \"rnnkit\"");
  expect_load_error(p, [](SafetensorsFile& f) { f.metadata["format_version"] = "99"; }, "version 99");
  expect_load_error(p, [](SafetensorsFile& f) { f.metadata["preprocessing"] = "[1"; }, "preprocessing");
  expect_load_error(p, [](SafetensorsFile& f) { f.metadata["config"] = "{\"cell\": \"lstm\""; }, "not a JSON object");
  auto edit_config = [](const std::string& from, const std::string& to) {
    return [from, to](SafetensorsFile& f) {
      std::string& c = f.metadata["config"];
      c.replace(c.find(from), from.size(), to);
    };
  };
  expect_load_error(p, edit_config("\"hidden_size\":5", "\"hidden_size\":\"5\""), "\"hidden_size\" must be an integer");
  expect_load_error(p, edit_config("\"hidden_size\":5", "\"hidden_size\":99999999"), "outside");
  expect_load_error(p, edit_config("\"hidden_size\":5", "\"hidden_sise\":5"), "unknown field \"hidden_sise\"");
  expect_load_error(p, edit_config("\"cell\":\"lstm\"", "\"cell\":\"transformer\""), "unknown cell");
  expect_load_error(p, edit_config("\"hidden_size\":5", "\"hidden_size\":6"), "parameters");
  expect_load_error(p, edit_config("\"dropout\":0.1", "\"dropout\":1.5"), "dropout");
  expect_load_error(p,
                    [](SafetensorsFile& f) {
                      const float nan = std::nanf("");
                      std::memcpy(f.tensors[2].bytes.data(), &nan, 4);
                    },
                    "non-finite");
  expect_load_error(p,
                    [](SafetensorsFile& f) {
                      const std::vector<int32_t> v(f.tensors[3].bytes.size() / 4, 1);
                      f.tensors[3].dtype = DType::I32;
                      std::memcpy(f.tensors[3].bytes.data(), v.data(), f.tensors[3].bytes.size());
                    },
                    "dtype I32");
}

TEST_F(ModelFileTest, TruncatedOrCorruptedFilesGiveErrorsNotCrashes) {
  Model<float> model(tagger_config(CellKind::Gru, true));
  Rng rng(4);
  model.init(rng);
  save_model(path("m.safetensors"), model, R"({"labels": ["a", "b", "c"]})");
  const SafetensorsFile f = read_safetensors(path("m.safetensors"));
  const std::vector<uint8_t> bytes = serialize_safetensors(f);
  for (size_t n = 0; n < bytes.size(); n += 7)
    EXPECT_THROW(parse_safetensors(bytes.data(), n, "cut"), Error) << "cut at " << n;
  Rng flips(5);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> b = bytes;
    b[flips.next() % std::min<size_t>(b.size(), 8 + 1200)] ^= uint8_t(1 + flips.next() % 255);
    try {
      model_from_safetensors<float>(parse_safetensors(b.data(), b.size(), "flip"), "flip");
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace rnnkit

namespace rnnkit {
namespace {

// Writes models and their outputs for tests/python/check_rnnkit_file.py, which reads them back with
// PyTorch (scripts/rnnkit_torch.py). Runs only when RNNKIT_EXPORT_DIR is set (by tests/python/roundtrip.sh).
TEST(ModelFileExport, WritesModelsForPyTorch) {
  const char* dir = std::getenv("RNNKIT_EXPORT_DIR");
  if (!dir) GTEST_SKIP() << "RNNKIT_EXPORT_DIR not set";
  int index = 0;
  for (CellKind cell : {CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru})
    for (OutputMode output : {OutputMode::Last, OutputMode::PerStep, OutputMode::Mean}) {
      ModelConfig c = tagger_config(cell, index % 3 != 0);
      c.output = output;
      c.head = index % 2 ? Head::Sigmoid : Head::Softmax;
      Model<float> model(c);
      Rng rng(100 + index);
      model.init(rng);
      const Batch<float> batch = token_batch();
      ModelCache<float> cache;
      model.forward(batch, cache, false, nullptr);
      const std::string stem = std::string(dir) + "/model" + std::to_string(index++);
      save_model(stem + ".safetensors", model, R"({"labels": ["a", "b", "c"]})");
      SafetensorsFile out;
      const std::vector<int32_t> tokens(batch.tokens.begin(), batch.tokens.end());
      out.add_i32("tokens", {batch.T, batch.B}, tokens.data());
      out.add_i32("lengths", {batch.B}, batch.lengths.data());
      out.add("logits", {int64_t(cache.logits.size())}, cache.logits.data());
      write_safetensors(stem + ".expected.safetensors", out);
    }
}

}  // namespace
}  // namespace rnnkit
