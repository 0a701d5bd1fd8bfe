// Objects as the API server returns them become configuration the file loader accepts: ready
// Pods as endpoints (not ready, IP-less or terminating ones left out), CRDs without their
// status and server-side metadata, HTTPRoutes only for this Gateway.
#include "kube/cluster_state.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "config/config.hpp"
#include "config/load_resources.hpp"

namespace infergate::kube {
namespace {
namespace json = boost::json;

json::object parse(const std::string& text) { return json::parse(text).as_object(); }

json::object pod(const std::string& name, const std::string& ip, const std::string& ready,
                 bool terminating = false) {
  json::object p =
      parse(R"({"metadata":{"name":")" + name +
            R"(","namespace":"serving","uid":"u","resourceVersion":"9","labels":{"app":"llama"}},)"
            R"("spec":{"containers":[{"name":"vllm","image":"vllm/vllm-openai"}]},)"
            R"("status":{"phase":"Running","podIP":")" +
            ip + R"(","conditions":[{"type":"Ready","status":")" + ready + R"("}]}})");
  if (terminating) p["metadata"].as_object()["deletionTimestamp"] = "2026-12-06T00:00:00Z";
  trim_pod(p);
  return p;
}

std::size_t index_of(const std::string& kind, const std::string& api_version) {
  const auto& kinds = watched_kinds();
  for (std::size_t i = 0; i < kinds.size(); ++i)
    if (kinds[i].kind == kind && kinds[i].api_version == api_version) return i;
  throw std::runtime_error("no kind " + kind);
}

// The configuration the loader builds from the state's documents, as a reload builds it.
config::BuildResult build(const ClusterState& state) {
  config::LoadResult loaded;
  config::load_text(state.documents(), "kubernetes", loaded);
  return config::build_config(std::move(loaded));
}

TEST(ClusterState, RendersWhatTheLoaderBuilds) {
  ClusterState state({"serving/inference-gateway"});
  EXPECT_FALSE(state.synced());
  for (std::size_t i = 0; i < watched_kinds().size(); ++i) state.set(i, {});  // listed, empty
  state.set(index_of("Pod", "v1"), {{"serving/a", pod("a", "10.0.0.1", "True")},
                                    {"serving/b", pod("b", "10.0.0.2", "False")},
                                    {"serving/c", pod("c", "", "True")},
                                    {"serving/d", pod("d", "10.0.0.4", "True", true)},
                                    {"serving/e", pod("e", "fd00::5", "True")}});
  state.set(index_of("InferencePool", "inference.networking.k8s.io/v1"),
            {{"serving/llama",
              parse(R"({"apiVersion":"inference.networking.k8s.io/v1","kind":"InferencePool",)"
                    R"("metadata":{"name":"llama","namespace":"serving","uid":"x","generation":2},)"
                    R"("spec":{"targetPorts":[{"number":8000}],)"
                    R"("selector":{"matchLabels":{"app":"llama"}},)"
                    R"("endpointPickerRef":{"name":"epp","port":{"number":9002}}},)"
                    R"("status":{"parents":[]}})")}});
  const std::string route_for = R"({"metadata":{"name":"%N","namespace":"serving"},"spec":{)"
                                R"("parentRefs":[{"name":"%G"}],"rules":[{"backendRefs":[{)"
                                R"("group":"inference.networking.k8s.io","kind":"InferencePool",)"
                                R"("name":"llama"}]}]}})";
  const auto route = [&](const std::string& name, const std::string& gateway) {
    std::string text = route_for;
    text.replace(text.find("%N"), 2, name);
    text.replace(text.find("%G"), 2, gateway);
    return parse(text);
  };
  state.set(index_of("HTTPRoute", "gateway.networking.k8s.io/v1"),
            {{"serving/ours", route("ours", "inference-gateway")},
             {"serving/theirs", route("theirs", "another-gateway")}});
  EXPECT_TRUE(state.synced());

  const config::BuildResult built = build(state);
  ASSERT_TRUE(built.config) << built.diagnostics.error_text() << "\n" << state.documents();
  const config::Config& c = *built.config;
  ASSERT_EQ(c.pools.size(), 1u);
  std::vector<std::string> endpoints;
  for (const auto& e : c.pools[0].endpoints)
    endpoints.push_back(e.host + ":" + std::to_string(e.port));
  EXPECT_EQ(endpoints, (std::vector<std::string>{"10.0.0.1:8000", "fd00::5:8000"}));
  EXPECT_EQ(c.rules.size(), 1u) << "only the route whose parent is this Gateway";
}

