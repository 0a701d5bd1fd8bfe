// The endpoint picker end to end: real infergate-sim replicas behind a real infergate, on
// loopback ports chosen at run time. Each test starts its own fleet (one simulator process
// serving four replicas p-0..p-3, one pool, the default scheduling profile, scrapes every
// 50 ms), changes what the replicas do through their own controls (adapters, /sim/faults), and
// counts where the gateway sends requests by the x-inference-pod header of each answer. A
// change takes effect at the gateway's next scrapes, which each replica counts (GET /sim/stats):
// tests wait for those, not for time to pass.
//
// Outcomes are asserted on shares with wide margins, never on exact timing; every wait is
// bounded (until()) and waits on something observable, never on a sleep.
#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/integration.hpp"
#include "support/prometheus_text.hpp"

namespace infergate::testing {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;

constexpr int kPods = 4;
constexpr const char* kModel = "meta-llama/Llama-3.1-8B-Instruct";  // the simulator's default
using PodCounts = std::array<int, kPods>;

std::string completion(const std::string& model, const std::string& prompt, int max_tokens) {
  return json::serialize(json::object{
      {"model", model}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"ignore_eos", true}});
}

// The replica that answered ("p-2" -> 2), or -1.
int pod_of(const HttpResponse& res) {
  const std::string pod = res.header("x-inference-pod");
  if (pod.size() != 3 || pod.rfind("p-", 0) != 0 || pod[2] < '0' || pod[2] >= '0' + kPods)
    return -1;
  return pod[2] - '0';
}

int total(const PodCounts& c) { return c[0] + c[1] + c[2] + c[3]; }
double share(const PodCounts& c, int pod) {
  return static_cast<double>(c[pod]) / std::max(1, total(c));
}

std::string describe(const PodCounts& c) {
  std::string out;
  for (int i = 0; i < kPods; ++i)
    out += (i ? " " : "") + ("p-" + std::to_string(i)) + "=" + std::to_string(c[i]);
  return out;
}

// Text that does not repeat within `chars` (so every 64-character prompt block differs).
std::string prose(std::size_t chars, std::uint64_t seed) {
  static constexpr std::array<const char*, 8> kWords = {"alpha ", "bravo ",   "charlie ", "delta ",
                                                        "echo ",  "foxtrot ", "golf ",    "hotel "};
  std::string out;
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  while (out.size() < chars) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out += kWords[x % kWords.size()];
  }
  out.resize(chars);
  return out;
}

// Four simulated replicas in one pool behind one gateway.
class Fleet {
 public:
  Fleet(std::vector<std::string> sim_args, std::vector<std::string> gateway_args = {}) {
    sim_args.insert(sim_args.begin(),
                    {"--port", "0", "--replicas", std::to_string(kPods), "--pod-name", "p"});
    sim_ = std::make_unique<ChildProcess>(INFERGATE_SIM_BIN, sim_args);
    ports_ = replica_ports(sim_->ready_json());
    std::string yaml =
        "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: eps}\nspec:\n "
        " endpoints:\n";
    for (int i = 0; i < kPods; ++i)
      yaml += "  - {name: p-" + std::to_string(i) +
              ", address: \"127.0.0.1:" + std::to_string(ports_.at(i)) + "\", labels: {app: p}}\n";
    yaml +=
        "---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: "
        "p}\n"
        "spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: p}}}\n";
    config_ = std::make_unique<TempConfig>(yaml);
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
    args.insert(args.end(), gateway_args.begin(), gateway_args.end());
    gateway_ = std::make_unique<ChildProcess>(INFERGATE_BIN, args);
    const auto ready = json::parse(gateway_->ready_json());
    port_ = static_cast<unsigned short>(ready.at("port").to_number<int>());
    admin_port_ = static_cast<unsigned short>(ready.at("admin_port").to_number<int>());
    // Until every replica has been scraped, the unscraped ones count as saturated: start from
    // a gateway that has seen them all.
    await_scrapes(3);
  }

