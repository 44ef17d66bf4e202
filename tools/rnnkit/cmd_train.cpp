// rnnkit train: data files -> a trained, validated model file (best epoch), a JSON-lines log and a
// learning-curve SVG beside it.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "rnnkit/data/split.h"
#include "rnnkit/train/metrics.h"

namespace rnnkit::cli {

namespace {

struct TrainFlags {
  std::string task = "classify";
  std::string train, valid, test, output;
  std::string text_column = "text", label_column = "label";
  double valid_fraction = 0.1, test_fraction = 0.0;
  // forecast
  std::string features, target, future;
  int window = 28, horizon = 1, season = 7;
  std::string scaler = "standard";
  // text
  std::string tokenizer = "words";
  int vocab_size = 30000, min_count = 1, max_length = 0, subword_vocab_size = 8000;
  bool no_lowercase = false, strip_html = false, relative = false, keep_last = false, resume = false;
  // model
  int embedding_dim = 64, hidden = 128, layers = 1, seq_len = 100;
  std::string cell = "lstm", output_mode, pretrained, pretrained_format = "auto";
  // audio
  std::string audio_features = "mfcc";
  int n_mels = 40, n_mfcc = 13;
  bool cmvn = false;
  bool bidirectional = false, freeze_embedding = false;
  double dropout = 0.0, output_dropout = 0.0;
  // training
  std::string optimizer = "adam", schedule = "constant";
  double lr = 2e-3, weight_decay = 0.0, clip = 5.0, clip_value = 0.0;
  int batch_size = 32, epochs = 10, patience = 3, steps_per_epoch = 0, bptt = 0, threads = 1;
  uint64_t seed = 1;
};

std::atomic<bool> g_interrupted{false};

// The resumable state after an epoch, beside the model: MODEL.ckpt.safetensors.
void write_checkpoint(const std::string& path, const Model<float>& model, const TrainState& st,
                      const std::string& preprocessing) {
  std::vector<TensorView> tensors;  // written from where they lie
  const ParamStore<float>& ps = model.params();
  for (int i = 0; i < ps.count(); ++i) {
    const ParamInfo& p = ps.info(i);
    const size_t bytes = p.size * sizeof(float);
    tensors.push_back({"current." + p.name, DType::F32, p.shape, st.model.data() + p.offset, bytes});
    tensors.push_back({"best." + p.name, DType::F32, p.shape, st.best.data() + p.offset, bytes});
  }
  for (const auto& [name, buffer] : st.optimizer_state)
    tensors.push_back({"optimizer." + name, DType::F32, {int64_t(buffer.size())}, buffer.data(),
                       buffer.size() * sizeof(float)});
  nlohmann::json j = {{"epoch", st.epoch}, {"best_valid_loss", st.best_valid_loss}, {"bad_epochs", st.bad_epochs},
                      {"optimizer_steps", st.optimizer_steps}, {"lr", st.lr}, {"schedule_best", st.schedule_best},
                      {"schedule_bad_epochs", st.schedule_bad_epochs}, {"schedule_cooldown", st.schedule_cooldown}};
  const std::map<std::string, std::string> metadata = {
      {"format", "rnnkit-checkpoint"}, {"state", j.dump()}, {"history", history_json(st.history)},
      {"config", config_to_json(model.config())}, {"preprocessing", preprocessing}};
  write_safetensors(path, metadata, tensors);  // atomic
}

TrainState read_checkpoint(const std::string& path, const Model<float>& model, const std::string& preprocessing) {
  const SafetensorsFile f = read_safetensors(path);
  require(f.metadata.count("format") && f.metadata.at("format") == "rnnkit-checkpoint",
          path + ": not an rnnkit training checkpoint");
  require(f.metadata.at("config") == config_to_json(model.config()),
          path + ": the checkpoint's architecture differs from this run's flags; resume with the same flags");
  require(f.metadata.at("preprocessing") == preprocessing,
          path + ": the checkpoint's data preparation (vocabulary, labels, scaler) differs from this run's");
  TrainState st;
  const ParamStore<float>& ps = model.params();
  st.model.resize(ps.size());
  st.best.resize(ps.size());
  for (int i = 0; i < ps.count(); ++i) {
    const ParamInfo& p = ps.info(i);
    for (const char* which : {"current.", "best."}) {
      const StoredTensor* t = f.find(which + p.name);
      require(t && t->shape == p.shape, path + ": checkpoint tensor '" + which + p.name + "' is missing or misshapen");
      const std::vector<float> v = t->to_vector<float>();
      std::copy(v.begin(), v.end(), (std::string(which) == "best." ? st.best : st.model).begin() + long(p.offset));
    }
  }
  for (const StoredTensor& t : f.tensors)
    if (t.name.rfind("optimizer.", 0) == 0) st.optimizer_state[t.name.substr(10)] = t.to_vector<float>();
  const nlohmann::json j = nlohmann::json::parse(f.metadata.at("state"));
  st.epoch = j.at("epoch");
  st.best_valid_loss = j.at("best_valid_loss");
  st.bad_epochs = j.at("bad_epochs");
  st.optimizer_steps = j.at("optimizer_steps");
  st.lr = j.at("lr");
  // JSON has no infinity: a schedule that has seen no metric yet stores null.
  st.schedule_best = j.at("schedule_best").is_null() ? std::numeric_limits<double>::infinity()
                                                      : j.at("schedule_best").get<double>();
  st.schedule_bad_epochs = j.at("schedule_bad_epochs");
  st.schedule_cooldown = j.at("schedule_cooldown");
  for (const auto& r : nlohmann::json::parse(f.metadata.at("history"))) {
    EpochRecord e;
    e.epoch = r.at("epoch"), e.steps = r.at("steps"), e.train_loss = r.at("train_loss");
    e.valid_loss = r.at("valid_loss"), e.lr = r.at("lr"), e.seconds = r.at("seconds");
    e.sequences_per_second = r.at("sequences_per_second"), e.best = r.at("best");
    e.valid_metric = r.value("valid_metric", 0.0);
    e.metric = r.value("metric", std::string());
    st.history.push_back(e);
  }
  return st;
}
void on_sigint(int) { g_interrupted = true; }

struct Prepared {
  TaskState state;
  std::unique_ptr<BatchSource> train, valid, test;
  int vocab = 0, outputs = 0, inputs = 0;
  std::unique_ptr<NumericTable> table;  // forecast
  double baseline = 0;                  // regress: the training mean
  ForecastData forecast;
};

// Splits items into the `kept` ones (which stay, in that order) and the `taken` ones (appended to out):
// a hold-out for validation or test.
template <typename T>
void take_out(std::vector<T>& items, const std::vector<size_t>& kept, const std::vector<size_t>& taken,
              std::vector<T>& out) {
  std::vector<T> rest;
  for (size_t i : kept) rest.push_back(std::move(items[i]));
  for (size_t i : taken) out.push_back(std::move(items[i]));
  items = std::move(rest);
}

// Stops before any training when the validation part came out empty (a small file and the default
// hold-out fraction), saying what to change.
void require_validation(size_t valid, size_t train, const TrainFlags& f) {
  require(valid > 0, f.train + ": the " + std::to_string(int(f.valid_fraction * 100 + 0.5)) +
                         " % validation hold-out of " + std::to_string(train) +
                         " examples is empty: give --valid or a larger --valid-fraction");
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find(',', start), s.size());
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool is_table(const std::string& path) { return ends_with(path, ".csv") || ends_with(path, ".tsv"); }

Prepared prepare_text_tag(const TrainFlags& f, TextPreprocessorConfig pc) {
  Prepared p;
  p.state.task = Task::Tag;
  p.state.text_input = true;
  std::vector<TaggedSentence> train = read_tagged(f.train), valid, test;
  auto hold_out = [&](double fraction, uint64_t seed, std::vector<TaggedSentence>& out) {
    const Split s = split_random(train.size(), 0.0, fraction, seed);
    take_out(train, s.train, s.test, out);
  };
  if (!f.test.empty()) test = read_tagged(f.test);
  else if (f.test_fraction > 0) hold_out(f.test_fraction, f.seed + 1000, test);
  if (!f.valid.empty()) valid = read_tagged(f.valid);
  else hold_out(f.valid_fraction, f.seed, valid);
  require(!valid.empty(), "tag: no validation sentences; give --valid or a larger --valid-fraction");
  pc.max_length = 0;
  p.state.text = TextPreprocessor(pc);
  std::vector<std::string> tags;
  for (const auto& s : train) {
    std::vector<std::string> cleaned;
    for (const auto& t : s.tokens) cleaned.push_back(p.state.text.clean(t));
    p.state.text.vocab().count(cleaned);
    tags.insert(tags.end(), s.tags.begin(), s.tags.end());
  }
  p.state.text.vocab().build();
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  p.state.labels = tags;
  p.train = text_tag_source(p.state, train);
  p.valid = text_tag_source(p.state, valid);
  if (!test.empty()) p.test = text_tag_source(p.state, test);
  p.vocab = p.state.text.vocab().size();
  p.outputs = int(tags.size());
  std::fprintf(stderr, "data: %zu training, %zu validation, %zu test sentences; %zu tags; vocabulary %d\n",
               p.train->size(), p.valid->size(), test.size(), tags.size(), p.vocab);
  return p;
}

Prepared prepare_tag(const TrainFlags& f) {
  require(!f.target.empty() && !f.features.empty(), "tag needs --target TAG_COLUMN and --features COLUMNS");
  Prepared p;
  p.state.task = Task::Tag;
  p.state.targets = {f.target};
  p.state.features = split_names(f.features);
  p.state.window = f.window;
  p.state.scaler = Scaler(parse_scaler(f.scaler));
  require(f.window >= 1, "--window must be >= 1");
  p.table = std::make_unique<NumericTable>(read_numeric_csv(f.train));
  const double test_fraction = f.test_fraction > 0 ? f.test_fraction : 0.2;
  TagData d = fit_tag_data(*p.table, p.state, f.valid_fraction, test_fraction);
  require(d.valid && d.valid->size() > 0, "tag: the validation part is empty; raise --valid-fraction");
  std::fprintf(stderr, "data: %zu rows, tags %zu; windows of %d rows: %zu training, %zu validation, %zu test "
               "(split by time, test = last %.0f %%)\n",
               p.table->rows, p.state.labels.size(), f.window, d.train->size(), d.valid->size(),
               d.test ? d.test->size() : size_t(0), 100 * test_fraction);
  p.train = std::move(d.train);
  p.valid = std::move(d.valid);
  p.test = std::move(d.test);
  p.inputs = int(p.state.features.size());
  p.outputs = int(p.state.labels.size());
  return p;
}

Prepared prepare_forecast(const TrainFlags& f) {
  require(!f.target.empty(), "forecast needs --target COLUMN[,COLUMN...]");
  Prepared p;
  p.state.task = Task::Forecast;
  p.state.targets = split_names(f.target);
  p.state.features = f.features.empty() ? p.state.targets : split_names(f.features);
  p.state.future = split_names(f.future);
  p.state.relative = f.relative;
  p.state.window = f.window;
  p.state.horizon = f.horizon;
  p.state.season = f.season;
  p.state.scaler = Scaler(parse_scaler(f.scaler));
  require(f.window >= 1 && f.horizon >= 1 && f.season >= 1, "--window, --horizon and --season must be >= 1");
  p.table = std::make_unique<NumericTable>(read_numeric_csv(f.train));
  const double test_fraction = f.test_fraction > 0 ? f.test_fraction : 0.2;
  p.forecast = fit_forecast_data(*p.table, p.state, f.valid_fraction, test_fraction);
  std::fprintf(stderr, "data: %zu rows; windows of %d rows -> %d ahead: %zu training, %zu validation, %zu test "
               "(split by time, test = last %.0f %%)\n",
               p.table->rows, f.window, f.horizon, p.forecast.train->size(), p.forecast.valid->size(),
               p.forecast.test->size(), 100 * test_fraction);
  p.train = std::move(p.forecast.train);
  p.valid = std::move(p.forecast.valid);
  p.inputs = int(p.state.features.size() + p.state.future.size());
  p.outputs = f.horizon * int(p.state.targets.size());
  return p;
}

Prepared prepare_regress(const TrainFlags& f, TextPreprocessorConfig pc) {
  Prepared p;
  p.state.task = Task::Regress;
  TextDataset train = read_classification(f.train, f.text_column, f.label_column), valid, test;
  auto hold_out = [&](double fraction, uint64_t seed, TextDataset& out) {
    const Split s = split_random(train.examples.size(), 0.0, fraction, seed);
    take_out(train.examples, s.train, s.test, out.examples);
  };
  if (!f.test.empty()) test = read_classification(f.test, f.text_column, f.label_column);
  else if (f.test_fraction > 0) hold_out(f.test_fraction, f.seed + 1000, test);
  if (!f.valid.empty()) valid = read_classification(f.valid, f.text_column, f.label_column);
  else hold_out(f.valid_fraction, f.seed, valid);
  require_validation(valid.examples.size(), train.examples.size(), f);
  p.state.text = TextPreprocessor(pc);
  std::vector<std::string> texts;
  for (const auto& e : train.examples) texts.push_back(e.text);
  std::vector<std::vector<int32_t>> train_ids = p.state.fit_text(texts);
  const std::vector<double> targets = regress_targets(train);  // the scaler is fitted on these only
  p.state.scaler = Scaler(parse_scaler(f.scaler));
  p.state.scaler.fit(targets, 1);
  double mean = 0;
  for (double v : targets) mean += v / double(targets.size());
  p.baseline = p.state.target_mean = mean;
  p.train = regress_source(p.state, train, std::move(train_ids));
  p.valid = regress_source(p.state, valid);
  if (!test.examples.empty()) p.test = regress_source(p.state, test);
  p.vocab = p.state.text.vocab().size();
  p.outputs = 1;
  std::fprintf(stderr, "data: %zu training, %zu validation, %zu test texts; vocabulary %d; training mean %.4g\n",
               p.train->size(), p.valid->size(), test.examples.size(), p.vocab, mean);
  return p;
}

// The class ids of a classification split, text or audio.
const std::vector<int32_t>& class_labels(const BatchSource& split) {
  if (const auto* audio = dynamic_cast<const AudioSource*>(&split)) return audio->labels();
  return dynamic_cast<const ClassifySource&>(split).labels();
}

Prepared prepare_classify(const TrainFlags& f, TextPreprocessorConfig pc) {
  Prepared p;
  p.state.task = Task::Classify;
  TextDataset train = read_classification(f.train, f.text_column, f.label_column);
  TextDataset valid, test;
  if (f.test.empty() && f.test_fraction > 0) {  // a seeded, stratified test split, never seen in training
    std::vector<std::string> labels;
    for (const auto& e : train.examples) labels.push_back(e.labels[0]);
    const Split s = split_stratified(labels, 0.0, f.test_fraction, f.seed + 1000);
    take_out(train.examples, s.train, s.test, test.examples);
  }
  if (!f.valid.empty()) {
    valid = read_classification(f.valid, f.text_column, f.label_column);
  } else {  // a seeded, stratified hold-out of the training data
    std::vector<std::string> labels;
    for (const auto& e : train.examples) labels.push_back(e.labels[0]);
    const Split s = split_stratified(labels, f.valid_fraction, 0.0, f.seed);
    take_out(train.examples, s.train, s.valid, valid.examples);
  }
  require_validation(valid.examples.size(), train.examples.size(), f);
  if (!f.test.empty()) test = read_classification(f.test, f.text_column, f.label_column);
  if (!test.examples.empty()) std::fprintf(stderr, "test: %zu examples held out\n", test.examples.size());
  p.state.labels = train.label_names();
  p.state.text = TextPreprocessor(pc);
  std::vector<std::string> texts;
  for (const auto& e : train.examples) texts.push_back(e.text);
  p.train = classify_source(p.state, train, p.state.fit_text(texts));
  p.valid = classify_source(p.state, valid);
  if (!test.examples.empty()) p.test = classify_source(p.state, test);
  p.vocab = p.state.text.vocab().size();
  p.outputs = int(p.state.labels.size());
  std::fprintf(stderr, "data: %zu training, %zu validation%s examples; %zu labels; vocabulary %d\n", p.train->size(),
               p.valid->size(), p.test ? (", " + std::to_string(p.test->size()) + " test").c_str() : "",
               p.state.labels.size(), p.vocab);
  return p;
}

// Audio classification: class folders of audio files become (frames, F) MFCC or log-mel sequences,
// standardised per feature on the training frames. The test and validation parts are --test and
// --valid folders (held-out speakers, say) or seeded, stratified hold-outs of the training clips.
Prepared prepare_audio_classify(const TrainFlags& f) {
  Prepared p;
  p.state.task = Task::Classify;
  p.state.audio_input = true;
  p.state.audio_features = f.audio_features;
  p.state.audio_cmvn = f.cmvn;
  require(f.audio_features == "mfcc" || f.audio_features == "logmel",
          "--audio-features must be mfcc or logmel, got '" + f.audio_features + "'");
  std::vector<LabelledClip> train = read_audio_folders(f.train), valid, test;
  require(!train.empty(), f.train + ": no audio files in its class folders");
  auto hold_out = [&](double fraction, uint64_t seed, std::vector<LabelledClip>& out) {
    std::vector<std::string> labels;
    for (const auto& c : train) labels.push_back(c.label);
    const Split s = split_stratified(labels, 0.0, fraction, seed);
    take_out(train, s.train, s.test, out);
  };
  if (!f.test.empty()) test = read_audio_folders(f.test);
  else if (f.test_fraction > 0) hold_out(f.test_fraction, f.seed + 1000, test);
  if (!f.valid.empty()) valid = read_audio_folders(f.valid);
  else hold_out(f.valid_fraction, f.seed, valid);
  require_validation(valid.size(), train.size(), f);

  AudioFeatureConfig& a = p.state.audio;
  a.sample_rate = train[0].clip.sample_rate;
  a.n_mels = f.n_mels;
  a.n_mfcc = f.n_mfcc;
  a.validate();
  for (const auto& c : train)
    require(c.clip.sample_rate == a.sample_rate, c.clip.source + ": sample rate " + std::to_string(c.clip.sample_rate) +
                                                     " Hz, but " + train[0].clip.source + " has " +
                                                     std::to_string(a.sample_rate) + " Hz");
  std::vector<std::string> names;
  for (const auto& c : train) names.push_back(c.label);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  p.state.labels = names;
  // The scaler: fitted on every training frame (features unscaled until then).
  const int F = p.state.audio_feature_count();
  std::vector<std::vector<float>> raw(train.size());  // each training clip's features, computed once
  parallel_for(train.size(), [&](size_t i) { raw[i] = p.state.raw_audio_frames(train[i].clip); });
  std::vector<double> all;
  for (const auto& r : raw) all.insert(all.end(), r.begin(), r.end());
  require(!all.empty(), f.train + ": every clip is shorter than one " + std::to_string(a.frame_ms) + " ms frame");
  p.state.scaler = Scaler(ScalerKind::Standard);
  p.state.scaler.fit(all, F);
  p.train = audio_source(p.state, train, std::move(raw));
  p.valid = audio_source(p.state, valid);
  if (!test.empty()) p.test = audio_source(p.state, test);
  p.inputs = F;
  p.outputs = int(names.size());
  double seconds = 0;
  for (const auto& c : train) seconds += c.clip.seconds();
  std::fprintf(stderr, "data: %zu training (%.0f s of audio at %d Hz), %zu validation, %zu test clips; %zu labels; %d %s "
               "features per %g ms frame\n", train.size(), seconds, a.sample_rate, valid.size(), test.size(),
               names.size(), F, f.audio_features.c_str(), a.hop_ms);
  return p;
}

Prepared prepare_lm(const TrainFlags& f, TextPreprocessorConfig pc) {
  Prepared p;
  p.state.task = Task::Lm;
  p.state.seq_len = f.seq_len;
  pc.clean.collapse_whitespace = false;
  pc.clean.lowercase = false;  // a language model keeps the text as it is
  pc.clean.nfkc = false;
  pc.max_length = 0;
  std::string train_text = read_text(f.train), valid_text;
  if (!f.valid.empty()) {
    valid_text = read_text(f.valid);
  } else {  // the last part of the corpus, without look-ahead
    size_t cut = size_t(double(train_text.size()) * (1.0 - f.valid_fraction));
    while (cut < train_text.size() && (static_cast<unsigned char>(train_text[cut]) & 0xC0) == 0x80) ++cut;
    valid_text = train_text.substr(cut);
    train_text.resize(cut);
  }
  p.state.text = TextPreprocessor(pc);
  p.train = std::make_unique<LmSource>(std::move(p.state.text.fit({train_text})[0]), f.seq_len);
  p.valid = std::make_unique<LmSource>(p.state.text.encode(valid_text), f.seq_len);
  if (!f.test.empty()) p.test = std::make_unique<LmSource>(p.state.text.encode(read_text(f.test)), f.seq_len);
  p.vocab = p.outputs = p.state.text.vocab().size();
  std::fprintf(stderr, "data: %zu training and %zu validation windows of %d tokens; vocabulary %d\n",
               p.train->size(), p.valid->size(), f.seq_len, p.vocab);
  return p;
}

void run_train(const TrainFlags& f) {
  // Checked here, not by CLI11: they may come from --config, which is read after CLI11's checks.
  require(!f.train.empty(), "--train is required (on the command line or in --config)");
  require(!f.output.empty(), "--output MODEL.safetensors is required (on the command line or in --config)");
  set_threads(f.threads);
  const Task task = parse_task(f.task);
  TextPreprocessorConfig pc;
  pc.clean.lowercase = !f.no_lowercase;
  pc.clean.strip_html = f.strip_html;
  pc.tokenizer.kind = parse_tokenizer(task == Task::Lm && f.tokenizer == "words" ? "chars" : f.tokenizer);
  pc.tokenizer.subword_vocab_size = f.subword_vocab_size;
  pc.vocab.min_count = f.min_count;
  pc.vocab.max_size = f.vocab_size;
  pc.max_length = f.max_length;
  const auto t0 = std::chrono::steady_clock::now();
  Prepared data = task == Task::Classify ? (is_audio_folder(f.train) ? prepare_audio_classify(f) : prepare_classify(f, pc))
                  : task == Task::Regress ? prepare_regress(f, pc)
                  : task == Task::Lm     ? prepare_lm(f, pc)
                  : task == Task::Tag    ? (is_table(f.train) ? prepare_tag(f) : prepare_text_tag(f, pc))
                                         : prepare_forecast(f);
  std::fprintf(stderr, "data prepared in %.1f s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  ModelConfig mc;
  const bool text_input =
      !(task == Task::Forecast || (task == Task::Tag && !data.state.text_input) || data.state.audio_input);
  std::vector<float> pretrained;  // (vocab, dim) rows for the embedding, from --pretrained
  if (!text_input) {
    require(f.pretrained.empty(), "--pretrained needs text input: this task reads numeric features");
    mc.input_size = data.inputs;
  } else {
    mc.vocab_size = data.vocab;
    mc.embedding_dim = f.embedding_dim;
    mc.padding_idx = data.state.text.vocab().pad_id();
    mc.freeze_embedding = f.freeze_embedding;
    if (!f.pretrained.empty()) {
      VectorCoverage coverage;
      pretrained = load_word_vectors(f.pretrained, data.state.text.vocab(), parse_vector_format(f.pretrained_format),
                                     f.seed, &coverage);
      mc.embedding_dim = coverage.dim;  // the vectors' size wins over --embedding-dim
      std::fprintf(stderr, "pretrained vectors %s: %s\n", f.pretrained.c_str(), coverage.summary().c_str());
    }
  }
  mc.cell = parse_cell(f.cell);
  mc.hidden_size = f.hidden;
  mc.num_layers = f.layers;
  mc.bidirectional = f.bidirectional;
  mc.dropout = f.dropout;
  mc.output_dropout = f.output_dropout;
  mc.output = task == Task::Lm || task == Task::Tag ? OutputMode::PerStep : OutputMode::Last;
  if (!f.output_mode.empty()) mc.output = parse_output_mode(f.output_mode);
  mc.output_size = data.outputs;
  mc.head = task == Task::Forecast || task == Task::Regress ? Head::Identity : Head::Softmax;
  Model<float> model(mc);
  Rng init_rng(f.seed);
  model.init(init_rng);
  if (!pretrained.empty()) {
    ParamStore<float>& params = model.params();
    const int idx = params.find("embedding.weight");
    require(idx >= 0 && params.info(idx).size == pretrained.size(), "pretrained vectors do not fit the embedding");
    std::copy(pretrained.begin(), pretrained.end(), params.value(idx));
  }

  TrainerConfig tc;
  tc.epochs = f.epochs;
  tc.batch_size = f.batch_size;
  tc.patience = f.patience;
  tc.max_steps_per_epoch = f.steps_per_epoch;
  tc.keep_last = f.keep_last;
  tc.optimizer = OptimizerConfig::defaults_for(parse_optimizer(f.optimizer));
  tc.optimizer.lr = f.lr;
  tc.optimizer.weight_decay = f.weight_decay;
  tc.schedule.kind = parse_schedule(f.schedule);
  tc.schedule.patience = 1;
  tc.schedule.factor = 0.5;
  tc.schedule.step_size = 3;
  tc.schedule.gamma = f.schedule == "exponential" ? 0.9 : 0.5;
  tc.schedule.t_max = f.epochs;
  tc.step.clip_norm = f.clip;
  tc.step.clip_value = f.clip_value;
  tc.step.bptt = f.bptt;
  tc.seed = f.seed;
  std::fprintf(stderr, "model: %s, %zu parameters; %s lr %g, batch %d, up to %d epochs\n", config_to_json(mc).c_str(),
               model.params().size(), f.optimizer.c_str(), f.lr, f.batch_size, f.epochs);

  const std::string log_path = f.output + ".log.jsonl", svg_path = f.output + ".curve.svg";
  const bool tty = ::isatty(2);
  const std::string pre_json = data.state.to_json();
  auto meta = [&](const std::vector<EpochRecord>& h) {
    return std::map<std::string, std::string>{{"history", history_json(h)}, {"task", f.task}};
  };
  TrainCallbacks cb;
  const auto train_start = std::chrono::steady_clock::now();
  cb.on_step = [&](int epoch, int64_t step, int64_t steps, double loss, double sps) {
    if (tty) {
      const int width = 30, done = int(width * step / std::max<int64_t>(steps, 1));
      const double eta = sps > 0 ? double(steps - step) * f.batch_size / sps : 0;
      std::fprintf(stderr, "\repoch %d [%s%s] %lld/%lld loss %.4f %.0f seq/s ETA %.0fs ", epoch,
                   std::string(size_t(done), '=').c_str(), std::string(size_t(width - done), ' ').c_str(),
                   (long long)step, (long long)steps, loss, sps, eta);
    } else if (step % std::max<int64_t>(1, steps / 4) == 0) {
      std::fprintf(stderr, "epoch %d step %lld/%lld loss %.4f %.0f seq/s\n", epoch, (long long)step, (long long)steps,
                   loss, sps);
    }
  };
  cb.on_epoch = [&](const EpochRecord& r, const std::vector<EpochRecord>& h, const Model<float>& best) {
    if (tty) std::fprintf(stderr, "\n");
    if (r.best) save_model(f.output, best, pre_json, meta(h));  // atomic: a failure keeps the previous file
    std::fprintf(stderr, "epoch %d: train loss %.4f, valid loss %.4f, valid %s %.4f, %.1f s, %.0f seq/s%s\n", r.epoch,
                 r.train_loss, r.valid_loss, r.metric.c_str(), r.valid_metric, r.seconds, r.sequences_per_second,
                 r.best ? ", best so far: saved" : "");
    std::ofstream log(log_path, std::ios::app);
    log << nlohmann::json::parse(history_json({r}))[0].dump() << "\n";
    log.flush();
    require(log.good(), log_path + ": cannot append the epoch's record (disk full or not writable?)");
    write_text_atomically(svg_path, learning_curve_svg(h));
  };
  // The task's validation metric, every epoch: into the log, the history and the curve. Classes, tags
  // and regression values are gathered by valid_batch in the validation loss's own pass.
  std::vector<int32_t> valid_classes;
  std::vector<double> valid_values;
  std::vector<std::vector<int32_t>> valid_tags, valid_gold;  // per example
  if (task == Task::Classify) {
    const std::vector<int32_t>* gold = &class_labels(*data.valid);
    valid_classes.resize(data.valid->size());
    cb.metric_name = "accuracy";
    cb.valid_batch = class_argmax(model.config().output_size, valid_classes);
    cb.valid_metric = [&valid_classes, gold](const Model<float>&, double) {
      size_t right = 0;
      for (size_t i = 0; i < gold->size(); ++i) right += valid_classes[i] == (*gold)[i];
      return !gold->empty() ? double(right) / double(gold->size()) : 0.0;
    };
  } else if (task == Task::Tag) {
    valid_tags.resize(data.valid->size()), valid_gold.resize(data.valid->size());
    cb.metric_name = "accuracy";
    cb.valid_batch = step_argmax(model.config().output_size, valid_tags, valid_gold);
    cb.valid_metric = [&](const Model<float>&, double) {
      int64_t right = 0, total = 0;
      for (size_t i = 0; i < valid_tags.size(); ++i) {
        for (size_t t = 0; t < valid_tags[i].size(); ++t) right += valid_tags[i][t] == valid_gold[i][t];
        total += int64_t(valid_tags[i].size());
        valid_tags[i].clear(), valid_gold[i].clear();  // for the next epoch's pass
      }
      return total ? double(right) / double(total) : 0.0;
    };
  } else if (task == Task::Lm) {
    cb.metric_name = "bits_per_token";
    cb.valid_metric = [](const Model<float>&, double loss) { return bits_per_token(loss); };
  } else if (task == Task::Regress) {
    valid_values.resize(data.valid->size());
    cb.metric_name = "rmse";  // in the target's units
    cb.valid_batch = regress_values(data.state, valid_values);
    cb.valid_metric = [&](const Model<float>&, double) {
      return regress_report(data.state, dynamic_cast<const RegressSource&>(*data.valid), valid_values, data.baseline)
          .rmse;
    };
  } else {
    cb.metric_name = "rmse_standardised";  // over the scaled targets: the square root of the MSE loss
    cb.valid_metric = [](const Model<float>&, double loss) { return std::sqrt(loss); };
  }
  const std::string ckpt_path = f.output + ".ckpt.safetensors";
  cb.on_checkpoint = [&](const TrainState& st) { write_checkpoint(ckpt_path, model, st, pre_json); };
  cb.should_stop = [] { return g_interrupted.load(); };
  std::signal(SIGINT, on_sigint);
  std::unique_ptr<TrainState> resume;
  if (f.resume) {
    resume = std::make_unique<TrainState>(read_checkpoint(ckpt_path, model, pre_json));
    std::fprintf(stderr, "resuming after epoch %d from %s\n", resume->epoch, ckpt_path.c_str());
  } else {
    std::remove(log_path.c_str());
  }
  auto train = [&] {
    try {
      return fit(model, *data.train, *data.valid, tc, cb, resume.get());
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + "; training stopped: " + f.output +
                  " holds the last model saved (if any), intact");
    }
  };
  TrainResult result = train();
  std::signal(SIGINT, SIG_DFL);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
  save_model(f.output, result.best, pre_json, meta(result.history));
  std::fprintf(stderr, "%s after %zu epochs in %.1f s; best validation loss %.4f; model %s, log %s, curve %s\n",
               result.interrupted ? "interrupted" : result.stopped_early ? "stopped early" : "finished",
               result.history.size(), seconds, result.best_valid_loss, f.output.c_str(), log_path.c_str(),
               svg_path.c_str());
  if (task == Task::Forecast) {
    data.forecast.train = nullptr;
    const ForecastReport r = forecast_report(result.best, data.state, *data.table, data.forecast);
    std::printf("test: %lld forecasts: RMSE %.2f, MAE %.2f; seasonal naive (1 season back) RMSE %.2f, MAE %.2f; "
                "mean of the last 4 seasons RMSE %.2f, MAE %.2f\n",
                (long long)r.count, r.rmse, r.mae, r.naive_rmse, r.naive_mae, r.naive4_rmse, r.naive4_mae);
  } else if (task == Task::Regress && data.test) {
    const RegressReport r = regress_report(result.best, data.state, static_cast<const RegressSource&>(*data.test),
                                           data.baseline);
    std::printf("test: %lld texts: RMSE %.4g, MAE %.4g; predicting the training mean: RMSE %.4g, MAE %.4g\n",
                (long long)r.count, r.rmse, r.mae, r.baseline_rmse, r.baseline_mae);
  } else if (task == Task::Tag && data.test) {
    std::vector<int32_t> predicted, gold;
    predict_tags(result.best, *data.test, predicted, gold);
    const ClassificationReport r = classification_report(predicted, gold, int(data.state.labels.size()));
    std::printf("test: %lld steps, accuracy %.4f, macro F1 %.4f\n", (long long)r.total, r.accuracy, r.macro_f1);
    for (size_t c = 0; c < data.state.labels.size(); ++c)
      std::printf("  tag %s: precision %.4f, recall %.4f, F1 %.4f, support %lld\n", data.state.labels[c].c_str(),
                  r.precision[c], r.recall[c], r.f1[c], (long long)r.support[c]);
  } else if (data.test) {
    const int C = result.best.config().output_size;
    std::vector<int32_t> predicted(task == Task::Lm ? 0 : data.test->size());  // gathered in the loss's pass
    const double test_loss =
        evaluate_loss(result.best, *data.test, 64, 1024, task == Task::Lm ? SplitBatchFn() : class_argmax(C, predicted));
    if (task == Task::Lm) {
      std::printf("test: loss %.4f, perplexity %.3f, %.4f bits per token\n", test_loss, perplexity(test_loss),
                  bits_per_token(test_loss));
    } else {
      const ClassificationReport r = classification_report(predicted, class_labels(*data.test), C);
      std::printf("test: %lld examples, loss %.4f, accuracy %.4f, macro F1 %.4f\n", (long long)r.total, test_loss,
                  r.accuracy, r.macro_f1);
    }
  }
}

// Settings from a config file for every flag the command line did not give: TOML (or INI) through
// CLI11's reader, JSON through nlohmann-json. Keys are flag names without the dashes; an unknown key
// is an error naming the file.
void apply_config_file(CLI::App& c, const std::string& path) {
  std::vector<CLI::ConfigItem> items;
  if (ends_with(path, ".json")) {
    std::ifstream in(path);
    require(in.good(), path + ": cannot open");
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    require(j.is_object(), path + ": expected a JSON object of settings ({\"epochs\": 5, ...})");
    for (const auto& [key, value] : j.items()) {
      CLI::ConfigItem item;
      item.name = key;
      const auto text = [&](const nlohmann::json& v) {
        require(v.is_primitive() && !v.is_null(), path + ": '" + key + "' must be a string, number or boolean");
        return v.is_string() ? v.get<std::string>() : v.dump();
      };
      if (value.is_array())
        for (const auto& v : value) item.inputs.push_back(text(v));
      else
        item.inputs.push_back(text(value));
      items.push_back(std::move(item));
    }
  } else {
    try {
      items = CLI::ConfigTOML().from_file(path);
    } catch (const CLI::Error& e) {
      throw Error(path + ": " + e.what());
    }
  }
  for (const auto& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // section markers of CLI11's reader
    CLI::Option* o = c.get_option_no_throw("--" + item.name);
    require(o != nullptr && item.name != "config", path + ": unknown setting '" + item.name + "' (settings are the flags of `rnnkit train --help`, without the dashes)");
    if (o->count() > 0) continue;  // the command line wins
    o->add_result(item.inputs);
    o->run_callback();
  }
}

}  // namespace

void add_train(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* c = app.add_subcommand("train", "train a model on data files");
  // Not CLI11's set_config: CLI11 2.1 reads config files for the main app only, never a subcommand's.
  auto config = std::make_shared<std::string>();
  c->add_option("--config", *config, "TOML (key = value) or JSON ({\"key\": value}) file with these flags; "
                                     "flags on the command line win");
  c->parse_complete_callback([c, config] {
    if (!config->empty()) apply_config_file(*c, *config);
  });
  c->add_option("--task", f->task, "classify, tag, lm, regress or forecast")->capture_default_str();
  c->add_option("--train", f->train, "training data: folder per class, .ft, .csv/.tsv, .jsonl; text for lm (required)");
  c->add_option("--valid", f->valid, "validation data (default: a seeded, stratified hold-out of --train)");
  c->add_option("--test", f->test, "test data, evaluated with the best model at the end");
  c->add_option("--output,-o", f->output, "model file to write (.safetensors) (required)");
  c->add_option("--valid-fraction", f->valid_fraction, "hold-out fraction without --valid")->capture_default_str();
  c->add_option("--test-fraction", f->test_fraction,
                "classify without --test: a seeded, stratified test hold-out, evaluated at the end")
      ->capture_default_str();
  c->add_option("--text-column", f->text_column, "table/JSON text column (name or 0-based index)")->capture_default_str();
  c->add_option("--label-column", f->label_column, "table/JSON label column")->capture_default_str();
  c->add_option("--target", f->target, "forecast: target column(s) of the numeric CSV; tag: the tag column");
  c->add_option("--features", f->features, "forecast, tag: input columns (forecast default: the targets)");
  c->add_option("--future-features", f->future,
                 "forecast: columns known ahead (calendar); each step also sees their values `horizon` rows later");
  c->add_flag("--relative", f->relative, "forecast: windows relative to their own level (targets must be features)");
  c->add_option("--window", f->window, "forecast: input rows per window")->capture_default_str();
  c->add_option("--horizon", f->horizon, "forecast: rows predicted ahead")->capture_default_str();
  c->add_option("--season", f->season, "forecast: season length of the naive baselines")->capture_default_str();
  c->add_option("--scaler", f->scaler, "forecast: standard, minmax or none")->capture_default_str();
  c->add_option("--tokenizer", f->tokenizer, "words, chars or sentencepiece (lm: chars)")->capture_default_str();
  c->add_option("--vocab-size", f->vocab_size, "maximum vocabulary size")->capture_default_str();
  c->add_option("--subword-vocab-size", f->subword_vocab_size, "sentencepiece vocabulary")->capture_default_str();
  c->add_option("--min-count", f->min_count, "minimum token count")->capture_default_str();
  c->add_option("--max-length", f->max_length, "tokens kept per text (0: all)")->capture_default_str();
  c->add_flag("--no-lowercase", f->no_lowercase, "keep case");
  c->add_flag("--strip-html", f->strip_html, "remove HTML tags and entities");
  c->add_option("--audio-features", f->audio_features, "classify audio folders: mfcc or logmel")->capture_default_str();
  c->add_option("--n-mels", f->n_mels, "audio: mel bands")->capture_default_str();
  c->add_flag("--cmvn", f->cmvn, "audio: subtract each clip's mean per feature (speaker and channel normalisation)");
  c->add_option("--n-mfcc", f->n_mfcc, "audio: MFCCs per frame")->capture_default_str();
  c->add_option("--embedding-dim", f->embedding_dim, "embedding size")->capture_default_str();
  c->add_option("--cell", f->cell, "rnn_tanh, rnn_relu, lstm or gru")->capture_default_str();
  c->add_option("--hidden", f->hidden, "hidden size")->capture_default_str();
  c->add_option("--layers", f->layers, "stacked layers")->capture_default_str();
  c->add_flag("--bidirectional", f->bidirectional, "bidirectional layers");
  c->add_option("--dropout", f->dropout, "dropout between layers")->capture_default_str();
  c->add_option("--output-dropout", f->output_dropout, "dropout before the output layer")->capture_default_str();
  c->add_option("--output-mode", f->output_mode, "classify: last or mean (over valid steps)");
  c->add_option("--seq-len", f->seq_len, "lm: training window in tokens")->capture_default_str();
  c->add_option("--optimizer", f->optimizer, "sgd, adam, adamw, rmsprop or adagrad")->capture_default_str();
  c->add_option("--lr", f->lr, "learning rate")->capture_default_str();
  c->add_option("--schedule", f->schedule, "constant, step, exponential, cosine or plateau")->capture_default_str();
  c->add_option("--weight-decay", f->weight_decay, "weight decay")->capture_default_str();
  c->add_option("--clip", f->clip, "clip the gradient norm (0: off)")->capture_default_str();
  c->add_option("--clip-value", f->clip_value, "clip gradient values (0: off)")->capture_default_str();
  c->add_option("--bptt", f->bptt, "truncated BPTT length (0: full)")->capture_default_str();
  c->add_option("--batch-size", f->batch_size, "sequences per batch")->capture_default_str();
  c->add_option("--epochs", f->epochs, "maximum epochs")->capture_default_str();
  c->add_option("--steps-per-epoch", f->steps_per_epoch, "cap on batches per epoch (0: all)")->capture_default_str();
  c->add_option("--patience", f->patience, "early stopping patience in epochs (0: off)")->capture_default_str();
  c->add_option("--seed", f->seed, "random seed")->capture_default_str();
  c->add_flag("--resume", f->resume, "continue from OUTPUT.ckpt.safetensors (same flags and data)");
  c->add_option("--pretrained", f->pretrained,
                 "word vectors for the embedding: word2vec text or binary, GloVe, fastText .vec (sets the size)");
  c->add_option("--pretrained-format", f->pretrained_format, "auto, word2vec, word2vec-binary or glove")
      ->capture_default_str();
  c->add_flag("--freeze-embedding", f->freeze_embedding, "keep the embedding fixed (pretrained vectors as they are)");
  c->add_flag("--keep-last", f->keep_last, "keep the last epoch's model, not the best by validation loss");
  c->add_option("--threads", f->threads, "threads (batch slices of the time loop, and the large GEMMs)")
      ->check(CLI::Range(1, kMaxThreads))
      ->capture_default_str();
  c->callback([f] { run_train(*f); });
}

}  // namespace rnnkit::cli