json::object crd(const std::string& name, const std::string& created, const std::string& spec) {
  return parse(R"({"metadata":{"name":")" + name + R"(","namespace":"serving",)" +
               R"("creationTimestamp":")" + created + R"("},"spec":)" + spec + "}");
}

// An endpoint picker's one pool (--pool-name): that pool (v1 before v1alpha2), what names it,
// the Pods of its namespace, no routes; InferenceModelRewrites from both groups, the oldest
// object winning a clash whatever its name.
TEST(ClusterState, OnePoolForAnEndpointPicker) {
  RenderOptions options;
  options.pool_name = "llama";
  options.pool_namespace = "serving";
  ClusterState state(options);
  for (std::size_t i = 0; i < watched_kinds().size(); ++i) state.set(i, {});
  json::object elsewhere = pod("x", "10.0.9.9", "True");
  elsewhere["metadata"].as_object()["namespace"] = "elsewhere";
  state.set(index_of("Pod", "v1"),
            {{"serving/a", pod("a", "10.0.0.1", "True")}, {"elsewhere/x", elsewhere}});
  const std::string v1_spec =
      R"({"targetPorts":[{"number":8000}],"selector":{"matchLabels":{"app":"llama"}},)"
      R"("endpointPickerRef":{"name":"epp","port":{"number":9002}}})";
  state.set(index_of("InferencePool", "inference.networking.k8s.io/v1"),
            {{"serving/llama", crd("llama", "2026-01-01T00:00:00Z", v1_spec)},
             {"serving/other", crd("other", "2026-01-01T00:00:00Z", v1_spec)}});
  state.set(index_of("InferencePool", "inference.networking.x-k8s.io/v1alpha2"),
            {{"serving/llama", crd("llama", "2026-01-01T00:00:00Z",
                                   R"({"targetPortNumber":9000,"selector":{"app":"llama"}})")}});
  const auto rewrite = [&](const std::string& name, const std::string& created,
                           const std::string& pool, const std::string& target) {
    return crd(name, created,
               R"({"poolRef":{"name":")" + pool +
                   R"("},"rules":[{"matches":[{"model":{"value":"chat"}}],)"
                   R"("targets":[{"modelRewrite":")" +
                   target + R"("}]}]})");
  };
  state.set(index_of("InferenceModelRewrite", "inference.networking.x-k8s.io/v1alpha2"),
            {{"serving/a-newer", rewrite("a-newer", "2026-03-01T00:00:00Z", "llama", "newer")},
             {"serving/for-other", rewrite("for-other", "2026-01-01T00:00:00Z", "other", "x")}});
  state.set(index_of("InferenceModelRewrite", "llm-d.ai/v1alpha2"),
            {{"serving/z-older", rewrite("z-older", "2026-02-01T00:00:00Z", "llama", "older")}});
  state.set(index_of("InferenceObjective", "llm-d.ai/v1alpha2"),
            {{"serving/batch", crd("batch", "2026-01-01T00:00:00Z",
                                   R"({"priority":-1,"poolRef":{"name":"llama"}})")}});
  state.set(index_of("HTTPRoute", "gateway.networking.k8s.io/v1"),
            {{"serving/r", crd("r", "2026-01-01T00:00:00Z",
                               R"({"rules":[{"backendRefs":[{"name":"other"}]}]})")}});

  const config::BuildResult built = build(state);
  ASSERT_TRUE(built.config) << built.diagnostics.error_text() << "\n" << state.documents();
  const config::Config& c = *built.config;
  ASSERT_EQ(c.pools.size(), 1u);
  EXPECT_EQ(c.pools[0].resource.api_version, "inference.networking.k8s.io/v1");
  ASSERT_EQ(c.pools[0].endpoints.size(), 1u);
  EXPECT_EQ(c.pools[0].endpoints[0].host, "10.0.0.1");
  EXPECT_TRUE(c.rules.empty());
  EXPECT_EQ(c.pools[0].objectives.at("batch").priority, -1);
  ASSERT_EQ(c.pools[0].model_rewrites.count("chat"), 1u);
  EXPECT_EQ(c.pools[0].model_rewrites.at("chat").targets.at(0).name, "older");
}