  std::unique_ptr<HttpClient> client() const {
    return std::make_unique<HttpClient>("127.0.0.1", port_);
  }
  std::unique_ptr<HttpClient> admin() const {
    return std::make_unique<HttpClient>("127.0.0.1", admin_port_);
  }
  std::unique_ptr<HttpClient> replica(int pod) const {
    return std::make_unique<HttpClient>("127.0.0.1", ports_.at(static_cast<std::size_t>(pod)));
  }
  // Sets faults of one replica (POST /sim/faults).
  void fault(int pod, const std::string& settings) const {
    const auto res = replica(pod)->post("/sim/faults", settings);
    ASSERT_EQ(res.status, 200) << res.body;
  }
  // Waits until the gateway has scraped every replica `n` more times. The scraper applies an
  // answer before it asks the endpoint again, and publishes it to the picker within a few
  // milliseconds (long before the next scrape, 50 ms on): after two more scrapes, three for a
  // margin, the gateway picks with what each replica said after this call began.
  void await_scrapes(int n) const {
    std::vector<std::unique_ptr<HttpClient>> sims;
    std::vector<double> from;
    for (int pod = 0; pod < kPods; ++pod) {
      sims.push_back(replica(pod));
      from.push_back(metrics_requests(*sims.back()));
    }
    for (int pod = 0; pod < kPods; ++pod) {
      const auto i = static_cast<std::size_t>(pod);
      ASSERT_TRUE(until([&] { return metrics_requests(*sims[i]) >= from[i] + n; }))
          << "p-" << pod << " not scraped";
    }
  }

 private:
  static double metrics_requests(HttpClient& sim) {
    return json::parse(sim.get("/sim/stats").body).at("metrics_requests").to_number<double>();
  }

  std::unique_ptr<ChildProcess> sim_;
  std::vector<unsigned short> ports_;
  std::unique_ptr<TempConfig> config_;
  std::unique_ptr<ChildProcess> gateway_;
  unsigned short port_ = 0, admin_port_ = 0;
};

// Sends `n` requests one after another; counts where each was served and what failed.
PodCounts send_sequentially(HttpClient& c, int n, const std::function<std::string(int)>& body,
                            int& failures) {
  PodCounts pods{};
  for (int i = 0; i < n; ++i) {
    const auto res = c.post("/v1/completions", body(i));
    const int pod = pod_of(res);
    if (res.status != 200 || pod < 0)
      ++failures;
    else
      ++pods[pod];
  }
  return pods;
}

// `threads` clients, each sending `per_thread` requests back to back (a closed loop).
PodCounts send_concurrently(const Fleet& fleet, int threads, int per_thread,
                            const std::function<std::string(int)>& body, int& failures) {
  std::vector<PodCounts> counts(static_cast<std::size_t>(threads));
  std::vector<int> failed(static_cast<std::size_t>(threads));
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t)
    clients.emplace_back([&, t] {
      auto c = fleet.client();
      const auto slot = static_cast<std::size_t>(t);
      counts[slot] = send_sequentially(
          *c, per_thread, [&](int i) { return body(t * per_thread + i); }, failed[slot]);
    });
  for (auto& t : clients) t.join();
  PodCounts pods{};
  for (std::size_t t = 0; t < counts.size(); ++t) {
    for (std::size_t i = 0; i < kPods; ++i) pods[i] += counts[t][i];
    failures += failed[t];
  }
  return pods;
}

std::string short_request(int) {
  return completion(kModel, "Hello gateway", 2);
}  // under one prompt block

