// Model files: safetensors + JSON metadata, validated against the architecture on load.
#include "rnnkit/io/model_file.h"

#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <set>

#include "rnnkit/core/error.h"

namespace rnnkit {

using nlohmann::json;

std::string config_to_json(const ModelConfig& c) {
  json j = {{"vocab_size", c.vocab_size},
            {"embedding_dim", c.embedding_dim},
            {"padding_idx", c.padding_idx},
            {"freeze_embedding", c.freeze_embedding},
            {"input_size", c.input_size},
            {"cell", cell_name(c.cell)},
            {"hidden_size", c.hidden_size},
            {"num_layers", c.num_layers},
            {"bidirectional", c.bidirectional},
            {"dropout", c.dropout},
            {"output_dropout", c.output_dropout},
            {"output", output_mode_name(c.output)},
            {"output_size", c.output_size},
            {"head", head_name(c.head)}};
  return j.dump();
}

namespace {

// Largest size of any one dimension a config may name; keeps hostile configs from asking for
// huge allocations before the tensors are checked.
constexpr int64_t kMaxDim = 1 << 24;

// Parameters the architecture has, computed without allocating them.
int64_t parameter_count(const ModelConfig& c) {
  const int64_t G = gate_count(c.cell), H = c.hidden_size, D = c.directions();
  int64_t n = c.uses_embedding() ? int64_t(c.vocab_size) * c.embedding_dim : 0;
  for (int l = 0; l < c.num_layers; ++l) {
    const int64_t I = l == 0 ? c.rnn_input_size() : D * H;
    n += D * G * H * (I + H + 2);
  }
  return n + int64_t(c.output_size) * (D * H + 1);
}

}  // namespace

ModelConfig config_from_json(const std::string& text, const std::string& where) {
  const std::string ctx = where + ": model config";
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  require(!j.is_discarded() && j.is_object(), ctx + " is not a JSON object");
  static const std::set<std::string> known = {"vocab_size", "embedding_dim", "padding_idx", "freeze_embedding",
                                              "input_size", "cell", "hidden_size", "num_layers", "bidirectional",
                                              "dropout", "output_dropout", "output", "output_size", "head"};
  for (auto it = j.begin(); it != j.end(); ++it)
    require(known.count(it.key()) > 0, ctx + " has an unknown field \"" + it.key() + "\"");

  auto integer = [&](const char* key, int fallback, bool required, int64_t lo) {
    auto it = j.find(key);
    if (it == j.end()) {
      require(!required, ctx + " lacks the required field \"" + std::string(key) + "\"");
      return fallback;
    }
    require(it->is_number_integer(), ctx + " field \"" + key + "\" must be an integer, got " + it->dump());
    const int64_t v = it->get<int64_t>();
    require(v >= lo && v <= kMaxDim, ctx + " field \"" + key + "\" = " + std::to_string(v) + " is outside [" +
                                         std::to_string(lo) + ", " + std::to_string(kMaxDim) + "]");
    return int(v);
  };
  auto boolean = [&](const char* key) {
    auto it = j.find(key);
    if (it == j.end()) return false;
    require(it->is_boolean(), ctx + " field \"" + key + "\" must be true or false, got " + it->dump());
    return it->get<bool>();
  };
  auto number = [&](const char* key) {
    auto it = j.find(key);
    if (it == j.end()) return 0.0;
    require(it->is_number(), ctx + " field \"" + key + "\" must be a number, got " + it->dump());
    return it->get<double>();
  };
  auto string = [&](const char* key) {
    auto it = j.find(key);
    require(it != j.end(), ctx + " lacks the required field \"" + std::string(key) + "\"");
    require(it->is_string(), ctx + " field \"" + key + "\" must be a string, got " + it->dump());
    return it->get<std::string>();
  };

  ModelConfig c;
  try {
    c.vocab_size = integer("vocab_size", 0, false, 0);
    c.embedding_dim = integer("embedding_dim", 0, false, 0);
    c.padding_idx = integer("padding_idx", c.vocab_size > 0 ? 0 : -1, false, -1);
    c.freeze_embedding = boolean("freeze_embedding");
    c.input_size = integer("input_size", 0, false, 0);
    c.cell = parse_cell(string("cell"));
    c.hidden_size = integer("hidden_size", 0, true, 1);
    c.num_layers = integer("num_layers", 1, false, 1);
    c.bidirectional = boolean("bidirectional");
    c.dropout = number("dropout");
    c.output_dropout = number("output_dropout");
    c.output = parse_output_mode(string("output"));
    c.output_size = integer("output_size", 0, true, 1);
    c.head = parse_head(string("head"));
    require(c.num_layers <= 64, ctx + " field \"num_layers\" = " + std::to_string(c.num_layers) + " exceeds 64");
    c.validate();
  } catch (const Error& e) {
    const std::string m = e.what();
    throw Error(m.rfind(where, 0) == 0 ? m : ctx + ": " + m);
  }
  return c;
}

template <typename Real>
void save_model(const std::string& path, const Model<Real>& model, const std::string& preprocessing,
                const std::map<std::string, std::string>& extra, bool double_precision) {
  json pre = json::parse(preprocessing, nullptr, false);
  require(!pre.is_discarded() && pre.is_object(), path + ": preprocessing state must be a JSON object");
  std::map<std::string, std::string> metadata = extra;
  metadata["format"] = kModelFormat;
  metadata["format_version"] = std::to_string(kModelFormatVersion);
  metadata["config"] = config_to_json(model.config());
  metadata["preprocessing"] = pre.dump();
  // The parameters written from where they lie when they are stored as they are held, else converted.
  const bool as_held = double_precision == std::is_same_v<Real, double>;
  const DType dtype = double_precision ? DType::F64 : DType::F32;
  const size_t width = double_precision ? sizeof(double) : sizeof(float);
  const ParamStore<Real>& ps = model.params();
  std::vector<double> wide;
  std::vector<float> narrow;
  if (!as_held && double_precision) wide.resize(ps.size());
  if (!as_held && !double_precision) narrow.resize(ps.size());
  std::vector<TensorView> tensors;
  for (int i = 0; i < ps.count(); ++i) {
    const ParamInfo& p = ps.info(i);
    const void* data = ps.value(i);
    if (!as_held && double_precision) {
      std::copy_n(ps.value(i), p.size, wide.data() + p.offset);
      data = wide.data() + p.offset;
    } else if (!as_held) {
      std::copy_n(ps.value(i), p.size, narrow.data() + p.offset);
      data = narrow.data() + p.offset;
    }
    tensors.push_back({p.name, dtype, p.shape, data, p.size * width});
  }
  write_safetensors(path, metadata, tensors);
}

template <typename Real>
LoadedModel<Real> model_from_safetensors(const SafetensorsFile& file, const std::string& where) {
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    require(it != file.metadata.end(), where + ": not an rnnkit model file: __metadata__ lacks \"" + key + "\"");
    return it->second;
  };
  require(meta("format") == kModelFormat,
          where + ": __metadata__ \"format\" is \"" + meta("format") + "\", expected \"rnnkit\"");
  require(meta("format_version") == std::to_string(kModelFormatVersion),
          where + ": model format version " + meta("format_version") + " is not supported (this build reads " +
              std::to_string(kModelFormatVersion) + ")");
  const ModelConfig config = config_from_json(meta("config"), where);
  std::string preprocessing = "{}";
  if (auto it = file.metadata.find("preprocessing"); it != file.metadata.end()) {
    json pre = json::parse(it->second, nullptr, false);
    require(!pre.is_discarded() && pre.is_object(), where + ": __metadata__ \"preprocessing\" is not a JSON object");
    preprocessing = it->second;
  }

