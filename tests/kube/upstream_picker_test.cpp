// The same ext_proc sequences against upstream's endpoint picker and against InferGate's. Both
// pickers read one InferencePool, its Pod, an InferenceObjective and an InferenceModelRewrite
// from one real API server (support/kube_cluster.hpp) and pick among the same simulator:
//
//   upstream: GIE's epp v1.5.0, built from the Go module proxy (tests/peers/upstream-epp);
//   InferGate: infergate --mode=epp --kubeconfig ... --pool-name ... --pool-namespace ...
//
// tests/peers/extproc-client plays each sequence as Envoy would and writes the shape of every
// reply (--shapes): its phase, status, the headers it sets, its body chunk's size and
// end-of-stream, its dynamic metadata, an ImmediateResponse's status, headers and body kind, and
// how the stream ended. Where the two pickers agree the shapes must be equal, line for line;
// where they differ (docs/extproc.md, "Against upstream's picker"), the difference must be
// exactly the documented one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "support/child_process.hpp"
#include "support/free_port.hpp"
#include "support/gateway_processes.hpp"
#include "support/kube_cluster.hpp"

namespace infergate::testing {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Headers upstream's picker sets without changing anything: it writes back every request
// header Envoy sent it (the pseudo-headers, content-type, x-request-id, the objective) and the
// response's :status and content-type, and marks the response with x-went-into-resp-headers.
// They are left out of the comparison; Upstream.EchoesTheRequestHeaders checks they are there.
bool echoed(const std::string& key) {
  static const std::vector<std::string> kEchoed = {":authority",
                                                   ":method",
                                                   ":path",
                                                   ":scheme",
                                                   ":status",
                                                   "content-type",
                                                   "x-request-id",
                                                   "x-went-into-resp-headers",
                                                   "x-llm-d-inference-objective"};
  return std::find(kEchoed.begin(), kEchoed.end(), key) != kEchoed.end();
}

// A shape line with its `set=` list lower-cased and without the echoed headers.
std::string normalized(const std::string& line) {
  const auto at = line.find(" set=");
  if (at == std::string::npos) return line;
  const auto start = at + 5;
  const auto end = line.find(" remove=", start);
  if (end == std::string::npos) return line;
  std::string kept;
  std::stringstream list(line.substr(start, end - start));
  for (std::string item; std::getline(list, item, ',');) {
    const auto eq = item.find('=', 1);  // a pseudo-header's key starts with ':'
    std::string key = item.substr(0, eq);
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (echoed(key)) continue;
    kept += (kept.empty() ? "" : ",") + key + item.substr(eq);
  }
  return line.substr(0, start) + kept + line.substr(end);
}

struct Played {
  bool ok = false;
  std::string output;              // the client's
  std::vector<std::string> lines;  // the replies' shapes, normalized
  std::vector<std::string> raw;    // as written
};

class UpstreamPicker : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("upstream-picker-" + std::to_string(::getpid()));
    cluster = new KubeCluster(dir / "kube", INFERGATE_KUBE_HARNESS, INFERGATE_KUBE_BIN_DIR);
    const std::string crds =
        std::string(INFERGATE_FIXTURES_DIR) + "/manifests/gie-v1.5.0/config/crd/bases/";
    cluster->apply_crd(crds + "inference.networking.k8s.io_inferencepools.yaml");
    cluster->apply_crd(crds + "inference.networking.x-k8s.io_inferenceobjectives.yaml");
    cluster->apply_crd(crds + "inference.networking.x-k8s.io_inferencemodelrewrites.yaml");
    cluster->wait_served("/apis/inference.networking.k8s.io/v1/inferencepools");
    cluster->wait_served("/apis/inference.networking.x-k8s.io/v1alpha2/inferenceobjectives");
    cluster->wait_served("/apis/inference.networking.x-k8s.io/v1alpha2/inferencemodelrewrites");
    cluster->call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"epp-test"}})");

    sim = new ChildProcess(INFERGATE_SIM_BIN,
                           {"--host", "127.0.0.2", "--port", "0", "--gpu-profile", "tiny"});
    const auto port = replica_ports(sim->ready_json()).at(0);
    endpoint = "127.0.0.2:" + std::to_string(port);
    cluster->call("POST", "/apis/inference.networking.k8s.io/v1/namespaces/epp-test/inferencepools",
                  R"({"apiVersion":"inference.networking.k8s.io/v1","kind":"InferencePool",)"
                  R"("metadata":{"name":"llama-pool"},"spec":{"targetPorts":[{"number":)" +
                      std::to_string(port) +
                      R"(}],"selector":{"matchLabels":{"app":"llama"}},)"
                      R"("endpointPickerRef":{"name":"epp","port":{"number":9002}}}})");
    cluster->call(
        "POST",
        "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/epp-test/inferenceobjectives",
        R"({"apiVersion":"inference.networking.x-k8s.io/v1alpha2","kind":"InferenceObjective",)"
        R"("metadata":{"name":"sheddable"},"spec":{"priority":-1,)"
        R"("poolRef":{"group":"inference.networking.k8s.io","name":"llama-pool"}}})");
    cluster->create_pod("epp-test", "llama-0", "127.0.0.2", true);
    sim_port = port;

    // Upstream's picker takes fixed ports and prints no ready line: a shell starts it, waits for
    // its health port to say SERVING (it does once the pool is synced), then prints one.
    const int grpc = free_port(), health = free_port(), metrics = free_port();
    upstream_addr = "127.0.0.1:" + std::to_string(grpc);
    const std::string script =
        "export KUBECONFIG='" + cluster->kubeconfig() + "'\n'" + INFERGATE_UPSTREAM_EPP +
        "' --pool-name llama-pool --pool-namespace epp-test --grpc-port " + std::to_string(grpc) +
        " --grpc-health-port " + std::to_string(health) + " --metrics-port " +
        std::to_string(metrics) + " --tracing=false > '" + (dir / "epp.log").string() +
        "' 2>&1 &\nepp=$!\ntrap 'kill $epp; wait $epp; exit 0' TERM\n'" + INFERGATE_EXTPROC_CLIENT +
        "' --addr 127.0.0.1:" + std::to_string(health) +
        " --plaintext --scenario health --timeout 60s >&2 || { kill $epp; exit 1; }\n"
        "echo 'READY {}'\nwait $epp\n";
    upstream = new ChildProcess("/bin/bash", {"-c", script}, std::chrono::seconds(90));

    // InferGate's, on the same pool. One request in flight saturates the endpoint, so a held
    // stream makes the sheddable request's 429 certain; bodies over 2,000,000 bytes get 413.
    infergate = new ChildProcess(INFERGATE_BIN,
                                 {"--mode",
                                  "epp",
                                  "--kubeconfig",
                                  cluster->kubeconfig(),
                                  "--pool-name",
                                  "llama-pool",
                                  "--pool-namespace",
                                  "epp-test",
                                  "--grpc-listen",
                                  "127.0.0.1:0",
                                  "--grpc-health-listen",
                                  "",
                                  "--admin-listen",
                                  "127.0.0.1:0",
                                  "--workers",
                                  "1",
                                  "--max-in-flight-per-endpoint",
                                  "1",
                                  "--max-body-bytes",
                                  "2000000",
                                  "--scrape-interval-ms",
                                  "200"},
                                 std::chrono::seconds(60));
    infergate_addr =
        "127.0.0.1:" +
        std::to_string(json::parse(infergate->ready_json()).at("port").to_number<int>());
  }

  static void TearDownTestSuite() {
    delete infergate;
    delete upstream;
    delete sim;
    delete cluster;
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  // Plays `scenario` against the picker at `addr`.
  static Played play(const std::string& addr, const std::string& scenario,
                     std::vector<std::string> extra = {}, const std::string& timeout = "20s") {
    const fs::path shapes = dir / (scenario + "-" + std::to_string(++plays) + ".txt");
    std::vector<std::string> args = {"--addr",      addr,           "--scenario", scenario,
                                     "--endpoints", endpoint,       "--timeout",  timeout,
                                     "--shapes",    shapes.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const Finished done = run_to_exit(INFERGATE_EXTPROC_CLIENT, args, std::chrono::seconds(60));
    Played p;
    p.ok = done.status == 0;
    p.output = done.output;
    p.raw = lines_of(shapes);
    for (const auto& l : p.raw) p.lines.push_back(normalized(l));
    return p;
  }

  // Plays `scenario` against both pickers: they must pass it and reply in the same shapes.
  static void expect_same(const std::string& scenario, const std::vector<std::string>& extra = {}) {
    const Played theirs = play(upstream_addr, scenario, extra);
    const Played ours = play(infergate_addr, scenario, extra);
    EXPECT_TRUE(theirs.ok) << scenario << " against upstream:\n" << theirs.output;
    EXPECT_TRUE(ours.ok) << scenario << " against InferGate:\n" << ours.output;
    EXPECT_FALSE(ours.lines.empty()) << scenario;
    EXPECT_EQ(joined(theirs.lines), joined(ours.lines))
        << scenario << ": upstream's replies (left) and InferGate's (right) differ in shape";
  }

  static inline fs::path dir;
  static inline KubeCluster* cluster = nullptr;
  static inline ChildProcess* sim = nullptr;
  static inline ChildProcess* upstream = nullptr;
  static inline ChildProcess* infergate = nullptr;
  static inline std::string endpoint, upstream_addr, infergate_addr;
  static inline int sim_port = 0;
  static inline int plays = 0;
};

TEST_F(UpstreamPicker, HeaderOnlyRequests) { expect_same("headers-only"); }
TEST_F(UpstreamPicker, BodiesInManyChunks) { expect_same("chunked"); }
TEST_F(UpstreamPicker, BodiesOverOneMegabyte) { expect_same("large"); }
TEST_F(UpstreamPicker, SubsetHints) { expect_same("subset"); }
TEST_F(UpstreamPicker, StreamedResponses) { expect_same("sse"); }
TEST_F(UpstreamPicker, CancellationMidStream) { expect_same("cancel"); }

// An InferenceModelRewrite: both rewrite the request's model and the response's back. Each
// picker learns of the new object from its watch; the sequence is played until it sees it.
TEST_F(UpstreamPicker, ModelRewrites) {
  cluster->call(
      "POST",
      "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/epp-test/inferencemodelrewrites",
      R"({"apiVersion":"inference.networking.x-k8s.io/v1alpha2","kind":"InferenceModelRewrite",)"
      R"("metadata":{"name":"rename"},"spec":{"poolRef":{"group":"inference.networking.k8s.io",)"
      R"("name":"llama-pool"},"rules":[{"matches":[{"model":{"type":"Exact","value":"test-model"}}],)"
      R"("targets":[{"modelRewrite":"other-model"}]}]}})");
  const std::vector<std::string> extra = {"--target-model", "other-model"};
  const auto seen_by = [&](const std::string& addr) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline)
      if (play(addr, "rewrite", extra).ok) return true;
    return false;
  };
  ASSERT_TRUE(seen_by(upstream_addr));
  ASSERT_TRUE(seen_by(infergate_addr));
  expect_same("rewrite", extra);
  cluster->call("DELETE",
                "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/epp-test/"
                "inferencemodelrewrites/rename");
  const auto gone_for = [&](const std::string& addr) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline)
      if (play(addr, "chunked").ok) return true;
    return false;
  };
  EXPECT_TRUE(gone_for(upstream_addr));
  EXPECT_TRUE(gone_for(infergate_addr));
}

