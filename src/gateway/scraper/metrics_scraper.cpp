#include "gateway/scraper/metrics_scraper.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "gateway/scraper/host_resolver.hpp"
#include "gateway/scraper/page_reader.hpp"
#include "tls/tls_context.hpp"

namespace infergate::gateway {
namespace {
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kMinPublishGap = milliseconds(5);
constexpr auto kResolveRetry = std::chrono::seconds(5);
constexpr std::size_t kMaxSpareBuffers = 64;  // 4 MB of 64 KB read buffers
using UpstreamTlsSettings = config::PoolConfig::UpstreamTls;

}  // namespace

// One endpoint being scraped: its address, its kept-alive connection and the exchange on it.
struct ScrapeTarget {
  ScrapeTarget(std::uint64_t target_id, std::shared_ptr<Endpoint> ep, std::size_t max_page)
      : id(target_id), endpoint(std::move(ep)), reader(max_page) {}

  enum class Address { kUnresolved, kResolving, kResolved };
  enum class Step { kIdle, kConnecting, kHandshaking, kSending, kReading };

  const std::uint64_t id;
  const std::shared_ptr<Endpoint> endpoint;
  std::string host_port, request;
  std::uint32_t slot = 0;
  Address address_state = Address::kUnresolved;
  sockaddr_storage address{};
  socklen_t address_len = 0;
  SteadyClock::time_point next_resolve{};
  bool numeric_address = false;     // a literal IP: never looked up
  bool refreshing_address = false;  // looked up again while the last address stays in use
  SteadyClock::time_point next_refresh{};

  int fd = -1;
  bool want_write = false;  // EPOLLOUT is in the connection's interest set
  // TLS (the pool's UpstreamPolicy): the context connections are made from, and the one on fd.
  tls::ContextPtr tls_context;
  std::string tls_name;  // SNI and the name checked
  bool tls_verify = true;
  SSL* ssl = nullptr;
  std::string tls_error;  // why the last handshake failed
  Step step = Step::kIdle;
  std::size_t sent = 0;
  bool reused = false;   // this exchange runs on a connection that carried an earlier one
  bool retried = false;  // ... and was retried once on a fresh one
  PageReader reader;
  SteadyClock::time_point deadline{};
  ScrapeTarget* older = nullptr;  // scrapes in flight, oldest deadline first
  ScrapeTarget* newer = nullptr;

  ScrapeTrack track;
  bool counted_first = false;
};

// The scraper thread's state. Everything but the marked members is touched only by that thread.
struct MetricsScraper::Impl {
  Impl(MetricsScraper& o, const SnapshotSource& s, const Clock& c, ScrapeOptions opts,
       std::function<void(const std::string&)> logger)
      : owner(o), snapshots(s), clock(c), options(opts), log(std::move(logger)) {}
  ~Impl();

  MetricsScraper& owner;
  const SnapshotSource& snapshots;
  const Clock& clock;
  const ScrapeOptions options;
  std::function<void(const std::string&)> log;

  int sockets_fd = -1;  // epoll set of the connections
  int control_fd = -1;  // epoll set of wake_fd alone: what the loop sleeps on
  int wake_fd = -1;     // eventfd: other threads wake the loop (reload, stop, resolved names)
  std::thread thread;
  std::atomic<bool> stopping{false};  // any thread
  std::atomic<bool> resync{true};     // any thread

  std::mt19937_64 random{0x5c4a9e};
  std::uint64_t next_target_id = 1;
  std::map<Endpoint*, std::unique_ptr<ScrapeTarget>> targets;
  std::vector<std::vector<ScrapeTarget*>> wheel;  // the targets of each tick's slot
  std::vector<ScrapeBuffer> spare_buffers;        // read buffers of no scrape in flight
  ScrapeTarget* oldest = nullptr;
  ScrapeTarget* newest = nullptr;
  std::uint64_t synced_generation = 0;
  // Scrapes start on a grid of ticks: 2 ms, or 1 ms when the interval is an odd number of
  // milliseconds (the wheel's turn must be the interval). Each tick is one wake-up of this
  // thread; 2 ms rather than 1 ms saved 1-4 % of the scraper's CPU at 10,000 scrapes/s.
  const milliseconds tick_length{options.interval.count() % 2 == 0 ? 2 : 1};
  const SteadyClock::time_point epoch = SteadyClock::now();
  SteadyClock::time_point next_tick = epoch;
  std::uint64_t tick = 0;
  bool publish_pending = false;
  SteadyClock::time_point publish_due{}, last_publish{};

