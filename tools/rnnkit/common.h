// The commands use the workflow's task layer unqualified.
#pragma once

#include "rnnkit/workflow/task.h"

namespace rnnkit::cli {
using namespace rnnkit::workflow;
}  // namespace rnnkit::cli
