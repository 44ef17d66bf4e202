#include "rnnkit/deploy/stream.h"

#include <algorithm>
#include <utility>

#include "rnnkit/core/error.h"
#include "rnnkit/io/model_file.h"
#include "rnnkit/io/safetensors.h"

namespace rnnkit {

namespace {
constexpr const char* kStateFormat = "rnnkit-stream-state";
}

template <typename Real>
Stream<Real>::Stream(std::shared_ptr<const Model<Real>> model) : model_(std::move(model)) {
  require(model_ != nullptr, "a stream needs a model");
  require(!model_->config().bidirectional,
          "a bidirectional model reads each sequence backwards too, so it cannot stream step by step; "
          "run it over whole sequences (predict) instead");
  cache_.inference = true;  // no backward: the forward pass keeps no activations
  reset();
}

template <typename Real>
void Stream<Real>::reset() {
  const ModelConfig& c = model_->config();
  const size_t S = model_->state_size(1);
  state_.h.assign(S, Real(0));
  if (c.cell == CellKind::Lstm) state_.c.assign(S, Real(0));
  else state_.c.clear();
  if (c.output == OutputMode::Mean) state_.sum.assign(size_t(c.output_size), Real(0));
  else state_.sum.clear();
  state_.steps = 0;
}

template <typename Real>
void Stream<Real>::set_state(StreamState<Real> s) {
  const ModelConfig& c = model_->config();
  const size_t S = model_->state_size(1);
  const bool lstm = c.cell == CellKind::Lstm, mean = c.output == OutputMode::Mean;
  require(s.h.size() == S, "stream state: h has " + std::to_string(s.h.size()) + " values, this model's has " +
                               std::to_string(S) + " (layers x hidden size)");
  require(s.c.size() == (lstm ? S : 0), "stream state: c has " + std::to_string(s.c.size()) + " values, expected " +
                                            std::to_string(lstm ? S : 0));
  require(s.sum.size() == (mean ? size_t(c.output_size) : 0),
          "stream state: sum has " + std::to_string(s.sum.size()) + " values, expected " +
              std::to_string(mean ? c.output_size : 0));
  require(s.steps >= 0, "stream state: negative step count");
  require(!mean || s.steps > 0 || std::all_of(s.sum.begin(), s.sum.end(), [](Real v) { return v == Real(0); }),
          "stream state: a mean model's sum must be zero before the first step");
  state_ = std::move(s);
}

template <typename Real>
const std::vector<Real>& Stream<Real>::step(int32_t token) {
  return chunk(&token, 1);
}

template <typename Real>
const std::vector<Real>& Stream<Real>::step(const Real* features) {
  return chunk(features, 1);
}

template <typename Real>
const std::vector<Real>& Stream<Real>::chunk(const int32_t* tokens, int T) {
  require(model_->config().uses_embedding(), "this model reads feature vectors, not token ids");
  require(T >= 1, "a chunk needs at least one step");
  batch_.features.clear();
  batch_.tokens.assign(tokens, tokens + T);  // ids are checked by the model's forward
  return run(T);
}

template <typename Real>
const std::vector<Real>& Stream<Real>::chunk(const Real* features, int T) {
  require(!model_->config().uses_embedding(), "this model reads token ids, not feature vectors");
  require(T >= 1, "a chunk needs at least one step");
  batch_.tokens.clear();
  batch_.features.assign(features, features + size_t(T) * size_t(model_->config().input_size));
  return run(T);
}

template <typename Real>
const std::vector<Real>& Stream<Real>::run(int T) {
  const ModelConfig& c = model_->config();
  const int O = c.output_size;
  batch_.T = T;
  batch_.B = 1;
  batch_.lengths.assign(1, T);
  // The state moves in and out of the forward pass by swapping buffers: nothing is copied.
  std::swap(init_.h, state_.h);
  std::swap(init_.c, state_.c);
  try {
    model_->forward(batch_, cache_, false, nullptr, &init_, &next_);
  } catch (...) {
    std::swap(init_.h, state_.h);  // a bad input leaves the state as it was
    std::swap(init_.c, state_.c);
    throw;
  }
  std::swap(state_.h, next_.h);
  std::swap(state_.c, next_.c);
  state_.steps += T;
  if (c.output == OutputMode::Mean) {
    // The chunk's logits are dense(mean of its outputs); dense is affine, so the running mean of
    // every step's logits is sum / steps.
    out_.resize(size_t(O));
    for (int k = 0; k < O; ++k) {
      state_.sum[size_t(k)] += Real(T) * cache_.logits[size_t(k)];
      out_[size_t(k)] = state_.sum[size_t(k)] / Real(state_.steps);
    }
    model_->apply_head(out_.data(), 1);
    return out_;
  }
  out_.assign(cache_.logits.begin(), cache_.logits.end());
  model_->apply_head(out_.data(), cache_.rows);
  return out_;
}

template <typename Real>
std::vector<uint8_t> Stream<Real>::save_state() const {
  SafetensorsFile file;
  file.metadata["format"] = kStateFormat;
  file.metadata["config"] = config_to_json(model_->config());
  file.metadata["steps"] = std::to_string(state_.steps);
  file.add<Real>("h", {int64_t(state_.h.size())}, state_.h.data());
  if (!state_.c.empty()) file.add<Real>("c", {int64_t(state_.c.size())}, state_.c.data());
  if (!state_.sum.empty()) file.add<Real>("sum", {int64_t(state_.sum.size())}, state_.sum.data());
  return serialize_safetensors(file);
}

template <typename Real>
void Stream<Real>::load_state(const uint8_t* data, size_t size) {
  const std::string where = "stream state";
  const SafetensorsFile file = parse_safetensors(data, size, where);
  const auto entry = [&](const char* key) {
    const auto it = file.metadata.find(key);
    require(it != file.metadata.end(), where + ": no \"" + key + "\" entry");
    return it->second;
  };
  require(entry("format") == kStateFormat, where + ": not a stream state (format \"" + entry("format") + "\")");
  require(entry("config") == config_to_json(model_->config()),
          where + ": written by a model of another architecture than this stream's");
  StreamState<Real> s;
  try {
    size_t used = 0;
    s.steps = std::stoll(entry("steps"), &used);
    require(used == entry("steps").size(), "");
  } catch (const std::exception&) {
    throw Error(where + ": \"steps\" is not a whole number");
  }
  for (const auto& t : file.tensors) {
    require(t.name == "h" || t.name == "c" || t.name == "sum", where + ": unexpected tensor \"" + t.name + "\"");
    std::vector<Real> v = t.to_vector<Real>();
    (t.name == "h" ? s.h : t.name == "c" ? s.c : s.sum) = std::move(v);
  }
  set_state(std::move(s));
}

template class Stream<float>;
template class Stream<double>;

}  // namespace rnnkit
