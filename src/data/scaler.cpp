// Standard and min-max scaling.
#include "rnnkit/data/scaler.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "rnnkit/core/error.h"

namespace rnnkit {

const char* scaler_name(ScalerKind kind) {
  switch (kind) {
    case ScalerKind::None: return "none";
    case ScalerKind::Standard: return "standard";
    case ScalerKind::MinMax: return "minmax";
  }
  return "?";
}

ScalerKind parse_scaler(const std::string& name) {
  for (ScalerKind k : {ScalerKind::None, ScalerKind::Standard, ScalerKind::MinMax})
    if (name == scaler_name(k)) return k;
  throw Error("unknown scaler '" + name + "': expected none, standard or minmax");
}

void Scaler::fit(const std::vector<double>& values, int C, const std::vector<size_t>& rows_used) {
  require(C >= 1 && values.size() % size_t(C) == 0, "scaler input is not a whole number of rows of " +
                                                        std::to_string(C));
  const size_t rows = values.size() / size_t(C);
  std::vector<size_t> rows_all;
  const std::vector<size_t>* use = &rows_used;
  if (rows_used.empty()) {
    rows_all.resize(rows);
    for (size_t r = 0; r < rows; ++r) rows_all[r] = r;
    use = &rows_all;
  }
  require(!use->empty(), "cannot fit a scaler on no rows");
  shift_.assign(size_t(C), 0.0);
  scale_.assign(size_t(C), 1.0);
  if (kind_ == ScalerKind::None) return;
  for (int c = 0; c < C; ++c) {
    if (kind_ == ScalerKind::Standard) {
      double sum = 0, sq = 0;
      for (size_t r : *use) sum += values[r * size_t(C) + size_t(c)];
      const double mean = sum / double(use->size());
      for (size_t r : *use) {
        const double d = values[r * size_t(C) + size_t(c)] - mean;
        sq += d * d;
      }
      const double sd = std::sqrt(sq / double(use->size()));
      shift_[size_t(c)] = mean;
      scale_[size_t(c)] = sd > 0 ? sd : 1.0;
    } else {
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (size_t r : *use) {
        lo = std::min(lo, values[r * size_t(C) + size_t(c)]);
        hi = std::max(hi, values[r * size_t(C) + size_t(c)]);
      }
      shift_[size_t(c)] = lo;
      scale_[size_t(c)] = hi > lo ? hi - lo : 1.0;
    }
  }
}

void Scaler::transform(double* v, size_t rows) const {
  const size_t C = shift_.size();
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < C; ++c) v[r * C + c] = (v[r * C + c] - shift_[c]) / scale_[c];
}

void Scaler::inverse(double* v, size_t rows) const {
  const size_t C = shift_.size();
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < C; ++c) v[r * C + c] = v[r * C + c] * scale_[c] + shift_[c];
}

double Scaler::inverse_one(double v, int column) const {
  return v * scale_[size_t(column)] + shift_[size_t(column)];
}

std::string Scaler::to_json() const {
  return nlohmann::json({{"kind", scaler_name(kind_)}, {"shift", shift_}, {"scale", scale_}}).dump();
}

Scaler Scaler::from_json(const std::string& text, const std::string& where) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  require(!j.is_discarded() && j.is_object() && j.contains("kind") && j["kind"].is_string(),
          where + ": scaler must be a JSON object with a \"kind\"");
  Scaler s(parse_scaler(j["kind"].get<std::string>()));
  for (auto [key, dst] : {std::pair{"shift", &s.shift_}, std::pair{"scale", &s.scale_}}) {
    require(j.contains(key) && j[key].is_array(), where + ": scaler lacks the array \"" + std::string(key) + "\"");
    for (const auto& v : j[key]) {
      require(v.is_number() && std::isfinite(v.get<double>()), where + ": scaler \"" + key + "\" must hold numbers");
      dst->push_back(v.get<double>());
    }
  }
  require(s.shift_.size() == s.scale_.size(), where + ": scaler shift and scale differ in length");
  for (double sc : s.scale_) require(sc != 0.0, where + ": scaler scale must not be zero");
  return s;
}

}  // namespace rnnkit
