// The safetensors container: round trips, the reference layout, and refusal of every kind of
// malformed file with a message that names the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "rnnkit/core/error.h"
#include "rnnkit/io/safetensors.h"

namespace rnnkit {
namespace {

std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

void expect_refused(const std::vector<uint8_t>& bytes, const std::string& fragment) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors");
    ADD_FAILURE() << "accepted a file that should fail with '" << fragment << "'";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("bad.safetensors: ", 0), 0u) << m;
    EXPECT_NE(m.find(fragment), std::string::npos) << m;
  }
}

TEST(Safetensors, RoundTripsTensorsAndMetadata) {
  SafetensorsFile f;
  f.metadata["format"] = "rnnkit";
  f.metadata["note"] = "quotes \" and unicode \xc3\xa9";
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
  const std::vector<double> b = {0.1, 0.2};
  const std::vector<int32_t> c = {-1, 2, 3};
  f.add("a", {2, 3}, a.data());
  f.add("b", {2}, b.data());
  f.add_i32("c", {3}, c.data());
  f.add("empty", {0, 4}, static_cast<const float*>(nullptr));
  const std::vector<uint8_t> bytes = serialize_safetensors(f);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u) << "data starts 8-byte aligned";
  const SafetensorsFile g = parse_safetensors(bytes.data(), bytes.size(), "mem");
  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_EQ(g.tensors.size(), 4u);
  EXPECT_EQ(g.find("a")->shape, (Shape{2, 3}));
  EXPECT_EQ(g.find("a")->to_vector<float>(), a);
  EXPECT_EQ(g.find("b")->to_vector<double>(), b);
  EXPECT_EQ(g.find("c")->dtype, DType::I32);
  EXPECT_EQ(g.find("empty")->shape, (Shape{0, 4}));
  EXPECT_THROW(g.find("c")->to_vector<float>(), Error);
}

TEST(Safetensors, ReadsTheReferenceLayout) {
  // As written by the reference implementation: {"x": F32 [2]} then 8 bytes of data.
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::vector<uint8_t> bytes = with_header(header, 8);
  const float v[2] = {1.0f, 2.0f};
  std::memcpy(bytes.data() + 8 + header.size(), v, 8);
  const SafetensorsFile f = parse_safetensors(bytes.data(), bytes.size(), "ref");
  EXPECT_EQ(f.find("x")->to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
}

TEST(Safetensors, RefusesMalformedFiles) {
  expect_refused({1, 2, 3}, "too short");
  expect_refused({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'}, "exceeds the limit");
  {
    std::vector<uint8_t> b = with_header("{}", 0);
    const uint64_t n = 1000;
    std::memcpy(b.data(), &n, 8);
    expect_refused(b, "runs past the end");
  }
  expect_refused(with_header("{\"x\": [1, 2", 0), "not valid JSON");
  expect_refused(with_header("[1, 2]", 0), "must be a JSON object");
  expect_refused(with_header(std::string(100, '[') + std::string(100, ']'), 0), "nested too deeply");
  expect_refused(with_header(R"({"__metadata__":{"a":1}})", 0), "must be a string");
  expect_refused(with_header(R"({"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}})", 2), "unsupported dtype");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12 bytes");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "outside the data buffer");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
                 "more bytes than the file holds");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "contiguous");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                             4),
                 "contiguous");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8), "trailing bytes");
  expect_refused(with_header(R"({"x":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
  expect_refused(with_header(R"({"x":7})", 0), "must be an object");
}

TEST(Safetensors, EveryTruncationIsAnErrorNotACrash) {
  SafetensorsFile f;
  const std::vector<double> v(10, 1.0);
  f.add("v", {10}, v.data());
  f.metadata["k"] = "v";
  const std::vector<uint8_t> bytes = serialize_safetensors(f);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_THROW(parse_safetensors(bytes.data(), n, "cut"), Error) << n;
  // Flip each header byte: parsed or refused, never a crash.
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> b = bytes;
    b[i] ^= 0x5a;
    try {
      parse_safetensors(b.data(), b.size(), "flip");
    } catch (const Error&) {
    }
  }
}

TEST(Safetensors, AtomicWriteLeavesThePreviousFileOnFailure) {
  const auto dir = std::filesystem::temp_directory_path() / ("rnnkit_st_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "m.safetensors").string();
  SafetensorsFile f;
  const std::vector<float> v = {1, 2};
  f.add("v", {2}, v.data());
  write_safetensors(path, f);
  EXPECT_EQ(read_safetensors(path).find("v")->to_vector<float>(), v);
  EXPECT_THROW(write_safetensors((dir / "missing-dir" / "m.safetensors").string(), f), Error);
  EXPECT_THROW(read_safetensors((dir / "nope.safetensors").string()), Error);
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename(), "m.safetensors") << "no temporary file left behind";
  std::filesystem::remove_all(dir);
}

// Written from the caller's buffers: the same file, byte for byte, as the serialised SafetensorsFile,
// and a view whose size does not match its shape refused before the file at the path is touched.
TEST(Safetensors, WritesFromViewsTheBytesOfTheSerialisedFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("rnnkit_stv_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "v.safetensors").string();
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
  const std::vector<double> b = {0.1, 0.2};
  SafetensorsFile f;
  f.metadata["format"] = "rnnkit";
  f.add("a", {2, 3}, a.data());
  f.add("b", {2}, b.data());
  f.add("empty", {0, 4}, static_cast<const float*>(nullptr));
  const std::vector<TensorView> views = {{"a", DType::F32, {2, 3}, a.data(), a.size() * sizeof(float)},
                                         {"b", DType::F64, {2}, b.data(), b.size() * sizeof(double)},
                                         {"empty", DType::F32, {0, 4}, nullptr, 0}};
  write_safetensors(path, f.metadata, views);
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(written, serialize_safetensors(f));

  const std::vector<TensorView> wrong = {{"a", DType::F32, {2, 3}, a.data(), 5 * sizeof(float)}};
  try {
    write_safetensors(path, f.metadata, wrong);
    ADD_FAILURE() << "wrote a view of 20 bytes as a 2 x 3 float tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'a' holds 20 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_safetensors(path).find("a")->to_vector<float>(), a) << "the previous file is untouched";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rnnkit
