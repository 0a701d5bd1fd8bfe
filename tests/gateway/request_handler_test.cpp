// The request path driven through an in-memory front end and scripted model servers.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <set>

#include "fakes.hpp"
#include "support/sse_parser.hpp"

namespace infergate::gateway::testing {
namespace {
namespace json = boost::json;

// Two pools: "llama" (two endpoints) for everything, "qwen" (one endpoint) by header match;
// "food-review" is rewritten to one adapter; pool "empty" selects nothing.
const char* kConfig = R"(
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
  - {name: l0, address: "10.0.0.1:8000", labels: {app: llama}}
  - {name: l1, address: "10.0.0.2:8000", labels: {app: llama}}
  - {name: q0, address: "10.0.1.1:8000", labels: {app: qwen}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: llama}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: qwen}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: qwen}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: empty}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: none}}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: food}
spec:
  modelName: food-review
  poolRef: {name: llama}
  targetModels: [{name: food-review-1}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - matches: [{path: {value: /v1}, headers: [{name: X-Gateway-Model-Name, value: qwen}]}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: qwen}]
  - matches: [{path: {value: /v1}, headers: [{name: X-Gateway-Model-Name, value: nobody-home}]}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: empty}]
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: llama}]
)";

std::string completion_json(const std::string& model, const std::string& usage = "") {
  return R"({"id":"cmpl-1","object":"text_completion","model":")" + model +
         R"(","choices":[{"index":0,"text":"hello","finish_reason":"length"}])" +
         (usage.empty() ? "" : R"(,"usage":)" + usage) + "}";
}

std::string chunk(const std::string& model, const std::string& text) {
  return R"(data: {"id":"c","object":"text_completion","model":")" + model +
         R"(","choices":[{"index":0,"text":")" + text + R"(","finish_reason":null}]})" + "\n\n";
}

ScriptedReply ok_json(const std::string& body) {
  ScriptedReply r;
  r.body_pieces = {body};
  return r;
}

json::value error_of(const MemoryResponse& r) { return json::parse(r.body).at("error"); }

TEST(RequestPath, RoutesRewritesTheModelAndRewritesItBack) {
  HandlerOptions options;
  options.expose_endpoint = true;
  Harness h(kConfig, options);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json(
      "food-review-1",
      R"({"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":4}})"));
  const auto res =
      h.post("/v1/completions", R"({"model": "food-review", "prompt": "hi", "max_tokens": 1})");
  ASSERT_TRUE(res.head);
  EXPECT_EQ(res.head->status, 200);
  ASSERT_EQ(h.upstream.received.size(), 1u);
  EXPECT_EQ(h.upstream.received[0].body,
            R"({"model": "food-review-1", "prompt": "hi", "max_tokens": 1})")
      << "only the model value changes";
  EXPECT_EQ(json::parse(res.body).at("model").as_string(), "food-review");
  EXPECT_EQ(res.head->content_length, res.body.size());
  EXPECT_EQ(res.header("x-gateway-destination-endpoint-served"), "10.0.0.1:8000");
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].target_model, "food-review-1");
  ASSERT_TRUE(h.records[0].usage);
  EXPECT_EQ(h.records[0].usage->cached_tokens, 4);
}

TEST(RequestPath, UndeclaredModelsPassThroughUnchanged) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("other"));
  const std::string body = R"({"model":"other","prompt":"x"})";
  const auto res = h.post("/v1/completions", body);
  EXPECT_EQ(res.head->status, 200);
  EXPECT_EQ(h.upstream.received[0].body, body);
  EXPECT_EQ(res.body, completion_json("other"));
}

TEST(RequestPath, HeaderRoutesUseTheBodyModel) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.1.1:8000"] = ok_json(completion_json("qwen"));
  const auto res = h.post("/v1/completions", R"({"model":"qwen","prompt":"x"})");
  EXPECT_EQ(res.head->status, 200);
  EXPECT_EQ(h.upstream.received.at(0).address, "10.0.1.1:8000");
  EXPECT_EQ(h.records[0].pool, "default/qwen");
}