// LoRA: the gateway learns which adapters run where only from each replica's
// vllm:lora_requests_info. Long generations sent straight to the replicas keep `sql` running on
// p-0 and p-1 and `tweet` on p-2 and p-3. With --max-loras 2 every replica could take either
// adapter at once (a wrong choice costs an adapter load, not a wait), so only the
// lora-affinity scorer sets the running replicas apart: it must send each adapter's requests
// to the replicas that already run it.
TEST(PickerProcess, AdapterRequestsGoToThePodsRunningTheAdapter) {
  const Fleet fleet({"--gpu-profile", "tiny", "--num-gpu-blocks", "8192", "--enable-lora",
                     "--max-loras", "2", "--lora-modules", "sql=/adapters/sql",
                     "tweet=/adapters/tweet"});
  const auto adapter_of = [](int pod) { return std::string(pod < 2 ? "sql" : "tweet"); };
  std::vector<std::unique_ptr<HttpClient>>
      anchors;  // closing them at the end aborts the generations
  for (int pod = 0; pod < kPods; ++pod) {
    anchors.push_back(fleet.replica(pod));
    anchors.back()->send_only("/v1/completions",
                              completion(adapter_of(pod), "keep this adapter busy", 30000));
  }
  for (int pod = 0; pod < kPods; ++pod) {
    auto sim = fleet.replica(pod);
    ASSERT_TRUE(until([&] {
      return sim->get("/metrics").body.find("running_lora_adapters=\"" + adapter_of(pod) + "\"") !=
             std::string::npos;
    })) << "p-"
        << pod << " never reported its adapter running";
  }

  fleet.await_scrapes(3);

  auto c = fleet.client();
  const auto adapter_request = [](const std::string& adapter) {
    return [adapter](int) { return completion(adapter, "Hello gateway", 2); };
  };
  int failures = 0;
  const PodCounts sql = send_sequentially(*c, 40, adapter_request("sql"), failures);
  const PodCounts tweet = send_sequentially(*c, 40, adapter_request("tweet"), failures);
  EXPECT_EQ(failures, 0);
  std::printf("LoRA: sql: %s; tweet: %s\n", describe(sql).c_str(), describe(tweet).c_str());
  EXPECT_GE(share(sql, 0) + share(sql, 1), 0.9) << describe(sql);
  EXPECT_GE(share(tweet, 2) + share(tweet, 3), 0.9) << describe(tweet);
}

// Prefix affinity: requests that share an 8,192-character prefix (128 prompt blocks) and differ
// only in a short question all go to the replica that served the first of them, and hit its
// prefix cache. When many arrive at once, that replica (--max-num-seqs 4) queues them; its
// scraped queue outweighs the prefix match and the group spills over (the replica that takes
// the overflow then holds the prefix too, and the two share the group).
TEST(PickerProcess, ASharedPrefixSticksToOnePodUntilItQueues) {
  const Fleet fleet({"--gpu-profile", "tiny", "--num-gpu-blocks", "4096", "--max-num-seqs", "4"});
  const std::string prefix = prose(8192, 7);
  const auto grouped = [&](int max_tokens) {
    return [&prefix, max_tokens](int i) {
      return completion(kModel, prefix + "Question " + std::to_string(i) + "?", max_tokens);
    };
  };

  auto c = fleet.client();
  PodCounts sticky{};
  int cache_hits = 0;
  constexpr int kSequential = 20;
  for (int i = 0; i < kSequential; ++i) {
    const auto res = c->post("/v1/completions", grouped(4)(i));
    ASSERT_EQ(res.status, 200) << res.body;
    ASSERT_GE(pod_of(res), 0);
    ++sticky[pod_of(res)];
    const auto usage = json::parse(res.body).at("usage");
    const auto cached = usage.at("prompt_tokens_details").at("cached_tokens").to_number<double>();
    cache_hits += i > 0 && cached >= 0.9 * usage.at("prompt_tokens").to_number<double>();
  }
  const int home =
      static_cast<int>(std::max_element(sticky.begin(), sticky.end()) - sticky.begin());
  std::printf(
      "prefix, one at a time: %s; %d of %d later requests found >= 90%% of their prompt cached\n",
      describe(sticky).c_str(), cache_hits, kSequential - 1);
  EXPECT_GE(sticky[home], kSequential * 9 / 10) << describe(sticky);
  EXPECT_GE(cache_hits, (kSequential - 1) * 9 / 10);

  // 16 clients at once, 64 output tokens each: far more than four sequences at a time.
  int failures = 0;
  const PodCounts burst = send_concurrently(fleet, 16, 6, grouped(64), failures);
  EXPECT_EQ(failures, 0);
  std::printf("prefix, 16 at once: %s (home p-%d)\n", describe(burst).c_str(), home);
  EXPECT_LE(share(burst, home), 0.8) << describe(burst);
}

