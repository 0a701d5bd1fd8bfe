// The live page (/dashboard) in headless Chromium against a real gateway and simulator on
// loopback ports chosen at run time: under load, two screenshots 5 s apart differ; once the load
// has stopped and /metrics is quiescent, every number the page shows from a /metrics sample
// (marked data-metric / data-labels / data-value) equals that sample.
//
// Chromium runs with --virtual-time-budget: the page's first poll draws a whole frame, and its
// timers run on virtual time, which stands still while a fetch is pending, so one page load
// shows /metrics as it was read. Every wait is bounded; the 5 s between the screenshots is the
// interval under test, not a synchronisation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "support/child_process.hpp"
#include "support/gateway_processes.hpp"
#include "support/http_client.hpp"
#include "support/integration.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kToken = "dashboard-token-0123456789";

// The first `name` on PATH that can be run; empty when none.
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

// `k=v` pairs sorted by key and joined with ",", as the page writes data-labels.
std::string canonical(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

// Every sample of an exposition: "name|labels" -> value.
std::map<std::string, double> parse_exposition(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::size_t i = line.find_first_of("{ ");
    const std::string name = line.substr(0, i);
    std::map<std::string, std::string> labels;
    if (i != std::string::npos && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const std::size_t eq = line.find('=', i);
        const std::string key = line.substr(i, eq - i);
        std::string value;
        for (i = eq + 2; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        labels[key] = value;
        i += 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;
    }
    const std::string value = line.substr(line.find_first_not_of(' ', i));
    out[name + "|" + canonical(labels)] = std::strtod(value.c_str(), nullptr);
  }
  return out;
}

// /metrics without the lines that change with time alone (ages), for comparing two reads.
std::string without_ages(const std::string& text) {
  std::istringstream lines(text);
  std::string out;
  for (std::string line; std::getline(lines, line);)
    if (!line.starts_with("infergate_endpoint_scrape_age_seconds")) out += line + "\n";
  return out;
}

std::string unescape_html(std::string s) {
  const std::pair<const char*, const char*> entities[] = {
      {"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&nbsp;", "\xc2\xa0"}, {"&amp;", "&"}};
  for (const auto& [from, to] : entities)
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += 1)
      s.replace(at, std::strlen(from), to);
  return s;
}

struct Shown {
  std::string metric, labels;
  std::optional<std::string> value;  // absent: the page shows the sample as missing
};

std::vector<Shown> shown_metrics(const std::string& dom) {
  static const std::regex marked(
      R"re(data-metric="([^"]*)" data-labels="([^"]*)" (?:data-value="([^"]*)"|data-absent=""))re");
  std::vector<Shown> out;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), marked); it != std::sregex_iterator();
       ++it) {
    Shown s{unescape_html((*it)[1]), unescape_html((*it)[2]), std::nullopt};
    if ((*it)[3].matched) s.value = (*it)[3].str();
    out.push_back(std::move(s));
  }
  return out;
}