TEST(RequestPath, ForwardsHeadersButNotControlOrHopByHopOnes) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  h.post("/v1/completions", R"({"model":"m","prompt":"x"})",
         {{"authorization", "Bearer k"},
          {"x-gateway-destination-endpoint", "6.6.6.6:1"},
          {"x-gateway-destination-endpoint-subset", "6.6.6.6:1"},
          {"connection", "keep-alive"},
          {"x-gateway-model-name", "spoofed"}});
  const auto& fwd = h.upstream.received.at(0).request.headers;
  EXPECT_EQ(find_header(fwd, "authorization"), "Bearer k");
  EXPECT_FALSE(find_header(fwd, "x-gateway-destination-endpoint"));
  EXPECT_FALSE(find_header(fwd, "x-gateway-destination-endpoint-subset"));
  EXPECT_FALSE(find_header(fwd, "connection"));
  EXPECT_EQ(find_header(fwd, "x-gateway-model-name"), "m");
  EXPECT_EQ(find_header(fwd, "x-request-id")->size(), 32u);
  EXPECT_EQ(h.upstream.received.at(0).address, "10.0.0.1:8000") << "the client cannot choose";
}

TEST(RequestPath, StreamsEventsUnchangedAndCountsThem) {
  Harness h(kConfig);
  ScriptedReply r;
  r.content_type = "text/event-stream";
  const std::string stream =
      chunk("m", "a") + chunk("m", "b") + chunk("m", "c") + "data: [DONE]\n\n";
  // Split at awkward places: inside an event and inside "data:".
  r.body_pieces = {stream.substr(0, 30), stream.substr(30, 100), stream.substr(130, 3),
                   stream.substr(133)};
  h.upstream.fallback["10.0.0.1:8000"] = r;
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x","stream":true})");
  EXPECT_FALSE(res.head->content_length) << "a stream is not buffered";
  EXPECT_EQ(res.body, stream) << "bytes forwarded unchanged";
  // Each write holds the whole events that the pieces read so far completed, and no part of
  // the next one: a piece that completes nothing waits for its event's end.
  EXPECT_EQ(res.pieces.size(), 2u);  // 30 and 133 bytes in: no event complete
  for (const auto& piece : res.pieces) EXPECT_TRUE(piece.ends_with("\n\n")) << piece;
  EXPECT_TRUE(res.finished);
  EXPECT_EQ(h.records[0].counted_output, 3);
  EXPECT_FALSE(h.records[0].usage);
}

TEST(RequestPath, StreamWithRewriteReframesEventsWithTheClientModel) {
  Harness h(kConfig);
  ScriptedReply r;
  r.content_type = "text/event-stream";
  const std::string usage_event =
      R"(data: {"id":"c","model":"food-review-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}})"
      "\n\n";
  const std::string stream =
      chunk("food-review-1", "a") + chunk("food-review-1", "b") + usage_event + "data: [DONE]\n\n";
  r.body_pieces = {stream.substr(0, 50), stream.substr(50)};
  h.upstream.fallback["10.0.0.1:8000"] = r;
  const auto res =
      h.post("/v1/completions", R"({"model":"food-review","prompt":"x","stream":true})");
  std::vector<std::string> events;
  infergate::testing::SseParser parser;
  parser.feed(res.body,
              [&](const infergate::testing::SseEvent& e) { events.emplace_back(e.data); });
  ASSERT_EQ(events.size(), 4u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(json::parse(events[i]).at("model").as_string(), "food-review");
  EXPECT_EQ(events[3], "[DONE]");
  ASSERT_TRUE(h.records[0].usage);
  EXPECT_EQ(h.records[0].usage->completion_tokens, 2);
}

TEST(RequestPath, RetriesAnotherEndpointBeforeTheFirstByte) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] = ScriptedReply{UpstreamFailure::kConnect, 0, "", {}, false};
  h.upstream.fallback["10.0.0.2:8000"] = ok_json(completion_json("m"));
  for (int i = 0; i < 4; ++i) {
    const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
    EXPECT_EQ(res.head->status, 200);
  }
  int retried = 0;
  for (const auto& r : h.records) retried += r.attempts > 1;
  EXPECT_EQ(retried, 2) << "round-robin sends half of them to the dead endpoint first";
}

