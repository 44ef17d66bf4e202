#include "rnnkit/workflow/server.h"

#include <httplib.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "rnnkit/core/error.h"

namespace rnnkit::workflow {

using nlohmann::json;

namespace {

// An error with the HTTP status it answers with.
struct HttpError {
  int status;
  std::string message;
};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string error_body(const std::string& message) { return dump(json{{"error", message}}); }

json labels_json(const std::vector<LabelScore>& labels, const char* key) {
  json top = json::array();
  for (const auto& l : labels) top.push_back({{key, l.label}, {"probability", l.probability}});
  return top;
}

json prediction_json(const Prediction& p) {
  json j = json::object();
  if (p.value) j["value"] = *p.value;
  if (!p.labels.empty()) {
    j["label"] = p.labels[0].label;
    j["probability"] = p.labels[0].probability;
    j["top"] = labels_json(p.labels, "label");
  }
  if (!p.tags.empty()) {
    json tags = json::array();
    for (const auto& t : p.tags) tags.push_back({{"token", t.token}, {"tag", t.tag}, {"probability", t.probability}});
    j["tags"] = std::move(tags);
  }
  return j;
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<const Predictor> predictor;
  ServerConfig config;
  httplib::Server http;
  int bound_port = -1;

  // The batching thread's queue: text requests wait here, the thread answers them in batches.
  struct Job {
    const std::vector<std::string>* texts;
    int top_k;
    std::vector<Prediction> result;
    std::string error;
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable arrived, answered;
  std::deque<Job*> queue;
  size_t queued_inputs = 0;
  bool stopping = false;
  std::atomic<int> in_flight{0};  // predict requests being parsed or waiting
  std::thread batcher;

  Impl(std::shared_ptr<const Predictor> p, ServerConfig c) : predictor(std::move(p)), config(std::move(c)) {
    require(predictor != nullptr, "a server needs a model");
    require(config.max_batch >= 1 && config.http_threads >= 1 && config.max_inputs >= 1,
            "server: max_batch, http_threads and max_inputs must be >= 1");
    batcher = std::thread([this] { batch_loop(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    arrived.notify_all();
    batcher.join();
  }

  void batch_loop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      arrived.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, nothing left
      // While other requests are on their way (in flight but not queued yet), wait a little for them,
      // up to a full batch: requests that arrive together run together.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(config.batch_wait_us);
      while (!stopping && queued_inputs < size_t(config.max_batch) && size_t(in_flight.load()) > queue.size())
        if (arrived.wait_until(lock, deadline) == std::cv_status::timeout) break;
      std::vector<Job*> jobs;
      size_t n = 0;
      while (!queue.empty() && (jobs.empty() || n + queue.front()->texts->size() <= size_t(config.max_batch))) {
        n += queue.front()->texts->size();
        jobs.push_back(queue.front());
        queue.pop_front();
      }
      queued_inputs -= n;
      lock.unlock();
      std::vector<std::string> texts;
      texts.reserve(n);
      int k = 1;
      for (Job* j : jobs) {
        texts.insert(texts.end(), j->texts->begin(), j->texts->end());
        k = std::max(k, j->top_k);
      }
      std::vector<Prediction> out;
      bool failed = false;
      try {
        out = predictor->predict_texts(texts, k, config.max_batch);
      } catch (const std::exception&) {
        failed = true;  // one request's input: each is run alone below, so only it gets the error
      }
      size_t at = 0;
      for (Job* j : jobs) {
        if (!failed) {
          j->result.assign(std::make_move_iterator(out.begin() + std::ptrdiff_t(at)),
                           std::make_move_iterator(out.begin() + std::ptrdiff_t(at + j->texts->size())));
        } else {
          try {
            j->result = predictor->predict_texts(*j->texts, k, config.max_batch);
          } catch (const std::exception& e) {
            j->error = e.what();
          }
        }
        for (auto& p : j->result)
          if (p.labels.size() > size_t(j->top_k)) p.labels.resize(size_t(j->top_k));
        at += j->texts->size();
      }
      lock.lock();
      for (Job* j : jobs) j->done = true;
      answered.notify_all();
    }
  }

  std::vector<Prediction> run_batched(const std::vector<std::string>& texts, int top_k) {
    Job job{&texts, top_k, {}, {}, false};
    std::unique_lock<std::mutex> lock(mu);
    if (queued_inputs + texts.size() > config.max_queued)
      throw HttpError{503, "the server is busy (" + std::to_string(queued_inputs) + " inputs queued); retry later"};
    queue.push_back(&job);
    queued_inputs += texts.size();
    arrived.notify_all();
    answered.wait(lock, [&] { return job.done; });
    if (!job.error.empty()) throw HttpError{422, job.error};
    return std::move(job.result);
  }

  // The inputs of a body: "inputs" (an array) or "input" (one).
  json inputs_of(const json& body) const {
    if (!body.is_object()) throw HttpError{422, "the body must be a JSON object with \"inputs\" (an array) or \"input\""};
    json inputs;
    if (body.contains("inputs")) {
      inputs = body["inputs"];
      if (!inputs.is_array()) throw HttpError{422, "\"inputs\" must be an array"};
    } else if (body.contains("input")) {
      inputs = json::array({body["input"]});
    } else {
      throw HttpError{422, "the body has no \"inputs\" (an array) or \"input\""};
    }
    if (inputs.empty()) throw HttpError{422, "\"inputs\" is empty"};
    if (inputs.size() > config.max_inputs)
      throw HttpError{422, std::to_string(inputs.size()) + " inputs in one request; the limit is " +
                               std::to_string(config.max_inputs)};
    return inputs;
  }

  int top_k_of(const json& body) const {
    if (!body.contains("top_k")) return 1;
    const json& k = body["top_k"];
    const int C = predictor->model().config().output_size;
    if (!k.is_number_integer() || k.get<int64_t>() < 1 || k.get<int64_t>() > C)
      throw HttpError{422, "\"top_k\" must be an integer from 1 to " + std::to_string(C)};
    return k.get<int>();
  }

  std::vector<std::string> texts_of(const json& inputs) const {
    std::vector<std::string> texts;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].is_string())
        throw HttpError{422, "input " + std::to_string(i) + " is " + inputs[i].type_name() + "; this " +
                                 task_name(predictor->state().task) + " model takes texts (strings)"};
      texts.push_back(inputs[i].get<std::string>());
      if (texts.back().size() > config.max_input_bytes)
        throw HttpError{422, "input " + std::to_string(i) + " is " + std::to_string(texts.back().size()) +
                                 " bytes; the limit is " + std::to_string(config.max_input_bytes)};
    }
    return texts;
  }

