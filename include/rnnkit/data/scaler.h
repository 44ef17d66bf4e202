// Feature scaling for numeric series, fitted on the training rows only and stored in the model.
#pragma once

#include <string>
#include <vector>

namespace rnnkit {

enum class ScalerKind { None, Standard, MinMax };
const char* scaler_name(ScalerKind kind);  // "none", "standard", "minmax"
ScalerKind parse_scaler(const std::string& name);

class Scaler {
 public:
  Scaler() = default;
  explicit Scaler(ScalerKind kind) : kind_(kind) {}

  // values (rows, C) row-major; only `rows_used` (indices) are read, or all when empty.
  // Standard: mean and population std (a constant column gets std 1); MinMax: to [0, 1].
  void fit(const std::vector<double>& values, int C, const std::vector<size_t>& rows_used = {});
  void transform(double* values, size_t rows) const;  // in place, (rows, C)
  void inverse(double* values, size_t rows) const;
  double inverse_one(double v, int column) const;

  ScalerKind kind() const { return kind_; }
  int columns() const { return int(shift_.size()); }
  const std::vector<double>& shift() const { return shift_; }  // mean or min
  const std::vector<double>& scale() const { return scale_; }  // std or max - min

  std::string to_json() const;
  static Scaler from_json(const std::string& json, const std::string& where);

 private:
  ScalerKind kind_ = ScalerKind::None;
  std::vector<double> shift_, scale_;
};

}  // namespace rnnkit
