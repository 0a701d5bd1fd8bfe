// Each phase alone over a RequestContext, with no sockets and no front end: what it writes into
// the context, and the RequestError it returns when the request cannot go on.
#include "gateway/lifecycle/phases.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "../fakes.hpp"

namespace infergate::gateway::testing {
namespace {
namespace net = boost::asio;

const char* kConfig = R"(
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
  - {name: l0, address: "10.0.0.1:8000", labels: {app: llama}}
  - {name: l1, address: "10.0.0.2:8000", labels: {app: llama}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: llama}}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: food}
spec:
  modelName: food-review
  criticality: Sheddable
  poolRef: {name: llama}
  targetModels: [{name: food-review-1}]
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: urgent}
spec: {priority: 5, poolRef: {name: llama}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: X-Gateway-Model-Name, value: food-review}]}]
    backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: llama}]
)";

const char* kKeys = R"(---
apiVersion: infergate.dev/v1alpha1
kind: ApiKeys
metadata: {name: keys}
spec:
  keys:
  - {key: sk-team-a, tenant: team-a, maxPriority: 0}
)";

// A refusal at admission, and every other hook counted.
struct Recorder final : RequestControlPlugin {
  std::string_view name() const override { return "recorder"; }
  std::optional<RequestError> admit(const RequestContext&) override {
    if (refuse) return RequestError::gateway(403, "refused by the recorder");
    return std::nullopt;
  }
  void pre_request(RequestContext&, Endpoint& ep) override { pre.push_back(ep.address); }
  void response_header(RequestContext&, Endpoint&, const ResponseHead& h) override {
    heads.push_back(h.status);
  }
  void response_body(RequestContext&, Endpoint&, std::string_view piece, bool end) override {
    if (end)
      ++ends;
    else
      pieces += piece;
  }
  bool refuse = false;
  std::vector<std::string> pre;
  std::vector<int> heads;
  std::string pieces;
  int ends = 0;
};

struct Phases {
  explicit Phases(const std::string& yaml = kConfig, HandlerOptions options = {})
      : snapshots(yaml), phases(snapshots, upstream, random, clock, options, control) {
    control.add(recorder);
  }
  ClientRequest post(std::string body, HeaderList headers = {}) {
    body_text = std::move(body);
    return ClientRequest{"POST", "/v1/completions", std::move(headers), body_text};
  }
  // The phases before admission: parse, route, resolve model.
  bool resolve(RequestContext& ctx) {
    if (phases.parse(ctx) || phases.route(ctx)) return false;
    phases.resolve_model(ctx);
    return true;
  }
  // Runs an awaitable phase to its end.
  template <typename T>
  T run(net::awaitable<T> phase) {
    net::io_context io;
    std::optional<T> out;
    net::co_spawn(io, std::move(phase), [&](const std::exception_ptr& e, T value) {
      if (e) std::rethrow_exception(e);
      out = std::move(value);
    });
    io.run();
    return std::move(*out);
  }

  StaticSnapshots snapshots;
  FakeUpstream upstream;
  Mt19937Random random{3};
  ManualClock clock;
  RequestControl control;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  RequestPhases phases;
  std::string body_text;
};

TEST(Phases, AuthenticateNeedsAListedKeyOnlyWithAKeyTable) {
  Phases open;
  const ClientRequest anyone = open.post("{}");
  RequestContext a = open.phases.begin(anyone);
  EXPECT_FALSE(open.phases.authenticate(a));
  EXPECT_EQ(a.grant, nullptr);

  Phases keyed(std::string(kConfig) + kKeys);
  RequestContext missing = keyed.phases.begin(anyone);
  EXPECT_EQ(keyed.phases.authenticate(missing)->status, 401);
  const ClientRequest good = keyed.post("{}", {{"authorization", "Bearer sk-team-a"}});
  RequestContext ok = keyed.phases.begin(good);
  EXPECT_FALSE(keyed.phases.authenticate(ok));
  ASSERT_NE(ok.grant, nullptr);
  EXPECT_EQ(ok.grant->tenant, "team-a");
}

TEST(Phases, ParseReadsTheBodyOrSaysWhatIsWrong) {
  Phases p;
  const ClientRequest good = p.post(R"({"model":"food-review","prompt":"hello","stream":true})");
  RequestContext ctx = p.phases.begin(good);
  EXPECT_FALSE(p.phases.parse(ctx));
  ASSERT_TRUE(ctx.parsed);
  EXPECT_EQ(ctx.parsed->model, "food-review");
  EXPECT_TRUE(ctx.record.streamed);

  const ClientRequest bad = p.post(R"({"prompt":"no model"})");
  RequestContext b = p.phases.begin(bad);
  const auto e = p.phases.parse(b);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->source, ErrorSource::kClient);

  ClientRequest get = good;
  get.method = "GET";
  RequestContext g = p.phases.begin(get);
  EXPECT_EQ(p.phases.parse(g)->status, 405);
  ClientRequest elsewhere = good;
  elsewhere.target = "/v2/nothing?x=1";
  RequestContext n = p.phases.begin(elsewhere);
  EXPECT_EQ(n.path, "/v2/nothing");
  EXPECT_EQ(p.phases.parse(n)->status, 404);
}