// A route is served without what it cannot be: backendRefs to a missing pool, to another
// namespace's (no ReferenceGrant is read) or to a Service are left out, so one such route does
// not make the whole configuration invalid; its status says why (status_writer).
TEST(ClusterState, RoutesKeepOnlyTheirExistingPoolsInTheirNamespace) {
  ClusterState state;
  for (std::size_t i = 0; i < watched_kinds().size(); ++i) state.set(i, {});
  state.set(index_of("InferencePool", "inference.networking.k8s.io/v1"),
            {{"serving/llama",
              crd("llama", "2026-01-01T00:00:00Z",
                  R"({"targetPorts":[{"number":8000}],"selector":{"matchLabels":{"app":"x"}},)"
                  R"("endpointPickerRef":{"name":"epp","port":{"number":9002}}})")}});
  const std::string g = R"("group":"inference.networking.k8s.io","kind":"InferencePool",)";
  state.set(index_of("HTTPRoute", "gateway.networking.k8s.io/v1"),
            {{"serving/r",
              crd("r", "2026-01-01T00:00:00Z",
                  R"({"rules":[{"backendRefs":[{)" + g + R"("name":"llama"},{)" + g +
                      R"("name":"ghost"},{)" + g +
                      R"("name":"llama","namespace":"elsewhere"},{"name":"svc","port":80}]},)" +
                      R"({"backendRefs":[{)" + g + R"("name":"ghost"}]}]})")}});
  const config::BuildResult built = build(state);
  ASSERT_TRUE(built.config) << built.diagnostics.error_text() << "\n" << state.documents();
  ASSERT_EQ(built.config->rules.size(), 2u);
  ASSERT_EQ(built.config->rules[0].backends.size(), 1u);
  EXPECT_EQ(built.config->pools[built.config->rules[0].backends[0].pool].name(), "llama");
  EXPECT_TRUE(built.config->rules[1].backends.empty()) << "a rule with nothing to send to: 503";
  // Each reference left out is said, to be logged at the reload.
  std::vector<std::string> left_out;
  state.documents(&left_out);
  ASSERT_EQ(left_out.size(), 4u);
  EXPECT_EQ(left_out[0],
            "HTTPRoute serving/r: backendRef serving/ghost left out: not an InferencePool of the "
            "route's namespace that exists");
  EXPECT_NE(left_out[1].find("backendRef elsewhere/llama left out"), std::string::npos);
  EXPECT_NE(left_out[2].find("backendRef serving/svc left out"), std::string::npos);
}

TEST(ClusterState, TrimmedPodKeepsWhatIsRead) {
  const json::object p = pod("a", "10.0.0.1", "True");
  EXPECT_FALSE(p.contains("spec"));
  EXPECT_EQ(p.at("metadata").at("labels").at("app").as_string(), "llama");
  EXPECT_FALSE(p.at("metadata").as_object().contains("uid"));
  EXPECT_EQ(p.at("status").at("podIP").as_string(), "10.0.0.1");
}

