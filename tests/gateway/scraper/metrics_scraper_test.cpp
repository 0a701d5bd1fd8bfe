// MetricsScraper against page servers on loopback ports chosen at run time: kept-alive
// connections, the ways servers end or refuse them, timeouts, and reloads. Waits are bounded
// polls of observable state (scrape counts, the endpoint's fields), never sleeps.
#include "gateway/scraper/metrics_scraper.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/integration.hpp"

namespace infergate::gateway {
namespace {

using infergate::testing::until;
using namespace std::chrono_literals;

const std::string kPage =
    "# TYPE vllm:num_requests_waiting gauge\n"
    "vllm:num_requests_waiting{model_name=\"m\"} 3\n"
    "vllm:num_requests_running{model_name=\"m\"} 1\n"
    "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.5\n";

// A page server: one thread accepting, one per connection, answering each GET as `mode` says.
class PageServer {
 public:
  enum class Mode {
    kLength,      // Content-Length, kept alive
    kChunked,     // chunked, kept alive
    kCloseAfter,  // answers, then closes the connection without saying so (an idle timeout)
    kSilent,      // reads requests, never answers
    kStatus500,
  };

  explicit PageServer(Mode mode) : mode_(mode) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 64) != 0)
      throw std::runtime_error("page server: cannot listen");
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~PageServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : connections_) t.join();
    ::close(listener_);
  }

  std::uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_opened_.load(); }
  int closed_by_peer() const { return closed_by_peer_.load(); }
  void set_mode(Mode mode) { mode_ = mode; }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      if (stopping_) {
        ::close(fd);
        return;
      }
      ++connections_opened_;
      std::lock_guard lock(mu_);
      open_.push_back(fd);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      const std::size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
          if (n == 0 && !stopping_) ++closed_by_peer_;
          break;
        }
        in.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      in.erase(0, end + 4);
      ++requests_;
      const Mode mode = mode_.load();
      if (mode == Mode::kSilent) continue;
      std::string out;
      if (mode == Mode::kStatus500) {
        out = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops";
      } else if (mode == Mode::kChunked) {
        out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" + kPage.substr(0, 16) +
              "\r\n" +
              [] {
                char size[16];
                std::snprintf(size, sizeof size, "%zx", kPage.size() - 16);
                return std::string(size);
              }() +
              "\r\n" + kPage.substr(16) + "\r\n0\r\n\r\n";
      } else {
        out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
              std::to_string(kPage.size()) + "\r\n\r\n" + kPage;
      }
      if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
        break;
      if (mode == Mode::kCloseAfter) break;
    }
    std::lock_guard lock(mu_);
    std::erase(open_, fd);
    ::close(fd);
  }

  std::atomic<Mode> mode_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0}, connections_opened_{0}, closed_by_peer_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> connections_;
};

