// Configuration loading against the real upstream manifests (golden dumps) and against
// mutated copies that must fail with the exact file, line and field.
#include "config/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/load_resources.hpp"

namespace infergate::config {
namespace {

namespace fs = std::filesystem;
const std::string kFixtures = std::string(INFERGATE_FIXTURES) + "/manifests/";
const std::string kData = std::string(INFERGATE_TEST_DATA) + "/";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares with tests/config/golden/<name>; INFERGATE_UPDATE_GOLDEN=1 rewrites it.
void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = kData + "golden/" + name;
  if (std::getenv("INFERGATE_UPDATE_GOLDEN")) {
    std::ofstream(path) << actual;
    return;
  }
  EXPECT_EQ(read(path), actual) << "golden " << path << " (INFERGATE_UPDATE_GOLDEN=1 rewrites it)";
}

BuildResult load(std::vector<std::string> files) {
  for (auto& f : files)
    if (f.front() != '/') f = kFixtures + f;
  files.push_back(kData + "data/fixture-endpoints.yaml");
  return load_config(files);
}

struct Bundle {
  std::string golden;
  std::vector<std::string> files;
};

class UpstreamFixtures : public ::testing::TestWithParam<Bundle> {};

TEST_P(UpstreamFixtures, LoadAndMatchGolden) {
  const auto result = load(GetParam().files);
  ASSERT_TRUE(result.config) << result.diagnostics.error_text();
  expect_golden(GetParam().golden, dump(*result.config));
}

INSTANTIATE_TEST_SUITE_P(
    Releases, UpstreamFixtures,
    ::testing::Values(
        Bundle{"gie-v0.3.0.txt",
               {"gie-v0.3.0/config/manifests/inferencepool-resources.yaml",
                "gie-v0.3.0/config/manifests/inferencemodel.yaml",
                "gie-v0.3.0/config/manifests/gateway/gke/httproute.yaml"}},
        Bundle{"gie-v0.5.1.txt",
               {"gie-v0.5.1/config/manifests/inferencepool-resources.yaml",
                "gie-v0.5.1/config/manifests/inferencemodel.yaml",
                "gie-v0.5.1/config/manifests/gateway/istio/gateway.yaml",
                "gie-v0.5.1/config/manifests/gateway/istio/httproute.yaml"}},
        Bundle{"gie-v0.5.1-regression.txt",
               {"gie-v0.5.1/config/manifests/inferencepool-resources.yaml",
                "gie-v0.5.1/config/manifests/regression-testing/inferencemodel.yaml"}},
        Bundle{"gie-v1.0.2.txt",
               {"gie-v1.0.2/config/manifests/inferencepool-resources.yaml",
                "gie-v1.0.2/config/manifests/inferenceobjective.yaml",
                "gie-v1.0.2/config/manifests/gateway/gke/gateway.yaml",
                "gie-v1.0.2/config/manifests/gateway/gke/httproute.yaml"}},
        Bundle{"gie-v1.0.2-regression.txt",
               {"gie-v1.0.2/config/manifests/inferencepool-resources.yaml",
                "gie-v1.0.2/config/manifests/regression-testing/inferenceobjective.yaml",
                "gie-v1.0.2/config/manifests/gateway/agentgateway/httproute.yaml"}},
        Bundle{"gie-v1.5.0.txt",
               {kData + "data/qwen3-pool.yaml",
                "gie-v1.5.0/config/manifests/inferenceobjective.yaml"}},
        Bundle{"gie-v1.5.0-rewrites.txt",
               {kData + "data/qwen3-pool.yaml",
                "gie-v1.5.0/extracted-from-docs/inferencemodelrewrite-exact-alias.yaml"}}),
    [](const ::testing::TestParamInfo<Bundle>& param_info) {
      const std::string& golden = param_info.param.golden;
      std::string n = golden.substr(0, golden.size() - 4);
      for (auto& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

// Every HTTPRoute of every release loads beside that release's pool.
TEST(UpstreamFixtures, EveryHttpRouteLoads) {
  int routes = 0;
  for (const auto& release : {"gie-v0.3.0", "gie-v0.5.1", "gie-v1.0.2"}) {
    const std::string dir = kFixtures + release + "/config/manifests/gateway/";
    for (const auto& vendor : fs::directory_iterator(dir)) {
      const auto route = vendor.path() / "httproute.yaml";
      if (!fs::exists(route)) continue;
      const auto result = load(
          {kFixtures + release + "/config/manifests/inferencepool-resources.yaml", route.string()});
      EXPECT_TRUE(result.config) << route << "\n" << result.diagnostics.error_text();
      ++routes;
    }
  }
  EXPECT_GE(routes, 8);
}

// Every upstream YAML file in the fixture tree (CRDs, RBAC, doc fragments, configs of kinds we
// skip) loads on its own into either a configuration or errors naming the file and a line:
// nothing escapes the loader as an exception.
TEST(UpstreamFixtures, EveryUpstreamFileLoadsOrIsRejectedWithItsLocation) {
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kFixtures)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    const std::string path = entry.path().string();
    BuildResult result;
    ASSERT_NO_THROW(result = load_config({path})) << path;
    if (result.config) continue;
    ASSERT_FALSE(result.diagnostics.errors.empty()) << path;
    for (const auto& e : result.diagnostics.errors) {
      EXPECT_EQ(e.where.file, path) << e.to_string();
      EXPECT_GT(e.where.line, 0) << e.to_string();
    }
  }
  EXPECT_GE(files, 45);
}

TEST(UpstreamFixtures, OldestV1alpha1SamplesAreRejectedAsUnsupported) {
  const auto result = load({"gie-v0.3.0/config/samples/gateway_v1alpha1_inferencepool.yaml"});
  ASSERT_FALSE(result.config);
  EXPECT_NE(result.diagnostics.error_text().find("unsupported API version"), std::string::npos);
}

// The ConfigMap carries two EndpointPickerConfig texts; the endpoint picker Deployment's
// --config-file argument chooses default-plugins.yaml.
TEST(UpstreamFixtures, EmbeddedPickerConfigIsReadFromTheConfigMap) {
  const auto result = load({"gie-v0.5.1/config/manifests/inferencepool-resources.yaml"});
  ASSERT_TRUE(result.config) << result.diagnostics.error_text();
  ASSERT_TRUE(result.config->picker);
  ASSERT_EQ(result.config->picker->profiles.size(), 1u);
  EXPECT_EQ(result.config->picker->plugins.size(), 7u);
  EXPECT_EQ(result.config->picker->plugins[4].type, "decision-tree-filter");
  bool other_skipped = false;
  for (const auto& s : result.config->skipped)
    other_skipped |= s.find("data.plugins-v2.yaml") != std::string::npos;
  EXPECT_TRUE(other_skipped);
}

// --- mutations: each must fail naming file, line and field ----------------------------------

// Writes `text` to a temporary file and loads it alone (plus the fixture endpoints).
BuildResult load_yaml(const std::string& text, std::string& path) {
  path = (fs::temp_directory_path() / ("infergate-config-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(std::rand()) + ".yaml"))
             .string();
  std::ofstream(path) << text;
  auto r = load({path});
  fs::remove(path);
  return r;
}

const char* kPool = R"(apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: vllm-llama3-8b-instruct
spec:
  targetPorts:
  - number: 8000
  selector:
    matchLabels:
      app: vllm-llama3-8b-instruct
)";

void expect_error(const std::string& yaml, int line, const std::string& field,
                  const std::string& message_part) {
  std::string path;
  const auto r = load_yaml(yaml, path);
  ASSERT_FALSE(r.config) << yaml;
  const std::string text = r.diagnostics.error_text();
  const std::string where = path + ":" + std::to_string(line) + ":";
  EXPECT_NE(text.find(where), std::string::npos) << "want " << where << " in\n" << text;
  EXPECT_NE(text.find(field + ": "), std::string::npos) << "want field " << field << " in\n"
                                                        << text;
  EXPECT_NE(text.find(message_part), std::string::npos) << "want '" << message_part << "' in\n"
                                                        << text;
}

TEST(ConfigErrors, MisspeltField) {
  expect_error(std::string(kPool) + R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: m
spec:
  modelName: m
  critcality: Critical
  poolRef:
    name: vllm-llama3-8b-instruct
)",
               18, "spec.critcality", "unknown field");
}

TEST(ConfigErrors, DanglingPool) {
  expect_error(R"(apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: m
spec:
  modelName: m
  poolRef:
    name: nowhere
)",
               1, "spec.poolRef.name", "InferencePool default/nowhere does not exist");
}

TEST(ConfigErrors, BadWeight) {
  expect_error(std::string(kPool) + R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: m
spec:
  modelName: m
  poolRef: {name: vllm-llama3-8b-instruct}
  targetModels:
  - name: a
    weight: 0
)",
               21, "spec.targetModels[0].weight", "must be between 1 and 1000000");
}

