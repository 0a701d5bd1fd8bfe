// Flow control end to end: real infergate-sim replicas behind a real infergate, on loopback
// ports chosen at run time. The pool is small on purpose so that its capacity is measurable and
// easy to exceed: two replicas of profile `tiny` (steps of about a millisecond), each running at
// most two sequences at a time (--max-num-seqs 2), every request generating 100 tokens
// (ignore_eos), so a request holds a sequence for about 0.1 s and the pool completes a few tens
// of requests per second. Three model names, declared by InferenceModels with the three
// criticalities, all target the simulator's one base model.
//
// Outcomes are asserted on shares with wide margins, never on exact timing; every wait is
// bounded and waits on something observable (a /metrics value, a response), never on a sleep.
// Client threads pace an open-loop load with sleep_until: that sets when requests are sent, it
// synchronises nothing.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/integration.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr int kReplicas = 2;
constexpr int kOutputTokens = 100;
constexpr const char* kBaseModel = "meta-llama/Llama-3.1-8B-Instruct";  // the simulator's default

enum Class { kCritical, kStandard, kSheddable };
constexpr std::array<const char*, 3> kModelOf = {"critical-chat", "standard-chat",
                                                 "sheddable-chat"};
constexpr std::array<const char*, 3> kClassName = {"Critical", "Standard", "Sheddable"};

std::string completion(const std::string& model, int max_tokens = kOutputTokens,
                       bool stream = false) {
  return json::serialize(json::object{{"model", model},
                                      {"prompt", "Hello gateway"},
                                      {"max_tokens", max_tokens},
                                      {"ignore_eos", true},
                                      {"stream", stream}});
}

// Sum of the samples whose line starts with `prefix` and contains `part` (0 when there is none).
double sum_samples(const std::string& page, const std::string& prefix,
                   const std::string& part = "") {
  double sum = 0;
  std::size_t pos = 0;
  while (pos < page.size()) {
    const auto eol = std::min(page.find('\n', pos), page.size());
    const std::string_view line(page.data() + pos, eol - pos);
    if (line.starts_with(prefix) && line.find(part) != std::string_view::npos)
      sum += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
    pos = eol + 1;
  }
  return sum;
}

struct Gateway {
  std::unique_ptr<ChildProcess> process;
  unsigned short port = 0, admin_port = 0;
  std::unique_ptr<HttpClient> client() const {
    return std::make_unique<HttpClient>("127.0.0.1", port);
  }
  std::unique_ptr<HttpClient> admin() const {
    return std::make_unique<HttpClient>("127.0.0.1", admin_port);
  }
  std::string metrics() const { return admin()->get("/metrics").body; }
};

// Two simulated replicas (pool "p") and the gateways in front of them.
class Fleet {
 public:
  explicit Fleet(const std::string& extra_yaml = "") {
    sim_ = std::make_unique<ChildProcess>(
        INFERGATE_SIM_BIN,
        std::vector<std::string>{"--port", "0", "--replicas", std::to_string(kReplicas),
                                 "--pod-name", "p", "--gpu-profile", "tiny", "--max-num-seqs", "2",
                                 "--num-gpu-blocks", "65536"});
    ports_ = replica_ports(sim_->ready_json());
    std::string yaml =
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: eps}\nspec:\n "
        " endpoints:\n";
    for (int i = 0; i < kReplicas; ++i)
      yaml += "  - {name: p-" + std::to_string(i) +
              ", address: \"127.0.0.1:" + std::to_string(ports_.at(i)) + "\", labels: {app: p}}\n";
    yaml +=
        "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: "
        "p}\n"
        "spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: p}}}\n";
    for (const Class c : {kCritical, kStandard, kSheddable})
      yaml +=
          std::string(
              "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceModel\n") +
          "metadata: {name: " + kModelOf[c] + "}\nspec: {modelName: " + kModelOf[c] +
          ", criticality: " + kClassName[c] +
          ", poolRef: {name: p}, targetModels: [{name: " + kBaseModel + "}]}\n";
    yaml +=
        "---\napiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\n"
        "metadata: {name: urgent}\nspec: {priority: 1, poolRef: {name: p}}\n";
    config_ = std::make_unique<TempConfig>(yaml + extra_yaml);
  }

  // A gateway on this fleet; `extra` adds flags. Waits until it has scraped every replica.
  std::unique_ptr<Gateway> gateway(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"--config",
                                     config_->path(),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--admin-listen",
                                     "127.0.0.1:0",
                                     "--workers",
                                     "2",
                                     "--no-watch-config",
                                     "--scheduling-profile",
                                     "default",
                                     "--scrape-interval-ms",
                                     "50"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto g = std::make_unique<Gateway>();
    g->process = std::make_unique<ChildProcess>(INFERGATE_BIN, args);
    const auto ready = json::parse(g->process->ready_json());
    g->port = static_cast<unsigned short>(ready.at("port").to_number<int>());
    g->admin_port = static_cast<unsigned short>(ready.at("admin_port").to_number<int>());
    await_scrapes(3);
    return g;
  }

  std::unique_ptr<HttpClient> replica(int i) const {
    return std::make_unique<HttpClient>("127.0.0.1", ports_.at(static_cast<std::size_t>(i)));
  }

  // Waits until every replica has been scraped `n` more times (GET /sim/stats counts the
  // /metrics requests it answered): then the gateways decide with what the replicas said after
  // this call began.
  void await_scrapes(int n) const {
    for (int i = 0; i < kReplicas; ++i) {
      auto sim = replica(i);
      const auto scrapes = [&] {
        return json::parse(sim->get("/sim/stats").body).at("metrics_requests").to_number<double>();
      };
      const double from = scrapes();
      ASSERT_TRUE(until([&] { return scrapes() >= from + n; })) << "p-" << i << " not scraped";
    }
  }

 private:
  std::unique_ptr<ChildProcess> sim_;
  std::vector<unsigned short> ports_;
  std::unique_ptr<TempConfig> config_;
};

