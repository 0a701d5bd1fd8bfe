#include "gateway/scraper/metrics_scraper.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <map>
#include <random>
#include <thread>

#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
constexpr auto kMinPublishGap = std::chrono::milliseconds(5);
// The prefix index counts blocks of 16 tokens (64 characters): an engine's KV capacity in
// tokens divided by that is how many prompt blocks it can hold.
constexpr std::int64_t kIndexBlockTokens = 16;
}  // namespace

struct MetricsScraper::Impl {
  Impl(MetricsScraper& o, const SnapshotSource& s, const Clock& c, ScrapeOptions opts,
       std::function<void(const std::string&)> logger)
      : owner(o), snapshots(s), clock(c), options(opts), log(std::move(logger)) {}

  MetricsScraper& owner;
  const SnapshotSource& snapshots;
  const Clock& clock;
  const ScrapeOptions options;
  std::function<void(const std::string&)> log;

  net::io_context io{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
  std::mt19937_64 random{0x5c4a9e};
  // The endpoints being scraped, each with its loop's stop flag.
  std::map<Endpoint*, std::shared_ptr<bool>> loops;
  std::uint64_t synced_generation = 0;
  net::steady_timer publish_timer{io};
  bool publish_pending = false;
  std::chrono::steady_clock::time_point last_publish{};

  void sync_loops();
  net::awaitable<void> scrape_loop(std::shared_ptr<Endpoint> endpoint, std::shared_ptr<bool> stopped,
                                   std::chrono::nanoseconds offset);
  net::awaitable<ScrapeFailure> scrape_once(beast::tcp_stream& stream, bool& connected, const tcp::endpoint& target,
                                            const std::string& request, beast::flat_buffer& buffer, std::string& page);
  void request_publish();
  void publish();
};

void MetricsScraper::Impl::sync_loops() {
  const auto snap = snapshots.current();
  if (!snap || snap->generation == synced_generation) return;
  synced_generation = snap->generation;
  std::map<Endpoint*, std::shared_ptr<Endpoint>> wanted;
  for (const auto& pool : snap->pools)
    for (const auto& ep : pool->endpoints) wanted.emplace(ep.get(), ep);
  for (auto it = loops.begin(); it != loops.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    *it->second = true;  // the loop ends at its next wake-up
    it = loops.erase(it);
  }
  const auto interval = std::chrono::nanoseconds(options.interval).count();
  for (auto& [raw, ep] : wanted) {
    if (loops.contains(raw)) continue;
    auto stopped = std::make_shared<bool>(false);
    loops.emplace(raw, stopped);
    const std::chrono::nanoseconds offset(static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(interval)));
    net::co_spawn(io, scrape_loop(ep, stopped, offset), net::detached);
  }
  request_publish();
}

net::awaitable<ScrapeFailure> MetricsScraper::Impl::scrape_once(beast::tcp_stream& stream, bool& connected,
                                                                const tcp::endpoint& target, const std::string& request,
                                                                beast::flat_buffer& buffer, std::string& page) {
  if (!connected) {
    stream.expires_after(options.timeout);
    auto [ec] = co_await stream.async_connect(target, kUseTuple);
    if (ec) {
      stream.close();
      co_return ec == net::error::connection_refused ? ScrapeFailure::kRefused
             : ec == beast::error::timeout           ? ScrapeFailure::kTimeout
                                                     : ScrapeFailure::kConnect;
    }
    stream.socket().set_option(tcp::no_delay(true));
    connected = true;
    buffer.clear();
  }
  stream.expires_after(options.timeout);
  auto [wec, wn] = co_await net::async_write(stream, net::buffer(request), kUseTuple);
  http::response_parser<http::string_body> parser;
  parser.body_limit(options.max_page_bytes);
  beast::error_code ec = wec;
  if (!ec) std::tie(ec, std::ignore) = co_await http::async_read(stream, buffer, parser, kUseTuple);
  if (ec) {
    stream.close();
    connected = false;
    co_return ec == beast::error::timeout      ? ScrapeFailure::kTimeout
           : ec == http::error::body_limit     ? ScrapeFailure::kTooLarge
           : ec == net::error::connection_refused ? ScrapeFailure::kRefused
                                                : ScrapeFailure::kConnect;
  }
  if (!parser.keep_alive()) {
    stream.close();
    connected = false;
  }
  if (parser.get().result_int() != 200) co_return ScrapeFailure::kStatus;
  page = std::move(parser.get().body());
  co_return ScrapeFailure::kNone;
}