TEST(ConfigErrors, WeightsOnSomeTargetsOnly) {
  expect_error(std::string(kPool) + R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: m
spec:
  modelName: m
  poolRef: {name: vllm-llama3-8b-instruct}
  targetModels:
  - name: a
    weight: 10
  - name: b
)",
               19, "spec.targetModels", "either every target model has a weight or none has");
}

TEST(ConfigErrors, DuplicateModelName) {
  expect_error(std::string(kPool) + R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: first
spec:
  modelName: shared
  poolRef: {name: vllm-llama3-8b-instruct}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: second
spec:
  modelName: shared
  poolRef: {name: vllm-llama3-8b-instruct}
)",
               20, "spec.modelName", "already declared");
}

TEST(ConfigErrors, UnsupportedApiVersionAndUnknownKind) {
  expect_error(
      "apiVersion: inference.networking.k8s.io/v2\nkind: InferencePool\nmetadata: {name: p}\nspec: "
      "{}\n",
      1, "apiVersion", "unsupported API version");
  expect_error("apiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {name: p}\n", 2, "kind",
               "unknown kind Frobnicator");
}

TEST(ConfigErrors, H2cPoolsAreRejectedUntilHttp2Upstreams) {
  std::string pool = kPool;
  pool += "  appProtocol: kubernetes.io/h2c\n";
  expect_error(pool, 11, "spec.appProtocol", "not supported yet");
}

