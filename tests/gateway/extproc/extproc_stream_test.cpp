// One ext_proc stream over the phases, with no gRPC: the messages Envoy sends go in, and the
// replies are checked against Envoy's sequences (docs/extproc.md): order, the decision's
// header and metadata, body chunks, the model rewritten both ways, errors, and the request's
// hooks and account however the stream ends.
#include "gateway/extproc/extproc_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "../fakes.hpp"

namespace infergate::gateway::extproc {
namespace {
namespace net = boost::asio;
using gateway::testing::StaticSnapshots;
using ProcessingMode = envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;

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
  poolRef: {name: llama}
  targetModels: [{name: food-review-1}]
)";

// The replies a stream sent, and whether it ended.
struct Recorded final : ReplySink {
  void send(pb::ProcessingResponse reply) override { replies.push_back(std::move(reply)); }
  void finish() override { finished = true; }
  std::vector<pb::ProcessingResponse> replies;
  bool finished = false;
};

// Counts each request-control hook.
struct Hooks final : RequestControlPlugin {
  std::string_view name() const override { return "hooks"; }
  void pre_request(RequestContext&, Endpoint& ep) override { picked.push_back(ep.address); }
  void response_header(RequestContext&, Endpoint&, const ResponseHead& h) override {
    status = h.status;
  }
  void response_body(RequestContext&, Endpoint&, std::string_view piece, bool end) override {
    if (end)
      ++ends;
    else
      pieces += piece;
  }
  std::vector<std::string> picked;
  int status = 0;
  std::string pieces;
  int ends = 0;
};

void add_header(envoy::config::core::v3::HeaderMap& map, const std::string& k,
                const std::string& v) {
  auto* h = map.add_headers();
  h->set_key(k);
  h->set_raw_value(v);
}

struct Fixture {
  Fixture() : phases(snapshots, upstream, random, clock, {}, control) {
    control.add(hooks);
    phases.on_complete = [this](const RequestRecord& r) { records.push_back(r); };
  }

  std::shared_ptr<ExtProcStream> open(StreamOptions options = {}) {
    sink = std::make_shared<Recorded>();
    return std::make_shared<ExtProcStream>(phases, io.get_executor(), sink, options);
  }
  // Delivers a message and runs what it started.
  void deliver(ExtProcStream& s, pb::ProcessingRequest m) {
    s.on_message(std::move(m));
    io.restart();
    io.run();
  }
  static pb::ProcessingRequest request_headers(
      bool end_of_stream, ExtProcStream::BodyMode mode = ProcessingMode::FULL_DUPLEX_STREAMED,
      const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    pb::ProcessingRequest m;
    auto& h = *m.mutable_request_headers();
    add_header(*h.mutable_headers(), ":method", "POST");
    add_header(*h.mutable_headers(), ":path", "/v1/chat/completions");
    add_header(*h.mutable_headers(), ":authority", "gateway");
    add_header(*h.mutable_headers(), "content-type", "application/json");
    for (const auto& [k, v] : extra) add_header(*h.mutable_headers(), k, v);
    h.set_end_of_stream(end_of_stream);
    m.mutable_protocol_config()->set_request_body_mode(mode);
    m.mutable_protocol_config()->set_response_body_mode(mode);
    return m;
  }
  static pb::ProcessingRequest body(std::string_view bytes, bool end_of_stream,
                                    bool response = false) {
    pb::ProcessingRequest m;
    auto& b = response ? *m.mutable_response_body() : *m.mutable_request_body();
    b.set_body(std::string(bytes));
    b.set_end_of_stream(end_of_stream);
    return m;
  }
  static pb::ProcessingRequest response_headers(const std::string& content_type, bool eos = false) {
    pb::ProcessingRequest m;
    auto& h = *m.mutable_response_headers();
    add_header(*h.mutable_headers(), ":status", "200");
    add_header(*h.mutable_headers(), "content-type", content_type);
    h.set_end_of_stream(eos);
    return m;
  }
  // A whole FULL_DUPLEX_STREAMED request, its body in chunks of `chunk` bytes.
  void send_request(ExtProcStream& s, const std::string& b, std::size_t chunk) {
    deliver(s, request_headers(false));
    for (std::size_t at = 0; at < b.size(); at += chunk)
      deliver(s, body(std::string_view(b).substr(at, chunk), at + chunk >= b.size()));
  }

