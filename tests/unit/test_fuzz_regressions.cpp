// Every input under fuzz/corpus/<target>/ (the seed corpora) and fuzz/regressions/<target>/ (inputs a
// fuzzer once crashed on, kept after the fix) goes through its fuzz target: each must be read or
// refused with rnnkit::Error, never crash (this build may run under ASan and UBSan: test.sh --sanitize).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "../../fuzz/targets.h"

namespace rnnkit {
namespace {

namespace fs = std::filesystem;

TEST(FuzzRegressions, EveryKeptInputIsReadOrRefusedCleanly) {
  const fs::path root = fs::path(RNNKIT_SOURCE_DIR) / "fuzz";
  int inputs = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::is_directory(root / kind)) continue;
    for (const auto& dir : fs::directory_iterator(root / kind)) {
      if (!dir.is_directory()) continue;
      const fuzz::Target target = fuzz::find(dir.path().filename().string());
      ASSERT_NE(target, nullptr) << "no fuzz target named " << dir.path().filename();
      for (const auto& file : fs::directory_iterator(dir.path())) {
        std::ifstream in(file.path(), std::ios::binary);
        const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        SCOPED_TRACE(file.path().string());
        EXPECT_NO_THROW(target(bytes.data(), bytes.size()));
        ++inputs;
      }
    }
  }
  EXPECT_GT(inputs, 20) << "the seed corpora are missing";
}

}  // namespace
}  // namespace rnnkit