  // The first round: how many endpoints have had their first scrape (start-up readiness).
  std::mutex first_round_mu;
  std::condition_variable first_round_cv;
  std::size_t first_round_expected = 0, first_round_done = 0;
  bool first_sync = false;

  // Host names are resolved on a thread of their own, so a slow resolver never delays scrapes.
  HostResolver resolver{[this] { wake(); }};

  void run();
  void wake() const;
  void sync_targets();
  void remove_target(ScrapeTarget& t);
  void run_due_slots(SteadyClock::time_point now);
  void expire(SteadyClock::time_point now);
  SteadyClock::time_point next_wake() const;

  void begin_scrape(ScrapeTarget& t, SteadyClock::time_point now);
  void connect(ScrapeTarget& t);
  void start_tls(ScrapeTarget& t);
  void continue_handshake(ScrapeTarget& t);
  void send_request(ScrapeTarget& t);
  // SSL_read/SSL_write wanted the other direction, or failed: set the interest or fail.
  void await_tls(ScrapeTarget& t, int ssl_error);
  void read_response(ScrapeTarget& t);
  void read_tls_response(ScrapeTarget& t, std::span<char> space);
  // `n` bytes of the answer arrived: true when the page wants more (else the scrape finished).
  bool received(ScrapeTarget& t, std::size_t n);
  // The server closed the connection: before any byte of the answer the request is retried
  // (connection_lost); after, the page ends there.
  void server_closed(ScrapeTarget& t);
  void on_event(ScrapeTarget& t, std::uint32_t events);
  void connection_lost(ScrapeTarget& t);
  void set_want_write(ScrapeTarget& t, bool on);
  void close_connection(ScrapeTarget& t);
  void finish(ScrapeTarget& t, ScrapeFailure failure);
  void record(ScrapeTarget& t, ScrapeFailure failure, std::string_view page);
  void count_first(ScrapeTarget& t);

  void link(ScrapeTarget& t);
  void unlink(ScrapeTarget& t);
  ScrapeBuffer take_buffer();
  void give_back_buffer(ScrapeBuffer buffer);

  void queue_resolve(ScrapeTarget& t, SteadyClock::time_point now);
  void take_resolved();

  void request_publish();
  void publish();
};

MetricsScraper::Impl::~Impl() {
  if (sockets_fd >= 0) ::close(sockets_fd);
  if (control_fd >= 0) ::close(control_fd);
  if (wake_fd >= 0) ::close(wake_fd);
}

void MetricsScraper::Impl::wake() const {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd, &one, sizeof one);
}

// --- the loop ---------------------------------------------------------------------------------

// The loop sleeps until the next thing it must do (a slot's tick, a deadline, a publication)
// and, while scrapes are in flight, at most a tick; then it collects every connection that
// became ready meanwhile. It is never woken per answer: with 500 endpoints every 50 ms (about
// ten scrapes per millisecond) a wake-up per answer cost a sixth of the scraper's CPU in the
// scheduler (bench/picker/scrape_cost.sh). An answer waits a tick at most.
void MetricsScraper::Impl::run() {
  std::array<epoll_event, 128> events{};
  while (!stopping.load(std::memory_order_acquire)) {
    if (resync.exchange(false, std::memory_order_acq_rel)) sync_targets();
    take_resolved();
    const auto now = SteadyClock::now();
    run_due_slots(now);
    expire(now);
    if (publish_pending && publish_due <= now) publish();
    auto wake_at = next_wake();
    if (oldest) wake_at = std::min(wake_at, SteadyClock::now() + tick_length);
    // epoll_wait counts whole milliseconds: round up, so a tick is never run early.
    const auto wait = wake_at - SteadyClock::now();
    const int timeout_ms =
        wait <= wait.zero() ? 0 : static_cast<int>(std::chrono::ceil<milliseconds>(wait).count());
    epoll_event control{};
    if (::epoll_wait(control_fd, &control, 1, timeout_ms) == 1) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd, &count, sizeof count);
    }
    // Targets are only added or removed at the top of the loop, so every pointer here is live.
    for (;;) {
      const int n = ::epoll_wait(sockets_fd, events.data(), static_cast<int>(events.size()), 0);
      for (int i = 0; i < n; ++i)
        on_event(*static_cast<ScrapeTarget*>(events[static_cast<std::size_t>(i)].data.ptr),
                 events[static_cast<std::size_t>(i)].events);
      if (n < static_cast<int>(events.size())) break;
    }
  }
  for (auto& [raw, t] : targets) close_connection(*t);
}

