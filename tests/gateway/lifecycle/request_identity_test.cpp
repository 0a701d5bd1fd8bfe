// A request's id and trace context through the whole request path (in-memory front end and
// scripted model servers): kept or drawn, sent upstream, echoed to the client (errors too), and
// in the access log line, which never holds the prompt, the completion or a credential.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>

#include "../fakes.hpp"
#include "gateway/lifecycle/access_log.hpp"

namespace infergate::gateway::testing {
namespace {
namespace json = boost::json;

const char* kConfig = R"(
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
  - {name: l0, address: "10.0.0.1:8000", labels: {app: llama}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: llama}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: empty}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: none}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - matches: [{path: {value: /v1}, headers: [{name: X-Gateway-Model-Name, value: nobody-home}]}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: empty}]
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: llama}]
)";

constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Counts up from 1: the ids it draws are known.
class CountingRandom final : public Random {
 public:
  std::uint64_t next() override { return ++n_; }

 private:
  std::uint64_t n_ = 0;
};

ScriptedReply completion_reply(const std::string& text) {
  ScriptedReply r;
  r.body_pieces = {
      R"({"id":"c","object":"text_completion","model":"m","choices":[{"index":0,"text":")" + text +
      R"(","finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}})"};
  return r;
}

std::size_t count_header(const HeaderList& headers, std::string_view name) {
  std::size_t n = 0;
  for (const auto& [k, v] : headers) n += k == name;
  return n;
}

struct IdentityTest : ::testing::Test {
  IdentityTest() {
    h.handler.phases().set_id_random(&ids);
    h.upstream.fallback["10.0.0.1:8000"] = completion_reply("hello");
  }
  Harness h{kConfig};
  CountingRandom ids;
};

TEST_F(IdentityTest, TheClientsIdsGoUpstreamAndComeBack) {
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})",
                          {{"x-request-id", "client-id-1"},
                           {"traceparent", kTraceparent},
                           {"tracestate", "congo=t61rcWkgMzE"}});
  ASSERT_TRUE(res.head);
  EXPECT_EQ(res.head->status, 200);
  EXPECT_EQ(res.header("x-request-id"), "client-id-1");
  ASSERT_EQ(h.upstream.received.size(), 1u);
  const HeaderList& sent = h.upstream.received[0].request.headers;
  EXPECT_EQ(find_header(sent, "x-request-id"), "client-id-1");
  EXPECT_EQ(find_header(sent, "traceparent"), kTraceparent) << "passed on unchanged";
  EXPECT_EQ(find_header(sent, "tracestate"), "congo=t61rcWkgMzE");
  for (const char* name : {"x-request-id", "traceparent", "tracestate"})
    EXPECT_EQ(count_header(sent, name), 1u) << name;
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].request_id, "client-id-1");
  EXPECT_EQ(h.records[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(h.records[0].method, "POST");
  EXPECT_EQ(h.records[0].path, "/v1/completions");
}

TEST_F(IdentityTest, MalformedIdsAreReplacedAndAnOrphanTracestateDropped) {
  const auto res =
      h.post("/v1/completions?key=secret", R"({"model":"m","prompt":"x"})",
             {{"x-request-id", "has a space"},
              {"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
              {"tracestate", "congo=t61rcWkgMzE"}});
  ASSERT_TRUE(res.head);
  const std::string drawn_id = "00000000000000010000000000000002";
  const std::string drawn_trace = "00-00000000000000030000000000000004-0000000000000005-00";
  EXPECT_EQ(res.header("x-request-id"), drawn_id);
  const HeaderList& sent = h.upstream.received.at(0).request.headers;
  EXPECT_EQ(find_header(sent, "x-request-id"), drawn_id);
  EXPECT_EQ(find_header(sent, "traceparent"), drawn_trace);
  EXPECT_FALSE(find_header(sent, "tracestate"));
  EXPECT_EQ(count_header(sent, "x-request-id"), 1u);
  EXPECT_EQ(count_header(sent, "traceparent"), 1u);
  EXPECT_EQ(h.records.at(0).request_id, drawn_id);
  EXPECT_EQ(h.records.at(0).trace_id, "00000000000000030000000000000004");
  EXPECT_EQ(h.records.at(0).path, "/v1/completions") << "no query";
}

TEST_F(IdentityTest, EveryRequestWithoutIdsGetsItsOwn) {
  h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
  h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_NE(h.records[0].request_id, h.records[1].request_id);
  EXPECT_NE(h.records[0].trace_id, h.records[1].trace_id);
}

TEST_F(IdentityTest, ErrorsTheGatewayAnswersCarryTheId) {
  const HeaderList id = {{"x-request-id", "err-1"}};
  const auto bad_json = h.post("/v1/completions", "{not json", id);
  ASSERT_TRUE(bad_json.head);
  EXPECT_EQ(bad_json.head->status, 400);
  EXPECT_EQ(bad_json.header("x-request-id"), "err-1");

  const auto no_endpoint = h.post("/v1/completions", R"({"model":"nobody-home","prompt":"x"})");
  ASSERT_TRUE(no_endpoint.head);
  EXPECT_EQ(no_endpoint.head->status, 503);
  // (The first request drew a trace context: three draws.)
  EXPECT_EQ(no_endpoint.header("x-request-id"), "00000000000000040000000000000005");

  const auto wrong_method = h.run(ClientRequest{"GET", "/v1/completions", id, ""});
  ASSERT_TRUE(wrong_method.head);
  EXPECT_EQ(wrong_method.head->status, 405);
  EXPECT_EQ(wrong_method.header("x-request-id"), "err-1");

  ASSERT_EQ(h.records.size(), 3u);
  EXPECT_EQ(h.records[0].request_id, "err-1");
  EXPECT_EQ(h.records[1].request_id, "00000000000000040000000000000005");
}

TEST_F(IdentityTest, TheModelServersRequestIdDoesNotReachTheClient) {
  ScriptedReply reply = completion_reply("hello");
  reply.headers = {{"x-request-id", "the-servers-own"}};
  h.upstream.fallback["10.0.0.1:8000"] = reply;
  // A model server may answer with an id of its own; the client hears the gateway's, once.
  const auto res =
      h.post("/v1/completions", R"({"model":"m","prompt":"x"})", {{"x-request-id", "mine"}});
  ASSERT_TRUE(res.head);
  EXPECT_EQ(count_header(res.head->headers, "x-request-id"), 1u);
  EXPECT_EQ(res.header("x-request-id"), "mine");
}

TEST_F(IdentityTest, TheLogLineHoldsNoPromptCompletionOrCredential) {
  h.upstream.fallback["10.0.0.1:8000"] = completion_reply("SECRET-COMPLETION-TEXT");
  h.post("/v1/completions?api_key=SECRET-QUERY-KEY",
         R"({"model":"m","prompt":"SECRET-PROMPT-TEXT","user":"SECRET-USER"})",
         {{"authorization", "Bearer SECRET-API-KEY"},
          {"x-api-key", "SECRET-OTHER-KEY"},
          {"cookie", "session=SECRET-COOKIE"},
          {"x-request-id", "visible-id"}});
  ASSERT_EQ(h.records.size(), 1u);
  for (const auto format : {AccessLogFormat::kJson, AccessLogFormat::kText}) {
    std::string line;
    append_access_log_line(line, h.records[0], format, std::chrono::system_clock::now());
    EXPECT_EQ(line.find("SECRET"), std::string::npos) << line;
    EXPECT_NE(line.find("visible-id"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace infergate::gateway::testing
