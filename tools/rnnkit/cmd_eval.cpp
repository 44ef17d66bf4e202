// rnnkit eval: a model on labelled data -> accuracy, per-class precision / recall / F1, confusion
// matrix and the mean loss (classify) or loss, perplexity and bits per token (lm); --json for one JSON
// object.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "rnnkit/train/metrics.h"

namespace rnnkit::cli {

// The figures of a model on labelled data, as one JSON object (`eval --json` prints it; the Python
// module's evaluate() returns it as a dict).
nlohmann::json eval_report(const EvalFlags& f) {
  const LoadedTaskModel m = load_task_model(f.model);
  return eval_report(m.model, m.state, f);
}

nlohmann::json eval_report(const Model<float>& model, const TaskState& st, const EvalFlags& f) {
  nlohmann::json j = {{"model", f.model}, {"data", f.data}, {"task", task_name(st.task)}};
  const auto class_figures = [&](const ClassificationReport& r, const std::vector<std::string>& labels) {
    nlohmann::json classes = nlohmann::json::object();
    for (size_t c = 0; c < labels.size(); ++c)
      classes[labels[c]] = {{"precision", r.precision[c]}, {"recall", r.recall[c]}, {"f1", r.f1[c]},
                            {"support", r.support[c]}};
    j.update({{"accuracy", r.accuracy}, {"macro_f1", r.macro_f1}, {"micro_f1", r.micro_f1}, {"classes", classes},
              {"labels", labels}, {"confusion", r.confusion}});
  };
  if (st.task == Task::Regress) {
    const auto data = regress_source(st, read_classification(f.data, f.text_column, f.label_column));
    const RegressReport r = regress_report(model, st, *data, st.target_mean);
    j.update({{"examples", r.count}, {"rmse", r.rmse}, {"mae", r.mae}, {"baseline", st.target_mean},
              {"baseline_rmse", r.baseline_rmse}, {"baseline_mae", r.baseline_mae}});
  } else if (st.task == Task::Tag) {
    std::vector<int32_t> predicted, gold;
    if (st.text_input) {
      predict_tags(model, *text_tag_source(st, read_tagged(f.data)), predicted, gold);
    } else {
      const NumericTable table = read_numeric_csv(f.data);
      const TagData data = tag_data(table, st, 0.0, 1.0);
      predict_tags(model, *data.test, predicted, gold);
    }
    const ClassificationReport r = classification_report(predicted, gold, int(st.labels.size()));
    j["steps"] = r.total;
    class_figures(r, st.labels);
  } else if (st.task == Task::Forecast) {
    const NumericTable table = read_numeric_csv(f.data);
    const ForecastData data = forecast_data(table, st, 0.0, 1.0);  // every window is a test window
    require(data.test->size() > 0, f.data + ": no complete window of " + std::to_string(st.window) + " + " +
                                       std::to_string(st.horizon) + " rows");
    const ForecastReport r = forecast_report(model, st, table, data);
    j.update({{"forecasts", r.count}, {"rmse", r.rmse}, {"mae", r.mae}, {"naive_rmse", r.naive_rmse},
              {"naive_mae", r.naive_mae}, {"naive4_rmse", r.naive4_rmse}, {"naive4_mae", r.naive4_mae}});
  } else if (st.task == Task::Lm) {
    const LmSource data(st.text.encode(read_text(f.data)), st.seq_len);
    require(data.size() > 0, f.data + ": shorter than one window of " + std::to_string(st.seq_len) + " tokens");
    const double loss = evaluate_loss(model, data, f.batch_size, 1024);  // long sequences in bounded memory
    j.update({{"loss", loss}, {"perplexity", perplexity(loss)}, {"bits_per_token", bits_per_token(loss)},
              {"tokens", data.size() * size_t(st.seq_len)}});
    if (st.text.tokenizer().config().kind == TokenizerKind::Chars) j["bits_per_char"] = bits_per_token(loss);
  } else {
    std::unique_ptr<BatchSource> data;
    const std::vector<int32_t>* gold = nullptr;
    if (st.audio_input) {
      auto audio = audio_source(st, read_audio_folders(f.data));
      gold = &audio->labels();
      data = std::move(audio);
    } else {
      auto text = classify_source(st, read_classification(f.data, f.text_column, f.label_column));
      gold = &text->labels();
      data = std::move(text);
    }
    require(data->size() > 0, f.data + ": no examples");
    const int C = int(st.labels.size());
    std::vector<int32_t> predicted(data->size());  // gathered in the loss's pass
    j["loss"] = evaluate_loss(model, *data, f.batch_size, 0, class_argmax(C, predicted));
    const ClassificationReport r = classification_report(predicted, *gold, C);
    j["examples"] = r.total;
    class_figures(r, st.labels);
  }
  return j;
}

namespace {

// Per-class lines and the confusion matrix of a classifier's or a tagger's report.
void print_classes(const nlohmann::json& j, bool tags) {
  const auto& labels = j["labels"];
  if (tags) {
    for (const auto& l : labels) {
      const auto& c = j["classes"][l.get<std::string>()];
      std::printf("  tag %s: precision %.4f, recall %.4f, F1 %.4f, support %lld\n", l.get<std::string>().c_str(),
                  c["precision"].get<double>(), c["recall"].get<double>(), c["f1"].get<double>(),
                  c["support"].get<long long>());
    }
    return;
  }
  std::printf("%-20s %9s %9s %9s %9s\n", "label", "precision", "recall", "f1", "support");
  for (const auto& l : labels) {
    const auto& c = j["classes"][l.get<std::string>()];
    std::printf("%-20s %9.4f %9.4f %9.4f %9lld\n", l.get<std::string>().c_str(), c["precision"].get<double>(),
                c["recall"].get<double>(), c["f1"].get<double>(), c["support"].get<long long>());
  }
  std::printf("confusion (rows: true, columns: predicted)\n");
  const size_t C = labels.size();
  for (size_t a = 0; a < C; ++a) {
    std::printf("%-20s", labels[a].get<std::string>().c_str());
    for (size_t b = 0; b < C; ++b) std::printf(" %7lld", j["confusion"][a * C + b].get<long long>());
    std::printf("\n");
  }
}

void run_eval(const EvalFlags& f) {
  use_threads(f.threads);
  const nlohmann::json j = eval_report(f);
  if (f.json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  const std::string task = j["task"].get<std::string>();
  const auto num = [&](const char* key) { return j[key].get<double>(); };
  if (task == "regress") {
    std::printf("%lld texts: RMSE %.4g, MAE %.4g; predicting the training mean %.4g: RMSE %.4g, MAE %.4g\n",
                j["examples"].get<long long>(), num("rmse"), num("mae"), num("baseline"), num("baseline_rmse"),
                num("baseline_mae"));
  } else if (task == "tag") {
    std::printf("%lld steps: accuracy %.4f, macro F1 %.4f\n", j["steps"].get<long long>(), num("accuracy"),
                num("macro_f1"));
    print_classes(j, true);
  } else if (task == "forecast") {
    std::printf("%lld forecasts: RMSE %.3f, MAE %.3f; seasonal naive RMSE %.3f, MAE %.3f; mean of 4 seasons RMSE "
                "%.3f, MAE %.3f\n",
                j["forecasts"].get<long long>(), num("rmse"), num("mae"), num("naive_rmse"), num("naive_mae"),
                num("naive4_rmse"), num("naive4_mae"));
  } else if (task == "lm") {
    std::printf("loss %.4f, perplexity %.3f, %.4f bits per %s over %zu tokens\n", num("loss"), num("perplexity"),
                num("bits_per_token"), j.contains("bits_per_char") ? "character" : "token", j["tokens"].get<size_t>());
  } else {
    std::printf("%lld examples: loss %.4f, accuracy %.4f, macro F1 %.4f, micro F1 %.4f\n",
                j["examples"].get<long long>(), num("loss"), num("accuracy"), num("macro_f1"), num("micro_f1"));
    print_classes(j, false);
  }
}

}  // namespace

void add_eval(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* c = app.add_subcommand("eval", "evaluate a model on labelled data");
  c->add_option("--model,-m", f->model, "model file")->required();
  c->add_option("--data,-d", f->data, "labelled data in a format `train` reads")->required();
  c->add_option("--text-column", f->text_column, "table/JSON text column")->capture_default_str();
  c->add_option("--label-column", f->label_column, "table/JSON label column")->capture_default_str();
  c->add_flag("--json", f->json, "print one JSON object");
  c->add_option("--batch-size", f->batch_size, "sequences per batch")->capture_default_str();
  c->add_option("--threads", f->threads, "threads for preparing the data and for the model's arithmetic")
      ->capture_default_str();
  c->callback([f] { run_eval(*f); });
}

}  // namespace rnnkit::cli