SteadyClock::time_point MetricsScraper::Impl::next_wake() const {
  auto at = next_tick;
  if (oldest && oldest->deadline < at) at = oldest->deadline;
  if (publish_pending && publish_due < at) at = publish_due;
  return at;
}

// Starts the scrapes of every slot whose tick has come. A loop that woke late runs the slots it
// missed; one that fell a whole interval behind runs each slot once, not every missed tick.
void MetricsScraper::Impl::run_due_slots(SteadyClock::time_point now) {
  const std::uint64_t slots = wheel.size();
  if (now < next_tick || slots == 0) return;
  const auto behind = static_cast<std::uint64_t>((now - next_tick) / tick_length);
  if (behind >= slots) {
    const std::uint64_t skip = behind - slots + 1;
    tick += skip;
    next_tick += tick_length * skip;
  }
  while (next_tick <= now) {
    for (ScrapeTarget* t : wheel[tick % slots]) begin_scrape(*t, now);
    ++tick;
    next_tick += tick_length;
  }
  // Sleep through empty slots (a small fleet leaves most of them empty).
  std::uint64_t empty = 0;
  while (empty < slots && wheel[(tick + empty) % slots].empty()) ++empty;
  tick += empty;
  next_tick += tick_length * empty;
}

// Every scrape has the same time limit, so deadlines fall in the order scrapes began.
void MetricsScraper::Impl::expire(SteadyClock::time_point now) {
  while (oldest && oldest->deadline <= now) {
    ScrapeTarget& t = *oldest;
    close_connection(t);
    finish(t, ScrapeFailure::kTimeout);
  }
}

void MetricsScraper::Impl::link(ScrapeTarget& t) {
  t.older = newest;
  t.newer = nullptr;
  (newest ? newest->newer : oldest) = &t;
  newest = &t;
}

void MetricsScraper::Impl::unlink(ScrapeTarget& t) {
  (t.older ? t.older->newer : oldest) = t.newer;
  (t.newer ? t.newer->older : newest) = t.older;
  t.older = t.newer = nullptr;
}

// Buffers beyond what the usual number of scrapes in flight needs are freed (a burst of
// hanging endpoints would otherwise keep its buffers for good).
void MetricsScraper::Impl::give_back_buffer(ScrapeBuffer buffer) {
  if (spare_buffers.size() < kMaxSpareBuffers) spare_buffers.push_back(std::move(buffer));
}

ScrapeBuffer MetricsScraper::Impl::take_buffer() {
  if (spare_buffers.empty()) return {};
  ScrapeBuffer b = std::move(spare_buffers.back());
  spare_buffers.pop_back();
  return b;
}

// --- configuration changes ---------------------------------------------------------------------

