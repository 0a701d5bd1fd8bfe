// The live page's files as the admin listener serves them (types, no caching, a strict content
// security policy, nothing from elsewhere) and the decisions' JSON.
#include "gateway/server/dashboard.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "gateway/server/dashboard_files.hpp"

namespace infergate::gateway {
namespace {

using namespace std::chrono_literals;

std::string header(const ResponseHead& head, std::string_view name) {
  for (const auto& [n, v] : head.headers)
    if (n == name) return v;
  return {};
}

TEST(Dashboard, ServesItsFilesWithTypesAndAStrictPolicy) {
  ManualClock clock;
  scheduling::DecisionLog log(clock);
  const std::pair<const char*, const char*> files[] = {
      {"/dashboard", "text/html; charset=utf-8"},
      {"/dashboard/", "text/html; charset=utf-8"},
      {"/dashboard/index.html", "text/html; charset=utf-8"},
      {"/dashboard/dashboard.js", "text/javascript; charset=utf-8"},
      {"/dashboard/dashboard.css", "text/css; charset=utf-8"}};
  for (const auto& [path, type] : files) {
    ResponseHead head;
    std::string body;
    ASSERT_TRUE(serve_dashboard(path, log, head, body)) << path;
    EXPECT_TRUE(is_dashboard_file(path));
    EXPECT_EQ(header(head, "content-type"), type) << path;
    EXPECT_EQ(header(head, "cache-control"), "no-store");
    const std::string csp = header(head, "content-security-policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_FALSE(body.empty());
  }
  ResponseHead head;
  std::string body;
  EXPECT_FALSE(serve_dashboard("/dashboard/missing.js", log, head, body));
  EXPECT_FALSE(serve_dashboard("/dashboards", log, head, body));
  EXPECT_FALSE(is_dashboard_file("/dashboard/decisions"));  // data: behind the token
}

TEST(Dashboard, LoadsNothingFromElsewhereAndRunsNoInlineScript) {
  ASSERT_EQ(dashboard_files().size(), 3u);
  for (const EmbeddedFile& f : dashboard_files()) {
    // The one absolute URL is SVG's namespace name, which is never fetched.
    const std::string text(f.bytes);
    const std::string_view svg_namespace = "http://www.w3.org/2000/svg";
    for (std::size_t at = 0; (at = text.find("://", at)) != std::string::npos; at += 3)
      EXPECT_EQ(text.compare(at - 4, svg_namespace.size(), svg_namespace), 0)
          << f.name << ": " << text.substr(at - 10, 60);
    if (f.name == "index.html") {
      EXPECT_EQ(text.find("<script>"), std::string::npos);
      EXPECT_EQ(text.find("style="), std::string::npos);
      EXPECT_EQ(text.find("onload="), std::string::npos);
    }
  }
}

TEST(Dashboard, DecisionsAreJsonNewestFirstAndStartTheRecording) {
  ManualClock clock(100s);
  scheduling::DecisionLog log(clock);
  ResponseHead head;
  std::string body;
  EXPECT_FALSE(log.recording(clock.now()));
  ASSERT_TRUE(serve_dashboard("/dashboard/decisions", log, head, body));
  EXPECT_TRUE(log.recording(clock.now()));
  EXPECT_EQ(header(head, "content-type"), "application/json");
  EXPECT_EQ(boost::json::parse(body).at("decisions").as_array().size(), 0u);

  scheduling::Decision d{.at = clock.now(),
                         .pool = "default/\"quoted\"",
                         .profile = "default",
                         .picker = "max-score-picker",
                         .target_model = "llama",
                         .endpoints = 3,
                         .candidates = 2};
  d.chosen = {"a-0", "127.0.0.1:1", 2.5, {{"queue-scorer", 2, 1.5}, {"kv-scorer", 1, 1}}};
  d.runners_up.push_back({"a-1", "127.0.0.1:2", 0.5, {{"queue-scorer", 2, 0.5}}});
  log.record(d);
  clock.advance(1500ms);
  log.record({.at = clock.now(), .pool = "second"});
  const auto json = boost::json::parse(decisions_json(log.recent(), clock.now()));
  const auto& list = json.at("decisions").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("pool").as_string(), "second");
  const auto& first = list[1].as_object();
  EXPECT_EQ(first.at("seq").to_number<int>(), 1);
  EXPECT_DOUBLE_EQ(first.at("age_seconds").to_number<double>(), 1.5);
  EXPECT_EQ(first.at("pool").as_string(), "default/\"quoted\"");
  EXPECT_EQ(first.at("candidates").to_number<int>(), 2);
  EXPECT_EQ(first.at("endpoints").to_number<int>(), 3);
  const auto& chosen = first.at("chosen").as_object();
  EXPECT_EQ(chosen.at("endpoint").as_string(), "a-0");
  EXPECT_DOUBLE_EQ(chosen.at("total").to_number<double>(), 2.5);
  EXPECT_EQ(chosen.at("shares").as_array().size(), 2u);
  EXPECT_EQ(chosen.at("shares").at(0).at("scorer").as_string(), "queue-scorer");
  EXPECT_DOUBLE_EQ(chosen.at("shares").at(0).at("weighted").to_number<double>(), 1.5);
  EXPECT_EQ(first.at("runners_up").as_array().size(), 1u);
}

}  // namespace
}  // namespace infergate::gateway