  int64_t stored = 0;
  for (const StoredTensor& t : file.tensors) stored += shape_numel(t.shape);
  const int64_t expected = parameter_count(config);
  require(stored == expected, where + ": the file holds " + std::to_string(stored) + " values but the architecture has " +
                                  std::to_string(expected) + " parameters");

  LoadedModel<Real> loaded{Model<Real>(config), preprocessing, file.metadata};
  ParamStore<Real>& ps = loaded.model.params();
  for (int i = 0; i < ps.count(); ++i) {
    const ParamInfo& p = ps.info(i);
    const StoredTensor* t = file.find(p.name);
    require(t != nullptr, where + ": tensor '" + p.name + "' is missing");
    require(t->shape == p.shape, where + ": tensor '" + p.name + "' has shape " + shape_string(t->shape) +
                                     ", the architecture needs " + shape_string(p.shape));
    require(t->dtype == DType::F32 || t->dtype == DType::F64,
            where + ": tensor '" + p.name + "' has dtype " + dtype_name(t->dtype) + ", expected F32 or F64");
    const std::vector<Real> v = t->to_vector<Real>();
    for (size_t k = 0; k < v.size(); ++k)
      require(std::isfinite(double(v[k])), where + ": tensor '" + p.name + "' holds a non-finite value at index " +
                                               std::to_string(k));
    std::copy(v.begin(), v.end(), ps.value(i));
  }
  for (const StoredTensor& t : file.tensors)
    require(ps.find(t.name) >= 0, where + ": tensor '" + t.name + "' is not a parameter of this architecture");
  return loaded;
}

template <typename Real>
LoadedModel<Real> load_model(const std::string& path) {
  return model_from_safetensors<Real>(read_safetensors(path), path);
}

template void save_model<float>(const std::string&, const Model<float>&, const std::string&,
                                const std::map<std::string, std::string>&, bool);
template void save_model<double>(const std::string&, const Model<double>&, const std::string&,
                                 const std::map<std::string, std::string>&, bool);
template LoadedModel<float> load_model<float>(const std::string&);
template LoadedModel<double> load_model<double>(const std::string&);
template LoadedModel<float> model_from_safetensors<float>(const SafetensorsFile&, const std::string&);
template LoadedModel<double> model_from_safetensors<double>(const SafetensorsFile&, const std::string&);

}  // namespace rnnkit