// A port on which nothing listens.
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Snapshots of one pool whose endpoints the test chooses; replace() is a reload.
class Fleet : public SnapshotSource {
 public:
  std::shared_ptr<const Snapshot> current() const override {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

  void replace(const std::vector<std::uint16_t>& ports, const std::string& host = "127.0.0.1") {
    auto pool = std::make_shared<PoolState>();
    for (const std::uint16_t port : ports) {
      config::EndpointSpec spec{"ep-" + std::to_string(port), host, port, port, "vllm", {}};
      std::shared_ptr<Endpoint> ep;
      for (const auto& old : endpoints_)
        if (old->spec.port == port) ep = old;  // kept across the reload, as the datastore does
      if (!ep) ep = std::make_shared<Endpoint>(spec, next_id_++);
      pool->endpoints.push_back(ep);
    }
    endpoints_ = pool->endpoints;
    pool->publish_view();
    auto snap = std::make_shared<Snapshot>(Snapshot{
        nullptr, Router(std::make_shared<config::Config>()), {pool}, ++generation_, {}, {}});
    std::lock_guard lock(mu_);
    snapshot_ = std::move(snap);
  }

  Endpoint& endpoint(std::size_t i) { return *endpoints_.at(i); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
  std::uint32_t next_id_ = 1;
  std::uint64_t generation_ = 0;
};

struct ScraperRig {
  explicit ScraperRig(const std::vector<std::uint16_t>& ports, ScrapeOptions options = fast(),
                      const std::string& host = "127.0.0.1") {
    fleet.replace(ports, host);
    scraper =
        std::make_unique<MetricsScraper>(fleet, clock, options, [this](const std::string& line) {
          std::lock_guard lock(log_mu);
          log.push_back(line);
        });
    scraper->start();
  }

  static ScrapeOptions fast() {
    ScrapeOptions o;
    o.interval = 10ms;
    o.timeout = 5s;  // generous: a loaded machine must not turn a slow answer into a new connection
    o.failures_to_unhealthy = 2;
    return o;
  }

  // Waits until a log line contains `text`.
  bool logged(const std::string& text) {
    return until([&] {
      std::lock_guard lock(log_mu);
      for (const auto& line : log)
        if (line.find(text) != std::string::npos) return true;
      return false;
    });
  }

  bool scraped(int n) {
    const auto from = scraper->scrapes();
    return until([&] { return scraper->scrapes() >= from + static_cast<std::uint64_t>(n); });
  }

  Fleet fleet;
  ManualClock clock{std::chrono::seconds(1)};
  std::mutex log_mu;
  std::vector<std::string> log;
  std::unique_ptr<MetricsScraper> scraper;
};

TEST(MetricsScraper, ScrapesEveryIntervalOnOneKeptAliveConnection) {
  PageServer server(PageServer::Mode::kLength);
  ScraperRig rig({server.port()});
  ASSERT_TRUE(rig.scraper->wait_first_round(10s));
  ASSERT_TRUE(until([&] { return server.requests() >= 20; }));
  Endpoint& ep = rig.fleet.endpoint(0);
  EXPECT_TRUE(ep.scrape_healthy.load());
  const auto sample = ep.latest.load();
  ASSERT_TRUE(sample);
  EXPECT_EQ(sample->metrics.waiting, 3);
  EXPECT_EQ(sample->metrics.running, 1);
  EXPECT_EQ(sample->metrics.kv_usage, 0.5);
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(ep.scrape_failures_total.load(), 0u);
}

// The page server listens on IPv4 only, and the scraper takes a name's first address.
bool localhost_is_ipv4_first() {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo("localhost", "80", &hints, &found) != 0 || !found) return false;
  const bool ipv4_first = found->ai_family == AF_INET;
  ::freeaddrinfo(found);
  return ipv4_first;
}

// A host name is resolved (on the resolver's thread) before the first scrape.
TEST(MetricsScraper, HostNamesAreResolvedThenScraped) {
  if (!localhost_is_ipv4_first()) GTEST_SKIP() << "localhost does not resolve to IPv4 first here";
  PageServer server(PageServer::Mode::kLength);
  ScraperRig rig({server.port()}, ScraperRig::fast(), "localhost");
  ASSERT_TRUE(rig.scraper->wait_first_round(10s));
  ASSERT_TRUE(until([&] { return server.requests() >= 3; }));
  EXPECT_TRUE(rig.fleet.endpoint(0).scrape_healthy.load());
}

// A host name is looked up again every dns_refresh while scrapes go on to the last address.
TEST(MetricsScraper, HostNamesAreLookedUpAgainWhileScrapesGoOn) {
  if (!localhost_is_ipv4_first()) GTEST_SKIP() << "localhost does not resolve to IPv4 first here";
  PageServer server(PageServer::Mode::kLength);
  ScrapeOptions options = ScraperRig::fast();
  options.dns_refresh = std::chrono::milliseconds(5);
  ScraperRig rig({server.port()}, options, "localhost");
  ASSERT_TRUE(rig.scraper->wait_first_round(10s));
  ASSERT_TRUE(until([&] { return server.requests() >= 30; }));
  Endpoint& ep = rig.fleet.endpoint(0);
  EXPECT_TRUE(ep.scrape_healthy.load());
  EXPECT_EQ(ep.scrape_failures_total.load(), 0u);
  EXPECT_EQ(server.connections(), 1) << "the same address: the connection is kept";
}

TEST(MetricsScraper, ChunkedPagesParse) {
  PageServer server(PageServer::Mode::kChunked);
  ScraperRig rig({server.port()});
  ASSERT_TRUE(until([&] { return server.requests() >= 5; }));
  ASSERT_TRUE(rig.scraped(1));
  const auto sample = rig.fleet.endpoint(0).latest.load();
  ASSERT_TRUE(sample);
  EXPECT_EQ(sample->metrics.waiting, 3);
  EXPECT_EQ(server.connections(), 1);
}

// A server that closes kept-alive connections behind the scraper's back costs new
// connections, never a failed scrape: a closed idle connection is noticed and dropped, and a
// request that meets a connection closing anyway is retried once on a new one.
TEST(MetricsScraper, ServerClosingIdleConnectionsFailsNoScrape) {
  PageServer server(PageServer::Mode::kCloseAfter);
  ScraperRig rig({server.port()});
  ASSERT_TRUE(until([&] { return server.requests() >= 20; }));
  EXPECT_GE(server.connections(), 20);
  EXPECT_EQ(rig.fleet.endpoint(0).scrape_failures_total.load(), 0u);
  EXPECT_TRUE(rig.fleet.endpoint(0).scrape_healthy.load());
}

TEST(MetricsScraper, RefusedConnectionTakesTheEndpointOutAtOnce) {
  ScraperRig rig({closed_port()});
  ASSERT_TRUE(rig.scraper->wait_first_round(10s));  // a refusal counts as the first scrape
  Endpoint& ep = rig.fleet.endpoint(0);
  EXPECT_FALSE(ep.scrape_healthy.load());
  EXPECT_GE(ep.scrape_failures_total.load(), 1u);
  EXPECT_TRUE(rig.logged("taken out of picking: connection refused"));
}

TEST(MetricsScraper, SilentServerTimesOutAndComesBackWhenItAnswers) {
  PageServer server(PageServer::Mode::kSilent);
  ScrapeOptions options = ScraperRig::fast();
  options.timeout = 100ms;
  ScraperRig rig({server.port()}, options);
  Endpoint& ep = rig.fleet.endpoint(0);
  ASSERT_TRUE(until([&] { return ep.scrape_failures_total.load() >= 2; }));
  EXPECT_TRUE(rig.logged("taken out of picking: timed out"));
  EXPECT_FALSE(ep.scrape_healthy.load());
  // Each timed-out scrape closed its connection; the next one opens a new connection.
  EXPECT_GE(server.connections(), 2);
  server.set_mode(PageServer::Mode::kLength);
  EXPECT_TRUE(rig.logged("scrapes again: back in picking"));
  EXPECT_TRUE(ep.scrape_healthy.load());
  EXPECT_EQ(ep.latest.load()->metrics.waiting, 3);
}

TEST(MetricsScraper, ErrorStatusCountsAsAFailedScrape) {
  PageServer server(PageServer::Mode::kStatus500);
  ScraperRig rig({server.port()});
  Endpoint& ep = rig.fleet.endpoint(0);
  EXPECT_TRUE(rig.logged("taken out of picking: status not 200"));
  EXPECT_FALSE(ep.scrape_healthy.load());
  EXPECT_GE(ep.scrape_failures_total.load(), 2u);
}

TEST(MetricsScraper, ReloadStartsNewEndpointsAndClosesDepartedOnes) {
  PageServer first(PageServer::Mode::kLength), second(PageServer::Mode::kLength);
  ScraperRig rig({first.port()});
  ASSERT_TRUE(until([&] { return first.requests() >= 3; }));
  rig.fleet.replace({second.port()});
  rig.scraper->snapshot_changed();
  ASSERT_TRUE(until([&] { return second.requests() >= 3; }));
  // The departed endpoint's connection is closed, and it is scraped no more.
  ASSERT_TRUE(until([&] { return first.closed_by_peer() == 1; }));
  const int served = first.requests();
  ASSERT_TRUE(until([&] { return second.requests() >= 10; }));
  EXPECT_EQ(first.requests(), served);
}

TEST(MetricsScraper, ManyEndpointsAreAllScraped) {
  std::vector<std::unique_ptr<PageServer>> servers;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < 20; ++i) {
    servers.push_back(std::make_unique<PageServer>(PageServer::Mode::kLength));
    ports.push_back(servers.back()->port());
  }
  ScraperRig rig(ports);
  ASSERT_TRUE(rig.scraper->wait_first_round(10s));
  for (auto& s : servers) ASSERT_TRUE(until([&] { return s->requests() >= 5; }));
  for (std::size_t i = 0; i < ports.size(); ++i) {
    EXPECT_TRUE(rig.fleet.endpoint(i).scrape_healthy.load()) << i;
    EXPECT_EQ(servers[i]->connections(), 1) << i;
  }
}

}  // namespace
}  // namespace infergate::gateway
