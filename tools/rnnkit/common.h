// The commands use the workflow's task layer unqualified.
#pragma once

#include "rnnkit/core/error.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/workflow/task.h"

namespace rnnkit::cli {
using namespace rnnkit::workflow;

// A command's --threads: checked, then set for everything it runs.
inline void use_threads(int threads) {
  require(threads >= 1, "--threads must be >= 1");
  set_threads(threads);
}
}  // namespace rnnkit::cli
