// rnnkit info: what a model file holds: architecture, parameters, vocabulary, labels, history.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"

namespace rnnkit::cli {

namespace {

void run_info(const std::string& path) {
  LoadedTaskModel m = load_task_model(path);
  const ModelConfig& c = m.model.config();
  std::printf("model %s\n  task %s\n  architecture %s\n  parameters %zu (%zu trainable)\n", path.c_str(),
              task_name(m.state.task), config_to_json(c).c_str(), m.model.params().size(),
              m.model.params().trainable_size());
  const Vocabulary& v = m.state.text.vocab();
  std::printf("  tokenizer %s, vocabulary %d tokens", tokenizer_name(m.state.text.tokenizer().config().kind), v.size());
  if (v.size() > 2) std::printf(" (first: %s, %s, ...)", v.token(std::min(2, v.size() - 1)).c_str(), v.token(std::min(3, v.size() - 1)).c_str());
  std::printf("\n");
  if (!m.state.labels.empty()) {
    std::printf("  labels");
    for (const auto& l : m.state.labels) std::printf(" %s", l.c_str());
    std::printf("\n");
  }
  if (m.state.task == Task::Lm) std::printf("  training window %d tokens\n", m.state.seq_len);
  auto it = m.metadata.find("history");
  if (it != m.metadata.end()) {
    const auto h = nlohmann::json::parse(it->second, nullptr, false);
    if (h.is_array()) {
      std::printf("  history (%zu epochs):\n", h.size());
      for (const auto& r : h)
        std::printf("    epoch %d: train loss %.4f, valid loss %.4f, lr %g, %.1f s%s\n", r.value("epoch", 0),
                    r.value("train_loss", 0.0), r.value("valid_loss", 0.0), r.value("lr", 0.0), r.value("seconds", 0.0),
                    r.value("best", false) ? " (best)" : "");
    }
  }
}

}  // namespace

void add_info(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("info", "describe a model file");
  c->add_option("--model,-m", *path, "model file")->required();
  c->callback([path] { run_info(*path); });
}

}  // namespace rnnkit::cli