// The headers upstream writes back unchanged, left out of the comparisons above.
TEST_F(UpstreamPicker, UpstreamEchoesTheRequestHeaders) {
  const Played theirs = play(upstream_addr, "chunked");
  ASSERT_TRUE(theirs.ok) << theirs.output;
  ASSERT_GE(theirs.raw.size(), 3u);
  EXPECT_NE(theirs.raw[0].find(":path=/v1/chat/completions"), std::string::npos) << theirs.raw[0];
  EXPECT_NE(theirs.raw[0].find("x-request-id=chunked#1"), std::string::npos) << theirs.raw[0];
  EXPECT_NE(theirs.raw[2].find("x-went-into-resp-headers=true"), std::string::npos)
      << theirs.raw[2];
  const Played ours = play(infergate_addr, "chunked");
  ASSERT_TRUE(ours.ok) << ours.output;
  EXPECT_EQ(ours.raw, ours.lines) << "InferGate sets only what it changes";
}

// No endpoint in the subset hint: 503 from both; upstream's body is plain text, ours an
// OpenAI error in JSON.
TEST_F(UpstreamPicker, EmptySubsetIs503WithAJsonBodyHere) {
  const Played theirs = play(upstream_addr, "subset-empty");
  const Played ours = play(infergate_addr, "subset-empty");
  EXPECT_TRUE(ours.ok) << ours.output;
  ASSERT_FALSE(theirs.raw.empty()) << theirs.output;
  ASSERT_FALSE(ours.raw.empty()) << ours.output;
  EXPECT_TRUE(
      theirs.raw[0].starts_with("subset-empty#1 1 immediate status=503 headers= body=text:"))
      << theirs.raw[0];
  EXPECT_TRUE(ours.raw[0].starts_with(
      "subset-empty#1 1 immediate status=503 headers=content-type=application/json body=json:"))
      << ours.raw[0];
}