TEST(ConfigErrors, RouteToAMissingPortOrPool) {
  const std::string route = std::string(kPool) + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  rules:
  - backendRefs:
    - group: inference.networking.k8s.io
      kind: InferencePool
      name: vllm-llama3-8b-instruct
      port: 9000
)";
  expect_error(route, 19, "spec.rules[0].backendRefs.port", "not a target port");
  expect_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  rules:
  - backendRefs:
    - name: some-service
)",
               8, "spec.rules[0].backendRefs[0].name", "only InferencePool backends");
}

TEST(ConfigErrors, InvalidYamlNamesTheLine) {
  expect_error("apiVersion: v1\nkind: [unclosed\n", 3, "", "invalid YAML");
}

TEST(ConfigErrors, EveryErrorIsReportedNotJustTheFirst) {
  std::string path;
  const auto r = load_yaml(std::string(kPool) + R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: m
spec:
  modelName: m
  criticality: Urgent
  poolRef: {name: nowhere}
  extra: 1
)",
                           path);
  EXPECT_GE(r.diagnostics.errors.size(), 3u) << r.diagnostics.error_text();
}

TEST(ConfigResolution, PortsExpandToRanksAndExplicitPortsWin) {
  std::string path;
  const auto r = load_yaml(R"(apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: multi}
spec:
  targetPorts: [{number: 8000}, {number: 8001}]
  selector: {matchLabels: {app: multi}}
---
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: eps}
spec:
  endpoints:
  - {name: a, address: 10.1.0.1, labels: {app: multi}}
  - {name: b, address: "10.1.0.2:9100", metricsPort: 9200, labels: {app: multi}, engine: sglang}
  - {name: c, address: 10.1.0.3, labels: {app: other}}
)",
                           path);
  ASSERT_TRUE(r.config) << r.diagnostics.error_text();
  const auto& eps = r.config->pools.at(0).endpoints;
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[0].name, "a-rank-0");
  EXPECT_EQ(eps[0].port, 8000);
  EXPECT_EQ(eps[1].name, "a-rank-1");
  EXPECT_EQ(eps[1].port, 8001);
  EXPECT_EQ(eps[2].name, "b");
  EXPECT_EQ(eps[2].port, 9100);
  EXPECT_EQ(eps[2].metrics_port, 9200);
  EXPECT_EQ(eps[2].engine, "sglang");
}

const char* kPickerHead = R"(---
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
saturationDetector:
)";