  net::io_context io;
  StaticSnapshots snapshots{kConfig};
  gateway::testing::FakeUpstream upstream;
  Mt19937Random random{5};
  ManualClock clock;
  RequestControl control;
  std::shared_ptr<Hooks> hooks = std::make_shared<Hooks>();
  RequestPhases phases;
  std::shared_ptr<Recorded> sink;
  std::vector<RequestRecord> records;
};

std::string header_of(const pb::CommonResponse& r, std::string_view name) {
  for (const auto& o : r.header_mutation().set_headers())
    if (o.header().key() == name) {
      EXPECT_TRUE(o.header().value().empty()) << "values go in raw_value";
      return o.header().raw_value();
    }
  return "";
}

std::string lb_metadata(const pb::ProcessingResponse& r) {
  const auto& ns = r.dynamic_metadata().fields().at("envoy.lb").struct_value();
  return ns.fields().at("x-gateway-destination-endpoint").string_value();
}

// The streamed body chunks of replies [from, to), checked to be at most 62,000 bytes each.
std::string streamed(const std::vector<pb::ProcessingResponse>& replies, std::size_t from,
                     std::size_t to, bool request) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    const auto& b = request ? replies[i].request_body() : replies[i].response_body();
    EXPECT_TRUE(b.response().body_mutation().has_streamed_response()) << i;
    const auto& s = b.response().body_mutation().streamed_response();
    EXPECT_LE(s.body().size(), kBodyChunkBytes);
    EXPECT_EQ(s.end_of_stream(), i + 1 == to) << i;
    out += s.body();
  }
  return out;
}

const std::string kBody =
    R"({"model":"food-review","messages":[{"role":"user","content":"hello there"}]})";
const std::string kRewritten =
    R"({"model":"food-review-1","messages":[{"role":"user","content":"hello there"}]})";

TEST(ExtProcStream, FullDuplexRequestGetsTheDecisionThenItsBodyRewritten) {
  Fixture f;
  auto s = f.open();
  f.deliver(*s, Fixture::request_headers(false));
  for (std::size_t at = 0; at + 7 < kBody.size(); at += 7)
    f.deliver(*s, Fixture::body(kBody.substr(at, 7), false));
  EXPECT_TRUE(f.sink->replies.empty()) << "nothing is answered before the body's end";
  f.deliver(*s, Fixture::body(kBody.substr(kBody.size() / 7 * 7), true));

  const auto& r = f.sink->replies;
  ASSERT_EQ(r.size(), 2u);
  ASSERT_TRUE(r[0].has_request_headers());
  const auto& common = r[0].request_headers().response();
  EXPECT_TRUE(common.clear_route_cache());
  EXPECT_EQ(header_of(common, "x-gateway-destination-endpoint"), "10.0.0.1:8000");
  EXPECT_EQ(header_of(common, "content-length"), std::to_string(kRewritten.size()));
  EXPECT_EQ(lb_metadata(r[0]), "10.0.0.1:8000");
  EXPECT_EQ(streamed(r, 1, 2, true), kRewritten);
  EXPECT_EQ(f.hooks->picked, std::vector<std::string>{"10.0.0.1:8000"});

  // The response: its model goes back to the client's name, and its usage is read.
  f.deliver(*s, Fixture::response_headers("application/json"));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[2].has_response_headers());
  f.deliver(*s, Fixture::body(R"({"model":"food-review-1","choices":[],)", false, true));
  EXPECT_EQ(r.size(), 3u) << "a JSON body is answered whole";
  f.deliver(*s,
            Fixture::body(R"("usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}})",
                          true, true));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(streamed(r, 3, 4, false),
            R"({"model":"food-review","choices":[],"usage":{"prompt_tokens":9,)"
            R"("completion_tokens":4,"total_tokens":13}})");
  EXPECT_EQ(f.hooks->status, 200);
  EXPECT_EQ(f.hooks->ends, 1);
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0].status, 200);
  EXPECT_EQ(f.records[0].endpoint, "10.0.0.1:8000");
  EXPECT_EQ(f.records[0].target_model, "food-review-1");
  ASSERT_TRUE(f.records[0].usage);
  EXPECT_EQ(f.records[0].usage->completion_tokens, 4);
  EXPECT_FALSE(f.sink->finished) << "the stream ends when Envoy closes it";
  s->on_client_closed();
  EXPECT_TRUE(f.sink->finished);
  EXPECT_EQ(f.records.size(), 1u);
}

