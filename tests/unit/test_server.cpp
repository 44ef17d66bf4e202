// The HTTP server on a free loopback port: real requests, good and bad, from many threads at once,
// beside a slow client; answers equal the Predictor's own.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "rnnkit/workflow/server.h"
#include "support/task_models.h"

namespace rnnkit::workflow {
namespace {

using nlohmann::json;

std::shared_ptr<const Predictor> make_predictor() { return test_models::classifier(); }

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    predictor_ = make_predictor();
    ServerConfig c;
    c.port = 0;  // any free port
    c.http_threads = 8, c.max_body_bytes = 4096, c.max_inputs = 8, c.max_input_bytes = 200, c.timeout_s = 2;
    server_ = std::make_unique<Server>(predictor_, c);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    httplib::Client probe("127.0.0.1", port_);
    for (int i = 0; i < 200 && !probe.Get("/healthz"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }
  httplib::Result post(const std::string& body) {
    httplib::Client c("127.0.0.1", port_);
    return c.Post("/v1/predict", body, "application/json");
  }
  // The status and the error message of a request that must fail.
  void expect_error(const std::string& body, int status, const std::string& fragment) {
    auto r = post(body);
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, status) << body << " -> " << r->body;
    const json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_NE(j["error"].get<std::string>().find(fragment), std::string::npos) << r->body;
  }