struct Outcome {
  Class cls = kStandard;
  int status = 0;                 // 0: no answer (the connection failed)
  double sent_s = 0, done_s = 0;  // since the start of the run
};

struct Arrival {
  double at_s;
  Class cls;
};

// Sends each arrival at its time from a pool of `threads` client threads (one keep-alive
// connection each); a request whose thread is still busy goes as soon as one is free.
std::vector<Outcome> open_loop(const Gateway& gw, const std::vector<Arrival>& arrivals,
                               int threads) {
  std::vector<Outcome> out(arrivals.size());
  std::atomic<std::size_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      auto c = gw.client();
      for (std::size_t i = next++; i < arrivals.size(); i = next++) {
        std::this_thread::sleep_until(
            start + std::chrono::duration_cast<Clock::duration>(Seconds(arrivals[i].at_s)));
        Outcome& o = out[i];
        o.cls = arrivals[i].cls;
        o.sent_s = Seconds(Clock::now() - start).count();
        try {
          o.status = c->post("/v1/completions", completion(kModelOf[o.cls])).status;
        } catch (const std::exception&) {
          o.status = 0;
          c = gw.client();
        }
        o.done_s = Seconds(Clock::now() - start).count();
      }
    });
  for (auto& t : pool) t.join();
  return out;
}

// Poisson arrivals at `rate` for `seconds`, classes drawn 20 % Critical, 40 % Standard, 40 %
// Sheddable.
std::vector<Arrival> mixed_arrivals(double rate, double seconds, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate);
  std::discrete_distribution<int> pick({20, 40, 40});
  std::vector<Arrival> out;
  for (double t = gap(rng); t < seconds; t += gap(rng))
    out.push_back({t, static_cast<Class>(pick(rng))});
  return out;
}

