// UpstreamClient over plain Asio sockets: HTTP/1.1 keep-alive connections pooled per endpoint,
// each with its own read buffer, so an exchange allocates nothing large and copies nothing twice.
//
// Per exchange, in the common case: one gather write (request head and body, the body as views
// of the client's bytes around a rewritten model; tried at once without the reactor, which
// only waits when the socket is full) and one read that returns the response head and, for
// small answers, the whole body. The head is parsed by hand (http1.hpp); bodies are handed on
// as they arrive, chunked ones decoded in place. Waits are bounded by DeadlineQueues (connect,
// response head, body idle): no timer is set per wait.
//
// A pool with TLS (its UpstreamPolicy) gets its connections through an Asio ssl::stream over
// the same socket: the handshake is bounded by the connect timeout, and a write is gathered
// into one buffer first (one TLS record). Its connections are pooled apart from plain ones.
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdlib>
#include <tuple>
#include <unordered_map>

#include "gateway/http/deadline_queue.hpp"
#include "gateway/http/http1.hpp"
#include "gateway/http/tcp_keepalive.hpp"
#include "gateway/upstream/upstream_client.hpp"
#include "tls/tls_context.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kReadBuffer = std::size_t{64} << 10;  // also the bound on a response head
constexpr std::size_t kMaxHead = std::size_t{32} << 10;

struct Connection {
  explicit Connection(const net::any_io_executor& ex) : socket(ex) {}
  tcp::socket socket;
  std::unique_ptr<net::ssl::stream<tcp::socket&>> tls;  // over `socket`, for a TLS pool
  std::string tls_out;                                  // a TLS write, gathered
  std::chrono::steady_clock::time_point idle_since{};   // when it went back to the pool
  std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(kReadBuffer);
  std::size_t begin = 0, end = 0;  // bytes read and not yet used
  std::string request_head;        // reused for each request's head
  std::string_view unread() const { return {buffer.get() + begin, end - begin}; }
};

bool closed_early(const boost::system::error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe;
}