TEST(ExtProcStream, LargeBodiesGoBackInChunksOf62000Bytes) {
  Fixture f;
  auto s = f.open();
  const std::string big = R"({"model":"m","prompt":")" + std::string(1'500'000, 'x') + R"("})";
  f.send_request(*s, big, 65536);
  const auto& r = f.sink->replies;
  ASSERT_EQ(r.size(), 1 + (big.size() + kBodyChunkBytes - 1) / kBodyChunkBytes);
  EXPECT_EQ(streamed(r, 1, r.size(), true), big);
}

TEST(ExtProcStream, SubsetHintLimitsThePickAndAnEmptyOneIs503) {
  Fixture f;
  for (int i = 0; i < 3; ++i) {
    auto s = f.open();
    auto headers = Fixture::request_headers(false);
    auto& hint = (*headers.mutable_metadata_context()
                       ->mutable_filter_metadata())[std::string(kSubsetNamespace)];
    (*hint.mutable_fields())[std::string(kSubsetKey)]
        .mutable_list_value()
        ->add_values()
        ->set_string_value("10.0.0.2:8000");
    f.deliver(*s, headers);
    f.deliver(*s, Fixture::body(kBody, true));
    ASSERT_FALSE(f.sink->replies.empty());
    EXPECT_EQ(header_of(f.sink->replies[0].request_headers().response(),
                        "x-gateway-destination-endpoint"),
              "10.0.0.2:8000");
  }
  auto s = f.open();
  auto headers = Fixture::request_headers(false);
  auto& hint = (*headers.mutable_metadata_context()
                     ->mutable_filter_metadata())[std::string(kSubsetNamespace)];
  (*hint.mutable_fields())[std::string(kSubsetKey)].mutable_list_value();
  f.deliver(*s, headers);
  f.deliver(*s, Fixture::body(kBody, true));
  ASSERT_EQ(f.sink->replies.size(), 1u);
  const auto& immediate = f.sink->replies[0].immediate_response();
  EXPECT_EQ(immediate.status().code(), 503);
  EXPECT_NE(immediate.body().find(R"("error")"), std::string::npos);
  EXPECT_TRUE(f.sink->finished);
}

TEST(ExtProcStream, HeaderOnlyRequestIsPickedAtOnce) {
  Fixture f;
  auto s = f.open();
  f.deliver(*s, Fixture::request_headers(true));
  ASSERT_EQ(f.sink->replies.size(), 1u);
  const auto& common = f.sink->replies[0].request_headers().response();
  EXPECT_EQ(header_of(common, "x-gateway-destination-endpoint"), "10.0.0.1:8000");
  EXPECT_EQ(header_of(common, "content-length"), "");
  f.deliver(*s, Fixture::response_headers("application/json", true));
  EXPECT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.hooks->ends, 1);
}

