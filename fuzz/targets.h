// The fuzz targets: each feeds one input to one of rnnkit's readers of untrusted bytes. A reader may
// refuse the input with rnnkit::Error (that is the contract); anything else (a crash, a sanitizer
// report, another exception, a huge allocation) is a bug. The libFuzzer programs (fuzz/fuzz_*.cpp,
// built by scripts/fuzz.sh with clang) and the regression test (tests/unit/test_fuzz_regressions.cpp,
// every file under fuzz/corpus/ and fuzz/regressions/) call the same functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rnnkit::fuzz {

using Target = void (*)(const uint8_t* data, size_t size);

void model_file(const uint8_t* data, size_t size);   // safetensors header, config, tensors
void table(const uint8_t* data, size_t size);        // CSV and TSV tables
void fasttext(const uint8_t* data, size_t size);     // __label__ lines
void jsonl(const uint8_t* data, size_t size);        // JSON lines (classification and tagging)
void conll(const uint8_t* data, size_t size);        // CoNLL token / tag columns
void numeric_csv(const uint8_t* data, size_t size);  // numeric CSV with a header
void audio(const uint8_t* data, size_t size);        // WAV (and whatever libsndfile detects), then log-mel
// The server's POST /v1/predict body parser and dispatch; the first byte picks the model served:
// a text classifier, a numeric tagger, a forecaster or a character language model (small, random
// weights, tests/support/task_models.h).
void request(const uint8_t* data, size_t size);

// The target of a name above ("model_file", ...), or null.
Target find(const std::string& name);

}  // namespace rnnkit::fuzz