TEST(Phases, RouteAndResolveModelFollowTheRulesAndTheTrustRule) {
  Phases p;
  const ClientRequest request = p.post(R"({"model":"food-review","prompt":"hello"})",
                                       {{"x-gateway-inference-objective", "urgent"}});
  RequestContext ctx = p.phases.begin(request);
  ASSERT_FALSE(p.phases.parse(ctx));
  ASSERT_FALSE(p.phases.route(ctx));
  EXPECT_EQ(ctx.record.pool, "default/llama");
  ASSERT_NE(ctx.pool, nullptr);
  p.phases.resolve_model(ctx);
  EXPECT_EQ(ctx.resolution.target_model, "food-review-1");
  EXPECT_EQ(ctx.scheduling.target_model, "food-review-1");
  // An untrusted claim may not raise the model's priority (Sheddable: -1).
  EXPECT_EQ(ctx.priority, -1);
  EXPECT_EQ(ctx.flow, "default-flow");

  const ClientRequest unknown = p.post(R"({"model":"nobody","prompt":"hello"})");
  RequestContext u = p.phases.begin(unknown);
  ASSERT_FALSE(p.phases.parse(u));
  const auto e = p.phases.route(u);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 404);
  EXPECT_EQ(e->param, "model");
}

TEST(Phases, AdmitAsksThePluginsFirst) {
  Phases p;
  const ClientRequest request = p.post(R"({"model":"food-review","prompt":"hello"})");
  RequestContext ctx = p.phases.begin(request);
  ASSERT_TRUE(p.resolve(ctx));
  EXPECT_FALSE(p.run(p.phases.admit(ctx)));
  p.recorder->refuse = true;
  const auto refused = p.run(p.phases.admit(ctx));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
}

TEST(Phases, PickTakesEachEndpointOnceThenSaysWhy) {
  Phases p;
  const ClientRequest request = p.post(R"({"model":"food-review","prompt":"hello"})");
  RequestContext ctx = p.phases.begin(request);
  ASSERT_TRUE(p.resolve(ctx));
  ASSERT_FALSE(p.phases.pick(ctx));
  const Endpoint* first = ctx.endpoint.get();
  ASSERT_FALSE(p.phases.pick(ctx));
  EXPECT_NE(ctx.endpoint.get(), first);
  const auto e = p.phases.pick(ctx);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 503);
  EXPECT_NE(e->message.find("(pool default/llama)"), std::string::npos) << e->message;
  EXPECT_EQ(ctx.tried.size(), 2u);
}

TEST(Phases, AnAttemptAlwaysEndsOnceAndCountsInFlight) {
  Phases p;
  RequestControl builtin = RequestControl::with_builtin_plugins();
  const ClientRequest request = p.post(R"({"model":"food-review","prompt":"hello"})");
  RequestContext ctx = p.phases.begin(request);
  ASSERT_TRUE(p.resolve(ctx));
  ASSERT_FALSE(p.phases.pick(ctx));
  Endpoint& ep = *ctx.endpoint;
  {
    Attempt abandoned(ctx, builtin, ctx.endpoint);
    EXPECT_EQ(ep.in_flight.load(), 1);
    EXPECT_EQ(ep.in_flight_tokens.load(), ctx.scheduling.expected_tokens);
  }  // never answered: ended all the same
  EXPECT_EQ(ep.in_flight.load(), 0);
  EXPECT_EQ(ep.in_flight_tokens.load(), 0);
  {
    Attempt answered(ctx, p.control, ctx.endpoint);
    answered.response_header(ResponseHead{200, {}, 2});
    answered.response_body("ok");
    answered.end();
  }
  EXPECT_EQ(p.recorder->pre.size(), 1u);
  EXPECT_EQ(p.recorder->heads, std::vector<int>{200});
  EXPECT_EQ(p.recorder->pieces, "ok");
  EXPECT_EQ(p.recorder->ends, 1);
}

TEST(Phases, ForwardRetriesOnlyWhatCannotHaveRun) {
  Phases p;
  ScriptedReply refused;
  refused.failure = UpstreamFailure::kConnect;
  ScriptedReply closed;
  closed.failure = UpstreamFailure::kClosedBeforeStatus;
  const ClientRequest request = p.post(R"({"model":"food-review","prompt":"hello"})");
  const auto forward = [&](RequestContext& ctx) -> net::awaitable<std::optional<RequestError>> {
    std::optional<Attempt> attempt;
    ResponseHead head;
    auto e = co_await p.phases.forward(ctx, attempt, head);
    co_return e;
  };
  const auto ready = [&](RequestContext& ctx) {
    ASSERT_TRUE(p.resolve(ctx));
    p.phases.prepare_upstream_request(ctx, net::system_executor());
  };
  // A refused connection goes to the other endpoint; an orderly close is not sent again.
  p.upstream.fallback["10.0.0.1:8000"] = refused;
  p.upstream.fallback["10.0.0.2:8000"] = closed;
  RequestContext ctx = p.phases.begin(request);
  ready(ctx);
  const auto e = p.run(forward(ctx));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 502);
  EXPECT_FALSE(e->retryable);
  EXPECT_EQ(ctx.record.attempts, 2);
  EXPECT_EQ(p.recorder->ends, 2) << "both attempts gave back what pre-request took";
  EXPECT_EQ(ctx.upstream_request.replacement, "\"food-review-1\"");
}

TEST(Phases, AccountHandsTheRecordOnWithItsTotalTime) {
  Phases p;
  std::vector<RequestRecord> records;
  p.phases.on_complete = [&](const RequestRecord& r) { records.push_back(r); };
  const ClientRequest request = p.post(R"({"model":"food-review","prompt":"hello"})");
  RequestContext ctx = p.phases.begin(request);
  ASSERT_FALSE(p.phases.parse(ctx));
  p.clock.advance(std::chrono::milliseconds(7));
  p.phases.account(ctx);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].model, "food-review");
  EXPECT_EQ(records[0].total, std::chrono::milliseconds(7));
}

}  // namespace
}  // namespace infergate::gateway::testing