TEST(ExtProcStream, BufferedModeAnswersHeadersThenTheDecisionWithTheBody) {
  Fixture f;
  auto s = f.open();
  f.deliver(*s, Fixture::request_headers(false, ProcessingMode::BUFFERED));
  ASSERT_EQ(f.sink->replies.size(), 1u);
  EXPECT_TRUE(f.sink->replies[0].has_request_headers());
  EXPECT_FALSE(f.sink->replies[0].request_headers().response().has_header_mutation());
  f.deliver(*s, Fixture::body(kBody, true));
  ASSERT_EQ(f.sink->replies.size(), 2u);
  const auto& reply = f.sink->replies[1];
  const auto& common = reply.request_body().response();
  EXPECT_EQ(header_of(common, "x-gateway-destination-endpoint"), "10.0.0.1:8000");
  EXPECT_EQ(common.body_mutation().body(), kRewritten);
  EXPECT_EQ(header_of(common, "content-length"), std::to_string(kRewritten.size()));
  EXPECT_TRUE(common.clear_route_cache());
  EXPECT_EQ(lb_metadata(reply), "10.0.0.1:8000");

  f.deliver(*s, Fixture::response_headers("application/json"));
  f.deliver(*s, Fixture::body(R"({"model":"food-review-1"})", true, true));
  ASSERT_EQ(f.sink->replies.size(), 4u);
  const auto& back = f.sink->replies[3].response_body().response();
  EXPECT_EQ(back.body_mutation().body(), R"({"model":"food-review"})");
  EXPECT_EQ(header_of(back, "content-length"), "23");
}

TEST(ExtProcStream, BufferedBodiesFollowedByTrailersAreAnsweredBeforeTheTrailers) {
  Fixture f;
  auto s = f.open();
  f.deliver(*s, Fixture::request_headers(false, ProcessingMode::BUFFERED));
  f.deliver(*s, Fixture::body(kBody, false));  // the whole body; trailers follow
  const auto& r = f.sink->replies;
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].request_body().response().body_mutation().body(), kRewritten);
  pb::ProcessingRequest trailers;
  trailers.mutable_request_trailers();
  f.deliver(*s, trailers);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[2].has_request_trailers());

  f.deliver(*s, Fixture::response_headers("application/json"));
  f.deliver(*s, Fixture::body(R"({"model":"food-review-1"})", false, true));
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[4].response_body().response().body_mutation().body(), R"({"model":"food-review"})");
  pb::ProcessingRequest response_trailers;
  response_trailers.mutable_response_trailers();
  f.deliver(*s, response_trailers);
  ASSERT_EQ(r.size(), 6u);
  EXPECT_TRUE(r[5].has_response_trailers());
  EXPECT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.hooks->ends, 1);
}

TEST(ExtProcStream, StreamedResponseModePassesChunksAndReadsTheUsage) {
  Fixture f;
  auto s = f.open();
  auto headers = Fixture::request_headers(false);
  headers.mutable_protocol_config()->set_response_body_mode(ProcessingMode::STREAMED);
  f.deliver(*s, headers);
  f.deliver(*s, Fixture::body(kBody, true));
  f.deliver(*s, Fixture::response_headers("application/json"));
  const std::size_t before = f.sink->replies.size();
  f.deliver(*s, Fixture::body(R"({"model":"food-review-1",)", false, true));
  f.deliver(*s, Fixture::body(R"("usage":{"prompt_tokens":2,"completion_tokens":5}})", true, true));
  const auto& r = f.sink->replies;
  ASSERT_EQ(r.size(), before + 2) << "one reply per chunk";
  EXPECT_FALSE(r[before].response_body().response().has_body_mutation());
  EXPECT_FALSE(r[before + 1].response_body().response().has_body_mutation());
  ASSERT_EQ(f.records.size(), 1u);
  ASSERT_TRUE(f.records[0].usage);
  EXPECT_EQ(f.records[0].usage->completion_tokens, 5);
}

TEST(ExtProcStream, TheEndpointEnvoyServedIsTheOneAccounted) {
  Fixture f;
  auto s = f.open();
  f.send_request(*s, kBody, 1 << 20);
  auto head = Fixture::response_headers("application/json", true);
  auto& lb =
      (*head.mutable_metadata_context()->mutable_filter_metadata())[std::string(kLbNamespace)];
  (*lb.mutable_fields())[std::string(kServedKey)].set_string_value("10.0.0.2:8000");
  f.deliver(*s, head);
  EXPECT_EQ(f.hooks->picked, (std::vector<std::string>{"10.0.0.1:8000", "10.0.0.2:8000"}));
  EXPECT_EQ(f.hooks->ends, 2);
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0].endpoint, "10.0.0.2:8000");
}