// Whether an idle connection is still usable: open, and with nothing to read (an end of file or
// a reset means the server closed it; bytes mean it sent something unasked).
bool still_open(tcp::socket& socket) {
  if (!socket.is_open()) return false;
  char probe = 0;
  const ssize_t n = ::recv(socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

class PooledUpstreamClient;

// getaddrinfo on Asio's resolver thread, abandoned after `timeout`.
HostLookup system_lookup(const net::any_io_executor& ex) {
  return [ex](const std::string& host,
              std::chrono::milliseconds timeout) -> net::awaitable<std::vector<std::string>> {
    // Shared with the timer's handler, which may run after this coroutine is done.
    auto resolver = std::make_shared<tcp::resolver>(ex);
    net::steady_timer timer(ex, timeout);
    timer.async_wait([resolver](const boost::system::error_code& ec) {
      if (!ec) resolver->cancel();
    });
    auto [ec, results] = co_await resolver->async_resolve(host, "", kUseTuple);
    timer.cancel();
    std::vector<std::string> out;
    if (!ec)
      for (const auto& r : results) out.push_back(r.endpoint().address().to_string());
    co_return out;
  };
}

class PooledExchange final : public UpstreamExchange {
 public:
  PooledExchange(PooledUpstreamClient& client, std::string address, const UpstreamTls* tls)
      : client_(client), address_(std::move(address)), tls_(tls) {
    // TLS connections are pooled per context too: one made for another pool's trust settings
    // is never handed to this one. (The context lives while any connection made from it does,
    // so its address is not reused meanwhile.) Plain ones are pooled by address alone.
    if (tls_)
      tls_pool_key_ =
          address_ + "#" + std::to_string(reinterpret_cast<std::uintptr_t>(tls_->context.get()));
  }
  ~PooledExchange() override;

  net::awaitable<std::variant<ResponseHead, UpstreamFailure>> send(
      const UpstreamRequest& request) override;
  net::awaitable<BodyRead> read_body(std::string& out) override;
  bool body_complete() const override { return done_; }
  std::string failure_detail() const override { return failure_detail_; }

 private:
  net::awaitable<bool> connect();
  // The idle pool this exchange's connection comes from and goes back to.
  const std::string& pool_key() const { return tls_ ? tls_pool_key_ : address_; }
  // The TLS handshake on a new connection; false (with failure_detail_) when it failed.
  net::awaitable<bool> handshake();
  // Reads more bytes into the connection's buffer, bounded by `queue`: 0 on failure, with `ec`.
  net::awaitable<std::size_t> read_more(DeadlineQueue& queue, boost::system::error_code& ec,
                                        bool& timed_out);
  // Hands on buffered body bytes; false when there were none to hand on.
  bool take_buffered(std::string& out, BodyRead& result);

  PooledUpstreamClient& client_;
  std::string address_;
  const UpstreamTls* tls_;
  std::string tls_pool_key_;  // see pool_key()
  std::string failure_detail_;
  std::unique_ptr<Connection> conn_;
  DeadlineQueue::Entry deadline_;
  http1::BodyFraming framing_ = http1::BodyFraming::kNone;
  http1::ChunkedDecoder chunked_;
  std::uint64_t remaining_ = 0;
  bool done_ = false;
  bool keep_alive_ = false;
};

class PooledUpstreamClient final : public UpstreamClient {
 public:
  PooledUpstreamClient(const net::any_io_executor& ex, UpstreamTimeouts timeouts,
                       std::size_t max_idle, HostLookup lookup)
      : executor_(ex),
        max_idle_(max_idle),
        pool_idle_(timeouts.pool_idle),
        lookup_(lookup ? std::move(lookup) : system_lookup(ex)),
        dns_refresh_(timeouts.dns_refresh),
        dns_timeout_(timeouts.dns_timeout),
        connect_deadlines(ex, timeouts.connect),
        head_deadlines(ex, timeouts.response_head),
        body_deadlines(ex, timeouts.body_idle) {}

  std::unique_ptr<UpstreamExchange> exchange(const std::string& address,
                                             const UpstreamTls* tls) override {
    return std::make_unique<PooledExchange>(*this, address, tls);
  }

  // The most recently used idle connection that is young enough and still open; the ones
  // found expired or closed by the server are dropped on the way.
  std::unique_ptr<Connection> take_idle(const std::string& address) {
    auto it = idle_.find(address);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto oldest_usable = std::chrono::steady_clock::now() - pool_idle_;
    // The list is in the order connections came back: the front ones idled longest.
    std::size_t expired = 0;
    while (expired < list.size() && list[expired]->idle_since < oldest_usable) ++expired;
    list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(expired));
    while (!list.empty()) {
      auto conn = std::move(list.back());
      list.pop_back();
      if (still_open(conn->socket)) return conn;
    }
    return nullptr;
  }

  void give_back(const std::string& address, std::unique_ptr<Connection> conn) {
    auto& list = idle_[address];
    conn->idle_since = std::chrono::steady_clock::now();
    if (list.size() < max_idle_) list.push_back(std::move(conn));
  }

  // The address's endpoints. A literal IP needs no lookup. A host name's answer is kept and
  // looked up again in the background once it is older than the refresh interval (requests use
  // the last good answer meanwhile, and keep it when a lookup fails); only the first lookup of
  // a name is waited for. Every lookup is bounded by the DNS timeout.
  net::awaitable<std::optional<tcp::resolver::results_type>> resolve(const std::string& address) {
    const auto now = std::chrono::steady_clock::now();
    if (auto it = resolved_.find(address); it != resolved_.end()) {
      Resolved& r = it->second;
      if (now >= r.refresh_at && !r.refreshing) {
        r.refreshing = true;
        net::co_spawn(executor_, refresh(address), net::detached);
      }
      co_return r.results;
    }
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) co_return std::nullopt;
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    const std::string port = address.substr(colon + 1);
    boost::system::error_code ec;
    const net::ip::address ip = net::ip::make_address(host, ec);
    if (!ec) {
      char* end = nullptr;
      const unsigned long number = std::strtoul(port.c_str(), &end, 10);
      if (end == port.c_str() || *end != '\0' || number > 65535) co_return std::nullopt;
      auto results = tcp::resolver::results_type::create(
          tcp::endpoint(ip, static_cast<unsigned short>(number)), host, port);
      resolved_[address] = Resolved{results, std::chrono::steady_clock::time_point::max(), false};
      co_return results;
    }
    auto results = co_await lookup(host, port);
    if (!results) co_return std::nullopt;
    resolved_[address] = Resolved{*results, now + dns_refresh_, false};
    co_return results;
  }

  const net::any_io_executor& executor() const { return executor_; }

  void shutdown() override {
    idle_.clear();
    connect_deadlines.stop();
    head_deadlines.stop();
    body_deadlines.stop();
  }

 private:
  net::any_io_executor executor_;
  std::size_t max_idle_;
  std::chrono::milliseconds pool_idle_;
  struct Resolved {
    tcp::resolver::results_type results;
    std::chrono::steady_clock::time_point refresh_at;  // when to look the name up again
    bool refreshing = false;
  };

  // The lookup's addresses with the port, as the connect loop takes them.
  net::awaitable<std::optional<tcp::resolver::results_type>> lookup(const std::string& host,
                                                                    const std::string& port) {
    const std::vector<std::string> found = co_await lookup_(host, dns_timeout_);
    std::vector<tcp::endpoint> endpoints;
    char* end = nullptr;
    const unsigned long number = std::strtoul(port.c_str(), &end, 10);
    if (end == port.c_str() || *end != '\0' || number > 65535) co_return std::nullopt;
    for (const auto& text : found) {
      boost::system::error_code ec;
      const net::ip::address ip = net::ip::make_address(text, ec);
      if (!ec) endpoints.emplace_back(ip, static_cast<unsigned short>(number));
    }
    if (endpoints.empty()) co_return std::nullopt;
    co_return tcp::resolver::results_type::create(endpoints.begin(), endpoints.end(), host, port);
  }

  net::awaitable<void> refresh(std::string address) {
    const auto colon = address.rfind(':');
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    auto results = co_await lookup(host, address.substr(colon + 1));
    Resolved& r = resolved_[address];
    r.refreshing = false;
    const auto now = std::chrono::steady_clock::now();
    if (results) {
      r.results = std::move(*results);
      r.refresh_at = now + dns_refresh_;
    } else {  // keep the last good answer; ask again soon
      r.refresh_at = now + std::min(dns_refresh_, std::chrono::milliseconds(5000));
    }
  }

  HostLookup lookup_;
  std::chrono::milliseconds dns_refresh_;
  std::chrono::milliseconds dns_timeout_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  std::unordered_map<std::string, Resolved> resolved_;

 public:
  DeadlineQueue connect_deadlines;
  DeadlineQueue head_deadlines;
  DeadlineQueue body_deadlines;
};

