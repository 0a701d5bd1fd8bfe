// /metrics against upstream's own definitions, on a real gateway in front of a simulated pool
// (loopback ports chosen at run time), after a fixed mix of requests: streamed and whole,
// rewritten by an InferenceModelRewrite, refused as malformed, and for an unknown model.
//
// - Every family of the Inference Extension v1.5.0 golden files (tests/fixtures/metrics/
//   gie-epp-v1.5.0) is exported with upstream's TYPE, HELP and label names.
// - Every llm_d_epp_* family transcribed from the llm-d router v0.10.0 (families.tsv) too.
// - Every metric that upstream's Grafana dashboard and InferGate's own (deploy/grafana) query is
//   exported by the gateway or by the model server.
// - docs/observability.md lists every family the gateway exports (generated from this page:
//   INFERGATE_WRITE_DOCS=1 rewrites the list).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "support/gateway_processes.hpp"
#include "support/integration.hpp"
#include "support/metric_families.hpp"

namespace infergate::testing {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string joined(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

class Observability : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_ = start_sim({"--replicas", "2", "--pod-name", "llama", "--served-model-name", "llama",
                      "--enable-lora", "--max-loras", "2", "--lora-modules", "food-review-1=/a/1",
                      "food-review-2=/a/2"})
               .release();
    std::string yaml =
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: eps}\n"
        "spec:\n  endpoints:\n" +
        endpoints_yaml("llama", "llama", *sim_) + pool_yaml("llama") + R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: food}
spec:
  modelName: food-review
  criticality: Critical
  poolRef: {name: llama}
  targetModels: [{name: food-review-1, weight: 1}]
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModelRewrite
metadata: {name: chat-rollout}
spec:
  poolRef: {name: llama}
  rules:
  - matches: [{model: {type: Exact, value: chat}}]
    targets: [{modelRewrite: llama}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm}
spec:
  rules:
  - backendRefs: [)" +
        backend("llama") + "]\n";
    config_ = new TempConfig(yaml);
    gateway_ = new Gateway(config_->path());
    HttpClient client = gateway_->client();
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(client.post("/v1/completions", completion("food-review", 6, true, true)).status,
                200);
    for (int i = 0; i < 2; ++i)
      EXPECT_EQ(client.post("/v1/completions", completion("llama", 4)).status, 200);
    EXPECT_EQ(client.post("/v1/completions", completion("chat", 4)).status, 200);
    EXPECT_EQ(client.post("/v1/completions", completion("ghost", 4)).status, 404);
    EXPECT_EQ(client.post("/v1/completions", "{").status, 400);
    page_ = new std::string(gateway_->admin().get("/metrics").body);
    HttpClient sim(std::string("127.0.0.1"), replica_ports(sim_->child.ready_json()).front());
    sim_page_ = new std::string(sim.get("/metrics").body);
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete config_;
    delete sim_;
    delete page_;
    delete sim_page_;
  }

  // Compares one family of ours with upstream's description; label names only where ours has
  // a series, and it must have one unless `may_be_empty`.
  static void expect_family(const std::string& name, const MetricFamily& upstream,
                            bool may_be_empty = false) {
    const auto ours = describe_families(*page_);
    const auto it = ours.find(name);
    ASSERT_NE(it, ours.end()) << name << " is not exported";
    EXPECT_EQ(it->second.type, upstream.type) << name;
    EXPECT_EQ(it->second.help, upstream.help) << name;
    if (it->second.samples == 0) {
      EXPECT_TRUE(may_be_empty) << name << " has no series after the requests";
      return;
    }
    EXPECT_EQ(joined(it->second.labels), joined(upstream.labels)) << name;
  }

  static Process* sim_;
  static TempConfig* config_;
  static Gateway* gateway_;
  static std::string* page_;
  static std::string* sim_page_;
};
Process* Observability::sim_ = nullptr;
TempConfig* Observability::config_ = nullptr;
Gateway* Observability::gateway_ = nullptr;
std::string* Observability::page_ = nullptr;
std::string* Observability::sim_page_ = nullptr;

TEST_F(Observability, TheInferenceExtensionFamiliesAreThoseOfItsGoldenFiles) {
  const fs::path dir = fs::path(INFERGATE_FIXTURES_DIR) / "metrics" / "gie-epp-v1.5.0";
  // Two golden files still name v0.5 families (inference_model_request_{ttft,tpot}_seconds);
  // v1.5.0's code registers them as inference_objective_* with this HELP (pkg/epp/metrics/
  // metrics.go), and that is what its picker exports.
  const std::map<std::string, std::pair<std::string, std::string>> renamed{
      {"inference_model_request_ttft_seconds",
       {"inference_objective_request_ttft_seconds",
        "[ALPHA] Inference model TTFT distribution in seconds for each model and target model."}},
      {"inference_model_request_tpot_seconds",
       {"inference_objective_request_tpot_seconds",
        "[ALPHA] Inference model TPOT distribution in seconds for each model and target model."}},
  };
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    for (const auto& [golden_name, golden] : describe_families(read_file(entry.path()))) {
      SCOPED_TRACE(entry.path().filename().string());
      // A line with no family (request_tpot_seconds_metric:43 misspells its name upstream).
      if (golden.type.empty()) continue;
      std::string name = golden_name;
      MetricFamily family = golden;
      if (const auto r = renamed.find(name); r != renamed.end()) {
        name = r->second.first;
        family.help = r->second.second;
      }
      expect_family(name, family);
      ++checked;
    }
  }
  EXPECT_GE(checked, 25);
}