TEST(ExtProcStream, OversizedBodyGets413) {
  Fixture f;
  auto s = f.open(StreamOptions{1000});
  f.deliver(*s, Fixture::request_headers(false));
  f.deliver(*s, Fixture::body(std::string(600, 'x'), false));
  f.deliver(*s, Fixture::body(std::string(600, 'x'), false));
  ASSERT_EQ(f.sink->replies.size(), 1u);
  EXPECT_EQ(f.sink->replies[0].immediate_response().status().code(), 413);
  EXPECT_TRUE(f.sink->finished);
  f.deliver(*s, Fixture::body("more", true));
  EXPECT_EQ(f.sink->replies.size(), 1u) << "nothing after the end";
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0].status, 413);
}

TEST(ExtProcStream, EventStreamChunksGoBackAtOnceRewritten) {
  Fixture f;
  auto s = f.open();
  f.send_request(*s, kBody, 1 << 20);
  f.deliver(*s, Fixture::response_headers("text/event-stream"));
  const std::size_t before = f.sink->replies.size();
  f.deliver(*s, Fixture::body("data: {\"model\":\"food-review-1\",\"choices\":[{\"delta\":"
                              "{\"content\":\"Hi\"}}]}\n\ndata: {\"mod",
                              false, true));
  const auto& r = f.sink->replies;
  ASSERT_EQ(r.size(), before + 1) << "a chunk is answered before the next comes";
  const auto& first = r[before].response_body().response().body_mutation().streamed_response();
  EXPECT_EQ(first.body(),
            "data: {\"model\":\"food-review\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n");
  EXPECT_FALSE(first.end_of_stream());
  f.deliver(*s,
            Fixture::body("el\":\"food-review-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                          "\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n",
                          true, true));
  ASSERT_EQ(r.size(), before + 2);
  const auto& last = r[before + 1].response_body().response().body_mutation().streamed_response();
  EXPECT_EQ(last.body(),
            "data: {\"model\":\"food-review\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
            "\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n");
  EXPECT_TRUE(last.end_of_stream());
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0].counted_output, 1);
  ASSERT_TRUE(f.records[0].usage);
  EXPECT_EQ(f.records[0].usage->prompt_tokens, 3);
  EXPECT_EQ(f.hooks->ends, 1);
}

TEST(ExtProcStream, CancelledStreamGivesBackWhatItTook) {
  Fixture f;
  auto s = f.open();
  f.send_request(*s, kBody, 16);
  f.deliver(*s, Fixture::response_headers("text/event-stream"));
  EXPECT_EQ(f.hooks->ends, 0);
  s->on_cancelled();
  EXPECT_EQ(f.hooks->ends, 1);
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0].status, 200);
  ASSERT_TRUE(f.records[0].error);
  EXPECT_EQ(f.records[0].error->status, 499);
  EXPECT_TRUE(f.sink->finished);
}

TEST(ExtProcStream, TrailersKeepTheBodyOpenAndGetTheirReply) {
  Fixture f;
  auto s = f.open();
  f.deliver(*s, Fixture::request_headers(false));
  f.deliver(*s, Fixture::body(kBody, false));
  pb::ProcessingRequest trailers;
  trailers.mutable_request_trailers();
  f.deliver(*s, trailers);
  const auto& r = f.sink->replies;
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].has_request_headers());
  EXPECT_FALSE(r[1].request_body().response().body_mutation().streamed_response().end_of_stream());
  EXPECT_TRUE(r[2].has_request_trailers());

  f.deliver(*s, Fixture::response_headers("application/json"));
  f.deliver(*s, Fixture::body(R"({"model":"food-review-1"})", false, true));
  pb::ProcessingRequest response_trailers;
  response_trailers.mutable_response_trailers();
  f.deliver(*s, response_trailers);
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[4].response_body().response().body_mutation().streamed_response().body(),
            R"({"model":"food-review"})");
  EXPECT_FALSE(r[4].response_body().response().body_mutation().streamed_response().end_of_stream());
  EXPECT_TRUE(r[5].has_response_trailers());
  EXPECT_EQ(f.records.size(), 1u);
}

}  // namespace
}  // namespace infergate::gateway::extproc
