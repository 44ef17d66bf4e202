// The Python module: `import rnnkit`. Loads models, predicts on strings and NumPy arrays, streams,
// and trains with the command line's own train command (same flags, same defaults).
//
// Arrays: inputs are read in place when they are already C-contiguous of the right dtype (int32
// tokens, float32 features); outputs are NumPy arrays that own the result vector (no copy).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/workflow/predictor.h"

namespace py = pybind11;
using namespace rnnkit;
using namespace rnnkit::workflow;

namespace {

// A vector handed to NumPy without a copy: the array owns it through a capsule.
template <typename T>
py::array_t<T> to_numpy(std::vector<T> v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

py::object json_to_python(const std::string& text) {
  return py::module_::import("json").attr("loads")(text);
}

py::dict prediction_dict(const Prediction& p) {
  py::dict d;
  if (p.value) d["value"] = *p.value;
  if (!p.labels.empty()) {
    d["label"] = p.labels[0].label;
    d["probability"] = p.labels[0].probability;
    py::list top;
    for (const auto& l : p.labels) top.append(py::make_tuple(l.label, l.probability));
    d["top"] = top;
  }
  if (!p.tags.empty()) {
    py::list tags;
    for (const auto& t : p.tags) tags.append(py::make_tuple(t.token, t.tag, t.probability));
    d["tags"] = tags;
  }
  return d;
}

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using TokenArray = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

// A stream with the model's pipeline at hand (texts, scaled rows).
class PyStream {
 public:
  explicit PyStream(std::shared_ptr<const Predictor> p) : p_(std::move(p)), s_(p_->stream()) {}

  py::array_t<float> outputs(const std::vector<float>& y, int steps) const {
    const py::ssize_t O = p_->model().config().output_size;
    const bool per_step = p_->model().config().output == OutputMode::PerStep;
    if (per_step && steps > 1) return to_numpy(y, {py::ssize_t(steps), O});
    return to_numpy(std::vector<float>(y.end() - O, y.end()), {O});
  }

  // One step: an int token id, or a 1-D float array of input_size model inputs.
  py::array_t<float> step(const py::object& x) {
    if (py::isinstance<py::int_>(x)) {
      const int32_t id = x.cast<int32_t>();
      std::vector<float> y;
      {
        py::gil_scoped_release release;
        y = s_.step(id);
      }
      return outputs(y, 1);
    }
    FloatArray a = x.cast<FloatArray>();
    require(a.ndim() == 1 && a.shape(0) == p_->model().config().input_size,
            "step takes a token id or " + std::to_string(p_->model().config().input_size) + " features");
    return outputs(s_.step(a.data()), 1);
  }

  // Many steps: int tokens (T) or float features (T, input_size).
  py::array_t<float> chunk(const py::array& x) {
    if (p_->model().config().uses_embedding()) {
      TokenArray a = x.cast<TokenArray>();
      require(a.ndim() == 1 && a.shape(0) >= 1, "chunk takes a 1-D array of token ids");
      return outputs(s_.chunk(a.data(), int(a.shape(0))), int(a.shape(0)));
    }
    FloatArray a = x.cast<FloatArray>();
    require(a.ndim() == 2 && a.shape(1) == p_->model().config().input_size && a.shape(0) >= 1,
            "chunk takes a (steps, " + std::to_string(p_->model().config().input_size) + ") float array");
    return outputs(s_.chunk(a.data(), int(a.shape(0))), int(a.shape(0)));
  }

  // Text through the model's tokenizer and vocabulary, every token a step (no length limit).
  py::array_t<float> feed(const std::string& text) {
    const TaskState& st = p_->state();
    require(p_->model().config().uses_embedding(), "feed takes text; this model reads features (use rows or step)");
    const std::vector<int32_t> ids = st.encode_steps(text);
    require(!ids.empty(), "the text has no tokens");
    return outputs(s_.chunk(ids.data(), int(ids.size())), int(ids.size()));
  }

  // Rows of a numeric series in the training columns' units, scaled as in training.
  py::array_t<float> rows(const py::array_t<double, py::array::c_style | py::array::forcecast>& a) {
    const TaskState& st = p_->state();
    require(!st.features.empty(), "rows takes numeric rows; this model reads text");
    require(a.ndim() == 2 && a.shape(1) == py::ssize_t(st.features.size()) && a.shape(0) >= 1,
            "rows takes a (rows, " + std::to_string(st.features.size()) + ") array");
    std::vector<double> x(a.data(), a.data() + a.size());
    st.scaler.transform(x.data(), size_t(a.shape(0)));
    const std::vector<float> f(x.begin(), x.end());
    return outputs(s_.chunk(f.data(), int(a.shape(0))), int(a.shape(0)));
  }

  py::dict state() const {
    const auto& s = s_.state();
    py::dict d;
    d["h"] = to_numpy(s.h, {py::ssize_t(s.h.size())});
    d["c"] = to_numpy(s.c, {py::ssize_t(s.c.size())});
    d["sum"] = to_numpy(s.sum, {py::ssize_t(s.sum.size())});
    d["steps"] = s.steps;
    return d;
  }
  void set_state(const py::dict& d) {
    StreamState<float> s;
    auto vec = [&](const char* key) {
      if (!d.contains(key)) return std::vector<float>{};
      FloatArray a = d[key].cast<FloatArray>();
      return std::vector<float>(a.data(), a.data() + a.size());
    };
    s.h = vec("h"), s.c = vec("c"), s.sum = vec("sum");
    s.steps = d.contains("steps") ? d["steps"].cast<int64_t>() : 0;
    s_.set_state(std::move(s));
  }
  py::bytes save_state() const {
    const std::vector<uint8_t> b = s_.save_state();
    return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void load_state(const py::bytes& b) {
    const std::string_view v = b;
    s_.load_state(reinterpret_cast<const uint8_t*>(v.data()), v.size());
  }
  PyStream copy() const { return *this; }
  void reset() { s_.reset(); }
  int64_t steps() const { return s_.steps(); }

 private:
  std::shared_ptr<const Predictor> p_;
  Stream<float> s_;
};

class PyModel {
 public:
  explicit PyModel(const std::string& path) : path_(path), p_(std::make_shared<const Predictor>(path)) {}

  // This model's figures on a labelled data file or folder, as `rnnkit eval --json` prints them.
  py::object evaluate(const std::string& data, const std::string& text_column, const std::string& label_column,
                      int batch_size) const {
    require(p_->has_task(), path_ + " has no task preprocessing (a bare model): evaluate needs a model from train");
    cli::EvalFlags f;
    f.model = path_, f.data = data, f.text_column = text_column, f.label_column = label_column;
    f.batch_size = batch_size;
    std::string report;
    {
      py::gil_scoped_release release;
      report = cli::eval_report(p_->model(), p_->state(), f).dump();
    }
    return json_to_python(report);
  }

  py::object predict(const py::object& inputs, int top_k) const {
    const bool one = py::isinstance<py::str>(inputs);
    std::vector<std::string> texts;
    if (one) texts.push_back(inputs.cast<std::string>());
    else texts = inputs.cast<std::vector<std::string>>();
    std::vector<Prediction> out;
    {
      py::gil_scoped_release release;
      out = p_->state().audio_input ? p_->predict_audio(texts, top_k) : p_->predict_texts(texts, top_k);
    }
    if (one) return prediction_dict(out[0]);
    py::list l;
    for (const auto& p : out) l.append(prediction_dict(p));
    return l;
  }

  py::list tag_series(const py::array_t<double, py::array::c_style | py::array::forcecast>& a) const {
    require(a.ndim() == 2, "tag_series takes a (rows, features) array");
    const Prediction p = p_->tag_series(std::vector<double>(a.data(), a.data() + a.size()), size_t(a.shape(0)));
    py::list l;
    for (const auto& t : p.tags) l.append(py::make_tuple(t.tag, t.probability));
    return l;
  }

  // A CSV path, or a dict {column: 1-D array} with the training columns.
  py::array_t<double> forecast(const py::object& data, size_t horizon) const {
    NumericTable table;
    if (py::isinstance<py::str>(data)) {
      table = read_numeric_csv(data.cast<std::string>());
    } else {
      const py::dict columns = data.cast<py::dict>();
      std::vector<std::string> names;
      std::vector<std::vector<double>> values;
      for (const auto& [name, column] : columns) {
        names.push_back(name.cast<std::string>());
        auto a = column.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
        require(a.ndim() == 1, "column '" + names.back() + "' must be a 1-D array");
        values.emplace_back(a.data(), a.data() + a.size());
      }
      require(!values.empty(), "forecast needs the series' columns");
      table = NumericTable::from_columns(std::move(names), values, "the columns given");
    }
    const std::vector<double> f = p_->forecast(table, horizon);
    const py::ssize_t K = py::ssize_t(p_->state().targets.size());
    return to_numpy(f, {py::ssize_t(f.size()) / K, K});
  }

  // Raw model inputs: int tokens (B, T) or (T), float features (B, T, I) or (T, I); head outputs back,
  // (B, O) or (B, T, O) for per-step models (the batch axis dropped when the input had none).
  // lengths (None, or one int per sequence): the real steps of each padded row.
  py::array_t<float> forward(const py::array& x, const py::object& lengths) const {
    const ModelConfig& c = p_->model().config();
    const bool tokens = c.uses_embedding();
    const int base = tokens ? 1 : 2;  // dimensions of one sequence
    require(x.ndim() == base || x.ndim() == base + 1,
            tokens ? "forward takes int token ids (batch, steps) or (steps)"
                   : "forward takes float features (batch, steps, input_size) or (steps, input_size)");
    const bool batched = x.ndim() == base + 1;
    const int B = batched ? int(x.shape(0)) : 1, T = int(x.shape(batched ? 1 : 0));
    std::vector<int> lens;
    if (!lengths.is_none()) {
      lens = py::isinstance<py::int_>(lengths) ? std::vector<int>{lengths.cast<int>()}
                                               : lengths.cast<std::vector<int>>();
      require(lens.size() == size_t(B), "lengths holds " + std::to_string(lens.size()) + " values for " +
                                            std::to_string(B) + " sequences");
    }
    const int* len = lens.empty() ? nullptr : lens.data();
    std::vector<float> y;
    if (tokens) {
      TokenArray a = x.cast<TokenArray>();
      py::gil_scoped_release release;
      y = p_->forward_tokens(a.data(), B, T, len);
    } else {
      FloatArray a = x.cast<FloatArray>();
      require(a.shape(a.ndim() - 1) == c.input_size, "features need " + std::to_string(c.input_size) + " columns");
      py::gil_scoped_release release;
      y = p_->forward_features(a.data(), B, T, len);
    }
    std::vector<py::ssize_t> shape;
    if (batched) shape.push_back(B);
    if (c.output == OutputMode::PerStep) shape.push_back(T);
    shape.push_back(c.output_size);
    return to_numpy(std::move(y), shape);
  }

  PyStream stream() const { return PyStream(p_); }
  py::object info() const { return json_to_python(p_->describe_json()); }
  std::string task() const { return task_name(p_->state().task); }
  std::vector<std::string> labels() const { return p_->state().labels; }
  py::object history() const {
    const auto it = p_->metadata().find("history");
    return it == p_->metadata().end() ? py::list() : json_to_python(it->second);
  }

 private:
  std::string path_;
  std::shared_ptr<const Predictor> p_;
};

// train(task="classify", train="data.ft", output="m.safetensors", epochs=3, hidden=64, ...): every
// keyword is the train command's --flag of that name (underscores for dashes); True adds a flag,
// False leaves it out. Returns the trained model.
PyModel train(const py::kwargs& kwargs) {
  std::vector<std::string> args = {"rnnkit", "train"};
  std::string output;
  for (const auto& [key, value] : kwargs) {
    std::string flag = "--" + key.cast<std::string>();
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (py::isinstance<py::bool_>(value)) {
      if (value.cast<bool>()) args.push_back(flag);
      continue;
    }
    args.push_back(flag);
    args.push_back(py::str(value).cast<std::string>());
    if (flag == "--output") output = args.back();
  }
  require(!output.empty(), "train needs output=PATH (the model file to write)");
  {
    py::gil_scoped_release release;
    CLI::App app{"rnnkit"};
    app.require_subcommand(1);
    rnnkit::cli::add_train(app);
    std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);  // CLI11 takes argv reversed, no program
    try {
      app.parse(reversed);
    } catch (const CLI::ParseError& e) {
      throw Error(std::string("train: ") + e.what());
    }
  }
  return PyModel(output);
}

}  // namespace

PYBIND11_MODULE(rnnkit, m) {
  m.doc() = "rnnkit: recurrent neural networks for text, audio and time series";
  py::register_exception<Error>(m, "Error", PyExc_ValueError);

  m.def("load", [](const std::string& path) { return PyModel(path); }, py::arg("path"),
        "Loads a model file written by rnnkit (or converted from PyTorch).");
  m.def("train", &train,
        "Trains like `rnnkit train`: every keyword is a flag (task=, train=, output=, epochs=, hidden=, ...).");
  m.def("set_threads", &set_threads, py::arg("threads"), "Threads for training and inference (default 1).");

  py::class_<PyModel>(m, "Model")
      .def(py::init<const std::string&>(), py::arg("path"))
      .def("predict", &PyModel::predict, py::arg("inputs"), py::arg("top_k") = 1,
           "A text (or audio path) -> a dict; a list of them -> a list of dicts (label, probability, top; "
           "value for regression; tags for taggers). Lists run as padded batches.")
      .def("evaluate", &PyModel::evaluate, py::arg("data"), py::arg("text_column") = "text",
           py::arg("label_column") = "label", py::arg("batch_size") = 64,
           "Figures on labelled data in a format train reads, as `rnnkit eval --json` gives them (a dict: "
           "loss, accuracy, macro_f1, classes, confusion ... by task)")
      .def("tag_series", &PyModel::tag_series, py::arg("rows"), "(rows, features) -> [(tag, probability)] per row")
      .def("forecast", &PyModel::forecast, py::arg("data"), py::arg("horizon") = 0,
           "The next rows of the targets after a series (a CSV path or {column: array}), (horizon, targets)")
      .def("forward", &PyModel::forward, py::arg("inputs"), py::arg("lengths") = py::none(),
           "The head's outputs for raw model inputs; lengths (one per sequence) makes the steps past each "
           "padding, as pack_padded_sequence")
      .def("stream", &PyModel::stream, "A new stream (state kept between calls)")
      .def_property_readonly("info", &PyModel::info)
      .def_property_readonly("task", &PyModel::task)
      .def_property_readonly("labels", &PyModel::labels)
      .def_property_readonly("history", &PyModel::history);

  py::class_<PyStream>(m, "Stream")
      .def("step", &PyStream::step, py::arg("input"), "One step: a token id or a 1-D feature array")
      .def("chunk", &PyStream::chunk, py::arg("inputs"), "Many steps: token ids (T) or features (T, I)")
      .def("feed", &PyStream::feed, py::arg("text"), "A text's tokens as steps")
      .def("rows", &PyStream::rows, py::arg("rows"), "Rows of a series in its own units, scaled as in training")
      .def_property("state", &PyStream::state, &PyStream::set_state)
      .def("save_state", &PyStream::save_state)
      .def("load_state", &PyStream::load_state, py::arg("data"))
      .def("copy", &PyStream::copy)
      .def("reset", &PyStream::reset)
      .def_property_readonly("steps", &PyStream::steps);
}