TEST_F(Observability, TheLlmdFamiliesAreThoseOfTheRouterV0100) {
  const std::string list = read_file(fs::path(INFERGATE_FIXTURES_DIR) / "metrics" /
                                     "llm-d-router-v0.10.0" / "families.tsv");
  // Only present while requests wait in a queue, which this mix never makes: their labels are
  // checked by the flow controller's own tests.
  const std::set<std::string> queued_only{"llm_d_epp_flow_control_queue_size",
                                          "llm_d_epp_flow_control_queue_bytes"};
  std::istringstream lines(list);
  int checked = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::istringstream fields(line);
    for (std::string f; std::getline(fields, f, '\t');) cols.push_back(f);
    ASSERT_EQ(cols.size(), 5u) << line;
    MetricFamily upstream{cols[1], cols[3], {}, 0};
    std::istringstream labels(cols[2]);
    for (std::string l; std::getline(labels, l, ',');) upstream.labels.insert(l);
    SCOPED_TRACE(cols[4]);
    expect_family(cols[0], upstream, queued_only.contains(cols[0]));
    ++checked;
  }
  EXPECT_GE(checked, 37);
}

// The metric names a Grafana dashboard's queries read: every `expr`, with label matchers and
// the label lists of by/without/on/ignoring/group_* taken out, then every name of a metric
// family it could be (ours, upstream's, the model servers').
std::set<std::string> queried_metrics(const std::string& dashboard) {
  std::set<std::string> out;
  std::vector<const json::value*> todo{};
  const json::value root = json::parse(dashboard);
  todo.push_back(&root);
  const std::regex lists(R"((by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))");
  const std::regex matchers(R"(\{[^}]*\})");
  const std::regex name(R"((inference_|llm_d_|infergate_|vllm:)[a-zA-Z0-9_:]*)");
  while (!todo.empty()) {
    const json::value* v = todo.back();
    todo.pop_back();
    if (const auto* o = v->if_object()) {
      for (const auto& [key, value] : *o) {
        if (key == "expr" && value.is_string()) {
          std::string expr(value.as_string());
          expr = std::regex_replace(expr, lists, " ");
          expr = std::regex_replace(expr, matchers, " ");
          for (std::sregex_iterator m(expr.begin(), expr.end(), name), end; m != end; ++m)
            out.insert(m->str());
        } else {
          todo.push_back(&value);
        }
      }
    } else if (const auto* a = v->if_array()) {
      for (const auto& e : *a) todo.push_back(&e);
    }
  }
  return out;
}

TEST_F(Observability, EveryMetricTheDashboardsQueryIsExported) {
  const auto gateway = describe_families(*page_);
  const auto model_server = describe_families(*sim_page_);
  const auto exported = [&](const std::string& metric) {
    return gateway.contains(family_of_sample(metric, gateway)) ||
           model_server.contains(family_of_sample(metric, model_server));
  };
  for (const fs::path& file :
       {fs::path(INFERGATE_FIXTURES_DIR) / "dashboards" / "gie-v1.5.0-inference_gateway.json",
        fs::path(INFERGATE_SOURCE_DIR) / "deploy" / "grafana" / "infergate.json"}) {
    SCOPED_TRACE(file.string());
    const auto names = queried_metrics(read_file(file));
    EXPECT_GE(names.size(), 10u);
    for (const auto& metric : names) EXPECT_TRUE(exported(metric)) << metric << " is not exported";
  }
}

// The generated part of docs/observability.md: one row per family of the gateway's page.
std::string metrics_table(const std::string& page) {
  std::string out =
      "| family | type | labels | help |\n"
      "|---|---|---|---|\n";
  for (const auto& [name, f] : describe_families(page)) {
    std::string help = f.help;
    for (std::size_t i = 0; (i = help.find('|', i)) != std::string::npos; i += 2)
      help.replace(i, 1, "\\|");
    out += "| `" + name + "` | " + f.type + " | " + joined(f.labels) + " | " + help + " |\n";
  }
  return out;
}

TEST_F(Observability, TheDocsListEveryFamily) {
  const fs::path doc = fs::path(INFERGATE_SOURCE_DIR) / "docs" / "observability.md";
  std::string text = read_file(doc);
  const std::string begin = "<!-- metrics: generated by tests/gateway/observability_test.cpp -->\n";
  const std::string end = "<!-- end of the generated metrics -->\n";
  const auto b = text.find(begin);
  const auto e = text.find(end);
  ASSERT_NE(b, std::string::npos) << "docs/observability.md lost its generated-metrics marker";
  ASSERT_NE(e, std::string::npos);
  const std::string expected = metrics_table(*page_);
  const std::string current = text.substr(b + begin.size(), e - b - begin.size());
  if (current != expected && std::getenv("INFERGATE_WRITE_DOCS")) {
    text.replace(b + begin.size(), e - b - begin.size(), expected);
    std::ofstream(doc, std::ios::binary) << text;
    return;
  }
  EXPECT_EQ(current, expected)
      << "docs/observability.md is stale: rerun this test with INFERGATE_WRITE_DOCS=1";
}

}  // namespace
}  // namespace infergate::testing
