// rnnkit serve: the model behind HTTP until SIGINT / SIGTERM (see rnnkit/workflow/server.h).
#include <csignal>
#include <cstdio>
#include <cerrno>
#include <unistd.h>
#include <thread>

#include "commands.h"
#include "common.h"
#include "rnnkit/core/parallel.h"
#include "rnnkit/workflow/server.h"

namespace rnnkit::cli {

namespace {

struct ServeFlags {
  std::string model;
  ServerConfig config;
  int threads = 1;
};

// SIGINT and SIGTERM write a byte to this pipe (all a signal handler may safely do); a thread reading
// it stops the server. Whichever thread the signal lands on (BLAS starts threads before main), the
// server stops cleanly.
int g_stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &byte, 1);
}

void run_serve(const ServeFlags& f) {
  use_threads(f.threads);
  auto predictor = std::make_shared<const Predictor>(f.model);
  Server server(predictor, f.config);
  const int port = server.bind();
  require(pipe(g_stop_pipe) == 0, "cannot create a pipe for the stop signal");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::thread watcher([&] {
    char byte = 0;
    while (read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (byte == 1) std::fprintf(stderr, "rnnkit serve: stopping\n");
    server.stop();
  });
  std::fprintf(stderr, "rnnkit serve: %s (%s) on http://%s:%d  (POST /v1/predict, GET /v1/model, GET /healthz)\n",
               f.model.c_str(), predictor->has_task() ? task_name(predictor->state().task) : "bare model",
               f.config.host.c_str(), port);
  server.run();
  const char wake = 2;  // the server ended on its own: let the watcher go
  [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &wake, 1);
  watcher.join();
}

}  // namespace

void add_serve(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  ServerConfig& c = f->config;
  CLI::App* s = app.add_subcommand("serve", "serve a model over HTTP (POST /v1/predict)");
  s->add_option("--model,-m", f->model, "model file")->required();
  s->add_option("--host", c.host, "address to listen on (loopback unless told otherwise)")->capture_default_str();
  s->add_option("--port", c.port, "port (0: any free port, printed on stderr)")->capture_default_str();
  s->add_option("--threads", f->threads, "threads for the model's arithmetic")
      ->check(CLI::Range(1, kMaxThreads))
      ->capture_default_str();
  s->add_option("--http-threads", c.http_threads, "connections served at once")->capture_default_str();
  s->add_option("--max-body", c.max_body_bytes, "largest request body in bytes (larger: 413)")->capture_default_str();
  s->add_option("--max-inputs", c.max_inputs, "inputs per request")->capture_default_str();
  s->add_option("--max-input-bytes", c.max_input_bytes, "longest text in bytes (or values of a series)")
      ->capture_default_str();
  s->add_option("--max-batch", c.max_batch, "inputs run together in one batch")->capture_default_str();
  s->add_option("--batch-wait-us", c.batch_wait_us, "how long a batch waits for requests on their way")
      ->capture_default_str();
  s->add_option("--timeout", c.timeout_s, "seconds a connection may take to send or read")->capture_default_str();
  s->callback([f] { run_serve(*f); });
}

}  // namespace rnnkit::cli