  // A numeric input: rows of `width` numbers.
  std::vector<double> rows_of(const json& input, size_t i, size_t width, size_t& rows) const {
    const auto bad = [&](const std::string& what) {
      return HttpError{422, "input " + std::to_string(i) + ": " + what};
    };
    if (!input.is_array() || input.empty()) throw bad("expected a non-empty array of rows");
    if (input.size() * width > config.max_input_bytes)
      throw bad(std::to_string(input.size()) + " rows; the limit is " + std::to_string(config.max_input_bytes / width));
    std::vector<double> values;
    for (size_t r = 0; r < input.size(); ++r) {
      const json& row = input[r];
      if (!row.is_array() || row.size() != width)
        throw bad("row " + std::to_string(r) + " must be an array of " + std::to_string(width) + " numbers");
      for (const json& v : row) {
        if (!v.is_number()) throw bad("row " + std::to_string(r) + " holds " + v.type_name() + ", not a number");
        values.push_back(v.get<double>());
      }
    }
    rows = input.size();
    return values;
  }

  NumericTable table_of(const json& input, size_t i) const {
    const TaskState& st = predictor->state();
    const auto bad = [&](const std::string& what) {
      return HttpError{422, "input " + std::to_string(i) + ": " + what};
    };
    if (!input.is_object()) throw bad("expected an object {column: [values...]}");
    std::vector<std::string> names;
    for (const auto* list : {&st.features, &st.targets, &st.future})
      for (const auto& n : *list)
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    std::vector<std::vector<double>> cols;
    for (const auto& n : names) {
      if (!input.contains(n)) throw bad("no column \"" + n + "\" (the model reads " + [&] {
        std::string all;
        for (const auto& m : names) all += (all.empty() ? "" : ", ") + m;
        return all;
      }() + ")");
      const json& c = input[n];
      if (!c.is_array()) throw bad("column \"" + n + "\" must be an array of numbers");
      if (c.size() > config.max_input_bytes) throw bad("column \"" + n + "\" is too long");
      std::vector<double> v;
      for (const json& x : c) {
        if (!x.is_number()) throw bad("column \"" + n + "\" holds " + x.type_name() + ", not a number");
        v.push_back(x.get<double>());
      }
      cols.push_back(std::move(v));
    }
    return NumericTable::from_columns(std::move(names), cols, "input " + std::to_string(i));  // lengths: 422
  }