void MetricsScraper::Impl::sync_targets() {
  const auto snap = snapshots.current();
  if (!snap || snap->generation == synced_generation) return;
  synced_generation = snap->generation;
  std::map<Endpoint*, std::shared_ptr<Endpoint>> wanted;
  std::map<Endpoint*, const config::PoolConfig*> pool_of;
  for (std::size_t i = 0; i < snap->pools.size(); ++i)
    for (const auto& ep : snap->pools[i]->endpoints) {
      wanted.emplace(ep.get(), ep);
      pool_of.emplace(ep.get(), snap->config && i < snap->config->pools.size()
                                    ? &snap->config->pools[i]
                                    : nullptr);  // (tests' snapshots may have no configuration)
    }
  // A pool's TLS settings may change with its endpoints staying: the next connection uses the
  // new ones (an idle connection made with the old ones closes now).
  const auto set_tls = [&](ScrapeTarget& t) {
    const config::PoolConfig* pool = pool_of.at(t.endpoint.get());
    const UpstreamTlsSettings* tls = pool && pool->upstream_tls ? &*pool->upstream_tls : nullptr;
    tls::ContextPtr context = tls ? tls->context : nullptr;
    if (context == t.tls_context) return;
    t.tls_context = std::move(context);
    t.tls_name = tls && !tls->server_name.empty() ? tls->server_name : t.endpoint->spec.host;
    t.tls_verify = !tls || tls->verify;
    if (t.step == ScrapeTarget::Step::kIdle) close_connection(t);
  };
  for (auto it = targets.begin(); it != targets.end();) {
    if (wanted.contains(it->first)) {
      set_tls(*it->second);
      ++it;
      continue;
    }
    remove_target(*it->second);
    it = targets.erase(it);
  }
  if (!first_sync) {
    std::lock_guard lock(first_round_mu);
    first_round_expected = wanted.size();
    first_sync = true;
    first_round_cv.notify_all();
  }
  const auto now = SteadyClock::now();
  for (auto& [raw, ep] : wanted) {
    if (targets.contains(raw)) continue;
    auto t = std::make_unique<ScrapeTarget>(next_target_id++, ep, options.max_page_bytes);
    set_tls(*t);
    const config::EndpointSpec& spec = ep->spec;
    t->host_port = spec.host + ":" + std::to_string(spec.metrics_port);
    t->request =
        "GET /metrics HTTP/1.1\r\nHost: " + t->host_port + "\r\nAccept: text/plain\r\n\r\n";
    // A random slot (tick) in the interval: scrapes spread over the interval, and the targets
    // of one slot share one wake-up of this thread and of the model servers' side. With 500
    // endpoints every 50 ms this halved the gateway's CPU against random offsets in
    // nanoseconds (bench/picker/scrape_cost.sh, docs/benchmarks.md).
    t->slot = static_cast<std::uint32_t>(random() % wheel.size());
    wheel[t->slot].push_back(t.get());
    if (HostResolver::numeric(spec.host, spec.metrics_port, t->address, t->address_len)) {
      t->address_state = ScrapeTarget::Address::kResolved;
      t->numeric_address = true;
    } else
      queue_resolve(*t, now);
    targets.emplace(raw, std::move(t));
  }
  // The loop may be asleep until a later slot: new targets in the slots before it start now.
  const SteadyClock::time_point current = epoch + (now - epoch) / tick_length * tick_length;
  if (current < next_tick) {
    tick -= static_cast<std::uint64_t>((next_tick - current) / tick_length);
    next_tick = current;
  }
  request_publish();
}

void MetricsScraper::Impl::remove_target(ScrapeTarget& t) {
  if (t.step != ScrapeTarget::Step::kIdle) {
    unlink(t);
    give_back_buffer(t.reader.release());
  }
  close_connection(t);
  auto& slot = wheel[t.slot];
  slot.erase(std::find(slot.begin(), slot.end(), &t));
}

// --- one scrape ---------------------------------------------------------------------------------

void MetricsScraper::Impl::begin_scrape(ScrapeTarget& t, SteadyClock::time_point now) {
  if (t.step != ScrapeTarget::Step::kIdle)
    return;  // the last one still runs (bounded by the timeout)
  if (t.address_state != ScrapeTarget::Address::kResolved) {
    if (t.address_state == ScrapeTarget::Address::kUnresolved && now >= t.next_resolve)
      queue_resolve(t, now);
    return;
  }
  if (!t.numeric_address && !t.refreshing_address && now >= t.next_refresh) {
    // Looked up again in the background; scrapes go on to the last good address.
    t.refreshing_address = true;
    resolver.resolve(t.id, t.endpoint->spec.host, t.endpoint->spec.metrics_port);
  }
  t.reader.begin(take_buffer());
  t.deadline = now + options.timeout;
  link(t);
  t.retried = false;
  t.sent = 0;
  if (t.fd < 0) {
    connect(t);
  } else {
    t.reused = true;
    send_request(t);
  }
}

void MetricsScraper::Impl::connect(ScrapeTarget& t) {
  t.reused = false;
  t.sent = 0;
  t.step = ScrapeTarget::Step::kConnecting;
  const int fd = ::socket(t.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return finish(t, ScrapeFailure::kConnect);  // EMFILE and the like: the next tick tries again
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  t.fd = fd;
  // Level-triggered: a readable socket is reported until it is read, so one read per report
  // suffices, and an idle connection that the server closes is noticed and closed at once.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = &t;
  t.want_write = true;
  if (::epoll_ctl(sockets_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close_connection(t);
    return finish(t, ScrapeFailure::kConnect);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&t.address), t.address_len) == 0) {
    set_want_write(t, false);
    return t.tls_context ? start_tls(t) : send_request(t);
  }
  if (errno == EINPROGRESS) return;  // writable when connected
  const int err = errno;
  close_connection(t);
  finish(t, err == ECONNREFUSED ? ScrapeFailure::kRefused : ScrapeFailure::kConnect);
}