PooledExchange::~PooledExchange() {
  DeadlineQueue::remove(deadline_);
  if (conn_ && done_ && keep_alive_ && conn_->begin == conn_->end) {
    conn_->begin = conn_->end = 0;
    client_.give_back(pool_key(), std::move(conn_));
  }
}

net::awaitable<bool> PooledExchange::connect() {
  auto endpoints = co_await client_.resolve(address_);
  if (!endpoints) co_return false;
  conn_ = std::make_unique<Connection>(client_.executor());
  client_.connect_deadlines.arm(deadline_, conn_->socket);
  auto [ec, ep] = co_await net::async_connect(conn_->socket, *endpoints, kUseTuple);
  client_.connect_deadlines.disarm(deadline_);
  if (ec) {
    conn_.reset();
    co_return false;
  }
  boost::system::error_code ignored;
  conn_->socket.set_option(tcp::no_delay(true), ignored);
  set_keepalive(conn_->socket);
  conn_->socket.non_blocking(true, ignored);
  co_return true;
}

net::awaitable<bool> PooledExchange::handshake() {
  std::string name = tls_->server_name;
  if (name.empty()) {  // the endpoint's host
    name = address_.substr(0, address_.rfind(':'));
    if (name.size() > 2 && name.front() == '[') name = name.substr(1, name.size() - 2);
  }
  ssl_st* ssl = tls::new_client_connection(tls_->context, name, tls_->verify);
  if (!ssl) {
    failure_detail_ = "cannot set up TLS for " + name;
    conn_.reset();
    co_return false;
  }
  Connection& c = *conn_;
  c.tls = std::make_unique<net::ssl::stream<tcp::socket&>>(c.socket, ssl);  // owns `ssl`
  client_.connect_deadlines.arm(deadline_, c.socket);
  auto [ec] = co_await c.tls->async_handshake(net::ssl::stream_base::client, kUseTuple);
  const bool timed_out = client_.connect_deadlines.disarm(deadline_) && ec;
  if (!ec) co_return true;
  const std::string why = tls::verify_failure(c.tls->native_handle());
  failure_detail_ = timed_out     ? "timed out"
                    : why.empty() ? ec.message()
                                  : "certificate verify failed: " + why;
  conn_.reset();
  co_return false;
}