// A simulator pool of two replicas ("llama") and one of one ("qwen"), a gateway in front with an
// admin token, and headless Chromium.
class DashboardPage : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = find_on_path("chromium");
    ASSERT_FALSE(chromium_.empty())
        << "chromium is not on PATH: the dashboard test runs the page in headless Chromium "
           "(Debian's package `chromium`; scripts/install-deps.sh installs it)";
    llama_ = start_sim({"--replicas", "2", "--pod-name", "llama", "--served-model-name", "llama",
                        "--gpu-profile", "tiny", "--max-num-seqs", "2"});
    qwen_ = start_sim({"--replicas", "1", "--pod-name", "qwen", "--served-model-name", "qwen",
                       "--gpu-profile", "tiny", "--max-num-seqs", "2"});
    config_ = std::make_unique<TempConfig>(
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: eps}\n"
        "spec:\n  endpoints:\n" +
        endpoints_yaml("llama", "llama", *llama_) + endpoints_yaml("qwen", "qwen", *qwen_) +
        pool_yaml("llama") + pool_yaml("qwen") +
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: llm}\n"
        "spec:\n  rules:\n"
        "  - matches: [{headers: [{name: X-Gateway-Model-Name, value: llama}]}]\n"
        "    backendRefs: [" +
        backend("llama") +
        "]\n"
        "  - matches: [{headers: [{name: X-Gateway-Model-Name, value: qwen}]}]\n"
        "    backendRefs: [" +
        backend("qwen") + "]\n");
    token_file_ = std::make_unique<TempConfig>(std::string(kToken) + "\n");
    gateway_ = std::make_unique<Gateway>(
        config_->path(), std::vector<std::string>{"--admin-token-file", token_file_->path(),
                                                  "--scrape-interval-ms", "50"});
    profile_ = fs::temp_directory_path() / ("infergate-dash-" + std::to_string(::getpid()));
    fs::create_directories(profile_);
  }
  void TearDown() override {
    stop_load();
    std::error_code ignored;
    fs::remove_all(profile_, ignored);
  }

  // Streaming chat completions from a few client threads, until stop_load().
  void start_load(int threads) {
    for (int t = 0; t < threads; ++t)
      load_.emplace_back([this, t] {
        auto client = gateway_->client();
        for (int i = 0; !stop_.load(); ++i) {
          const std::string model = t % 3 == 2 ? "qwen" : "llama";
          json::object body{
              {"model", model},
              {"messages", json::array{json::object{
                               {"role", "user"},
                               {"content", "Summarise the dashboard test, part " +
                                               std::to_string(t) + "." + std::to_string(i % 4)}}}},
              {"max_tokens", 40 + 20 * (i % 4)},
              {"ignore_eos", true},
              {"stream", true}};
          const auto res = client.post_streaming("/v1/chat/completions", json::serialize(body));
          if (res.status != 200) failures_++;
          requests_++;
        }
      });
  }
  void stop_load() {
    stop_ = true;
    for (auto& t : load_) t.join();
    load_.clear();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(gateway_->admin_port) +
           "/dashboard#token=" + kToken;
  }
  std::vector<std::string> chromium_args(const std::string& action) const {
    return {"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-default-apps", "--disable-extensions",
            "--disable-sync", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
            "--user-data-dir=" + profile_.string(), "--window-size=1280,900",
            // Three polls of virtual time: the first draws the whole page, the next give the
            // charts and rates their second point.
            "--virtual-time-budget=2500", action, url()};
  }
  // Chromium's standard output (--dump-dom writes the DOM there), its log apart.
  std::string run_chromium(const std::string& action) const {
    const fs::path out = profile_ / "stdout";
    std::vector<std::string> args = {"-c", "out=$1; shift; exec \"$@\" >\"$out\" 2>/dev/null", "sh",
                                     out.string(), chromium_};
    for (auto& a : chromium_args(action)) args.push_back(std::move(a));
    const Finished run = run_to_exit("/bin/sh", args, 30s);
    EXPECT_EQ(run.status, 0) << "chromium " << action << ": " << run.output;
    std::ifstream in(out, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::string screenshot(const std::string& name) const {
    const fs::path file = profile_ / name;
    run_chromium("--screenshot=" + file.string());
    std::ifstream in(file, std::ios::binary);
    std::string png{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EXPECT_TRUE(png.starts_with("\x89PNG")) << name << " is not a PNG";
    return png;
  }

  std::string get_metrics() const {
    HttpClient admin("127.0.0.1", gateway_->admin_port);
    const auto res = admin.get("/metrics", auth());
    EXPECT_EQ(res.status, 200) << res.body;
    return res.body;
  }
  static std::map<std::string, std::string> auth() {
    return {{"Authorization", std::string("Bearer ") + kToken}};
  }

  std::string chromium_;
  std::unique_ptr<Process> llama_, qwen_;
  std::unique_ptr<TempConfig> config_, token_file_;
  std::unique_ptr<Gateway> gateway_;
  fs::path profile_;
  std::vector<std::thread> load_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0}, failures_{0};
};

TEST_F(DashboardPage, ChangesUnderLoadAndShowsWhatMetricsSaysAtRest) {
  start_load(6);
  ASSERT_TRUE(until([&] { return requests_.load() >= 10; }, 20s)) << "no load reached the pools";

  const auto first_at = std::chrono::steady_clock::now();
  const std::string first = screenshot("under-load-1.png");
  std::this_thread::sleep_until(first_at + 5s);  // the interval under test
  const std::string second = screenshot("under-load-2.png");
  EXPECT_NE(first, second) << "two screenshots 5 s apart under load are the same";

  stop_load();
  EXPECT_EQ(failures_.load(), 0) << "of " << requests_.load() << " requests under load";
  // At rest: nothing in flight, engines idle as scraped, every answered request logged, and two
  // reads alike.
  std::string before;
  ASSERT_TRUE(until(
      [&] {
        const std::string now = without_ages(get_metrics());
        const bool idle = sample_value(now, "infergate_requests_in_flight ") == 0 &&
                          sum_of_samples(now, "infergate_endpoint_in_flight_requests") == 0 &&
                          sum_of_samples(now, "infergate_endpoint_queue_size") == 0 &&
                          sum_of_samples(now, "infergate_endpoint_running_requests") == 0 &&
                          // the access log's writer has caught up (it counts a line written)
                          sample_value(now, "infergate_access_log_lines_total ") +
                                  sample_value(now, "infergate_access_log_dropped_total ") ==
                              sample_value(now, "infergate_requests_total ");
        const bool same = idle && now == before;
        before = now;
        return same;
      },
      20s))
      << "/metrics did not come to rest";

  const std::string dom = run_chromium("--dump-dom");
  const std::string exposition = get_metrics();
  ASSERT_EQ(without_ages(exposition), before) << "/metrics moved while the page was read";
  const auto samples = parse_exposition(exposition);

  const auto shown = shown_metrics(dom);
  std::map<std::string, int> per_family;
  for (const Shown& s : shown) {
    SCOPED_TRACE(s.metric + "{" + s.labels + "}");
    per_family[s.metric]++;
    const auto it = samples.find(s.metric + "|" + s.labels);
    if (!s.value) {
      EXPECT_EQ(it, samples.end()) << "shown as absent but /metrics has it";
      continue;
    }
    ASSERT_NE(it, samples.end()) << "shown but not in /metrics";
    const double v = std::strtod(s.value->c_str(), nullptr);
    if (s.metric == "infergate_endpoint_scrape_age_seconds")
      EXPECT_NEAR(v, it->second, 5.0);  // an age: it grows between the two reads
    else if (std::isnan(it->second))
      EXPECT_TRUE(std::isnan(v));
    else
      EXPECT_EQ(v, it->second) << "page " << *s.value;
  }
  // The page showed every endpoint's and pool's numbers, and the gateway's totals.
  for (const char* family :
       {"infergate_endpoint_scrape_healthy", "infergate_endpoint_ejected",
        "infergate_endpoint_queue_size", "infergate_endpoint_running_requests",
        "infergate_endpoint_kv_cache_utilization", "infergate_endpoint_in_flight_requests",
        "infergate_endpoint_requests_total", "infergate_endpoint_scrape_age_seconds"})
    EXPECT_EQ(per_family[family], 3) << family;
  for (const char* family : {"inference_pool_ready_pods", "inference_pool_average_queue_size",
                             "inference_pool_average_kv_cache_utilization"})
    EXPECT_EQ(per_family[family], 2) << family;
  EXPECT_EQ(per_family["infergate_requests_total"], 1);
  EXPECT_EQ(per_family["infergate_request_errors_total"], 1);
  EXPECT_GE(per_family["inference_extension_flow_control_pool_saturation"], 1);
  EXPECT_EQ(sample_value(exposition, "infergate_requests_total "), requests_.load());
  // The decisions were recorded while the page watched, each with why.
  EXPECT_NE(dom.find("class=\"why\""), std::string::npos) << "no decisions shown";
}

}  // namespace
}  // namespace infergate::testing
