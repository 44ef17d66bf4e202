// libFuzzer entry point for one target, chosen at compile time (-DRNNKIT_FUZZ_TARGET=model_file, ...).
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rnnkit::fuzz::RNNKIT_FUZZ_TARGET(data, size);
  return 0;
}
