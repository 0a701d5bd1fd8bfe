// Status computed from the cluster's objects (conditions, other controllers' entries kept, the
// v1alpha2 placeholder removed, nothing written when nothing changed), and the Lease's election
// against a scripted API server with an injected clock.
#include "kube/status_writer.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>

#include "kube/leader_lease.hpp"

namespace infergate::kube {
namespace {
namespace json = boost::json;

json::object parse(const std::string& text) { return json::parse(text).as_object(); }

StatusInputs fleet() {
  StatusInputs in;
  in.pools["serving/llama"] =
      parse(R"({"metadata":{"name":"llama","namespace":"serving","generation":3},)"
            R"("spec":{"selector":{"matchLabels":{"app":"llama"}}},"status":{"parents":[]}})");
  in.pools_v1alpha2["serving/old"] = parse(
      R"({"metadata":{"name":"old","namespace":"serving"},"spec":{"selector":{"app":"llama"}},)"
      R"("status":{"parent":[{"parentRef":{"kind":"Status","name":"default"}}]}})");
  in.pods["serving/a"] =
      parse(R"({"metadata":{"name":"a","namespace":"serving","labels":{"app":"llama"}},)"
            R"("status":{"podIP":"10.0.0.1","conditions":[{"type":"Ready","status":"True"}]}})");
  const auto route = [](const std::string& name, const std::string& gateway,
                        const std::string& pool, const std::string& group) {
    return parse(R"({"metadata":{"name":")" + name +
                 R"(","namespace":"serving","generation":1},"spec":{"parentRefs":[{"name":")" +
                 gateway + R"("}],"rules":[{"backendRefs":[{"group":")" + group +
                 R"(","kind":"InferencePool","name":")" + pool + R"("}]}]},)" +
                 R"("status":{"parents":[{"parentRef":{"name":"x"},)"
                 R"("controllerName":"example.com/other","conditions":[]}]}})");
  };
  in.routes["serving/to-llama"] = route("to-llama", "gw", "llama", "inference.networking.k8s.io");
  in.routes["serving/to-ghost"] = route("to-ghost", "gw", "ghost", "inference.networking.k8s.io");
  in.routes["serving/to-old"] = route("to-old", "gw", "old", "inference.networking.x-k8s.io");
  in.routes["serving/theirs"] = route("theirs", "other-gw", "llama", "inference.networking.k8s.io");
  return in;
}

const StatusOptions kOptions{"serving/gw", "infergate.dev/gateway-controller"};

const json::object* find(const std::vector<StatusUpdate>& updates, const std::string& path) {
  for (const auto& u : updates)
    if (u.path == path) return &u.object;
  return nullptr;
}

std::string conditions_of(const json::value& entry) {
  std::string out;
  for (const json::value& c : entry.at("conditions").as_array())
    out += std::string(c.at("type").as_string()) + "=" + std::string(c.at("status").as_string()) +
           "/" + std::string(c.at("reason").as_string()) + " ";
  return out;
}

TEST(StatusWriter, ConditionsForRoutesAndPools) {
  const auto updates = status_updates(fleet(), kOptions, "2026-12-06T00:00:00Z");
  const std::string routes = "/apis/gateway.networking.k8s.io/v1/namespaces/serving/httproutes/";
  const json::object* llama = find(updates, routes + "to-llama/status");
  ASSERT_TRUE(llama);
  const json::array& parents = llama->at("status").at("parents").as_array();
  ASSERT_EQ(parents.size(), 2u) << "the other controller's entry first, kept";
  EXPECT_EQ(parents[0].at("controllerName").as_string(), "example.com/other");
  EXPECT_EQ(conditions_of(parents[1]), "Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs ");
  EXPECT_EQ(parents[1].at("conditions").at(0).at("observedGeneration").as_int64(), 1);
  const json::object* ghost = find(updates, routes + "to-ghost/status");
  ASSERT_TRUE(ghost);
  EXPECT_EQ(conditions_of(ghost->at("status").at("parents").at(1)),
            "Accepted=True/Accepted ResolvedRefs=False/BackendNotFound ");
  EXPECT_FALSE(find(updates, routes + "theirs/status")) << "another Gateway's route";

  const json::object* pool =
      find(updates,
           "/apis/inference.networking.k8s.io/v1/namespaces/serving/inferencepools/"
           "llama/status");
  ASSERT_TRUE(pool);
  const json::value& entry = pool->at("status").at("parents").at(0);
  EXPECT_EQ(entry.at("parentRef").at("name").as_string(), "gw");
  EXPECT_EQ(entry.at("parentRef").at("namespace").as_string(), "serving");
  EXPECT_NE(json::serialize(entry).find("1 Ready Pod(s)"), std::string::npos);

  const json::object* old = find(
      updates,
      "/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/serving/inferencepools/old/status");
  ASSERT_TRUE(old);
  const json::array& parent = old->at("status").at("parent").as_array();
  ASSERT_EQ(parent.size(), 1u) << "the placeholder is gone";
  EXPECT_EQ(parent[0].at("parentRef").at("name").as_string(), "gw");
  EXPECT_FALSE(parent[0].as_object().contains("controllerName"));
}