TEST(RequestPath, ARequestThatMayHaveReachedTheModelServerIsNeverSentElsewhere) {
  // Each failure, with whether another endpoint may be tried and the status when it may not.
  const std::vector<std::tuple<UpstreamFailure, bool, int>> cases{
      {UpstreamFailure::kConnect, true, 0},
      {UpstreamFailure::kNotDelivered, true, 0},
      {UpstreamFailure::kClosedBeforeStatus, false, 502},
      {UpstreamFailure::kProtocol, false, 502},
      {UpstreamFailure::kTimeout, false, 504}};
  for (const auto& [failure, retried, status] : cases) {
    Harness h(kConfig);
    h.upstream.fallback["10.0.0.1:8000"] = ScriptedReply{failure, 0, "", {}, false};
    h.upstream.fallback["10.0.0.2:8000"] = ok_json(completion_json("m"));
    // Round-robin: of two requests, one goes to the failing endpoint first.
    int sent_to_both = 0;
    std::set<int> statuses;
    for (int i = 0; i < 2; ++i) {
      const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
      statuses.insert(res.head->status);
    }
    for (const auto& r : h.records) sent_to_both += r.attempts > 1;
    const std::string name(upstream_failure_name(failure));
    if (retried) {
      EXPECT_EQ(sent_to_both, 1) << name;
      EXPECT_EQ(statuses, std::set<int>{200}) << name;
    } else {
      EXPECT_EQ(sent_to_both, 0) << name;
      EXPECT_EQ(statuses, (std::set<int>{200, status})) << name;
      EXPECT_EQ(h.upstream.received.size(), 2u) << name << ": sent once each";
    }
  }
}

TEST(RequestPath, RetriesOverloadedAnswersAndPassesTheLastOneThrough) {
  Harness h(kConfig);
  ScriptedReply busy;
  busy.status = 429;
  busy.body_pieces = {R"({"error":{"message":"busy"}})"};
  h.upstream.fallback["10.0.0.1:8000"] = busy;
  h.upstream.fallback["10.0.0.2:8000"] = ok_json(completion_json("m"));
  EXPECT_EQ(h.post("/v1/completions", R"({"model":"m","prompt":"x"})").head->status, 200);
  h.upstream.fallback["10.0.0.2:8000"] = busy;
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
  EXPECT_EQ(res.head->status, 429)
      << "when every endpoint is busy, the server's answer reaches the client";
  EXPECT_EQ(h.records.back().attempts, 2);
}

TEST(RequestPath, AllEndpointsFailedIs503AndNoEndpointsIs503) {
  Harness h(kConfig);
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
  EXPECT_EQ(res.head->status, 503);
  EXPECT_EQ(error_of(res).at("type").as_string(), "ServiceUnavailableError");
  EXPECT_NE(std::string(error_of(res).at("message").as_string()).find("all endpoints failed"),
            std::string::npos);
  const auto empty = h.post("/v1/completions", R"({"model":"nobody-home","prompt":"x"})");
  EXPECT_EQ(empty.head->status, 503);
  EXPECT_NE(std::string(error_of(empty).at("message").as_string()).find("no endpoints"),
            std::string::npos);
}

TEST(RequestPath, UpstreamTimeoutIs504WithoutRetry) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] = ScriptedReply{UpstreamFailure::kTimeout, 0, "", {}, false};
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
  EXPECT_EQ(res.head->status, 504);
  EXPECT_EQ(h.records[0].attempts, 1);
}

