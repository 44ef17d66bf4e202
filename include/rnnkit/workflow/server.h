// Server: a model behind HTTP (cpp-httplib), for `rnnkit serve`.
//
//   POST /v1/predict   {"inputs": [...], "top_k": k}  (or "input": one)  -> {"predictions": [...]}
//   GET  /v1/model     the model's description (task, labels, architecture, history)
//   GET  /healthz      {"status": "ok"}
//
// Inputs by task: texts for classify / regress / tag models; for numeric tagging models, each input is
// a list of rows (each a list of the feature columns' values); for forecast models, each input is an
// object {column: [values...]} with the training columns (and "horizon" in the body); for language
// models, each input is a text and the answer is the distribution of the next token.
// Text requests that arrive together are run as one padded batch by a single batching thread
// (up to max_batch inputs, waiting at most batch_wait_us for more), which answers each request.
// Every error is JSON {"error": message} with its status: 400 malformed JSON, 404 / 405 unknown path
// or method, 413 body too large, 422 an input of the wrong type, too long or too many, 503 the
// queue is full.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "rnnkit/workflow/predictor.h"

namespace rnnkit::workflow {

struct ServerConfig {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                  // 0: any free port
  int http_threads = 16;            // connections handled at once
  size_t max_body_bytes = 1 << 20;
  size_t max_inputs = 256;          // per request
  size_t max_input_bytes = 100000;  // per text (or values per series input)
  int max_batch = 64;               // inputs run together
  int batch_wait_us = 1000;         // how long the first request of a batch waits for others
  size_t max_queued = 4096;         // inputs waiting; beyond: 503
  int timeout_s = 10;               // read / write timeout per connection (slow clients)
};

class Server {
 public:
  Server(std::shared_ptr<const Predictor> predictor, ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the socket; returns the port (the chosen one when config.port is 0). Throws Error when
  // the address cannot be bound.
  int bind();
  // Serves until stop() (from any thread).
  void run();
  void stop();

  // One /v1/predict request body -> status and JSON response, without a socket (tests, fuzzing).
  std::pair<int, std::string> predict(std::string_view body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rnnkit::workflow