// Completed requests per second of `clients` sending back to back for `seconds`, counted over
// the run after its first second (the replicas' queues fill in that second).
double closed_loop_throughput(const Gateway& gw, int clients, double seconds) {
  std::atomic<int> completed{0}, failed{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(Seconds(seconds));
  const auto counted_from = start + std::chrono::seconds(1);
  std::vector<std::thread> pool;
  for (int t = 0; t < clients; ++t)
    pool.emplace_back([&] {
      auto c = gw.client();
      while (Clock::now() < end) {
        const int status = c->post("/v1/completions", completion(kBaseModel)).status;
        const auto done = Clock::now();
        if (status != 200)
          ++failed;
        else if (done >= counted_from && done <= end)
          ++completed;
      }
    });
  for (auto& t : pool) t.join();
  EXPECT_EQ(failed.load(), 0);
  return completed.load() / (seconds - 1);
}

struct ClassCounts {
  std::array<int, 3> sent{}, ok{}, shed{}, timed_out{};
  int other = 0;
  double share_shed(Class c) const { return static_cast<double>(shed[c]) / std::max(1, sent[c]); }
};

ClassCounts count(const std::vector<Outcome>& outcomes) {
  ClassCounts n;
  for (const auto& o : outcomes) {
    ++n.sent[o.cls];
    if (o.status == 200)
      ++n.ok[o.cls];
    else if (o.status == 429)
      ++n.shed[o.cls];
    else if (o.status == 503)
      ++n.timed_out[o.cls];
    else
      ++n.other;
  }
  return n;
}

std::string describe(const ClassCounts& n) {
  std::string out;
  for (const Class c : {kCritical, kStandard, kSheddable})
    out += std::string(kClassName[c]) + ": " + std::to_string(n.sent[c]) + " sent, " +
           std::to_string(n.ok[c]) + " ok, " + std::to_string(n.shed[c]) + " 429, " +
           std::to_string(n.timed_out[c]) + " 503; ";
  return out + std::to_string(n.other) + " other";
}

// Every queue-duration observation of the page within the histogram's first bucket (1 ms).
void expect_no_queueing(const std::string& page) {
  const std::string family = "inference_extension_flow_control_request_queue_duration_seconds";
  const double observed = sum_samples(page, family + "_count");
  const double first_bucket = sum_samples(page, family + "_bucket{", "le=\"0.001\"");
  EXPECT_GT(observed, 0) << "no admission observed";
  EXPECT_EQ(first_bucket, observed) << "some request waited 1 ms or more in the queue";
  EXPECT_EQ(sum_samples(page, "infergate_flow_control_shed_total"), 0) << "some request was shed";
}

// Below capacity (three clients one request after another, fewer than the pool's four
// sequences) every request of every class goes at once and succeeds, and none waits in the
// queue: an endpoint always had room.
TEST(FlowControlProcess, BelowCapacityNothingIsShedOrQueued) {
  const Fleet fleet;
  const auto gw = fleet.gateway();
  constexpr int kClients = 3, kPerClient = 20;
  std::array<std::array<int, 3>, kClients> ok{};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t)
    clients.emplace_back([&, t] {
      auto c = gw->client();
      for (int i = 0; i < kPerClient; ++i) {
        const auto cls = static_cast<Class>((t + i) % 3);
        ok[t][cls] += c->post("/v1/completions", completion(kModelOf[cls])).status == 200;
      }
    });
  for (auto& t : clients) t.join();
  int total = 0;
  for (const auto& per_client : ok)
    for (int n : per_client) total += n;
  std::printf("below capacity: %d of %d requests answered 200\n", total, kClients * kPerClient);
  EXPECT_EQ(total, kClients * kPerClient);
  expect_no_queueing(gw->metrics());
}

// Samples every replica's running sequences (`vllm:num_requests_running`) every 50 ms from
// `from_s` to `to_s` after construction, on a thread of its own. A replica runs its
// `--max-num-seqs` only while it has work waiting: the share of samples at that number says how
// busy the pool was kept, whatever the speed of the machine that day.
class OccupancySampler {
 public:
  OccupancySampler(const Fleet& fleet, double from_s, double to_s)
      : thread_([this, &fleet, from_s, to_s] {
          std::vector<std::unique_ptr<HttpClient>> replicas;
          for (int i = 0; i < kReplicas; ++i) replicas.push_back(fleet.replica(i));
          const auto start = Clock::now();
          for (double at = from_s; at <= to_s; at += 0.05) {
            std::this_thread::sleep_until(start +
                                          std::chrono::duration_cast<Clock::duration>(Seconds(at)));
            for (const auto& r : replicas) {
              try {
                const double running =
                    sum_samples(r->get("/metrics").body, "vllm:num_requests_running");
                ++samples_;
                full_ += running >= 2;
              } catch (const std::exception&) {
                ++failed_;  // a read that failed is no sample (and fails the test below)
              }
            }
          }
        }) {}
  ~OccupancySampler() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the last sample; returns the share of samples at the replicas' two sequences.
  double share_full() {
    if (thread_.joinable()) thread_.join();
    return static_cast<double>(full_) / std::max(1, samples_);
  }
  int samples() const { return samples_; }
  int failed_reads() const { return failed_; }

 private:
  int samples_ = 0, full_ = 0, failed_ = 0;
  std::thread thread_;
};

