// Safetensors reading (validated) and writing (atomic).
#include "rnnkit/io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rnnkit/core/error.h"

namespace rnnkit {

static_assert(std::endian::native == std::endian::little, "rnnkit's model files assume a little-endian host");

using nlohmann::json;

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}

namespace {

bool parse_dtype(const std::string& s, DType& out) {
  for (DType d : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8})
    if (s == dtype_name(d)) {
      out = d;
      return true;
    }
  return false;
}

// The deepest bracket nesting of a JSON text, strings skipped. Checked before parsing so that a
// hostile header cannot exhaust the stack of the recursive parser.
int json_depth(const char* s, size_t n) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

template <typename Real>
std::vector<Real> StoredTensor::to_vector() const {
  const size_t n = bytes.size() / dtype_size(dtype);
  std::vector<Real> out(n);
  if (dtype == DType::F32) {
    for (size_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, bytes.data() + 4 * i, 4);
      out[i] = static_cast<Real>(v);
    }
  } else if (dtype == DType::F64) {
    for (size_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, bytes.data() + 8 * i, 8);
      out[i] = static_cast<Real>(v);
    }
  } else {
    throw Error("tensor '" + name + "' has dtype " + dtype_name(dtype) + ", expected F32 or F64");
  }
  return out;
}
template std::vector<float> StoredTensor::to_vector<float>() const;
template std::vector<double> StoredTensor::to_vector<double>() const;

const StoredTensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

template <typename Real>
void SafetensorsFile::add(const std::string& name, const Shape& shape, const Real* values) {
  static_assert(std::is_same_v<Real, float> || std::is_same_v<Real, double>);
  StoredTensor t;
  t.name = name;
  t.dtype = std::is_same_v<Real, float> ? DType::F32 : DType::F64;
  t.shape = shape;
  t.bytes.resize(size_t(shape_numel(shape)) * sizeof(Real));
  if (!t.bytes.empty()) std::memcpy(t.bytes.data(), values, t.bytes.size());
  tensors.push_back(std::move(t));
}
template void SafetensorsFile::add<float>(const std::string&, const Shape&, const float*);
template void SafetensorsFile::add<double>(const std::string&, const Shape&, const double*);

void SafetensorsFile::add_i32(const std::string& name, const Shape& shape, const int32_t* values) {
  StoredTensor t;
  t.name = name;
  t.dtype = DType::I32;
  t.shape = shape;
  t.bytes.resize(size_t(shape_numel(shape)) * 4);
  if (!t.bytes.empty()) std::memcpy(t.bytes.data(), values, t.bytes.size());
  tensors.push_back(std::move(t));
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& where) {
  auto fail = [&](const std::string& what) { throw Error(where + ": " + what); };
  if (size < 8) fail("file is " + std::to_string(size) + " bytes, too short for the 8-byte safetensors header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, data, 8);
  if (header_len > kMaxSafetensorsHeader)
    fail("header length " + std::to_string(header_len) + " exceeds the limit of " +
         std::to_string(kMaxSafetensorsHeader) + " bytes");
  if (header_len > size - 8)
    fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
         std::to_string(size) + " bytes): truncated or not a safetensors file");
  const char* header = reinterpret_cast<const char*>(data + 8);
  if (json_depth(header, header_len) > 8) fail("header JSON is nested too deeply");
  json j = json::parse(header, header + header_len, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail("header is not valid JSON");
  if (!j.is_object()) fail("header must be a JSON object");

  const uint8_t* buffer = data + 8 + header_len;
  const uint64_t buffer_len = size - 8 - header_len;
  SafetensorsFile file;
  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) fail("__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ entry '" + m.key() + "' must be a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor '" + key + "'";
    if (!v.is_object()) fail(what + " must be an object with dtype, shape and data_offsets");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) fail(what + ": missing or non-string \"dtype\"");
    if (sh == v.end() || !sh->is_array()) fail(what + ": missing or non-array \"shape\"");
    if (off == v.end() || !off->is_array() || off->size() != 2) fail(what + ": \"data_offsets\" must be [begin, end]");
    StoredTensor t;
    t.name = key;
    if (!parse_dtype(dt->get<std::string>(), t.dtype))
      fail(what + ": unsupported dtype \"" + dt->get<std::string>() + "\" (supported: F32, F64, I32, I64, U8)");
    if (sh->size() > 8) fail(what + ": more than 8 dimensions");
    for (const json& d : *sh)
      if (!d.is_number_unsigned()) fail(what + ": shape entries must be non-negative integers");
    // numel, refusing any product larger than the data buffer before it can overflow.
    uint64_t numel = 1;
    const bool has_zero = std::any_of(sh->begin(), sh->end(), [](const json& d) { return d.get<uint64_t>() == 0; });
    if (has_zero) {
      numel = 0;
    } else {
      for (const json& d : *sh) {
        const uint64_t n = d.get<uint64_t>();
        if (numel > buffer_len / n) fail(what + ": shape " + sh->dump() + " needs more bytes than the file holds");
        numel *= n;
      }
    }
    for (const json& o : *off)
      if (!o.is_number_unsigned()) fail(what + ": data_offsets must be non-negative integers");
    const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
    if (begin > end || end > buffer_len)
      fail(what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
           "] lie outside the data buffer of " + std::to_string(buffer_len) + " bytes (truncated file?)");
    if (numel > buffer_len || numel * dtype_size(t.dtype) != end - begin)
      fail(what + ": shape " + sh->dump() + " of " + dtype_name(t.dtype) + " needs " +
           std::to_string(numel * dtype_size(t.dtype)) + " bytes but data_offsets span " +
           std::to_string(end - begin));
    for (const json& d : *sh) t.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    t.bytes.assign(buffer + begin, buffer + end);
    spans.push_back({begin, end, file.tensors.size()});
    file.tensors.push_back(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const Span& s : spans) {
    if (s.begin != cursor)
      fail("tensor '" + file.tensors[s.index].name + "' starts at byte " + std::to_string(s.begin) + ", expected " +
           std::to_string(cursor) + " (tensors must be contiguous, without overlap or holes)");
    cursor = s.end;
  }
  if (cursor != buffer_len)
    fail("the tensors cover " + std::to_string(cursor) + " bytes of a data buffer of " + std::to_string(buffer_len) +
         " (trailing bytes)");
  std::vector<StoredTensor> ordered;
  ordered.reserve(spans.size());
  for (const Span& s : spans) ordered.push_back(std::move(file.tensors[s.index]));
  file.tensors = std::move(ordered);
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(path + ": cannot determine the file size");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) throw Error(path + ": read failed");
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

