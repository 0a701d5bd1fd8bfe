// The access log's lines (JSON and text) and its bounded buffer: a sink that blocks costs lines,
// counted exactly, never a wait for the worker; what was buffered is written in order, and at
// stop within a bound.
#include "gateway/lifecycle/access_log.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace infergate::gateway {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

// 2024-02-29T23:59:58.250Z
const std::chrono::system_clock::time_point kArrived =
    std::chrono::sys_days(std::chrono::year{2024} / 2 / 29) + 23h + 59min + 58s + 250ms;

RequestRecord full_record() {
  RequestRecord r;
  r.request_id = "req-1";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.model = "food-review";
  r.target_model = "food-review-1";
  r.pool = "default/llama";
  r.endpoint = "10.0.0.1:8000";
  r.priority = 2;
  r.flow = "tenant-a";
  r.status = 200;
  r.attempts = 2;
  r.streamed = true;
  r.usage = Usage{120, 7, 96};
  r.queued = 1500us;
  r.ttft = 42ms + 125us;
  r.total = 1s + 250ms;
  return r;
}

std::string line_of(const RequestRecord& r, AccessLogFormat format) {
  std::string out;
  append_access_log_line(out, r, format, kArrived);
  return out;
}

TEST(AccessLogLine, JsonHasEveryKeyInOrder) {
  const std::string line = line_of(full_record(), AccessLogFormat::kJson);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
  const json::object o = json::parse(line).as_object();
  std::vector<std::string> keys;
  for (const auto& kv : o) keys.emplace_back(kv.key());
  EXPECT_EQ(
      keys,
      (std::vector<std::string>{
          "time",          "request_id",    "trace_id", "method",   "path",        "model",
          "target_model",  "pool",          "endpoint", "priority", "fairness_id", "status",
          "error",         "error_type",    "queue_ms", "ttft_ms",  "duration_ms", "prompt_tokens",
          "cached_tokens", "output_tokens", "attempts", "streamed"}));
  EXPECT_EQ(o.at("time").as_string(), "2024-02-29T23:59:58.250Z");
  EXPECT_EQ(o.at("request_id").as_string(), "req-1");
  EXPECT_EQ(o.at("trace_id").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(o.at("method").as_string(), "POST");
  EXPECT_EQ(o.at("path").as_string(), "/v1/chat/completions");
  EXPECT_EQ(o.at("model").as_string(), "food-review");
  EXPECT_EQ(o.at("target_model").as_string(), "food-review-1");
  EXPECT_EQ(o.at("pool").as_string(), "default/llama");
  EXPECT_EQ(o.at("endpoint").as_string(), "10.0.0.1:8000");
  EXPECT_EQ(o.at("priority").as_int64(), 2);
  EXPECT_EQ(o.at("fairness_id").as_string(), "tenant-a");
  EXPECT_EQ(o.at("status").as_int64(), 200);
  EXPECT_TRUE(o.at("error").is_null());
  EXPECT_TRUE(o.at("error_type").is_null());
  EXPECT_DOUBLE_EQ(o.at("queue_ms").to_number<double>(), 1.5);
  EXPECT_DOUBLE_EQ(o.at("ttft_ms").to_number<double>(), 42.125);
  EXPECT_DOUBLE_EQ(o.at("duration_ms").to_number<double>(), 1250.0);
  EXPECT_EQ(o.at("prompt_tokens").as_int64(), 120);
  EXPECT_EQ(o.at("cached_tokens").as_int64(), 96);
  EXPECT_EQ(o.at("output_tokens").as_int64(), 7);
  EXPECT_EQ(o.at("attempts").as_int64(), 2);
  EXPECT_EQ(o.at("streamed").as_bool(), true);
}

TEST(AccessLogLine, UnknownValuesAreNull) {
  RequestRecord r;  // refused before anything was learnt
  r.status = 401;
  r.counted_output = 0;
  r.error = RequestError::client(401, "missing API key");
  const json::object o = json::parse(line_of(r, AccessLogFormat::kJson)).as_object();
  for (const char* key : {"request_id", "trace_id", "model", "target_model", "pool", "endpoint",
                          "fairness_id", "ttft_ms", "prompt_tokens", "cached_tokens"})
    EXPECT_TRUE(o.at(key).is_null()) << key;
  EXPECT_EQ(o.at("error").as_string(), "missing API key");
  EXPECT_EQ(o.at("error_type").as_string(), "AuthenticationError");
  EXPECT_EQ(o.at("output_tokens").as_int64(), 0);
  EXPECT_DOUBLE_EQ(o.at("queue_ms").to_number<double>(), 0);

  r.error->type = "invalid_request_error";  // an error type chosen by the phase wins
  EXPECT_EQ(json::parse(line_of(r, AccessLogFormat::kJson)).at("error_type").as_string(),
            "invalid_request_error");
}

TEST(AccessLogLine, OutputTokensAreCountedWithoutUsage) {
  RequestRecord r = full_record();
  r.usage.reset();
  r.counted_output = 9;
  const json::object o = json::parse(line_of(r, AccessLogFormat::kJson)).as_object();
  EXPECT_TRUE(o.at("prompt_tokens").is_null());
  EXPECT_EQ(o.at("output_tokens").as_int64(), 9);
}

TEST(AccessLogLine, EscapesEveryStringField) {
  RequestRecord r = full_record();
  r.model = std::string("quote\" back\\ nl\n tab\t bell\x07 nul") + '\0' + " del\x7f";
  r.pool = "caf\xc3\xa9";      // valid UTF-8 stays as it is
  r.endpoint = "bad\xff\xfe";  // bytes that are not UTF-8 cannot break the line
  r.request_id = "id\"with\\quotes";
  r.error = RequestError::bad_gateway("upstream said \"no\"\r\n");
  const std::string line = line_of(r, AccessLogFormat::kJson);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.find('\t'), std::string::npos);
  EXPECT_EQ(line.find('\x07'), std::string::npos);
  EXPECT_NE(line.find("\\u0007"), std::string::npos) << line;
  EXPECT_NE(line.find("\\u0000"), std::string::npos) << line;
  const json::object o = json::parse(line).as_object();
  EXPECT_EQ(o.at("model").as_string(), r.model);
  EXPECT_EQ(o.at("pool").as_string(), "caf\xc3\xa9");
  EXPECT_EQ(o.at("endpoint").as_string(), "bad\xef\xbf\xbd\xef\xbf\xbd") << "U+FFFD each";
  EXPECT_EQ(o.at("request_id").as_string(), r.request_id);
  EXPECT_EQ(o.at("error").as_string(), r.error->message);
  EXPECT_EQ(o.at("error_type").as_string(), "InternalServerError");
}