TEST(RequestPath, FailureMidStreamEndsWithAnErrorEvent) {
  Harness h(kConfig);
  ScriptedReply r;
  r.content_type = "text/event-stream";
  r.body_pieces = {chunk("m", "a")};
  r.break_after_pieces = true;
  h.upstream.fallback["10.0.0.1:8000"] = r;
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x","stream":true})");
  EXPECT_EQ(res.head->status, 200);
  std::vector<std::string> events;
  infergate::testing::SseParser parser;
  parser.feed(res.body,
              [&](const infergate::testing::SseEvent& e) { events.emplace_back(e.data); });
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(json::parse(events[1]).as_object().contains("error"));
  EXPECT_EQ(h.upstream.received.size(), 1u) << "never retried after a byte reached the client";
}

TEST(RequestPath, AStreamCutInsideAnEventForwardsOnlyWholeEvents) {
  for (const bool rewrite : {false, true}) {
    Harness h(kConfig);
    ScriptedReply r;
    r.content_type = "text/event-stream";
    const std::string whole = chunk(rewrite ? "food-review-1" : "m", "a");
    r.body_pieces = {whole, whole.substr(0, whole.size() / 2)};  // the second one cut short
    r.break_after_pieces = true;
    h.upstream.fallback["10.0.0.1:8000"] = r;
    h.upstream.fallback["10.0.0.2:8000"] = r;
    const std::string model = rewrite ? "food-review" : "m";  // rewritten to food-review-1
    const auto res =
        h.post("/v1/completions", R"({"model":")" + model + R"(","prompt":"x","stream":true})");
    ASSERT_EQ(res.head->status, 200);
    std::vector<std::string> events;
    infergate::testing::SseParser parser;
    parser.feed(res.body,
                [&](const infergate::testing::SseEvent& e) { events.emplace_back(e.data); });
    parser.finish([&](const infergate::testing::SseEvent& e) { events.emplace_back(e.data); });
    ASSERT_EQ(events.size(), 2u) << res.body;
    EXPECT_TRUE(json::parse(events[0]).as_object().contains("choices")) << events[0];
    EXPECT_TRUE(json::parse(events[1]).as_object().contains("error")) << events[1];
  }
}

TEST(RequestPath, AClientThatGoesAwayStopsTheRelay) {
  Harness h(kConfig);
  ScriptedReply r;
  r.content_type = "text/event-stream";
  for (int i = 0; i < 100; ++i) r.body_pieces.push_back(chunk("m", "t"));
  h.upstream.fallback["10.0.0.1:8000"] = r;
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x","stream":true})", {}, 3);
  EXPECT_EQ(res.writes, 3);
  EXPECT_FALSE(res.finished);
}

TEST(RequestPath, ARouteTimeoutThatDoesNotFireChangesNothing) {
  std::string config = kConfig;
  config += "    timeouts: {request: 10s}\n";  // on the last rule (the /v1 prefix)
  Harness h(config);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
  EXPECT_EQ(res.head->status, 200);
  EXPECT_TRUE(res.finished);
  EXPECT_FALSE(h.records.at(0).error);
}

TEST(RequestPath, MirrorsACopyWithoutAffectingThePrimary) {
  std::string config = kConfig;
  config +=
      "    filters: [{type: RequestMirror, requestMirror: {backendRef: {group: "
      "inference.networking.k8s.io, kind: InferencePool, name: qwen}}}]\n";
  Harness h(config);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  h.upstream.fallback["10.0.1.1:8000"] =
      ScriptedReply{UpstreamFailure::kClosedBeforeStatus, 0, "", {}, false};
  const std::string body = R"({"model":"m","prompt":"x"})";
  const auto res = h.post("/v1/completions", body);
  EXPECT_EQ(res.head->status, 200) << "a failing mirror does not fail the request";
  ASSERT_EQ(h.upstream.received.size(), 2u);
  std::set<std::string> addresses;
  for (const auto& r : h.upstream.received) {
    addresses.insert(r.address);
    EXPECT_EQ(r.body, body);
  }
  EXPECT_EQ(addresses, (std::set<std::string>{"10.0.0.1:8000", "10.0.1.1:8000"}));
  EXPECT_EQ(h.records.at(0).attempts, 1);
}