namespace {

// The 8-byte header length and the JSON header (padded with spaces so the data starts 8-byte
// aligned) of a file holding `tensors` in order; checks each view's size against its shape.
std::string safetensors_header(const std::map<std::string, std::string>& metadata,
                               const std::vector<TensorView>& tensors) {
  json header = json::object();
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const TensorView& t : tensors) {
    require(size_t(shape_numel(t.shape)) * dtype_size(t.dtype) == t.bytes,
            "tensor '" + t.name + "' holds " + std::to_string(t.bytes) + " bytes, which does not match shape " +
                shape_string(t.shape));
    require(t.name != "__metadata__" && !header.contains(t.name), "tensor name '" + t.name + "' is reserved or repeated");
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + text;
}

std::vector<TensorView> views_of(const SafetensorsFile& file) {
  std::vector<TensorView> views;
  views.reserve(file.tensors.size());
  for (const StoredTensor& t : file.tensors) views.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  return views;
}

}  // namespace

std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file) {
  const std::vector<TensorView> views = views_of(file);
  const std::string header = safetensors_header(file.metadata, views);
  size_t size = header.size();
  for (const TensorView& t : views) size += t.bytes;
  std::vector<uint8_t> out;
  out.reserve(size);
  out.insert(out.end(), header.begin(), header.end());
  for (const TensorView& t : views) {
    const auto* p = static_cast<const uint8_t*>(t.data);
    out.insert(out.end(), p, p + t.bytes);
  }
  return out;
}

void write_file_atomically(const std::string& path, const std::vector<std::span<const uint8_t>>& pieces) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot create " + tmp + ": " + std::strerror(errno));
  for (const std::span<const uint8_t> piece : pieces) {
    size_t done = 0;
    while (done < piece.size()) {
      const ssize_t w = ::write(fd, piece.data() + done, piece.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        const int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error(path + ": write failed: " + std::strerror(e) + " (the previous file, if any, is unchanged)");
      }
      done += size_t(w);
    }
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw Error(path + ": flushing failed: " + std::strerror(e) + " (the previous file, if any, is unchanged)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot rename " + tmp + " into place: " + std::strerror(e));
  }
}

void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes) {
  write_file_atomically(path, std::vector<std::span<const uint8_t>>{bytes});
}

void write_safetensors(const std::string& path, const std::map<std::string, std::string>& metadata,
                       const std::vector<TensorView>& tensors) {
  const std::string header = safetensors_header(metadata, tensors);
  std::vector<std::span<const uint8_t>> pieces{{reinterpret_cast<const uint8_t*>(header.data()), header.size()}};
  for (const TensorView& t : tensors) pieces.emplace_back(static_cast<const uint8_t*>(t.data), t.bytes);
  write_file_atomically(path, pieces);
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  write_safetensors(path, file.metadata, views_of(file));
}

}  // namespace rnnkit