// --- TLS: the handshake on a connected socket, then reads and writes through the SSL object.

void MetricsScraper::Impl::start_tls(ScrapeTarget& t) {
  t.step = ScrapeTarget::Step::kHandshaking;
  t.ssl = tls::new_client_connection(t.tls_context, t.tls_name, t.tls_verify);
  if (!t.ssl || SSL_set_fd(t.ssl, t.fd) != 1) {
    t.tls_error = "cannot set up TLS";
    close_connection(t);
    return finish(t, ScrapeFailure::kTls);
  }
  continue_handshake(t);
}

void MetricsScraper::Impl::continue_handshake(ScrapeTarget& t) {
  ERR_clear_error();
  const int r = SSL_connect(t.ssl);
  if (r == 1) {
    t.tls_error.clear();
    return send_request(t);
  }
  const int error = SSL_get_error(t.ssl, r);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
    return set_want_write(t, error == SSL_ERROR_WANT_WRITE);
  const std::string why = tls::verify_failure(t.ssl);
  t.tls_error = why.empty() ? tls::take_errors() : "certificate verify failed: " + why;
  ERR_clear_error();
  close_connection(t);
  finish(t, ScrapeFailure::kTls);
}

void MetricsScraper::Impl::await_tls(ScrapeTarget& t, int ssl_error) {
  if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
    if (t.want_write != (ssl_error == SSL_ERROR_WANT_WRITE))
      set_want_write(t, ssl_error == SSL_ERROR_WANT_WRITE);
    return;
  }
  ERR_clear_error();
  connection_lost(t);
}

void MetricsScraper::Impl::send_request(ScrapeTarget& t) {
  t.step = ScrapeTarget::Step::kSending;
  if (t.ssl) {
    while (t.sent < t.request.size()) {
      ERR_clear_error();
      const int n =
          SSL_write(t.ssl, t.request.data() + t.sent, static_cast<int>(t.request.size() - t.sent));
      if (n <= 0) return await_tls(t, SSL_get_error(t.ssl, n));
      t.sent += static_cast<std::size_t>(n);
    }
    if (t.want_write) set_want_write(t, false);
    t.step = ScrapeTarget::Step::kReading;
    return;
  }
  while (t.sent < t.request.size()) {
    const ssize_t n =
        ::send(t.fd, t.request.data() + t.sent, t.request.size() - t.sent, MSG_NOSIGNAL);
    if (n > 0) {
      t.sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return set_want_write(t, true);
    } else {
      return connection_lost(t);
    }
  }
  if (t.want_write) set_want_write(t, false);
  t.step = ScrapeTarget::Step::kReading;  // the answer is waited for, not read at once: it is not
                                          // there yet
}

void MetricsScraper::Impl::read_response(ScrapeTarget& t) {
  const std::span<char> space = t.reader.space();
  if (space.empty()) {  // the page outgrew its limit
    close_connection(t);
    return finish(t, t.reader.failure());
  }
  if (t.ssl) return read_tls_response(t, space);
  const ssize_t n = ::recv(t.fd, space.data(), space.size(), 0);
  if (n > 0) {
    received(t, static_cast<std::size_t>(n));
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  server_closed(t);  // or reset it
}

bool MetricsScraper::Impl::received(ScrapeTarget& t, std::size_t n) {
  switch (t.reader.received(n)) {
    case PageReader::Progress::kMore:
      return true;
    case PageReader::Progress::kDone:
      finish(t, ScrapeFailure::kNone);
      return false;
    case PageReader::Progress::kFailed:
      close_connection(t);
      finish(t, t.reader.failure());
      return false;
  }
  return false;
}

void MetricsScraper::Impl::server_closed(ScrapeTarget& t) {
  if (t.reader.bytes_received() == 0) return connection_lost(t);
  const auto end = t.reader.end_of_stream();
  close_connection(t);
  finish(t, end == PageReader::Progress::kDone ? ScrapeFailure::kNone : t.reader.failure());
}

// Decrypted bytes wait inside the SSL object, where epoll cannot see them: read until OpenSSL
// wants the socket again (or the page is done).
void MetricsScraper::Impl::read_tls_response(ScrapeTarget& t, std::span<char> space) {
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(t.ssl, space.data(), static_cast<int>(space.size()));
    if (n <= 0) {
      const int error = SSL_get_error(t.ssl, n);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return await_tls(t, error);
      ERR_clear_error();
      return server_closed(t);  // close_notify, or just its end of the TCP connection
    }
    if (!received(t, static_cast<std::size_t>(n))) return;
    space = t.reader.space();
    if (space.empty()) {
      close_connection(t);
      return finish(t, t.reader.failure());
    }
  }
}