// Without API keys the client's Authorization goes to the primary pool (a model server's own
// key, passed through) unless the pool has a credential of its own; a mirror gets only its
// pool's credential, never the client's; no pool gets the client's control headers.
TEST(RequestPath, EachPoolGetsItsOwnCredentialAndNoControlHeader) {
  ::setenv("INFERGATE_TEST_QWEN_KEY", "qwen-secret", 1);
  std::string config = kConfig;
  config +=
      "    filters: [{type: RequestMirror, requestMirror: {backendRef: {group: "
      "inference.networking.k8s.io, kind: InferencePool, name: qwen}}}]\n";
  const std::string mirror_policy = R"(---
apiVersion: infergate.dev/v1alpha1
kind: UpstreamPolicy
metadata: {name: qwen-upstream}
spec:
  targetRef: {name: qwen}
  credential: {header: x-api-key, valueEnv: INFERGATE_TEST_QWEN_KEY}
)";
  const HeaderList client_headers{{"authorization", "Bearer client-own-key"},
                                  {"x-gateway-inference-objective", "urgent"},
                                  {"x-llm-d-inference-objective", "urgent"},
                                  {"x-gateway-inference-fairness-id", "team-x"},
                                  {"x-api-key", "client-made-up"}};
  Harness h(config + mirror_policy);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  h.upstream.fallback["10.0.1.1:8000"] = ok_json(completion_json("m"));
  EXPECT_EQ(h.post("/v1/completions", R"({"model":"m","prompt":"x"})", client_headers).head->status,
            200);
  ASSERT_EQ(h.upstream.received.size(), 2u);
  for (const auto& r : h.upstream.received) {
    const auto& fwd = r.request.headers;
    for (const char* control : {"x-gateway-inference-objective", "x-llm-d-inference-objective",
                                "x-gateway-inference-fairness-id"})
      EXPECT_FALSE(find_header(fwd, control)) << control << " reached " << r.address;
    if (r.address == "10.0.0.1:8000") {  // primary: no policy
      EXPECT_EQ(find_header(fwd, "authorization"), "Bearer client-own-key");
      EXPECT_EQ(find_header(fwd, "x-api-key"), "client-made-up");
    } else {  // mirror: its own credential only, replacing the client's header of that name
      EXPECT_FALSE(find_header(fwd, "authorization"));
      EXPECT_EQ(find_header(fwd, "x-api-key"), "qwen-secret");
      EXPECT_EQ(std::count_if(fwd.begin(), fwd.end(),
                              [](const auto& kv) { return kv.first == "x-api-key"; }),
                1);
    }
  }
}

TEST(RequestPath, TheMirrorPoolResolvesTheModelWithItsOwnInferenceModels) {
  std::string config = kConfig;
  config +=
      "    filters: [{type: RequestMirror, requestMirror: {backendRef: {group: "
      "inference.networking.k8s.io, kind: InferencePool, name: qwen}}}]\n";
  Harness h(config);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("food-review-1"));
  h.upstream.fallback["10.0.1.1:8000"] = ok_json(completion_json("food-review"));
  const auto res = h.post("/v1/completions", R"({"model":"food-review","prompt":"x"})");
  EXPECT_EQ(res.head->status, 200);
  ASSERT_EQ(h.upstream.received.size(), 2u);
  for (const auto& r : h.upstream.received) {
    // llama rewrites food-review to its adapter; qwen declares nothing, so the model passes
    // through.
    const std::string expected = r.address == "10.0.1.1:8000" ? "food-review" : "food-review-1";
    EXPECT_EQ(json::parse(r.body).at("model").as_string(), expected) << r.address;
  }
}