// A request whose body ends in trailers: upstream acts only on a body chunk with end-of-stream,
// so it never answers (the stream runs into its deadline); InferGate answers the headers, the
// body and the trailers.
TEST_F(UpstreamPicker, RequestTrailersAreAnsweredHere) {
  const Played theirs = play(upstream_addr, "trailers", {}, "3s");
  const Played ours = play(infergate_addr, "trailers", {}, "3s");
  EXPECT_EQ(joined(theirs.raw), "trailers#1 1 end DeadlineExceeded\n") << theirs.output;
  EXPECT_TRUE(ours.ok) << ours.output;
  EXPECT_NE(joined(ours.raw).find("trailers#1 3 request_trailers"), std::string::npos)
      << joined(ours.raw);
}

// BUFFERED: Envoy waits for the headers reply before it sends the body; upstream holds that reply
// until the body's end, so both wait on each other until the deadline.
TEST_F(UpstreamPicker, BufferedModeWorksHere) {
  const Played theirs = play(upstream_addr, "buffered", {}, "3s");
  const Played ours = play(infergate_addr, "buffered", {}, "3s");
  EXPECT_EQ(joined(theirs.raw), "buffered#1 1 end DeadlineExceeded\n") << theirs.output;
  EXPECT_TRUE(ours.ok) << ours.output;
  ASSERT_GE(ours.raw.size(), 2u) << ours.output;
  EXPECT_TRUE(ours.raw[0].starts_with("buffered#1 1 request_headers")) << ours.raw[0];
  EXPECT_TRUE(
      ours.raw[1].starts_with("buffered#1 2 request_body status=CONTINUE set=content-length="))
      << ours.raw[1];
}

