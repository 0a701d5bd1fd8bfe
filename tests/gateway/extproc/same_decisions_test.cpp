// The picker decides as the standalone gateway does: over the same configuration, the same
// fixed metrics and the same random source, requests sent one at a time land on the same
// endpoints whether they come through the HTTP front end's RequestHandler or an ext_proc
// stream. Both drive the same phases and the default scheduling profile (with its prefix index).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <set>

#include "../fakes.hpp"
#include "gateway/extproc/extproc_stream.hpp"
#include "gateway/scheduling/framework/build.hpp"
#include "gateway/scheduling/framework/prefix_indexes.hpp"

namespace infergate::gateway::extproc {
namespace {

const char* kConfig = R"(
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
  - {name: a, address: "10.0.0.1:8000", labels: {app: llama}}
  - {name: b, address: "10.0.0.2:8000", labels: {app: llama}}
  - {name: c, address: "10.0.0.3:8000", labels: {app: llama}}
  - {name: d, address: "10.0.0.4:8000", labels: {app: llama}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: llama}}}
)";

// A pool under the default profile, its metrics fixed per request: queues and KV use that differ
// per endpoint, so the scorers disagree and the prefix index decides some of the picks.
struct FixedFleet final : SnapshotSource {
  FixedFleet()
      : prefix(std::make_shared<scheduling::PrefixIndexes>()),
        datastore(scheduling::scheduler_factory({}, prefix), {prefix}) {
    config::LoadResult loaded;
    config::load_text(kConfig, "test.yaml", loaded);
    snapshot = datastore.reconcile(config::build_config(std::move(loaded)).config);
  }
  // The metrics before request `n`: the same sequence for both fleets, turning over so that
  // the least loaded endpoint changes.
  void publish(int n) {
    PoolState& pool = *snapshot->pools[0];
    std::vector<std::shared_ptr<const EndpointSample>> samples;
    const double waiting[] = {2, 0, 1, 4}, kv[] = {0.3, 0.6, 0.2, 0.1};
    for (std::size_t i = 0; i < pool.endpoints.size(); ++i) {
      auto sample = std::make_shared<EndpointSample>();
      sample->metrics.waiting = waiting[(i + static_cast<std::size_t>(n)) % 4];
      sample->metrics.kv_usage = kv[(i + static_cast<std::size_t>(n) / 2) % 4];
      sample->scraped_at = clock.now();
      samples.push_back(std::move(sample));
    }
    pool.view.store(
        make_metrics_view(std::move(samples), std::vector<char>(pool.endpoints.size(), 1)));
  }
  std::shared_ptr<const Snapshot> current() const override { return snapshot; }

  ManualClock clock{TimePoint{std::chrono::seconds(100)}};
  std::shared_ptr<scheduling::PrefixIndexes> prefix;
  Datastore datastore;
  std::shared_ptr<const Snapshot> snapshot;
  gateway::testing::FakeUpstream upstream;
  Mt19937Random random{11};
};

std::string body_of(int i) {
  // Three conversations: each later turn repeats its conversation's earlier text.
  std::string text = "conversation " + std::to_string(i % 3) + ": ";
  for (int turn = 0; turn <= i / 3; ++turn)
    text += "turn " + std::to_string(turn) + " says something long enough to fill blocks. ";
  return R"({"model":"llama","messages":[{"role":"user","content":")" + text + R"("}]})";
}

struct Sink final : ReplySink {
  void send(pb::ProcessingResponse reply) override { replies.push_back(std::move(reply)); }
  void finish() override {}
  std::vector<pb::ProcessingResponse> replies;
};

void add_header(envoy::config::core::v3::HeaderMap& map, const std::string& k,
                const std::string& v) {
  auto* h = map.add_headers();
  h->set_key(k);
  h->set_raw_value(v);
}

TEST(SameDecisions, PickerAndStandaloneGatewayChooseTheSameEndpoints) {
  constexpr int kRequests = 15;
  // The x-request-id is given, so neither front end draws one from the random source.
  const HeaderList headers = {{"content-type", "application/json"}, {"x-request-id", "r"}};

  FixedFleet standalone;
  standalone.upstream.fallback["10.0.0.1:8000"] = {};
  standalone.upstream.fallback["10.0.0.2:8000"] = {};
  standalone.upstream.fallback["10.0.0.3:8000"] = {};
  standalone.upstream.fallback["10.0.0.4:8000"] = {};
  for (auto& [address, reply] : standalone.upstream.fallback)
    reply.body_pieces = {R"({"model":"llama","choices":[]})"};
  RequestHandler handler(standalone, standalone.upstream, standalone.random, standalone.clock, {});
  std::vector<std::string> gateway_picks;
  for (int i = 0; i < kRequests; ++i) {
    standalone.publish(i);
    const std::string body = body_of(i);
    gateway::testing::MemoryResponse response;
    boost::asio::io_context io;
    const ClientRequest request{"POST", "/v1/chat/completions", headers, body};
    boost::asio::co_spawn(io, handler.handle(request, response), [](const std::exception_ptr& e) {
      if (e) std::rethrow_exception(e);
    });
    io.run();
    ASSERT_EQ(response.head->status, 200);
    gateway_picks.push_back(standalone.upstream.received.back().address);
  }

  FixedFleet picker;
  RequestPhases phases(picker, picker.upstream, picker.random, picker.clock, {},
                       RequestHandler::builtin_request_control());
  std::vector<std::string> picker_picks;
  for (int i = 0; i < kRequests; ++i) {
    picker.publish(i);
    boost::asio::io_context io;
    auto sink = std::make_shared<Sink>();
    auto stream = std::make_shared<ExtProcStream>(phases, io.get_executor(), sink, StreamOptions{});
    pb::ProcessingRequest h;
    add_header(*h.mutable_request_headers()->mutable_headers(), ":method", "POST");
    add_header(*h.mutable_request_headers()->mutable_headers(), ":path", "/v1/chat/completions");
    for (const auto& [k, v] : headers)
      add_header(*h.mutable_request_headers()->mutable_headers(), k, v);
    stream->on_message(h);
    pb::ProcessingRequest b;
    b.mutable_request_body()->set_body(body_of(i));
    b.mutable_request_body()->set_end_of_stream(true);
    stream->on_message(b);
    io.run();
    ASSERT_FALSE(sink->replies.empty());
    ASSERT_TRUE(sink->replies[0].has_request_headers()) << sink->replies[0].DebugString();
    std::string destination;
    for (const auto& o :
         sink->replies[0].request_headers().response().header_mutation().set_headers())
      if (o.header().key() == kDestinationHeader) destination = o.header().raw_value();
    picker_picks.push_back(destination);
    // The response ends, as the standalone one did, so the in-flight counters are the same.
    pb::ProcessingRequest r;
    add_header(*r.mutable_response_headers()->mutable_headers(), ":status", "200");
    r.mutable_response_headers()->set_end_of_stream(true);
    stream->on_message(r);
    stream->on_client_closed();
  }
  EXPECT_EQ(picker_picks, gateway_picks);
  // The picks are not all alike (the test would prove little otherwise).
  EXPECT_GT(std::set<std::string>(gateway_picks.begin(), gateway_picks.end()).size(), 1u);
}

}  // namespace
}  // namespace infergate::gateway::extproc