// Status as written, read back: nothing to write again, even later (transition times kept).
TEST(StatusWriter, NothingChangedNothingWritten) {
  StatusInputs in = fleet();
  for (const auto& u : status_updates(in, kOptions, "2026-12-06T00:00:00Z")) {
    const auto& meta = u.object.at("metadata");
    const std::string key = std::string(meta.at("namespace").as_string()) + "/" +
                            std::string(meta.at("name").as_string());
    ObjectSet& set = u.path.find("httproutes") != std::string::npos ? in.routes
                     : u.path.find("v1alpha2") != std::string::npos ? in.pools_v1alpha2
                                                                    : in.pools;
    set[key] = u.object;
  }
  EXPECT_TRUE(status_updates(in, kOptions, "2026-12-06T01:00:00Z").empty());
  // A Pod more: the two pools' messages change (both select it), their transition times stay.
  in.pods["serving/b"] = in.pods["serving/a"];
  const auto again = status_updates(in, kOptions, "2026-12-06T02:00:00Z");
  ASSERT_EQ(again.size(), 2u);
  for (const auto& u : again) {
    EXPECT_NE(u.path.find("inferencepools"), std::string::npos) << u.path;
    EXPECT_NE(json::serialize(u.object).find("2 Ready Pod(s)"), std::string::npos);
    EXPECT_NE(json::serialize(u.object).find("2026-12-06T00:00:00Z"), std::string::npos);
    EXPECT_EQ(json::serialize(u.object).find("2026-12-06T02:00:00Z"), std::string::npos);
  }
}

// Answers from a script, in order; records each request.
struct ScriptedApi final : ApiTransport {
  std::deque<ApiResponse> answers;
  std::vector<std::string> requests;
  ApiResponse next(const std::string& line) {
    requests.push_back(line);
    if (answers.empty()) return {0, "", "no more answers"};
    ApiResponse r = answers.front();
    answers.pop_front();
    return r;
  }
  ApiResponse get(const std::string& target, std::chrono::milliseconds) override {
    return next("GET " + target);
  }
  ApiResponse send(const std::string& method, const std::string& target, const std::string& body,
                   const std::string&, std::chrono::milliseconds) override {
    return next(method + " " + target + " " + body);
  }
  ApiResponse watch(const std::string&, std::chrono::milliseconds,
                    const std::function<bool(std::string_view)>&) override {
    return {0, "", "no watch"};
  }
  void cancel() override {}
};

std::string lease_body(const std::string& holder, const std::string& renew) {
  return R"({"metadata":{"name":"l","namespace":"ns","resourceVersion":"7"},"spec":{)"
         R"("holderIdentity":")" +
         holder + R"(","leaseDurationSeconds":3,"renewTime":")" + renew +
         R"(","leaseTransitions":2}})";
}

// A write that lost a race (409) reads the object again, recomputes its status from it and
// writes again; what another writer added in between is kept.
TEST(StatusWriter, AConflictIsReadAgainAndRetried) {
  StatusInputs in;
  in.pools["serving/llama"] = fleet().pools["serving/llama"];
  in.routes["serving/to-llama"] = fleet().routes["serving/to-llama"];
  ScriptedApi api;
  json::object fresh = in.routes["serving/to-llama"];
  fresh["metadata"].as_object()["resourceVersion"] = "9";
  fresh["status"].as_object()["parents"].as_array().push_back(
      parse(R"({"parentRef":{"name":"y"},"controllerName":"example.com/third","conditions":[]})"));
  // The route's status: 409, then the fresh object, then written. The pool's: written.
  api.answers = {
      {409, "conflict", ""}, {200, json::serialize(fresh), ""}, {200, "{}", ""}, {200, "{}", ""}};
  const auto failures = write_status(api, in, kOptions);
  EXPECT_TRUE(failures.empty()) << failures.front();
  ASSERT_EQ(api.requests.size(), 4u);
  EXPECT_TRUE(api.requests[1].starts_with(
      "GET /apis/gateway.networking.k8s.io/v1/namespaces/serving/httproutes/to-llama"))
      << api.requests[1];
  const std::string& retry = api.requests[2];
  EXPECT_TRUE(
      retry.starts_with("PUT /apis/gateway.networking.k8s.io/v1/namespaces/serving/"
                        "httproutes/to-llama/status"))
      << retry;
  EXPECT_NE(retry.find(R"("resourceVersion":"9")"), std::string::npos);
  EXPECT_NE(retry.find("example.com/third"), std::string::npos) << "kept";
  EXPECT_NE(retry.find("infergate.dev/gateway-controller"), std::string::npos);
}