TEST(RequestPath, WithAnApiKeyTableEveryRequestNeedsAListedKey) {
  std::string config = kConfig;
  config += R"(---
apiVersion: infergate.dev/v1alpha1
kind: ApiKeys
metadata: {name: keys}
spec:
  keys:
  - {key: sk-team-a-0123, tenant: team-a, maxPriority: 0}
)";
  Harness h(config);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  h.upstream.fallback["10.0.0.2:8000"] = ok_json(completion_json("m"));
  const std::string body = R"({"model":"m","prompt":"x"})";
  const auto missing = h.post("/v1/completions", body);
  EXPECT_EQ(missing.head->status, 401);
  EXPECT_EQ(error_of(missing).at("type").as_string(), "AuthenticationError");
  EXPECT_EQ(
      h.post("/v1/completions", body, {{"authorization", "Bearer sk-wrong-key"}}).head->status,
      401);
  EXPECT_EQ(h.run(ClientRequest{"GET", "/v1/models", {}, ""}).head->status, 401);
  EXPECT_TRUE(h.upstream.received.empty());
  EXPECT_EQ(
      h.post("/v1/completions", body, {{"authorization", "Bearer sk-team-a-0123"}}).head->status,
      200);
  // The gateway key authenticated the client; it never reaches the model server.
  EXPECT_FALSE(find_header(h.upstream.received.back().request.headers, "authorization"));
}

TEST(RequestPath, HeadersTheConnectionHeaderNamesAreNotForwarded) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  h.post("/v1/completions", R"({"model":"m","prompt":"x"})",
         {{"connection", "keep-alive, X-Secret-Hop ,x-other"},
          {"x-secret-hop", "1"},
          {"x-other", "2"},
          {"x-kept", "3"}});
  const auto& fwd = h.upstream.received.at(0).request.headers;
  EXPECT_FALSE(find_header(fwd, "x-secret-hop"));
  EXPECT_FALSE(find_header(fwd, "x-other"));
  EXPECT_EQ(find_header(fwd, "x-kept"), "3");
}

TEST(RequestPath, XForwardedForGetsTheClientAddressAppended) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  h.upstream.fallback["10.0.0.2:8000"] = ok_json(completion_json("m"));
  ClientRequest passed{"POST",
                       "/v1/completions",
                       {{"x-forwarded-for", "203.0.113.7"}},
                       R"({"model":"m","prompt":"x"})"};
  passed.peer = "192.0.2.1";
  h.run(passed);
  EXPECT_EQ(find_header(h.upstream.received.at(0).request.headers, "x-forwarded-for"),
            "203.0.113.7, 192.0.2.1");
  ClientRequest direct{"POST", "/v1/completions", {}, R"({"model":"m","prompt":"x"})"};
  direct.peer = "192.0.2.1";
  h.run(direct);
  EXPECT_EQ(find_header(h.upstream.received.at(1).request.headers, "x-forwarded-for"), "192.0.2.1");
}

TEST(RequestPath, TheServingEndpointIsToldToClientsOnlyWhenAskedFor) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("m"));
  const auto res = h.post("/v1/completions", R"({"model":"m","prompt":"x"})");
  EXPECT_EQ(res.head->status, 200);
  EXPECT_FALSE(res.header("x-gateway-destination-endpoint-served"));
}

// Claims in headers (docs/security.md): without an API key, a client may lower the priority
// its model gives but not raise it, and cannot choose a flow, unless --trust-client-claims; a
// key's grant caps claims at its maxPriority and names the flow.
TEST(RequestPath, PriorityAndFairnessClaimsFollowTheTrustRule) {
  std::string config = kConfig;
  config += R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: urgent}
