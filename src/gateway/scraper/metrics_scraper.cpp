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
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "gateway/flowcontrol/flow_controller.hpp"
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

// A response body that a scrape loop hands from one scrape to the next: the page is appended
// to the string the loop keeps, so its capacity is reused. Beast's string_body allocates a new
// string per page and zero-fills it (resize) before copying into it; at 10,000 scrapes/s of
// 20 KB pages that cost about 5 % of the scraper's CPU (bench/picker/scrape_cost.sh).
struct PageBody {
  using value_type = std::string;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& page) : page_(page) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      page_.clear();  // the parser's body_limit has already refused an oversized length
      if (length) page_.reserve(static_cast<std::size_t>(*length));
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      std::size_t n = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        page_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& page_;
  };
};
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
  const std::chrono::steady_clock::time_point epoch = std::chrono::steady_clock::now();
  // The first round: how many endpoints have had their first scrape (start-up readiness).
  std::mutex first_round_mu;
  std::condition_variable first_round_cv;
  std::size_t first_round_expected = 0, first_round_done = 0;
  bool first_sync = false;
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
  const auto slots = static_cast<std::uint64_t>(std::max<std::int64_t>(1, options.interval.count()));
  if (!first_sync) {
    std::lock_guard lock(first_round_mu);
    first_round_expected = wanted.size();
    first_sync = true;
    first_round_cv.notify_all();
  }
  for (auto& [raw, ep] : wanted) {
    if (loops.contains(raw)) continue;
    auto stopped = std::make_shared<bool>(false);
    loops.emplace(raw, stopped);
    // Whole milliseconds from the scraper's epoch: loops in the same slot wake together, so one
    // timer expiry, one epoll_wait and one wake-up of each side serve several scrapes, and the
    // slots still spread the scrapes over the interval. With 500 endpoints every 50 ms this
    // halved the gateway's CPU (bench/picker/scrape_cost.sh, docs/benchmarks.md).
    const std::chrono::milliseconds offset(static_cast<std::int64_t>(random() % slots));
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
  http::response_parser<PageBody> parser;
  parser.body_limit(options.max_page_bytes);
  parser.get().body() = std::move(page);  // the previous page's storage
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
  bool scraped_once = false;
  // The first tick of this loop's slot (epoch + offset + k intervals) not in the past.
  const auto on_grid = [&](std::chrono::steady_clock::time_point t) {
    const auto now = std::chrono::steady_clock::now();
    return t >= now ? t : t + ((now - t) / options.interval + 1) * options.interval;
  };
  auto next = on_grid(epoch + offset);
  while (!*stopped) {
    timer.expires_at(next);
    co_await timer.async_wait(kUseTuple);
    if (*stopped) break;
    next = on_grid(next + options.interval);  // skips missed ticks, stays in its slot
    const ScrapeFailure failure = co_await scrape_once(stream, connected, target, request, buffer, page);
    if (*stopped) break;
    if (owner.scrapes_.fetch_add(1, std::memory_order_relaxed), !scraped_once) {
      scraped_once = true;
      std::lock_guard lock(first_round_mu);
      ++first_round_done;
      first_round_cv.notify_all();
    }
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
    for (const auto& pool : snap->pools) {
      pool->publish_view();
      if (pool->flow) pool->flow->on_capacity_changed();  // fresh metrics may let queued requests go
    }
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

bool MetricsScraper::wait_first_round(std::chrono::milliseconds bound) {
  if (!impl_->thread.joinable()) return true;
  std::unique_lock lock(impl_->first_round_mu);
  return impl_->first_round_cv.wait_for(lock, bound, [this] {
    return impl_->first_sync && impl_->first_round_done >= impl_->first_round_expected;
  });
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