// The gateway calls the picker a pool names at its Service's cluster IP, or an ExternalName
// Service's name (the reference's port); a pool whose picker has no Service, or a headless one,
// is picked by InferGate; an endpoint picker renders no Service.
TEST(ClusterState, PickerServicesForTheGateway) {
  const auto service = [](const std::string& name, const std::string& ip) {
    json::object s = parse(R"({"metadata":{"name":")" + name +
                           R"(","namespace":"serving","uid":"u","labels":{"x":"y"}},)"
                           R"("spec":{"clusterIP":")" +
                           ip + R"(","ports":[{"port":9002}],"selector":{"app":"epp"}}})");
    trim_service(s);
    return s;
  };
  const auto pool = [](const std::string& name, const std::string& picker) {
    return crd(name, "2026-01-01T00:00:00Z",
               R"({"targetPorts":[{"number":8000}],"selector":{"matchLabels":{"app":"llama"}},)"
               R"("endpointPickerRef":{"name":")" +
                   picker + R"(","port":{"number":9100},"failureMode":"FailOpen"}})");
  };
  const auto fill = [&](ClusterState& state) {
    for (std::size_t i = 0; i < watched_kinds().size(); ++i) state.set(i, {});
    state.set(index_of("Pod", "v1"), {{"serving/a", pod("a", "10.0.0.1", "True")}});
    state.set(index_of("InferencePool", "inference.networking.k8s.io/v1"),
              {{"serving/llama", pool("llama", "llama-epp")},
               {"serving/qwen", pool("qwen", "qwen-epp")},
               {"serving/mixtral", pool("mixtral", "mixtral-epp")},
               {"serving/phi", pool("phi", "phi-epp")}});
    json::object external =
        parse(R"({"metadata":{"name":"qwen-epp","namespace":"serving"},)"
              R"("spec":{"type":"ExternalName","externalName":"qwen-epp.example.com"}})");
    trim_service(external);
    state.set(index_of("Service", "v1"),
              {{"serving/llama-epp", service("llama-epp", "10.96.0.7")},
               {"serving/qwen-epp", external},
               {"serving/mixtral-epp", service("mixtral-epp", "None")},
               {"serving/unrelated", service("unrelated", "10.96.0.9")}});
  };
  ClusterState gateway({"serving/inference-gateway"});
  fill(gateway);
  const config::BuildResult built = build(gateway);
  ASSERT_TRUE(built.config) << built.diagnostics.error_text() << "\n" << gateway.documents();
  const config::Config& c = *built.config;
  const auto& llama = c.pools[*c.find_pool("serving", "llama")];
  ASSERT_TRUE(llama.picker) << gateway.documents();
  EXPECT_EQ(llama.picker->address, "10.96.0.7:9100");
  EXPECT_EQ(llama.picker->failure_mode, config::FailureMode::kFailOpen);
  const auto& qwen = c.pools[*c.find_pool("serving", "qwen")];
  ASSERT_TRUE(qwen.picker) << gateway.documents();
  EXPECT_EQ(qwen.picker->address, "qwen-epp.example.com:9100");      // an ExternalName Service
  EXPECT_FALSE(c.pools[*c.find_pool("serving", "phi")].picker);      // no such Service
  EXPECT_FALSE(c.pools[*c.find_pool("serving", "mixtral")].picker);  // headless
  EXPECT_EQ(gateway.documents().find("unrelated"), std::string::npos);
  EXPECT_EQ(llama.endpoints.size(), 1u) << "a picker's Service is not a model server";

  RenderOptions one_pool;
  one_pool.pool_name = "llama";
  one_pool.pool_namespace = "serving";
  ClusterState picker(one_pool);
  fill(picker);
  EXPECT_EQ(picker.documents().find("kubernetes-pickers"), std::string::npos);
}

}  // namespace
}  // namespace infergate::kube