// About three times the pool's capacity, 20 % Critical, 40 % Standard, 40 % Sheddable. The
// capacity is measured first through a second gateway without flow control (a closed loop of
// three clients per sequence slot keeps every replica busy and queued).
//
// "Busy" is checked on the replicas: during the run every replica should be running its two
// sequences in nearly every sample. The pool's throughput is checked too, against the capacity,
// with a margin for the machine: two wall-clock throughputs seconds apart can differ by 10 % on
// a busy CI machine with no fault of the gateway's.
TEST(FlowControlProcess, OverloadKeepsCriticalShedsSheddableFirstAndKeepsThePoolBusy) {
  const Fleet fleet;
  double capacity = 0;
  {
    const auto unguarded = fleet.gateway({"--no-flow-control"});
    capacity = closed_loop_throughput(*unguarded, 12, 4.0);
  }
  ASSERT_GT(capacity, 5) << "the pool completed almost nothing";

  const auto gw = fleet.gateway();
  constexpr double kSeconds = 6.0, kCountFrom = 1.0;
  const auto arrivals = mixed_arrivals(3 * capacity, kSeconds, 42);
  OccupancySampler occupancy(fleet, kCountFrom, kSeconds);
  const auto outcomes = open_loop(*gw, arrivals, 64);
  const double share_full = occupancy.share_full();
  const ClassCounts n = count(outcomes);
  int completed_in_window = 0;
  double last_sent = 0;
  for (const auto& o : outcomes) {
    completed_in_window += o.status == 200 && o.done_s >= kCountFrom && o.done_s <= kSeconds;
    last_sent = std::max(last_sent, o.sent_s);
  }
  const double throughput = completed_in_window / (kSeconds - kCountFrom);
  std::printf(
      "capacity %.1f req/s; offered %.1f req/s (%zu requests, the last sent at %.2f s); completed "
      "%.1f req/s "
      "(%.0f %% of capacity); replicas running both sequences in %.0f %% of %d samples\n%s\n"
      "shed shares: Standard %.2f, Sheddable %.2f\n",
      capacity, static_cast<double>(arrivals.size()) / kSeconds, arrivals.size(), last_sent,
      throughput, 100 * throughput / capacity, 100 * share_full, occupancy.samples(),
      describe(n).c_str(), n.share_shed(kStandard), n.share_shed(kSheddable));

  // Every request got exactly one answer, and only the ones flow control gives.
  EXPECT_EQ(n.sent[kCritical] + n.sent[kStandard] + n.sent[kSheddable],
            static_cast<int>(arrivals.size()));
  EXPECT_EQ(n.other, 0) << describe(n);
  EXPECT_EQ(n.ok[kCritical], n.sent[kCritical]) << describe(n);
  EXPECT_GT(n.share_shed(kSheddable), n.share_shed(kStandard)) << describe(n);
  EXPECT_GE(n.share_shed(kSheddable), 0.5) << "three times the capacity, yet most Sheddable got in";
  EXPECT_EQ(occupancy.failed_reads(), 0) << "a replica's /metrics could not be read";
  EXPECT_GE(share_full, 0.9) << "the replicas were left with free sequences";
  EXPECT_GE(throughput, 0.75 * capacity);

  // Every client has its answer: nothing may be left in the queue, and the controller shed no
  // Critical request.
  auto admin = gw->admin();
  std::string page;
  EXPECT_TRUE(until([&] {
    page = admin->get("/metrics").body;
    return sum_samples(page, "inference_extension_flow_control_queue_size") == 0;
  })) << page;
  EXPECT_EQ(sum_samples(page, "infergate_flow_control_shed_total", "priority=\"1\""), 0);
  EXPECT_GT(sum_samples(page, "infergate_flow_control_shed_total", "priority=\"-1\""), 0);
}