// Upstream's saturation detector settings reach flow control (the gateway applies them).
TEST(ConfigResolution, SaturationDetectorThresholdsAreRead) {
  std::string path;
  const auto r = load_yaml(std::string(kPool) + kPickerHead +
                               "  queueDepthThreshold: 8\n  kvCacheUtilThreshold: 0.9\n"
                               "  metricsStalenessThreshold: 150ms\n",
                           path);
  ASSERT_TRUE(r.config) << r.diagnostics.error_text();
  ASSERT_TRUE(r.config->picker);
  EXPECT_EQ(r.config->picker->queue_depth_threshold, 8);
  EXPECT_EQ(r.config->picker->kv_cache_util_threshold, 0.9);
  EXPECT_EQ(r.config->picker->metrics_staleness, std::chrono::milliseconds(150));
  for (const auto& w : r.diagnostics.warnings)
    EXPECT_EQ(w.to_string().find("saturationDetector"), std::string::npos) << w.to_string();
}

// Upstream sections InferGate does its own way load with a warning each, under either name
// upstream has used for the data layer.
TEST(ConfigResolution, UpstreamDataLayerAndFlowControlSectionsWarn) {
  std::string path;
  const auto r = load_yaml(std::string(kPool) + kPickerHead +
                               "  queueDepthThreshold: 8\n"
                               "data:\n  sources:\n  - pluginRef: metrics-source\n"
                               "dataLayer:\n  sources: []\n"
                               "flowControl:\n  maxBytes: 1000\n",
                           path);
  ASSERT_TRUE(r.config) << r.diagnostics.error_text();
  std::string warnings;
  for (const auto& w : r.diagnostics.warnings) warnings += w.to_string() + "\n";
  for (const char* field : {"data: ignored", "dataLayer: ignored", "flowControl: ignored"})
    EXPECT_NE(warnings.find(field), std::string::npos) << field << "\n" << warnings;
}

// A complex YAML key is well-formed but names no field: an error at its line, not an exception.
TEST(ConfigErrors, ComplexKeyIsAnErrorNotAnException) {
  expect_error(std::string(kPool) + "  ? [a, b]\n  : 1\n", 11, "spec", "plain string");
}

// Untrusted manifests of odd shapes: each loads into skipped objects or errors with a line,
// and nothing throws out of the loader (a Deployment whose container has no args aborted the
// process once).
TEST(ConfigErrors, OddManifestShapesNeverThrow) {
  const std::string deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: epp}\n";
  const std::vector<std::string> texts{
      deployment + "spec:\n  template:\n    spec:\n      containers:\n      - name: epp\n",
      deployment + "spec: 3\n",
      deployment + "spec: {template: {spec: {containers: {}}}}\n",
      deployment + "spec: {template: {spec: {containers: [3, [a], {args: {a: b}}]}}}\n",
      deployment + "spec: {template: {spec: {containers: [{args: [{a: b}, -configFile]}]}}}\n",
      deployment + "spec: {template: [1]}\n",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: 5\nspec: {}\n",
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: [1, 2]\n",
      "apiVersion: v1\nkind: ConfigMap\nmetadata: 7\ndata: {a: 'kind: EndpointPickerConfig'}\n",
      "apiVersion: v1\nkind: ConfigMap\ndata: {? [x]: 'kind: EndpointPickerConfig'}\n",
      "",
      "---\n",
      "--- 3\n--- [a]\n",
      "apiVersion: [a]\nkind: {b: c}\n",
      "a: [\n",
      // A null key while the loader walks a document's keys (found by fuzz_config_loader: the
      // lookup added the key and freed the walk's storage).
      "apiVersion: apps/v1\nkind: Deployment\n: x\n",
      "apiVersion: example.com/v1\nkind: Unknown\n: x\n",
  };
  for (const auto& text : texts) {
    LoadResult r;
    ASSERT_NO_THROW(load_text(text, "odd.yaml", r)) << text;
    for (const auto& e : r.diagnostics.errors) {
      EXPECT_EQ(e.where.file, "odd.yaml") << e.to_string();
      EXPECT_GT(e.where.line, 0) << e.to_string();
    }
  }
  // The reported case loads cleanly: the Deployment is skipped and names no configuration file.
  LoadResult r;
  load_text(texts[0], "odd.yaml", r);
  EXPECT_TRUE(r.diagnostics.errors.empty()) << r.diagnostics.error_text();
  EXPECT_EQ(r.resources.skipped.size(), 1u);
  EXPECT_TRUE(r.resources.picker_config_files.empty());
}

