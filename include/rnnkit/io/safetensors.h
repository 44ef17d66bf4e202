// The safetensors container (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON header, then the raw little-endian tensor bytes.
//
//   {"__metadata__": {"key": "string value", ...},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//
// Offsets are relative to the first byte after the header. Parsing validates everything and throws
// Error naming the file and the tensor: header length against the file size, JSON syntax and field
// types, dtype, shape * dtype size == end - begin, offsets in range, tensors neither overlapping
// nor leaving holes (the same rules as the reference implementation).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "rnnkit/core/tensor.h"

namespace rnnkit {

enum class DType { F32, F64, I32, I64, U8 };

const char* dtype_name(DType dtype);  // "F32", ...
size_t dtype_size(DType dtype);

struct StoredTensor {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::vector<uint8_t> bytes;  // little-endian, row-major

  // The values converted to Real (from F32 or F64 only; throws Error otherwise).
  template <typename Real>
  std::vector<Real> to_vector() const;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::vector<StoredTensor> tensors;  // in offset order when read

  const StoredTensor* find(const std::string& name) const;  // null when absent
  template <typename Real>
  void add(const std::string& name, const Shape& shape, const Real* values);  // Real: float or double
  void add_i32(const std::string& name, const Shape& shape, const int32_t* values);
};

// Largest header accepted (the reference implementation's limit is 100 MB).
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& where);
SafetensorsFile read_safetensors(const std::string& path);

// A tensor to write, its bytes read where they lie (they must outlive the write).
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  const void* data = nullptr;
  size_t bytes = 0;  // shape's element count * dtype_size(dtype)
};

std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file);
// Writes atomically: a temporary file beside `path`, flushed, then renamed over it. A failure leaves
// any previous file at `path` untouched.
void write_safetensors(const std::string& path, const SafetensorsFile& file);
// The same from the caller's buffers, in order: nothing of the file is copied in memory first (a
// training checkpoint of every parameter four times over was copied twice and page-faulted in anew).
void write_safetensors(const std::string& path, const std::map<std::string, std::string>& metadata,
                       const std::vector<TensorView>& tensors);

// Atomic write of arbitrary bytes, as above: one buffer, or pieces written one after the other.
void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes);
void write_file_atomically(const std::string& path, const std::vector<std::span<const uint8_t>>& pieces);

}  // namespace rnnkit