  std::pair<int, std::string> predict(std::string_view text) {
    ++in_flight;
    struct Done {
      std::atomic<int>& n;
      ~Done() { --n; }
    } done{in_flight};
    try {
      json body;
      try {
        body = json::parse(text);
      } catch (const json::exception& e) {  // a syntax error, or a number out of range (out_of_range)
        throw HttpError{400, std::string("malformed JSON: ") + e.what()};
      }
      const json inputs = inputs_of(body);
      const int k = top_k_of(body);
      const Predictor& p = *predictor;
      const TaskState& st = p.state();
      json out = json::array();
      if (!p.has_task())
        throw HttpError{422, "this model has no task preprocessing (a bare model): it is not served over HTTP"};
      if (st.audio_input)
        throw HttpError{422, "audio models are not served over HTTP; use rnnkit predict or the Python module"};
      if (st.task == Task::Lm) {
        for (const auto& text : texts_of(inputs)) {
          Stream<float> s = p.stream();
          const std::vector<int32_t> ids = st.encode_steps(text);
          if (ids.empty()) throw HttpError{422, "a text with no tokens has no next token"};
          const std::vector<float>& y = s.chunk(ids.data(), int(ids.size()));
          out.push_back({{"next", labels_json(p.top_k(y.data() + y.size() - size_t(p.model().config().output_size), k),
                                              "token")}});
        }
      } else if (st.task == Task::Forecast) {
        size_t horizon = 0;
        if (body.contains("horizon")) {
          if (!body["horizon"].is_number_integer() || body["horizon"].get<int64_t>() < 1 ||
              body["horizon"].get<int64_t>() > 10000)
            throw HttpError{422, "\"horizon\" must be an integer from 1 to 10000"};
          horizon = body["horizon"].get<size_t>();
        }
        for (size_t i = 0; i < inputs.size(); ++i) {
          const std::vector<double> f = p.forecast(table_of(inputs[i], i), horizon);
          const size_t K = st.targets.size();
          json fc = json::object();
          for (size_t t = 0; t < K; ++t) {
            json v = json::array();
            for (size_t h = t; h < f.size(); h += K) v.push_back(f[h]);
            fc[st.targets[t]] = std::move(v);
          }
          out.push_back({{"forecast", std::move(fc)}});
        }
      } else if (st.task == Task::Tag && !st.text_input) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          size_t rows = 0;
          const std::vector<double> x = rows_of(inputs[i], i, st.features.size(), rows);
          const Prediction tags = p.tag_series(x, rows);
          json t = json::array();
          for (size_t r = 0; r < tags.tags.size(); ++r)
            t.push_back({{"row", r}, {"tag", tags.tags[r].tag}, {"probability", tags.tags[r].probability}});
          out.push_back({{"tags", std::move(t)}});
        }
      } else {
        for (const auto& pred : run_batched(texts_of(inputs), k)) out.push_back(prediction_json(pred));
      }
      return {200, dump(json{{"predictions", std::move(out)}})};
    } catch (const HttpError& e) {
      return {e.status, error_body(e.message)};
    } catch (const Error& e) {  // the input reached the model and was refused there
      return {422, error_body(e.what())};
    } catch (const std::exception& e) {
      return {500, error_body(std::string("internal error: ") + e.what())};
    }
  }

  void routes() {
    http.new_task_queue = [n = config.http_threads] { return new httplib::ThreadPool(size_t(n)); };
    http.set_payload_max_length(config.max_body_bytes);
    http.set_read_timeout(config.timeout_s, 0);
    http.set_write_timeout(config.timeout_s, 0);
    http.set_keep_alive_timeout(5);
    // Small JSON answers go out at once (no Nagle delay waiting on the client's delayed ACK: 40 ms
    // a request otherwise). Accepted sockets inherit the option from the listening one.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
      setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const void*>(&yes), sizeof(yes));
    });
    http.Post("/v1/predict", [this](const httplib::Request& req, httplib::Response& res) {
      auto [status, body] = predict(req.body);
      res.status = status;
      res.set_content(body, "application/json");
    });
    const std::string model = predictor->describe_json();
    http.Get("/v1/model", [model](const httplib::Request&, httplib::Response& res) {
      res.set_content(model, "application/json");
    });
    http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    for (const char* path : {"/v1/predict", "/v1/model", "/healthz"}) {
      const std::string allowed = std::string(path) == "/v1/predict" ? "POST" : "GET";
      const auto wrong = [allowed](const httplib::Request& req, httplib::Response& res) {
        res.status = 405;
        res.set_header("Allow", allowed);
        res.set_content(error_body(req.method + " is not allowed here; use " + allowed), "application/json");
      };
      if (allowed == "POST") http.Get(path, wrong);
      else http.Post(path, wrong), http.Put(path, wrong), http.Delete(path, wrong);
    }
    // Errors httplib answers itself (unknown paths, bodies over the limit, bad requests) in JSON too.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string message = res.status == 404   ? "no such endpoint: " + req.path +
                                                      " (POST /v1/predict, GET /v1/model, GET /healthz)"
                            : res.status == 413 ? "request body larger than " + std::to_string(config.max_body_bytes) + " bytes"
                                                : "bad request (HTTP " + std::to_string(res.status) + ")";
      res.set_content(error_body(message), "application/json");
    });
  }
};

Server::Server(std::shared_ptr<const Predictor> predictor, ServerConfig config)
    : impl_(std::make_unique<Impl>(std::move(predictor), std::move(config))) {
  impl_->routes();
}

Server::~Server() { stop(); }

int Server::bind() {
  Impl& s = *impl_;
  if (s.config.port == 0) {
    s.bound_port = s.http.bind_to_any_port(s.config.host);
  } else {
    s.bound_port = s.http.bind_to_port(s.config.host, s.config.port) ? s.config.port : -1;
  }
  require(s.bound_port > 0, [&] {
    return "cannot listen on " + s.config.host + ":" + std::to_string(s.config.port) +
           " (address in use, not local, or not allowed)";
  });
  return s.bound_port;
}

void Server::run() {
  if (impl_->bound_port < 0) bind();
  impl_->http.listen_after_bind();
}

void Server::stop() {
  if (impl_) impl_->http.stop();
}

std::pair<int, std::string> Server::predict(std::string_view body) { return impl_->predict(body); }

}  // namespace rnnkit::workflow