void MetricsScraper::Impl::on_event(ScrapeTarget& t, std::uint32_t events) {
  switch (t.step) {
    case ScrapeTarget::Step::kIdle:
      // An idle kept-alive connection became readable: the server closed it (or sent bytes
      // nobody asked for). Either way it cannot carry the next scrape.
      return close_connection(t);
    case ScrapeTarget::Step::kConnecting: {
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(t.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      if (err != 0) {
        close_connection(t);
        return finish(t, err == ECONNREFUSED ? ScrapeFailure::kRefused : ScrapeFailure::kConnect);
      }
      set_want_write(t, false);
      return t.tls_context ? start_tls(t) : send_request(t);
    }
    case ScrapeTarget::Step::kHandshaking:
      return continue_handshake(t);
    case ScrapeTarget::Step::kSending:
      // Over TLS a write may wait on a read (OpenSSL says which): any event retries it.
      if (t.ssl || (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return send_request(t);
      // The server answered before the whole request was sent: not an answer to it.
      close_connection(t);
      return finish(t, ScrapeFailure::kConnect);
    case ScrapeTarget::Step::kReading:
      return read_response(t);
  }
}

// The connection failed before any byte of the answer. A kept-alive connection may have been
// closed by the server just as the request went out: that one is retried once on a new
// connection, as HTTP clients do with idempotent requests.
void MetricsScraper::Impl::connection_lost(ScrapeTarget& t) {
  close_connection(t);
  if (t.reused && !t.retried) {
    t.retried = true;
    t.reader.begin(t.reader.release());
    return connect(t);
  }
  finish(t, ScrapeFailure::kConnect);
}

void MetricsScraper::Impl::set_want_write(ScrapeTarget& t, bool on) {
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.ptr = &t;
  ::epoll_ctl(sockets_fd, EPOLL_CTL_MOD, t.fd, &ev);
  t.want_write = on;
}

void MetricsScraper::Impl::close_connection(ScrapeTarget& t) {
  if (t.ssl) {
    SSL_shutdown(t.ssl);  // a close_notify, if the socket takes it; no wait for the server's
    ERR_clear_error();
    SSL_free(t.ssl);
    t.ssl = nullptr;
  }
  if (t.fd < 0) return;
  ::close(t.fd);  // also leaves the epoll set
  t.fd = -1;
  t.want_write = false;
}

void MetricsScraper::Impl::finish(ScrapeTarget& t, ScrapeFailure failure) {
  unlink(t);
  if (failure != ScrapeFailure::kNone || !t.reader.reusable()) close_connection(t);
  t.step = ScrapeTarget::Step::kIdle;
  record(t, failure, failure == ScrapeFailure::kNone ? t.reader.page() : std::string_view{});
  give_back_buffer(t.reader.release());
}

void MetricsScraper::Impl::count_first(ScrapeTarget& t) {
  if (t.counted_first) return;
  t.counted_first = true;
  std::lock_guard lock(first_round_mu);
  ++first_round_done;
  first_round_cv.notify_all();
}

void MetricsScraper::Impl::record(ScrapeTarget& t, ScrapeFailure failure, std::string_view page) {
  Endpoint& ep = *t.endpoint;
  const bool changed = apply_scrape(ep, t.track, failure, page, clock.now(), options);
  if (failure == ScrapeFailure::kTls && !t.tls_error.empty())
    t.track.last_error += " (" + t.tls_error + ")";
  if (changed) {
    log(ep.scrape_healthy.load()
            ? "endpoint " + ep.spec.name + " (" + t.host_port + ") scrapes again: back in picking"
            : "endpoint " + ep.spec.name + " (" + t.host_port +
                  ") taken out of picking: " + t.track.last_error);
  }
  // Counted once applied, so whoever waits on the count sees the endpoint's new state.
  owner.scrapes_.fetch_add(1, std::memory_order_release);
  count_first(t);
  request_publish();
}

// --- host names ---------------------------------------------------------------------------------

void MetricsScraper::Impl::queue_resolve(ScrapeTarget& t, SteadyClock::time_point now) {
  t.address_state = ScrapeTarget::Address::kResolving;
  t.next_resolve = now + kResolveRetry;
  resolver.resolve(t.id, t.endpoint->spec.host, t.endpoint->spec.metrics_port);
}

void MetricsScraper::Impl::take_resolved() {
  for (ResolvedAddress& r : resolver.take()) {
    ScrapeTarget* t = nullptr;
    for (auto& [raw, target] : targets)
      if (target->id == r.id) t = target.get();
    if (!t) continue;  // removed meanwhile
    const auto now = SteadyClock::now();
    if (t->refreshing_address) {
      t->refreshing_address = false;
      if (!r.ok) {  // keep the last good address; ask again soon
        t->next_refresh = now + std::min<SteadyClock::duration>(options.dns_refresh, kResolveRetry);
        continue;
      }
      t->next_refresh = now + options.dns_refresh;
      const bool moved = r.address_len != t->address_len ||
                         std::memcmp(&r.address, &t->address, r.address_len) != 0;
      if (!moved) continue;
      t->address = r.address;
      t->address_len = r.address_len;
      // The kept-alive connection goes to the old address: the next scrape connects anew.
      if (t->step == ScrapeTarget::Step::kIdle) close_connection(*t);
      continue;
    }
    if (r.ok) {
      t->address = r.address;
      t->address_len = r.address_len;
      t->address_state = ScrapeTarget::Address::kResolved;
      t->next_refresh = now + options.dns_refresh;
      continue;
    }
    // Out of picking until the name resolves; tried again every few seconds.
    t->address_state = ScrapeTarget::Address::kUnresolved;
    log("cannot resolve " + t->host_port + " for scraping: " + r.error +
        "; the endpoint is out of picking");
    t->endpoint->scrape_healthy.store(false, std::memory_order_relaxed);
    count_first(*t);
    request_publish();
  }
}

// --- publishing ---------------------------------------------------------------------------------

void MetricsScraper::Impl::request_publish() {
  if (publish_pending) return;
  publish_pending = true;
  publish_due = std::max(last_publish + kMinPublishGap, SteadyClock::now());
}

void MetricsScraper::Impl::publish() {
  publish_pending = false;
  last_publish = SteadyClock::now();
  if (const auto snap = snapshots.current()) snap->publish_views();  // its listeners hear of each
}

// --- the owner's side ---------------------------------------------------------------------------

MetricsScraper::MetricsScraper(const SnapshotSource& snapshots, const Clock& clock,
                               ScrapeOptions options, std::function<void(const std::string&)> log)
    : impl_(std::make_unique<Impl>(*this, snapshots, clock, options, std::move(log))) {}

MetricsScraper::~MetricsScraper() { stop(); }

void MetricsScraper::start() {
  Impl& s = *impl_;
  if (s.options.interval.count() <= 0 || s.thread.joinable()) return;
  s.wheel.resize(static_cast<std::size_t>(s.options.interval / s.tick_length));
  s.sockets_fd = ::epoll_create1(EPOLL_CLOEXEC);
  s.control_fd = ::epoll_create1(EPOLL_CLOEXEC);
  s.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.sockets_fd < 0 || s.control_fd < 0 || s.wake_fd < 0)
    throw std::runtime_error("scraper: " + std::string(std::strerror(errno)));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(s.control_fd, EPOLL_CTL_ADD, s.wake_fd, &ev);
  s.thread = std::thread([&s] { s.run(); });
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
  impl_->resync.store(true, std::memory_order_release);
  impl_->wake();
}

void MetricsScraper::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  s.stopping.store(true, std::memory_order_release);
  s.wake();
  s.thread.join();
  s.resolver.stop();
}

}  // namespace infergate::gateway