TEST(AccessLogLine, TextIsKeyValuePairsInTheSameOrder) {
  RequestRecord r = full_record();
  r.error = RequestError::upstream(503, "no endpoint \"ready\"");
  r.flow.clear();
  const std::string line = line_of(r, AccessLogFormat::kText);
  EXPECT_EQ(line,
            "time=2024-02-29T23:59:58.250Z request_id=req-1 "
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 method=POST path=/v1/chat/completions "
            "model=food-review target_model=food-review-1 pool=default/llama "
            "endpoint=10.0.0.1:8000 priority=2 fairness_id=- status=200 "
            "error=\"no endpoint \\\"ready\\\"\" error_type=ServiceUnavailableError "
            "queue_ms=1.500 ttft_ms=42.125 duration_ms=1250.000 prompt_tokens=120 "
            "cached_tokens=96 output_tokens=7 attempts=2 streamed=true\n");
}

TEST(AccessLogLine, TextQuotesWhatCouldBeMisread) {
  RequestRecord r;
  r.model = "two words";
  r.pool = "a=b";
  r.endpoint = "-";  // the string, not the absent value
  r.request_id = "line\nbreak";
  const std::string line = line_of(r, AccessLogFormat::kText);
  EXPECT_NE(line.find(" model=\"two words\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" pool=\"a=b\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" endpoint=\"-\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" request_id=\"line\\nbreak\" "), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

// A sink that holds every write until the test opens it, and keeps what it was given.
struct Gate {
  std::mutex mu;
  std::condition_variable changed;
  bool open = false;
  int writes_begun = 0;
  std::string seen;

  // Waits (bounded) until `done` holds under the lock.
  template <typename Pred>
  bool wait(Pred done, std::chrono::milliseconds bound = 10s) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, bound, done);
  }
  void release() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    changed.notify_all();
  }
};