  std::shared_ptr<const Predictor> predictor_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServerTest, AnswersEqualThePredictorsOwn) {
  const std::vector<std::string> texts = {"the food is good", "awful rude service", "lovely", "zzz unknown words"};
  auto r = post(json{{"inputs", texts}, {"top_k", 2}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const json j = json::parse(r->body);
  const auto want = predictor_->predict_texts(texts, 2);
  ASSERT_EQ(j["predictions"].size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const json& p = j["predictions"][i];
    EXPECT_EQ(p["label"], want[i].labels[0].label);
    EXPECT_NEAR(p["probability"].get<double>(), want[i].labels[0].probability, 1e-6);
    ASSERT_EQ(p["top"].size(), 2u);
    EXPECT_EQ(p["top"][1]["label"], want[i].labels[1].label);
  }
  // One input, "input" instead of "inputs".
  r = post(R"({"input": "the food is good"})");
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["predictions"][0]["label"], want[0].labels[0].label);

  httplib::Client c("127.0.0.1", port_);
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health && health->status == 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto model = c.Get("/v1/model");
  ASSERT_TRUE(model && model->status == 200);
  const json m = json::parse(model->body);
  EXPECT_EQ(m["task"], "classify");
  EXPECT_EQ(m["labels"], json({"negative", "positive", "neutral"}));
  EXPECT_EQ(m["config"]["cell"], "gru");
}

TEST_F(ServerTest, BadRequestsGetJsonErrorsWithTheirStatus) {
  expect_error(R"({"inputs": ["unterminated)", 400, "malformed JSON");
  expect_error("66666E1666", 400, "malformed JSON");  // a number out of range (found by fuzzing: was a 500)
  expect_error("[1, 2]", 422, "JSON object");
  expect_error(R"({"texts": ["a"]})", 422, "no \"inputs\"");
  expect_error(R"({"inputs": "a"})", 422, "must be an array");
  expect_error(R"({"inputs": []})", 422, "empty");
  expect_error(R"({"inputs": ["a", 3]})", 422, "input 1 is number");
  expect_error(R"({"inputs": ["a"], "top_k": 9})", 422, "top_k");
  expect_error(json{{"inputs", std::vector<std::string>(9, "a")}}.dump(), 422, "limit is 8");
  expect_error(json{{"input", std::string(201, 'a')}}.dump(), 422, "201 bytes; the limit is 200");
  expect_error(json{{"input", std::string(5000, 'a')}}.dump(), 413, "larger than 4096 bytes");
  httplib::Client c("127.0.0.1", port_);
  auto r = c.Get("/v1/predict");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = c.Get("/v2/anything");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
  // The server still answers after all that.
  auto ok = post(R"({"input": "good"})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, ConcurrentRequestsAreBatchedAndEachGetsItsOwnAnswer) {
  const std::vector<std::string> words = {"the", "food", "is", "good", "service", "was", "awful", "great", "rude"};
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0}, failed{0};
  for (int c = 0; c < 12; ++c)
    clients.emplace_back([&, c] {
      std::mt19937 gen(static_cast<uint32_t>(c));
      httplib::Client client("127.0.0.1", port_);
      for (int i = 0; i < 15; ++i) {
        std::vector<std::string> texts(1 + gen() % 3);
        for (auto& t : texts)
          for (size_t w = 0; w < 1 + gen() % 8; ++w) t += (t.empty() ? "" : " ") + words[gen() % words.size()];
        auto r = client.Post("/v1/predict", json{{"inputs", texts}, {"top_k", 3}}.dump(), "application/json");
        if (!r || r->status != 200) {
          ++failed;
          continue;
        }
        const json j = json::parse(r->body);
        const auto want = predictor_->predict_texts(texts, 3);
        for (size_t k = 0; k < texts.size(); ++k)
          for (size_t l = 0; l < 3; ++l)
            if (j["predictions"][k]["top"][l]["label"] != want[k].labels[l].label ||
                std::abs(j["predictions"][k]["top"][l]["probability"].get<double>() - want[k].labels[l].probability) > 1e-5)
              ++wrong;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ServerTest, ASlowClientDoesNotHoldUpOthers) {
  // A client that sends half a request and stalls (slowloris) holds one connection only.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string partial = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp";
  ASSERT_EQ(send(fd, partial.data(), partial.size(), 0), ssize_t(partial.size()));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto r = post(R"({"input": "the food is good"})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));  // well before its timeout
  // The stalled connection is dropped after the read timeout (2 s here).
  char buf[256];
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  EXPECT_LE(n, ssize_t(sizeof(buf)));  // closed (0) or an error response, not a hang
  close(fd);
}

// A Predictor keeps its inference caches (the packed weights, the buffers) between calls and hands
// one to each call running at once: calls of every size, one after another and from eight threads
// at once, answer exactly as a new Predictor's first call does.
TEST(Predictor, CallsReuseCachesAndAgreeFromManyThreads) {
  const std::shared_ptr<const Predictor> p = test_models::tagger();
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  struct Input {
    int batch, steps;
    std::vector<float> x;
    std::vector<float> want;
  };
  std::vector<Input> inputs;
  for (int batch : {3, 1, 4})
    for (int steps : {12, 2, 7}) {
      Input in{batch, steps, std::vector<float>(size_t(batch) * size_t(steps) * 2), {}};
      for (float& v : in.x) v = value(gen);
      in.want = test_models::tagger()->forward_features(in.x.data(), batch, steps);  // a fresh cache
      inputs.push_back(std::move(in));
    }
  for (const Input& in : inputs) EXPECT_EQ(p->forward_features(in.x.data(), in.batch, in.steps), in.want);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const Input& in = inputs[size_t(i * 7 + t) % inputs.size()];
        mismatches[size_t(t)] += p->forward_features(in.x.data(), in.batch, in.steps) != in.want;
      }
    });
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[size_t(t)], 0) << "thread " << t;
}

// The other kinds of model, through Server::predict (the same code the HTTP handler calls).
TEST(ServerParse, TaggerForecasterAndLanguageModelAnswerAsThePredictor) {
  const auto tagger = test_models::tagger();
  Server tag_server(tagger, ServerConfig{});
  auto [status, body] = tag_server.predict(R"({"inputs": [[[0, 1], [5, 2], [3, 3]], [[1, 1]]]})");
  ASSERT_EQ(status, 200) << body;
  json j = json::parse(body);
  const Prediction want = tagger->tag_series({0, 1, 5, 2, 3, 3}, 3);
  ASSERT_EQ(j["predictions"][0]["tags"].size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(j["predictions"][0]["tags"][r]["tag"], want.tags[r].tag);
    EXPECT_NEAR(j["predictions"][0]["tags"][r]["probability"].get<double>(), want.tags[r].probability, 1e-6);
  }
  EXPECT_EQ(tag_server.predict(R"({"inputs": [[[0, 1, 2]]]})").first, 422);  // 3 values in a 2-column row
  EXPECT_EQ(tag_server.predict(R"({"inputs": ["text"]})").first, 422);

  const auto forecaster = test_models::forecaster();
  Server fc_server(forecaster, ServerConfig{});
  std::tie(status, body) = fc_server.predict(R"({"inputs": [{"v": [1, 2, 3, 1, 2, 3, 1, 2, 3]}], "horizon": 4})");
  ASSERT_EQ(status, 200) << body;
  NumericTable t;
  t.columns = {"v"}, t.values = {1, 2, 3, 1, 2, 3, 1, 2, 3}, t.rows = 9;
  const std::vector<double> f = forecaster->forecast(t, 4);
  j = json::parse(body);
  ASSERT_EQ(j["predictions"][0]["forecast"]["v"].size(), 4u);
  for (size_t h = 0; h < 4; ++h) EXPECT_NEAR(j["predictions"][0]["forecast"]["v"][h].get<double>(), f[h], 1e-9);
  std::tie(status, body) = fc_server.predict(R"({"inputs": [{"w": [1, 2]}]})");
  EXPECT_EQ(status, 422);
  EXPECT_NE(json::parse(body)["error"].get<std::string>().find("no column \"v\""), std::string::npos) << body;
  EXPECT_EQ(fc_server.predict(R"({"inputs": [{"v": [1, 2]}]})").first, 422);  // shorter than the window

  const auto lm = test_models::language_model();
  Server lm_server(lm, ServerConfig{});
  std::tie(status, body) = lm_server.predict(R"({"input": "call me", "top_k": 3})");
  ASSERT_EQ(status, 200) << body;
  j = json::parse(body);
  Stream<float> s = lm->stream();
  const std::vector<int32_t> ids = lm->state().text.vocab().encode(lm->state().text.tokens("call me"));
  const std::vector<float>& y = s.chunk(ids.data(), int(ids.size()));
  const auto top = lm->top_k(y.data() + y.size() - size_t(lm->model().config().output_size), 3);
  ASSERT_EQ(j["predictions"][0]["next"].size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(j["predictions"][0]["next"][k]["token"], top[k].label);
    EXPECT_NEAR(j["predictions"][0]["next"][k]["probability"].get<double>(), top[k].probability, 1e-6);
  }
}

TEST(ServerParse, HostileBodiesNeverCrash) {
  Server server(make_predictor(), ServerConfig{});
  std::mt19937 gen(9);
  const std::vector<std::string> seeds = {R"({"inputs": ["a"]})", R"({"input": null})", R"({"inputs": [[1,2]]})",
                                          R"({"inputs": [{"a": 1}], "top_k": -1})", "\xff\xfe{", ""};
  for (int i = 0; i < 3000; ++i) {
    std::string body = seeds[gen() % seeds.size()];
    for (int m = 0; m < 3 && !body.empty(); ++m) body[gen() % body.size()] = char(gen() % 256);
    const auto [status, out] = server.predict(body);
    EXPECT_TRUE(status == 200 || status == 400 || status == 422) << status << " " << body;
    EXPECT_TRUE(json::parse(out, nullptr, false).is_object()) << out;
  }
}

}  // namespace
}  // namespace rnnkit::workflow