// A replica made 20 times slower holds its requests 20 times longer; the gateway's in-flight
// counts (and the replica's scraped batch) steer new requests away from it.
TEST(PickerProcess, ASlowPodGetsAFallingShare) {
  const Fleet fleet({"--gpu-profile", "tiny"});
  const auto request = [](int) { return completion(kModel, "Hello gateway", 16); };
  int failures = 0;
  const PodCounts before = send_concurrently(fleet, 8, 25, request, failures);
  fleet.fault(3, R"({"slowdown": 20})");
  const PodCounts after = send_concurrently(fleet, 8, 25, request, failures);
  EXPECT_EQ(failures, 0);
  std::printf("slowdown 20 on p-3: before %s; after %s\n", describe(before).c_str(),
              describe(after).c_str());
  EXPECT_GE(share(before, 3), 0.1) << describe(before);
  const double peers = (share(after, 0) + share(after, 1) + share(after, 2)) / 3;
  EXPECT_LE(share(after, 3), 0.25 * peers) << describe(after);
  EXPECT_LE(share(after, 3), 0.5 * share(before, 3));
}

// A replica whose /metrics fails (404, then a garbled page) leaves picking after a few failed
// scrapes, and comes back at its first good scrape.
TEST(PickerProcess, APodWhoseMetricsFailIsAvoidedUntilTheyRecover) {
  const Fleet fleet({"--gpu-profile", "tiny"});
  auto c = fleet.client();
  for (const char* fault : {"missing", "garbled"}) {
    SCOPED_TRACE(fault);
    fleet.fault(2, std::string(R"({"metrics": ")") + fault + "\"}");
    // Three failed scrapes in a row take it out of picking (--scrape-failures-to-unhealthy).
    fleet.await_scrapes(5);
    int failures = 0;
    const PodCounts during = send_sequentially(*c, 100, short_request, failures);
    fleet.fault(2, R"({"metrics": "ok"})");
    fleet.await_scrapes(3);
    const PodCounts recovered = send_sequentially(*c, 200, short_request, failures);
    EXPECT_EQ(failures, 0);
    std::printf("metrics %s on p-2: after 5 scrapes %s; after recovery and 3 scrapes %s\n", fault,
                describe(during).c_str(), describe(recovered).c_str());
    EXPECT_EQ(during[2], 0) << describe(during);
    EXPECT_GE(share(recovered, 2), 0.1) << describe(recovered);
  }
}

// A replica that answers every request with 500 while its /metrics looks idle (the most
// attractive replica to a load-based picker) is retried around: the client sees no error. After
// five failures in a row it is ejected, and no request is tried on it any more, which the
// gateway's retry counter shows.
TEST(PickerProcess, APodFailingEveryRequestIsEjectedAndClientsSeeNoError) {
  const Fleet fleet({"--gpu-profile", "tiny"},
                    {"--outlier-consecutive-failures", "5", "--outlier-base-ejection-ms", "60000"});
  fleet.fault(1, R"({"failure_rate": 1.0, "failure_status": 500})");
  auto c = fleet.client();
  auto admin = fleet.admin();
  // The gateway counts a request just after its last byte went out: read the retries once it
  // has counted every request sent so far.
  const auto retried_after = [&](int requests) {
    std::string page;
    EXPECT_TRUE(until([&] {
      page = admin->get("/metrics").body;
      return sample_value(page, "infergate_requests_total") == requests;
    }));
    return sample_value(page, "infergate_requests_retried_total");
  };
  int failures = 0;
  const PodCounts first = send_sequentially(*c, 200, short_request, failures);
  const double retried = retried_after(200);
  const PodCounts later = send_sequentially(*c, 200, short_request, failures);
  const double retried_later = retried_after(400);
  std::printf(
      "p-1 failing every request: %s, then %s; %d client errors; requests retried: %.0f, then "
      "%.0f\n",
      describe(first).c_str(), describe(later).c_str(), failures, retried, retried_later);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(first[1] + later[1], 0);
  // Each request that met p-1 was retried once; the fifth ejected it, and nothing met it since.
  EXPECT_EQ(retried, 5);
  EXPECT_EQ(retried_later, 5);
}

}  // namespace
}  // namespace infergate::testing