net::awaitable<std::size_t> PooledExchange::read_more(DeadlineQueue& queue,
                                                      boost::system::error_code& ec,
                                                      bool& timed_out) {
  Connection& c = *conn_;
  if (c.begin == c.end) c.begin = c.end = 0;
  if (c.end == kReadBuffer && c.begin > 0) {  // room at the front: move the unread bytes there
    std::memmove(c.buffer.get(), c.buffer.get() + c.begin, c.end - c.begin);
    c.end -= c.begin;
    c.begin = 0;
  }
  queue.arm(deadline_, c.socket);
  const auto room = net::buffer(c.buffer.get() + c.end, kReadBuffer - c.end);
  boost::system::error_code rec;
  std::size_t n = 0;
  if (c.tls) {
    std::tie(rec, n) = co_await c.tls->async_read_some(room, kUseTuple);
    // A server that closes without close_notify ends the stream as surely as TCP's end.
    if (rec == net::ssl::error::stream_truncated) rec = net::error::eof;
  } else {
    std::tie(rec, n) = co_await c.socket.async_read_some(room, kUseTuple);
  }
  timed_out = queue.disarm(deadline_) && rec == net::error::operation_aborted;
  ec = rec;
  c.end += n;
  co_return rec ? 0 : n;
}

net::awaitable<std::variant<ResponseHead, UpstreamFailure>> PooledExchange::send(
    const UpstreamRequest& request) {
  // A pooled connection may have been closed by the server while idle, in the moment before
  // this request went out: when it resets before the server took the request, the request goes
  // once more on a fresh connection to the same endpoint. Otherwise what reached the server is
  // never sent again (see UpstreamFailure).
  //
  // The request waits for the rest of the worker's ready work first (one post): the requests
  // that worker read in one turn of its loop then leave together, at the end of the turn, not
  // each after the next one's parsing and picking. A server that finds work waiting keeps
  // working instead of sleeping between requests, and waking it (on loopback, paid by the
  // sender's system call) happens once per batch: about 0.09 wake-ups per json request
  // against 0.3 to 0.5 without (docs/benchmarks.md).
  // (A named executor: no temporaries with destructors inside a co_await expression.)
  const net::any_io_executor executor = co_await net::this_coro::executor;
  co_await net::post(executor, net::use_awaitable);
  http1::MessageHead head;
  for (int attempt = 0; attempt < 2; ++attempt) {
    conn_ = attempt == 0 ? client_.take_idle(pool_key()) : nullptr;
    const bool reused = conn_ != nullptr;
    if (!reused && !co_await connect()) co_return UpstreamFailure::kConnect;
    if (!reused && tls_ && !co_await handshake()) co_return UpstreamFailure::kTlsHandshake;
    Connection& c = *conn_;
    // The head is serialised by hand; header values come from the client request's parser,
    // which rejects CR and LF, so they cannot split it.
    std::string& h = c.request_head;
    h.clear();
    h += request.method;
    h += ' ';
    h += request.target;
    h += " HTTP/1.1\r\nHost: ";
    h += address_;
    h += "\r\n";
    for (const auto& [k, v] : request.headers) {
      h += k;
      h += ": ";
      h += v;
      h += "\r\n";
    }
    const std::size_t body_size = request.body_size();
    if (body_size > 0 || request.method == "POST") {
      h += "Content-Length: ";
      h += std::to_string(body_size);
      h += "\r\n";
    }
    h += "\r\n";
    // The body's pieces (a rewritten model spliced between two views of the client's body).
    const std::array<std::string_view, 3> body = request.body_pieces();
    std::array<net::const_buffer, 4> message{net::buffer(h), net::buffer(body[0]),
                                             net::buffer(body[1]), net::buffer(body[2])};
    // Most writes complete at once: try without the reactor, wait only for what is left. (Over
    // TLS the message is gathered and written through the stream.)
    boost::system::error_code ec;
    std::size_t sent = 0;
    if (c.tls) {
      c.tls_out.clear();
      for (const auto& b : message) c.tls_out.append(static_cast<const char*>(b.data()), b.size());
      client_.head_deadlines.arm(deadline_, c.socket);
      auto [wec, wn] = co_await net::async_write(*c.tls, net::buffer(c.tls_out), kUseTuple);
      ec = client_.head_deadlines.disarm(deadline_) && wec ? make_error_code(net::error::timed_out)
                                                           : wec;
      sent = h.size() + body_size;
    } else {
      sent = c.socket.write_some(message, ec);
    }
    if ((!ec || ec == net::error::would_block) && sent < h.size() + body_size) {
      for (auto& b : message) {
        const std::size_t skip = std::min(sent, b.size());
        b += skip;
        sent -= skip;
      }
      client_.head_deadlines.arm(deadline_, c.socket);
      auto [wec, wn] = co_await net::async_write(c.socket, message, kUseTuple);
      ec = client_.head_deadlines.disarm(deadline_) && wec ? make_error_code(net::error::timed_out)
                                                           : wec;
    }
    const bool written = !ec || ec == net::error::would_block;
    if (ec == net::error::would_block) ec = {};
    bool timed_out = ec == net::error::timed_out;
    // Read until a whole head is here; informational (1xx) heads are skipped.
    while (!ec) {
      head = http1::MessageHead{};
      const http1::Parse p = http1::parse_response_head(c.unread(), kMaxHead, head);
      if (p == http1::Parse::kDone) {
        c.begin += head.size;
        if (head.status >= 100 && head.status < 200) continue;
        break;
      }
      if (p != http1::Parse::kIncomplete) {
        conn_.reset();
        co_return UpstreamFailure::kProtocol;
      }
      co_await read_more(client_.head_deadlines, ec, timed_out);
    }
    if (!ec) break;
    const bool nothing_read = c.end == 0;
    conn_.reset();
    if (timed_out) co_return UpstreamFailure::kTimeout;
    // A write that failed, or a reset with nothing read back: a socket closed before reading
    // answers with a reset, so the server did not take the request.
    const bool not_taken = !written || (ec == net::error::connection_reset && nothing_read);
    if (not_taken && reused) continue;  // the stale-connection race: once more, fresh
    if (not_taken) co_return UpstreamFailure::kNotDelivered;
    if (closed_early(ec)) co_return UpstreamFailure::kClosedBeforeStatus;
    co_return UpstreamFailure::kProtocol;
  }
  if (!conn_) co_return UpstreamFailure::kNotDelivered;

  framing_ = head.framing;
  remaining_ = head.content_length;
  keep_alive_ = head.keep_alive;
  done_ = framing_ == http1::BodyFraming::kNone ||
          (framing_ == http1::BodyFraming::kLength && remaining_ == 0);
  ResponseHead out;
  out.status = head.status;
  out.headers = std::move(head.headers);
  if (framing_ == http1::BodyFraming::kLength)
    out.content_length = static_cast<std::size_t>(remaining_);
  if (framing_ == http1::BodyFraming::kNone) out.content_length = 0;
  co_return out;
}