TEST(ConfigErrors, ControlCharactersAreAnErrorAtTheirLine) {
  const std::string nul = std::string("a: b") + '\0' + "x\n";
  LoadResult r;
  load_text(nul, "nul.yaml", r);
  ASSERT_EQ(r.diagnostics.errors.size(), 1u);
  EXPECT_EQ(r.diagnostics.errors[0].where.line, 1);
  EXPECT_EQ(r.diagnostics.errors[0].where.column, 5);
  EXPECT_NE(r.diagnostics.errors[0].message.find("control character"), std::string::npos);

  LoadResult escape;
  load_text("apiVersion: v1\nkind: ConfigMap\n\x1b[31m: x\n", "esc.yaml", escape);
  ASSERT_EQ(escape.diagnostics.errors.size(), 1u);
  EXPECT_EQ(escape.diagnostics.errors[0].where.line, 3);

  // Tabs and CRLF line ends are ordinary YAML.
  LoadResult crlf;
  load_text("apiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name:\tc}\r\n", "crlf.yaml", crlf);
  EXPECT_TRUE(crlf.diagnostics.errors.empty()) << crlf.diagnostics.error_text();
}

TEST(ConfigErrors, TextsThatStallTheYamlParserAreAnError) {
  // yaml-cpp 0.7's LoadAll never returns on these (found by fuzz_config_loader): a document
  // cannot start with ','. Each is an error at the ','.
  const std::vector<std::pair<std::string, int>> texts{
      {",", 1},    {",,", 1},     {", a", 1},          {"&x ,", 1},
      {"!t ,", 1}, {"[a]\n,", 2}, {"a: 1\n...\n,", 3}, {"apiVersion: v1\n---\n,\n", 3}};
  for (const auto& [text, line] : texts) {
    LoadResult r;
    load_text(text, "comma.yaml", r);
    ASSERT_EQ(r.diagnostics.errors.size(), 1u) << text;
    EXPECT_EQ(r.diagnostics.errors[0].where.line, line) << text;
    EXPECT_NE(r.diagnostics.errors[0].message.find("cannot start"), std::string::npos) << text;
  }
  // A ',' where yaml-cpp reads it as text or rejects it itself is not this error.
  for (const std::string text : {"a,\n", "x: a, b\n", "- ,\n"}) {
    LoadResult r;
    load_text(text, "comma.yaml", r);
    for (const auto& e : r.diagnostics.errors)
      EXPECT_EQ(e.message.find("cannot start"), std::string::npos) << text << e.to_string();
  }
}

TEST(ConfigErrors, SaturationDetectorThresholdsOutOfRange) {
  expect_error(std::string(kPool) + kPickerHead + "  kvCacheUtilThreshold: 1.5\n", 21,
               "saturationDetector.kvCacheUtilThreshold", "(0, 1]");
  expect_error(std::string(kPool) + kPickerHead + "  queueDepthThreshold: 0\n", 21,
               "saturationDetector.queueDepthThreshold", "");
}

TEST(ConfigResolution, IgnoredFieldsWarn) {
  const auto r = load({"gie-v1.0.2/config/manifests/inferencepool-resources.yaml",
                       "gie-v1.0.2/config/manifests/gateway/gke/httproute.yaml"});
  ASSERT_TRUE(r.config);
  std::string warnings;
  for (const auto& w : r.diagnostics.warnings) warnings += w.to_string() + "\n";
  EXPECT_NE(warnings.find("spec.parentRefs: ignored"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("spec.endpointPickerRef: ignored"), std::string::npos) << warnings;
}

// A pool's endpoint picker is where the StaticEndpoints entry its reference names says: the
// reference's port first, then the entry's, then upstream's 9002; an IPv6 host in brackets.
TEST(ConfigResolution, EndpointPickerFromStaticEndpoints) {
  const std::string yaml = R"(apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: pickers}
spec:
  endpoints:
  - {name: epp-a, address: "10.0.0.5"}
  - {name: epp-b, address: "10.0.0.6:9100"}
  - {name: epp-c, address: "[fd00::7]"}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: a}
spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {app: a}}
  endpointPickerRef: {name: epp-a, port: {number: 9200}, failureMode: FailOpen}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: b}
spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {app: b}}
  endpointPickerRef: {name: epp-b}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {name: c}
spec:
  targetPortNumber: 8000
  selector: {app: c}
  extensionRef: {name: epp-c}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: d}
spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {app: d}}
  endpointPickerRef: {name: a-service-elsewhere}
)";
  std::string path;
  const auto r = load_yaml(yaml, path);
  ASSERT_TRUE(r.config) << r.diagnostics.error_text();
  const auto picker_of = [&](const std::string& pool) {
    return r.config->pools[*r.config->find_pool("default", pool)].picker;
  };
  ASSERT_TRUE(picker_of("a"));
  EXPECT_EQ(picker_of("a")->address, "10.0.0.5:9200");
  EXPECT_EQ(picker_of("a")->failure_mode, FailureMode::kFailOpen);
  ASSERT_TRUE(picker_of("b"));
  EXPECT_EQ(picker_of("b")->address, "10.0.0.6:9100");
  EXPECT_EQ(picker_of("b")->failure_mode, FailureMode::kFailClose);
  ASSERT_TRUE(picker_of("c"));
  EXPECT_EQ(picker_of("c")->address, "[fd00::7]:9002");
  EXPECT_FALSE(picker_of("d"));  // no entry of that name: InferGate picks, with a warning
  std::string warnings;
  for (const auto& w : r.diagnostics.warnings) warnings += w.to_string() + "\n";
  EXPECT_NE(warnings.find("no StaticEndpoints entry named 'a-service-elsewhere'"),
            std::string::npos)
      << warnings;
}

// The entry a pool names as its picker is a picker, never a model server: a pool whose selector
// is empty (it selects every entry of its namespace) takes the other entries only.
TEST(ConfigResolution, APickerEntryIsNeverAModelServer) {
  const std::string yaml = R"(apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: fleet, namespace: apart}
spec:
  endpoints:
  - {name: server-0, address: "10.0.0.1"}
  - {name: epp, address: "10.0.0.9", labels: {app: a}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: a, namespace: apart}
spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {}}
  endpointPickerRef: {name: epp}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: b, namespace: apart}
spec:
  targetPorts: [{number: 8000}]
  selector: {matchLabels: {app: a}}
)";
  std::string path;
  const auto r = load_yaml(yaml, path);
  ASSERT_TRUE(r.config) << r.diagnostics.error_text();
  const PoolConfig& a = r.config->pools[*r.config->find_pool("apart", "a")];
  ASSERT_EQ(a.endpoints.size(), 1u);
  EXPECT_EQ(a.endpoints[0].name, "server-0");
  ASSERT_TRUE(a.picker);
  EXPECT_EQ(a.picker->address, "10.0.0.9:9002");
  // Another pool of the namespace whose selector matches the picker's labels does not take it.
  EXPECT_TRUE(r.config->pools[*r.config->find_pool("apart", "b")].endpoints.empty());
}

// Reloads say a warning once while it holds: again only after a load without it.
TEST(ConfigResolution, ReloadsSayAWarningOnceWhileItHolds) {
  const auto load_with = [](std::vector<std::string> fields) {
    Diagnostics d;
    for (auto& f : fields) d.warn({"gateway.yaml", 3, 1}, std::move(f), "ignored");
    return d;
  };
  WarningsSaid said;
  EXPECT_EQ(said.new_since_last(load_with({"a", "b"})).size(), 2u);
  EXPECT_TRUE(said.new_since_last(load_with({"a", "b"})).empty());
  const std::vector<std::string> fresh = said.new_since_last(load_with({"b", "c"}));
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0], "gateway.yaml:3:1: c: ignored");
  EXPECT_TRUE(said.new_since_last(load_with({})).empty());
  EXPECT_EQ(said.new_since_last(load_with({"b"})).size(), 1u);  // gone, then back
}

TEST(ConfigResolution, LinesAlreadyWrittenAreSaidOnceWhileTheyHold) {
  using Lines = std::vector<std::string>;
  WarningsSaid said;
  EXPECT_EQ(said.new_since_last(Lines{"pool a: no selector", "model b: no pool"}).size(), 2u);
  EXPECT_TRUE(said.new_since_last(Lines{"model b: no pool", "pool a: no selector"}).empty());
  EXPECT_EQ(said.new_since_last(Lines{"model b: no pool", "route c: no rules"}),
            Lines{"route c: no rules"});
  EXPECT_TRUE(said.new_since_last(Lines{}).empty());
  EXPECT_EQ(said.new_since_last(Lines{"model b: no pool"}).size(), 1u);
}

TEST(Examples, EveryExampleConfigLoads) {
  int n = 0;
  for (const auto& f : fs::directory_iterator(INFERGATE_EXAMPLES)) {
    if (f.path().extension() != ".yaml") continue;
    const auto r = load_config({f.path().string()});
    EXPECT_TRUE(r.config) << f.path() << "\n" << r.diagnostics.error_text();
    ++n;
  }
  EXPECT_GE(n, 1);
}

}  // namespace
}  // namespace infergate::config