net::awaitable<void> MetricsScraper::Impl::scrape_loop(std::shared_ptr<Endpoint> ep, std::shared_ptr<bool> stopped,
                                                       std::chrono::nanoseconds offset) {
  const config::EndpointSpec& spec = ep->spec;
  const std::string host_port = spec.host + ":" + std::to_string(spec.metrics_port);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: " + host_port + "\r\nAccept: text/plain\r\n\r\n";
  net::steady_timer timer(io);
  tcp::endpoint target;
  {
    tcp::resolver resolver(io);
    auto [ec, results] = co_await resolver.async_resolve(spec.host, std::to_string(spec.metrics_port), kUseTuple);
    if (ec || results.empty()) {
      log("cannot resolve " + host_port + " for scraping: " + ec.message() + "; the endpoint is taken out of picking");
      ep->scrape_healthy.store(false, std::memory_order_relaxed);
      request_publish();
      co_return;
    }
    target = results.begin()->endpoint();
  }
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  buffer.reserve(64 << 10);  // Beast reads at most the free capacity per call
  std::string page;
  bool connected = false;
  ScrapeTrack track;
  std::int64_t capacity = -1;
  auto next = std::chrono::steady_clock::now() + offset;
  while (!*stopped) {
    timer.expires_at(next);
    co_await timer.async_wait(kUseTuple);
    if (*stopped) break;
    next += options.interval;
    if (const auto now = std::chrono::steady_clock::now(); next < now) next = now;  // skip missed ticks
    const ScrapeFailure failure = co_await scrape_once(stream, connected, target, request, buffer, page);
    if (*stopped) break;
    owner.scrapes_.fetch_add(1, std::memory_order_relaxed);
    if (apply_scrape(*ep, track, failure, page, clock.now(), options)) {
      log(ep->scrape_healthy.load() ? "endpoint " + spec.name + " (" + host_port + ") scrapes again: back in picking"
                                    : "endpoint " + spec.name + " (" + host_port + ") taken out of picking: " +
                                          track.last_error);
    }
    if (failure == ScrapeFailure::kNone) {
      const auto sample = ep->latest.load(std::memory_order_acquire);
      const auto& m = sample->metrics;
      if (m.block_size && m.num_blocks && *m.block_size > 0 && *m.num_blocks > 0) {
        const std::int64_t blocks = *m.num_blocks * *m.block_size / kIndexBlockTokens;
        if (blocks != capacity) {
          capacity = blocks;
          if (const auto snap = snapshots.current())
            for (const auto& pool : snap->pools)
              for (const auto& e : pool->endpoints)
                if (e == ep && pool->prefix_index)
                  pool->prefix_index->set_capacity(ep->id, static_cast<std::size_t>(blocks));
        }
      }
    }
    request_publish();
  }
}

void MetricsScraper::Impl::request_publish() {
  if (publish_pending) return;
  publish_pending = true;
  const auto due = last_publish + kMinPublishGap;
  publish_timer.expires_at(std::max(due, std::chrono::steady_clock::now()));
  publish_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    publish_pending = false;
    publish();
  });
}

void MetricsScraper::Impl::publish() {
  last_publish = std::chrono::steady_clock::now();
  if (const auto snap = snapshots.current())
    for (const auto& pool : snap->pools) pool->publish_view();
}

MetricsScraper::MetricsScraper(const SnapshotSource& snapshots, const Clock& clock, ScrapeOptions options,
                               std::function<void(const std::string&)> log)
    : impl_(std::make_unique<Impl>(*this, snapshots, clock, options, std::move(log))) {}

MetricsScraper::~MetricsScraper() { stop(); }

void MetricsScraper::start() {
  if (impl_->options.interval.count() <= 0 || impl_->thread.joinable()) return;
  impl_->work.emplace(impl_->io.get_executor());
  net::post(impl_->io, [this] { impl_->sync_loops(); });
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void MetricsScraper::snapshot_changed() {
  if (!impl_->thread.joinable()) return;
  net::post(impl_->io, [this] { impl_->sync_loops(); });
}

void MetricsScraper::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
}

}  // namespace infergate::gateway