spec: {priority: 5, poolRef: {name: llama}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: batch}
spec: {priority: -3, poolRef: {name: llama}}
)";
  const std::string body = R"({"model":"food-review","prompt":"x"})";  // Standard (0)
  const auto admitted = [&](Harness& h, HeaderList headers) {
    h.upstream.fallback["10.0.0.1:8000"] = ok_json(completion_json("food-review-1"));
    h.upstream.fallback["10.0.0.2:8000"] = ok_json(completion_json("food-review-1"));
    h.post("/v1/completions", body, std::move(headers));
    return std::pair{h.records.back().priority, h.records.back().flow};
  };
  Harness untrusted(config);
  EXPECT_EQ(admitted(untrusted, {{"x-gateway-inference-objective", "urgent"}}).first, 0)
      << "raising is not honoured";
  EXPECT_EQ(admitted(untrusted, {{"x-llm-d-inference-objective", "urgent"}}).first, 0);
  EXPECT_EQ(admitted(untrusted, {{"x-gateway-inference-objective", "batch"}}).first, -3)
      << "lowering is";
  EXPECT_EQ(admitted(untrusted, {{"x-gateway-inference-fairness-id", "team-x"}}).second,
            "default-flow");

  HandlerOptions trusting;
  trusting.trust_client_claims = true;
  Harness trusted(config, trusting);
  EXPECT_EQ(admitted(trusted, {{"x-gateway-inference-objective", "urgent"}}).first, 5);
  EXPECT_EQ(admitted(trusted, {{"x-llm-d-inference-objective", "urgent"}}).first, 5);
  EXPECT_EQ(admitted(trusted, {{"x-gateway-inference-fairness-id", "team-x"}}).second, "team-x");

  std::string keyed = config + R"(---
apiVersion: infergate.dev/v1alpha1
kind: ApiKeys
metadata: {name: keys}
spec:
  keys:
  - {key: sk-critical-0123, tenant: team-c, maxPriority: 1}
)";
  Harness with_keys(keyed);
  const auto [priority, flow] =
      admitted(with_keys, {{"authorization", "Bearer sk-critical-0123"},
                           {"x-gateway-inference-objective", "urgent"},
                           {"x-gateway-inference-fairness-id", "someone-else"}});
  EXPECT_EQ(priority, 1) << "a claim up to the key's maxPriority";
  EXPECT_EQ(flow, "team-c");
}

TEST(RequestPath, ClientErrors) {
  Harness h(kConfig);
  auto status_of = [&](const std::string& path, const std::string& body) {
    const auto res = h.post(path, body);
    EXPECT_EQ(res.header("content-type"), "application/json");
    return std::pair{res.head->status, std::string(error_of(res).at("type").as_string())};
  };
  EXPECT_EQ(status_of("/v1/completions", "{nope"),
            (std::pair{400, std::string("BadRequestError")}));
  EXPECT_EQ(status_of("/v1/completions", R"({"prompt":"x"})").first, 400);
  EXPECT_EQ(status_of("/v1/completions", R"({"model":7})").first, 400);
  EXPECT_EQ(status_of("/v1/completions", R"({"model":"m","stream":"yes"})").first, 400);
  EXPECT_EQ(status_of("/v2/unknown", R"({"model":"m"})"),
            (std::pair{404, std::string("NotFoundError")}));
  EXPECT_EQ(status_of("/other/chat/completions", R"({"model":"m"})").first, 404)
      << "no route matches /other";
  const auto get = h.run(ClientRequest{"GET", "/v1/completions", {}, ""});
  EXPECT_EQ(get.head->status, 405);
  EXPECT_TRUE(h.upstream.received.empty());
}

TEST(RequestPath, ModelsListsDeclaredAndReportedModels) {
  Harness h(kConfig);
  h.upstream.fallback["10.0.0.1:8000"] =
      ok_json(R"({"object":"list","data":[{"id":"base"},{"id":"food-review-1"}]})");
  h.upstream.fallback["10.0.1.1:8000"] = ok_json(R"({"object":"list","data":[{"id":"qwen"}]})");
  const auto res = h.run(ClientRequest{"GET", "/v1/models", {}, ""});
  ASSERT_EQ(res.head->status, 200);
  std::vector<std::string> ids;
  const json::value doc = json::parse(res.body);
  for (const auto& m : doc.at("data").as_array()) ids.emplace_back(m.at("id").as_string());
  EXPECT_EQ(ids, (std::vector<std::string>{"food-review", "base", "food-review-1", "qwen"}));
  h.run(ClientRequest{"GET", "/v1/models", {}, ""});
  EXPECT_EQ(h.upstream.received.size(), 2u) << "cached: the servers are asked once";
}

}  // namespace
}  // namespace infergate::gateway::testing