TEST(LeaderLease, CreatesWaitsForAFreshHolderTakesOverAStaleOne) {
  ScriptedApi api;
  std::chrono::steady_clock::time_point now{};
  LeaderLease lease(api, {"ns", "l", "me", std::chrono::seconds(3)}, [&] { return now; });
  std::string error;
  // No Lease yet: created, held.
  api.answers = {{404, "", ""}, {201, "{}", ""}};
  EXPECT_TRUE(lease.step(error)) << error;
  EXPECT_TRUE(
      api.requests.back().starts_with("POST /apis/coordination.k8s.io/v1/namespaces/ns/leases "));
  // Another holder renewing: not ours, nothing written.
  api.requests.clear();
  api.answers = {{200, lease_body("other", "t1"), ""}};
  EXPECT_FALSE(lease.step(error));
  now += std::chrono::seconds(2);
  api.answers = {{200, lease_body("other", "t2"), ""}};  // it renewed
  EXPECT_FALSE(lease.step(error));
  now += std::chrono::seconds(2);
  api.answers = {{200, lease_body("other", "t2"), ""}};  // silent for 2 s: not yet
  EXPECT_FALSE(lease.step(error));
  EXPECT_EQ(api.requests.size(), 3u) << "only reads";
  // Silent longer than the duration: taken over, with the resourceVersion read.
  now += std::chrono::seconds(2);
  api.answers = {{200, lease_body("other", "t2"), ""}, {200, "{}", ""}};
  EXPECT_TRUE(lease.step(error)) << error;
  const std::string& put = api.requests.back();
  EXPECT_TRUE(put.starts_with("PUT /apis/coordination.k8s.io/v1/namespaces/ns/leases/l ")) << put;
  EXPECT_NE(put.find(R"("holderIdentity":"me")"), std::string::npos) << put;
  EXPECT_NE(put.find(R"("leaseTransitions":3)"), std::string::npos) << put;
  EXPECT_NE(put.find(R"("resourceVersion":"7")"), std::string::npos) << put;
  // Another replica won the race (409): not ours.
  api.answers = {{200, lease_body("me", "t3"), ""}, {409, "conflict", ""}};
  EXPECT_FALSE(lease.step(error));
  // An API server that does not answer: held only while the last renewal is fresh.
  api.answers = {{200, lease_body("me", "t4"), ""}, {200, "{}", ""}};
  EXPECT_TRUE(lease.step(error));
  now += std::chrono::seconds(1);
  api.answers = {{0, "", "connection refused"}};
  EXPECT_TRUE(lease.step(error));
  EXPECT_EQ(error, "connection refused");
  now += std::chrono::seconds(2);
  api.answers = {{0, "", "connection refused"}};
  EXPECT_FALSE(lease.step(error)) << "2 s without renewal is past two thirds of 3 s";
}

TEST(LeaderLease, ReleaseEmptiesTheHolder) {
  ScriptedApi api;
  std::chrono::steady_clock::time_point now{};
  LeaderLease lease(api, {"ns", "l", "me", std::chrono::seconds(3)}, [&] { return now; });
  std::string error;
  api.answers = {{404, "", ""}, {201, "{}", ""}};
  ASSERT_TRUE(lease.step(error));
  api.answers = {{200, lease_body("me", "t1"), ""}, {200, "{}", ""}};
  lease.release();
  EXPECT_FALSE(lease.held());
  EXPECT_NE(api.requests.back().find(R"("holderIdentity":"")"), std::string::npos)
      << api.requests.back();
}

}  // namespace
}  // namespace infergate::kube
