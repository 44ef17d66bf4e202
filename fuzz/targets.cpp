#include "targets.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "rnnkit/core/error.h"
#include "rnnkit/data/audio.h"
#include "rnnkit/data/readers.h"
#include "rnnkit/io/model_file.h"
#include "rnnkit/io/safetensors.h"
#include "rnnkit/workflow/server.h"
#include "../tests/support/task_models.h"

namespace rnnkit::fuzz {
namespace {

// The input as a file with the given suffix (readers take paths), removed afterwards.
class TempFile {
 public:
  TempFile(const uint8_t* data, size_t size, const std::string& suffix)
      : path_((access("/dev/shm", W_OK) == 0 ? std::string("/dev/shm") : std::string("/tmp")) + "/rnnkit-fuzz-" +
              std::to_string(getpid()) + suffix) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

template <typename F>
void expect_clean_error(F&& f) {
  try {
    f();
  } catch (const Error&) {
    // refused with a message: fine
  }
}

}  // namespace

void model_file(const uint8_t* data, size_t size) {
  expect_clean_error([&] {
    const SafetensorsFile file = parse_safetensors(data, size, "fuzz.safetensors");
    model_from_safetensors<float>(file, "fuzz.safetensors");
  });
}

void table(const uint8_t* data, size_t size) {
  for (const char* suffix : {".csv", ".tsv"}) {
    TempFile f(data, size, suffix);
    expect_clean_error([&] { read_table(f.path()); });
    TableOptions named;
    named.header = Header::Yes;
    named.text = ColumnRef::by_name("text");
    named.label = ColumnRef::by_name("label");
    named.label_separator = "|";
    expect_clean_error([&] { read_table(f.path(), named); });
  }
}

void fasttext(const uint8_t* data, size_t size) {
  TempFile f(data, size, ".ft");
  expect_clean_error([&] { read_fasttext(f.path()); });
  expect_clean_error([&] { read_fasttext(f.path(), "__label__", InvalidUtf8::Replace); });
}

void jsonl(const uint8_t* data, size_t size) {
  TempFile f(data, size, ".jsonl");
  expect_clean_error([&] { read_jsonl(f.path()); });
  expect_clean_error([&] { read_tagged_jsonl(f.path()); });
}

void conll(const uint8_t* data, size_t size) {
  TempFile f(data, size, ".conll");
  expect_clean_error([&] { read_conll(f.path()); });
}

void numeric_csv(const uint8_t* data, size_t size) {
  TempFile f(data, size, ".csv");
  expect_clean_error([&] {
    const NumericTable t = read_numeric_csv(f.path());
    if (!t.columns.empty()) t.select({t.columns.front()});
  });
}

void audio(const uint8_t* data, size_t size) {
  TempFile f(data, size, ".wav");
  expect_clean_error([&] {
    const AudioClip clip = read_audio(f.path());
    if (clip.sample_rate < 1000 || clip.sample_rate > 192000 || clip.samples.size() > 10'000'000) return;
    AudioFeatureConfig config;
    config.sample_rate = clip.sample_rate;
    log_mel(clip, config);
  });
}

namespace {

std::vector<std::unique_ptr<workflow::Server>> make_servers() {
  std::vector<std::unique_ptr<workflow::Server>> servers;
  workflow::ServerConfig c;
  c.max_inputs = 16, c.max_input_bytes = 2000, c.batch_wait_us = 0;
  for (auto p : {test_models::classifier(), test_models::tagger(), test_models::forecaster(),
                 test_models::language_model()})
    servers.push_back(std::make_unique<workflow::Server>(p, c));
  return servers;
}

}  // namespace

void request(const uint8_t* data, size_t size) {
  static const std::vector<std::unique_ptr<workflow::Server>> servers = make_servers();
  if (size == 0) return;
  const auto [status, body] =
      servers[data[0] % servers.size()]->predict(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  // Every answer is a JSON object; only the statuses the server documents for a body.
  if (!(status == 200 || status == 400 || status == 422 || status == 503) || body.empty() || body[0] != '{')
    __builtin_trap();
}

Target find(const std::string& name) {
  if (name == "request") return request;
  if (name == "model_file") return model_file;
  if (name == "table") return table;
  if (name == "fasttext") return fasttext;
  if (name == "jsonl") return jsonl;
  if (name == "conll") return conll;
  if (name == "numeric_csv") return numeric_csv;
  if (name == "audio") return audio;
  return nullptr;
}

}  // namespace rnnkit::fuzz