// A body over the limit: 413 here; upstream has no limit and routes it.
TEST_F(UpstreamPicker, OversizedBodiesAre413Here) {
  const Played theirs = play(upstream_addr, "oversized", {"--size", "2097152"});
  const Played ours = play(infergate_addr, "oversized", {"--size", "2097152"});
  EXPECT_TRUE(ours.ok) << ours.output;
  ASSERT_FALSE(theirs.raw.empty()) << theirs.output;
  ASSERT_FALSE(ours.raw.empty()) << ours.output;
  EXPECT_TRUE(theirs.raw[0].starts_with("oversized#1 1 request_headers")) << theirs.raw[0];
  EXPECT_TRUE(ours.raw[0].starts_with("oversized#1 1 immediate status=413")) << ours.raw[0];
}

// A sheddable request while the endpoint is busy with a held stream: InferGate's concurrency
// rule sheds it with 429 and retry-after; upstream sheds only when the model server's metrics
// say saturated (queue or KV cache), which one held request does not, so it routes it.
TEST_F(UpstreamPicker, SheddingUnderTheConcurrencyRule) {
  const std::vector<std::string> extra = {"--hold", "1", "--objective", "sheddable"};
  const Played theirs = play(upstream_addr, "shed", extra);
  const Played ours = play(infergate_addr, "shed", extra);
  EXPECT_TRUE(ours.ok) << ours.output;
  const auto first_of = [](const Played& p, const std::string& label) {
    for (const auto& l : p.raw)
      if (l.starts_with(label + " 1 ")) return l;
    return std::string();
  };
  EXPECT_TRUE(first_of(theirs, "shed#2").starts_with("shed#2 1 request_headers")) << theirs.output;
  EXPECT_TRUE(first_of(ours, "shed#2")
                  .starts_with("shed#2 1 immediate status=429 headers=content-type=application/"
                               "json,retry-after="))
      << joined(ours.raw);
}

// Upstream's picker behind InferGate's gateway (issue 18): a standalone gateway whose pool names
// it, through a StaticEndpoints entry, as its endpoint picker. The requests are served where it
// says, and its response-header mutation (x-went-into-resp-headers, which it always sets)
// reaches the client: the response went through it too.
TEST_F(UpstreamPicker, BehindInferGatesGateway) {
  const fs::path config = dir / "gateway.yaml";
  std::ofstream(config)
      << "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e, "
         "namespace: epp-test}\nspec:\n  endpoints:\n"
      << "  - {name: llama-0, address: \"" << endpoint << "\", labels: {app: llama}}\n"
      << "  - {name: epp, address: \"" << upstream_addr << "\"}\n"
      << "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
         "metadata: {name: llama-pool, namespace: epp-test}\nspec:\n  targetPorts: [{number: "
      << sim_port
      << "}]\n  selector: {matchLabels: {app: llama}}\n"
         "  endpointPickerRef: {name: epp, failureMode: FailClose}\n"
         "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
         "metadata: {name: r, namespace: epp-test}\nspec:\n  rules:\n"
         "  - backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, "
         "name: llama-pool}]\n";
  Gateway gateway(config.string(), {"--picker-allow-self-signed"});
  HttpClient client = gateway.client();
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  const HttpResponse whole = client.post("/v1/completions", completion(model, 4));
  EXPECT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.header("x-went-into-resp-headers"), "true");
  EXPECT_EQ(json::parse(whole.body).at("model").as_string(), model);
  const HttpResponse streamed = client.post("/v1/completions", completion(model, 4, true, true));
  EXPECT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.header("x-went-into-resp-headers"), "true");
  EXPECT_NE(streamed.body.find("data: [DONE]"), std::string::npos) << streamed.body;
  // Both were sent where the picker said: the pool's one endpoint, once each.
  HttpClient admin = gateway.admin();
  EXPECT_EQ(sample_value(admin.get("/metrics").body,
                         "infergate_endpoint_requests_total{pool=\"llama-pool\""),
            2);
}

}  // namespace
}  // namespace infergate::testing