bool PooledExchange::take_buffered(std::string& out, BodyRead& result) {
  Connection& c = *conn_;
  const std::string_view bytes = c.unread();
  if (bytes.empty()) return false;
  switch (framing_) {
    case http1::BodyFraming::kLength: {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
      out.append(bytes.data(), n);
      c.begin += n;
      remaining_ -= n;
      done_ = remaining_ == 0;
      result = BodyRead::kData;
      return true;
    }
    case http1::BodyFraming::kChunked: {
      const std::size_t from = out.size();
      out.append(bytes);
      c.begin = c.end;
      const auto r = chunked_.decode(out, from);
      if (r == http1::ChunkedDecoder::Result::kBad) {
        conn_.reset();
        result = BodyRead::kError;
        return true;
      }
      if (r == http1::ChunkedDecoder::Result::kDone) {
        done_ = true;
        if (chunked_.trailing() > 0) keep_alive_ = false;  // bytes nobody asked for
      }
      if (out.size() == from && !done_) return false;  // only framing so far
      result = out.size() > from ? BodyRead::kData : BodyRead::kEnd;
      return true;
    }
    case http1::BodyFraming::kUntilClose:
      out.append(bytes);
      c.begin = c.end;
      result = BodyRead::kData;
      return true;
    case http1::BodyFraming::kNone:
      break;
  }
  return false;
}

net::awaitable<BodyRead> PooledExchange::read_body(std::string& out) {
  while (!done_) {
    if (!conn_) co_return BodyRead::kError;
    BodyRead result;
    if (take_buffered(out, result)) co_return result;
    boost::system::error_code ec;
    bool timed_out = false;
    co_await read_more(client_.body_deadlines, ec, timed_out);
    if (!ec) continue;
    if (framing_ == http1::BodyFraming::kUntilClose && ec == net::error::eof) {
      done_ = true;
      keep_alive_ = false;
      break;
    }
    conn_.reset();
    co_return timed_out ? BodyRead::kTimeout : BodyRead::kError;
  }
  co_return BodyRead::kEnd;
}

}  // namespace

std::unique_ptr<UpstreamClient> make_pooled_upstream_client(const net::any_io_executor& ex,
                                                            UpstreamTimeouts timeouts,
                                                            std::size_t max_idle_per_endpoint,
                                                            HostLookup lookup) {
  return std::make_unique<PooledUpstreamClient>(ex, timeouts, max_idle_per_endpoint,
                                                std::move(lookup));
}

}  // namespace infergate::gateway
