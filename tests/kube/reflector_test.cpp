// List-and-watch against a scripted API server: paging, events applied in order, bookmarks
// moving the resourceVersion on, a 410 (as a status or an ERROR event) leading to a fresh list,
// a busy or restarting server (429, 5xx, no answer) watched again from the last version,
// RBAC refusals named with their verb and resource, and back-off without sleeping.
#include "kube/reflector.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace infergate::kube {
namespace {

// Answers requests from a script, in order; records each target.
struct ScriptedServer final : ApiTransport {
  struct Answer {
    int status = 200;
    std::string body;                  // a GET's
    std::vector<std::string> lines{};  // a watch's events
    std::string error{};               // a watch cut off after its lines
  };
  ApiResponse get(const std::string& target, std::chrono::milliseconds) override {
    targets.push_back(target);
    return next(target);
  }
  ApiResponse watch(const std::string& target, std::chrono::milliseconds,
                    const std::function<bool(std::string_view)>& on_line) override {
    targets.push_back(target);
    Answer a = take();
    if (a.status != 200) return {a.status, a.body, {}};
    for (const auto& l : a.lines)
      if (!on_line(l)) break;
    return {200, {}, a.error};
  }
  ApiResponse send(const std::string&, const std::string& target, const std::string&,
                   const std::string&, std::chrono::milliseconds) override {
    targets.push_back(target);
    return next(target);
  }
  void cancel() override {}
  Answer take() {
    if (script.empty()) {
      if (reflector) reflector->stop();  // the script is done: end the test's run()
      return {0, "", {}};
    }
    Answer a = std::move(script.front());
    script.pop_front();
    return a;
  }
  ApiResponse next(const std::string&) {
    Answer a = take();
    return {a.status, a.body, a.status == 0 ? "no server" : ""};
  }
  std::deque<Answer> script;
  std::vector<std::string> targets;
  Reflector* reflector = nullptr;
};

std::string pod(const std::string& name, const std::string& version, const std::string& ip = "") {
  return R"({"metadata":{"namespace":"ns","name":")" + name + R"(","resourceVersion":")" + version +
         R"(","managedFields":[{"big":true}]},"status":{"podIP":")" + ip + R"("}})";
}

std::string event(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}";
}

struct Watched {
  explicit Watched(ScriptedServer& server, ReflectorOptions options = {})
      : reflector(server, {"", "v1", "pods", "app=llama"}, std::move(options),
                  {[this](const ObjectSet& s) { sets.push_back(s); },
                   [this](const std::string& e) { errors.push_back(e); },
                   [this](std::chrono::milliseconds d) {
                     waits.push_back(d);
                     return true;
                   }}) {
    server.reflector = &reflector;
  }
  Reflector reflector;
  std::vector<ObjectSet> sets;
  std::vector<std::string> errors;
  std::vector<std::chrono::milliseconds> waits;
};