class GateSink final : public AccessLogSink {
 public:
  explicit GateSink(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  bool write(std::string_view lines) override {
    std::unique_lock lock(gate_->mu);
    ++gate_->writes_begun;
    gate_->changed.notify_all();
    // Bounded, so a failing test cannot hang: the test opens the gate long before.
    gate_->changed.wait_for(lock, 20s, [&] { return gate_->open; });
    gate_->seen += lines;
    gate_->changed.notify_all();
    return true;
  }

 private:
  std::shared_ptr<Gate> gate_;
};

std::string numbered(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "line-%04d\n", i);  // 10 bytes
  return buf;
}

std::string numbered_range(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += numbered(i);
  return out;
}

AccessLogOptions ten_lines() {
  AccessLogOptions o;
  o.buffer_bytes = 10 * numbered(0).size();
  return o;
}

TEST(AccessLogBuffer, DropsWhatDoesNotFitAndWritesTheRestInOrder) {
  auto gate = std::make_shared<Gate>();
  AccessLog log(ten_lines(), std::make_unique<GateSink>(gate));
  // Line 0 is taken by the writer, which then waits in the sink.
  ASSERT_TRUE(log.submit(numbered(0)));
  ASSERT_TRUE(gate->wait([&] { return gate->writes_begun == 1; }));
  // The buffer holds ten more; the next five are dropped, and submit never waits.
  for (int i = 1; i <= 15; ++i) EXPECT_EQ(log.submit(numbered(i)), i <= 10) << i;
  EXPECT_EQ(log.counts().dropped, 5u);
  EXPECT_EQ(log.counts().written, 0u);

  gate->release();
  ASSERT_TRUE(gate->wait([&] { return gate->seen.size() == 11 * numbered(0).size(); }))
      << gate->seen;
  EXPECT_EQ(gate->seen, numbered_range(0, 10));
  EXPECT_TRUE(log.stop(10s));
  EXPECT_EQ(log.counts().written, 11u);
  EXPECT_EQ(log.counts().dropped, 5u);
  EXPECT_FALSE(log.submit(numbered(99))) << "stopped";
  EXPECT_EQ(log.counts().dropped, 6u);
}

TEST(AccessLogBuffer, StopWritesWhatIsBuffered) {
  auto gate = std::make_shared<Gate>();
  AccessLog log(ten_lines(), std::make_unique<GateSink>(gate));
  ASSERT_TRUE(log.submit(numbered(0)));
  ASSERT_TRUE(gate->wait([&] { return gate->writes_begun == 1; }));
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(log.submit(numbered(i)));
  bool stopped = false;
  std::thread stopper([&] { stopped = log.stop(10s); });
  gate->release();
  stopper.join();
  EXPECT_TRUE(stopped);
  EXPECT_EQ(gate->seen, numbered_range(0, 5));
  EXPECT_EQ(log.counts().written, 6u);
  EXPECT_EQ(log.counts().dropped, 0u);
}

TEST(AccessLogBuffer, StopIsBoundedWhenTheSinkNeverReturns) {
  auto gate = std::make_shared<Gate>();
  {
    AccessLog log(ten_lines(), std::make_unique<GateSink>(gate));
    ASSERT_TRUE(log.submit(numbered(0)));
    ASSERT_TRUE(gate->wait([&] { return gate->writes_begun == 1; }));
    ASSERT_TRUE(log.submit(numbered(1)));
    EXPECT_FALSE(log.stop(20ms)) << "the sink is still blocked";
  }  // the writer was left running, with its sink and what it still holds
  gate->release();
  EXPECT_TRUE(gate->wait([&] { return gate->seen == numbered_range(0, 1); })) << gate->seen;
}

TEST(AccessLogBuffer, RecordFormatsWithTheArrivalTime) {
  auto gate = std::make_shared<Gate>();
  gate->release();
  AccessLogOptions o;
  o.wall_clock = [] { return kArrived + std::chrono::seconds(1) + std::chrono::milliseconds(250); };
  AccessLog log(o, std::make_unique<GateSink>(gate));
  log.record(full_record());  // total: 1.25 s
  ASSERT_TRUE(log.stop(10s));
  EXPECT_EQ(gate->seen, line_of(full_record(), AccessLogFormat::kJson));
  EXPECT_EQ(log.counts().written, 1u);
}

}  // namespace
}  // namespace infergate::gateway
