// The rnnkit model file: one .safetensors file holding the parameters under their PyTorch
// state_dict names and, in "__metadata__", the architecture and preprocessing state as JSON.
// The layout is specified in docs/model-format.md.
#pragma once

#include <string>

#include "rnnkit/io/safetensors.h"
#include "rnnkit/nn/model.h"

namespace rnnkit {

constexpr const char* kModelFormat = "rnnkit";
constexpr int kModelFormatVersion = 1;

// ModelConfig <-> JSON text (the "config" metadata entry). Parsing names the bad field.
std::string config_to_json(const ModelConfig& config);
ModelConfig config_from_json(const std::string& json, const std::string& where);

template <typename Real>
struct LoadedModel {
  Model<Real> model;
  std::string preprocessing;  // JSON object text ("{}" when none)
  std::map<std::string, std::string> metadata;  // every metadata entry as stored
};

// Writes the parameters as float32 (or float64 with `double_precision`) with the metadata
// {"format": "rnnkit", "format_version": "1", "config": ..., "preprocessing": ...} plus `extra`.
template <typename Real>
void save_model(const std::string& path, const Model<Real>& model, const std::string& preprocessing = "{}",
                const std::map<std::string, std::string>& extra = {}, bool double_precision = false);

// Validates the container, the format entries, the config, and that the tensors are exactly the
// model's parameters with their shapes (F32 or F64). Throws Error naming the file and the problem.
template <typename Real>
LoadedModel<Real> load_model(const std::string& path);
template <typename Real>
LoadedModel<Real> model_from_safetensors(const SafetensorsFile& file, const std::string& where);

}  // namespace rnnkit