TEST(Reflector, ListsInPagesThenWatchesFromTheListsVersion) {
  ScriptedServer server;
  server.script.push_back(
      {200, R"({"metadata":{"resourceVersion":"10","continue":"tok en"},"items":[)" +
                pod("a", "5") + "]}"});
  server.script.push_back(
      {200, R"({"metadata":{"resourceVersion":"10"},"items":[)" + pod("b", "6") + "]}"});
  server.script.push_back(
      {200,
       "",
       {event("ADDED", pod("c", "11")),
        event("BOOKMARK", R"({"metadata":{"resourceVersion":"15"}})"),
        event("MODIFIED", pod("a", "16", "10.0.0.1")), event("DELETED", pod("b", "17"))}});
  server.script.push_back({200, "", {}});  // the server's timeout: watched again from 17
  ReflectorOptions o;
  o.ns = "ns";
  o.page_size = 1;
  Watched run(server, o);
  run.reflector.run();

  ASSERT_GE(server.targets.size(), 4u);
  EXPECT_EQ(server.targets[0], "/api/v1/namespaces/ns/pods?limit=1&labelSelector=app%3Dllama");
  EXPECT_EQ(server.targets[1],
            "/api/v1/namespaces/ns/pods?limit=1&labelSelector=app%3Dllama&continue=tok%20en");
  EXPECT_EQ(server.targets[2],
            "/api/v1/namespaces/ns/pods?watch=1&allowWatchBookmarks=true&resourceVersion=10"
            "&timeoutSeconds=300&labelSelector=app%3Dllama");
  EXPECT_NE(server.targets[3].find("resourceVersion=17"), std::string::npos) << server.targets[3];
  EXPECT_TRUE(run.reflector.synced());
  ASSERT_EQ(run.sets.size(), 4u);  // the list, then each change (not the bookmark)
  EXPECT_EQ(run.sets[0].size(), 2u);
  const ObjectSet& last = run.sets.back();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_TRUE(last.contains("ns/a") && last.contains("ns/c"));
  EXPECT_EQ(last.at("ns/a").at("status").at("podIP").as_string(), "10.0.0.1");
  EXPECT_FALSE(last.at("ns/a").at("metadata").as_object().contains("managedFields"));
  EXPECT_TRUE(run.errors.empty());
}

TEST(Reflector, GoneListsAgain) {
  ScriptedServer server;
  server.script.push_back(
      {200, R"({"metadata":{"resourceVersion":"1"},"items":[)" + pod("a", "1") + "]}"});
  server.script.push_back(
      {200, "", {event("ERROR", R"({"kind":"Status","code":410,"reason":"Expired"})")}});
  server.script.push_back(
      {200, R"({"metadata":{"resourceVersion":"50"},"items":[)" + pod("z", "49") + "]}"});
  server.script.push_back({410, R"({"kind":"Status","code":410})", {}});  // as a status
  server.script.push_back({200, R"({"metadata":{"resourceVersion":"60"},"items":[]})"});
  Watched run(server);
  run.reflector.run();
  EXPECT_EQ(run.reflector.lists(), 3u);
  EXPECT_EQ(run.reflector.relists_after_gone(), 2u);
  EXPECT_TRUE(run.waits.empty()) << "a 410 is no error: no back-off";
  ASSERT_GE(run.sets.size(), 3u);
  EXPECT_TRUE(run.sets[1].contains("ns/z") && !run.sets[1].contains("ns/a"));
  EXPECT_TRUE(run.sets[2].empty());
}

TEST(Reflector, ForbiddenNamesVerbAndResourceAndBacksOff) {
  ScriptedServer server;
  for (int i = 0; i < 3; ++i)
    server.script.push_back(
        {403, R"({"kind":"Status","message":"pods is forbidden: User \"x\" cannot list"})", {}});
  ReflectorOptions o;
  o.backoff_initial = std::chrono::milliseconds(100);
  o.backoff_max = std::chrono::milliseconds(250);
  Watched run(server, o);
  run.reflector.run();
  ASSERT_EQ(run.errors.size(), 3u);
  EXPECT_NE(run.errors[0].find("forbidden by RBAC (verb list, resource pods/v1)"),
            std::string::npos)
      << run.errors[0];
  EXPECT_NE(run.errors[0].find("in every namespace"), std::string::npos);
  EXPECT_EQ(run.waits, (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(100),
                                                               std::chrono::milliseconds(200),
                                                               std::chrono::milliseconds(250)}));
  EXPECT_FALSE(run.reflector.synced());
}