// With an ApiKeys table a key's maxPriority caps what a request may claim: under saturation a
// key capped at 0 asking for the Critical model, or naming the Critical objective, is shed like
// Standard, while a key allowed priority 1 waits in the queue and is served once capacity frees.
// The pool is saturated by the concurrency rule (--max-in-flight-per-endpoint 2, the replicas'
// sequence slots) with long streamed generations of a third key; closing their connections
// ends them (the threads that read them wait on a response or on the gateway's queue TTL).
TEST(FlowControlProcess, AKeysMaxPriorityCapsWhatItsRequestsClaim) {
  const Fleet fleet(R"(---
apiVersion: infergate.dev/v1alpha1
kind: ApiKeys
metadata: {name: keys}
spec:
  keys:
  - {key: sk-capped-at-standard, tenant: team-a, maxPriority: 0}
  - {key: sk-allowed-critical, tenant: team-b, maxPriority: 1}
  - {key: sk-background-load, tenant: load, maxPriority: 1}
)");
  const auto gw = fleet.gateway({"--max-in-flight-per-endpoint", "2", "--queue-ttl-ms", "20000"});
  const auto bearer = [](const std::string& key) {
    return std::map<std::string, std::string>{{"authorization", "Bearer " + key}};
  };
  const auto queued = [&](const std::string& priority) {
    return sum_samples(gw->metrics(), "inference_extension_flow_control_queue_size",
                       "priority=\"" + priority + "\"");
  };

  auto c = gw->client();
  EXPECT_EQ(c->post("/v1/completions", completion(kModelOf[kCritical])).status, 401);
  EXPECT_EQ(
      c->post("/v1/completions", completion(kModelOf[kCritical]), bearer("sk-unknown-key")).status,
      401);
  EXPECT_EQ(c->post("/v1/completions", completion(kModelOf[kCritical], 2),
                    bearer("sk-capped-at-standard"))
                .status,
            200)
      << "below saturation the capped key is served";

  // Eight long streamed generations for four sequence slots: the first go (room by the
  // concurrency rule, or an idle endpoint), the rest wait in the Critical band. Once every
  // replica runs two of them the pool is saturated. Each stops at its next token once `stop`.
  constexpr int kLoad = 8;
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  struct StopAndJoin {  // also when an assertion below returns early
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~StopAndJoin() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } stop_and_join{stop, load};
  for (int i = 0; i < kLoad; ++i)
    load.emplace_back([&] {
      try {
        gw->client()->post_streaming(
            "/v1/completions", completion(kModelOf[kCritical], 20000, true),
            [&](const std::string&) { return !stop.load(); }, bearer("sk-background-load"));
      } catch (const std::exception&) {
      }
    });
  const auto running_everywhere = [&] {
    for (int i = 0; i < kReplicas; ++i)
      if (sample_value(fleet.replica(i)->get("/metrics").body, "vllm:num_requests_running") < 2)
        return false;
    return true;
  };
  ASSERT_TRUE(until([&] { return running_everywhere() && queued("1") >= 1; })) << gw->metrics();

  const auto capped_critical =
      c->post("/v1/completions", completion(kModelOf[kCritical]), bearer("sk-capped-at-standard"));
  // Shed as what the cap made it: priority 0 (the message names the priority).
  EXPECT_EQ(capped_critical.status, 429) << capped_critical.body;
  EXPECT_NE(capped_critical.body.find("priority 0 "), std::string::npos) << capped_critical.body;
  const auto capped_objective = c->post("/v1/completions", completion(kModelOf[kStandard]),
                                        {{"authorization", "Bearer sk-capped-at-standard"},
                                         {"x-gateway-inference-objective", "urgent"}});
  EXPECT_EQ(capped_objective.status, 429) << capped_objective.body;
  EXPECT_NE(capped_objective.body.find("priority 0 "), std::string::npos) << capped_objective.body;
  EXPECT_EQ(
      c->post("/v1/completions", completion(kModelOf[kSheddable]), bearer("sk-allowed-critical"))
          .status,
      429)
      << "a key's maxPriority caps, it never raises";

  // The allowed key's Critical request waits in the queue (one more in band 1) ...
  const double load_queued = queued("1");
  HttpResponse allowed;
  std::thread waiter([&] {
    try {
      allowed = gw->client()->post("/v1/completions", completion(kModelOf[kCritical]),
                                   bearer("sk-allowed-critical"));
    } catch (const std::exception& e) {
      allowed.body = e.what();
    }
  });
  EXPECT_TRUE(until([&] { return queued("1") >= load_queued + 1; })) << gw->metrics();
  // ... and is served once the background load ends.
  stop = true;
  waiter.join();
  std::printf("capped key: Critical model %d, Critical objective %d; allowed key, queued then %d\n",
              capped_critical.status, capped_objective.status, allowed.status);
  EXPECT_EQ(allowed.status, 200) << allowed.body;
  const std::string page = gw->metrics();
  EXPECT_EQ(sum_samples(page, "infergate_flow_control_shed_total", "priority=\"1\""), 0) << page;
  EXPECT_GE(sum_samples(page, "infergate_flow_control_shed_total", "priority=\"0\""), 2) << page;
}

}  // namespace
}  // namespace infergate::testing