TEST(Reflector, ABrokenWatchBacksOffAndResumesFromTheLastVersion) {
  ScriptedServer server;
  server.script.push_back({200, R"({"metadata":{"resourceVersion":"1"},"items":[]})"});
  server.script.push_back({200, "", {event("ADDED", pod("a", "5"))}, "connection reset"});
  server.script.push_back({200, "", {}, "connection reset"});
  ReflectorOptions o;
  o.backoff_initial = std::chrono::milliseconds(100);
  Watched run(server, o);
  run.reflector.run();
  EXPECT_EQ(run.reflector.lists(), 1u) << "no list again: the watch resumes";
  ASSERT_GE(server.targets.size(), 3u);
  EXPECT_NE(server.targets[2].find("resourceVersion=5"), std::string::npos) << server.targets[2];
  EXPECT_EQ(run.waits, (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(100),
                                                               std::chrono::milliseconds(200)}));
  ASSERT_EQ(run.errors.size(), 2u);
  EXPECT_NE(run.errors[0].find("broke: connection reset"), std::string::npos) << run.errors[0];
}

// A watch that gets no answer at all (the API server restarting) resumes from the last version
// after a back-off: nothing is listed again unless the version has expired.
TEST(Reflector, AnUnreachableServerIsWatchedAgainFromTheLastVersion) {
  ScriptedServer server;
  server.script.push_back({200, R"({"metadata":{"resourceVersion":"1"},"items":[]})"});
  server.script.push_back({200, "", {event("ADDED", pod("a", "5"))}, "connection reset"});
  server.script.push_back({0, "", {}, "connection refused"});
  server.script.push_back({0, "", {}, "connection refused"});
  ReflectorOptions o;
  o.backoff_initial = std::chrono::milliseconds(100);
  Watched run(server, o);
  run.reflector.run();
  EXPECT_EQ(run.reflector.lists(), 1u);
  ASSERT_GE(server.targets.size(), 4u);
  EXPECT_NE(server.targets[3].find("resourceVersion=5"), std::string::npos) << server.targets[3];
  EXPECT_EQ(run.waits.size(), 3u);
}

// A watch refused because the server is busy or going away (a restart answers 503 "apiserver is
// shutting down") resumes from the last version after a back-off: nothing is listed again.
TEST(Reflector, AServerShuttingDownIsWatchedAgainFromTheLastVersion) {
  ScriptedServer server;
  server.script.push_back({200, R"({"metadata":{"resourceVersion":"1"},"items":[]})"});
  server.script.push_back({200, "", {event("ADDED", pod("a", "5"))}, "connection reset"});
  server.script.push_back(
      {503, R"({"kind":"Status","message":"apiserver is shutting down","code":503})"});
  server.script.push_back({429, R"({"kind":"Status","message":"too many requests"})"});
  ReflectorOptions o;
  o.backoff_initial = std::chrono::milliseconds(100);
  Watched run(server, o);
  run.reflector.run();
  EXPECT_EQ(run.reflector.lists(), 1u) << "no list again: the watch resumes";
  ASSERT_GE(server.targets.size(), 5u);
  EXPECT_NE(server.targets[3].find("resourceVersion=5"), std::string::npos) << server.targets[3];
  EXPECT_NE(server.targets[4].find("resourceVersion=5"), std::string::npos) << server.targets[4];
  ASSERT_GE(run.errors.size(), 2u);
  EXPECT_NE(run.errors[1].find("HTTP 503 apiserver is shutting down"), std::string::npos)
      << run.errors[1];
}

TEST(Reflector, MissingCrdAndBrokenWatchAreReported) {
  ScriptedServer server;
  server.script.push_back({404, "", {}});
  server.script.push_back({200, R"({"metadata":{"resourceVersion":"1"},"items":[]})"});
  server.script.push_back({200, "", {"{not json"}});
  server.script.push_back({200, R"({"metadata":{"resourceVersion":"2"},"items":[]})"});
  Watched run(server);
  run.reflector.run();
  ASSERT_EQ(run.errors.size(), 2u);
  EXPECT_NE(run.errors[0].find("is its CRD installed?"), std::string::npos);
  ASSERT_GE(run.sets.size(), 2u);
  EXPECT_TRUE(run.sets[0].empty()) << "a kind not served counts as listed, with no objects";
  EXPECT_NE(run.errors[1].find("malformed event"), std::string::npos);
  EXPECT_EQ(run.reflector.lists(), 2u);
}

}  // namespace
}  // namespace infergate::kube
