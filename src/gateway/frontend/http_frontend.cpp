#include "gateway/frontend/http_frontend.hpp"

#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "gateway/error/request_error.hpp"
#include "gateway/frontend/connection_balancer.hpp"
#include "gateway/frontend/connection_limit.hpp"
#include "gateway/frontend/session.hpp"
#include "gateway/http/http1.hpp"
#include "gateway/http/tcp_keepalive.hpp"
#include "tls/server_credentials.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}
}  // namespace

struct HttpFrontend::Deadlines {
  Deadlines(const net::any_io_executor& ex, const FrontendLimits& limits)
      : request_read(ex, limits.request_read_timeout),
        idle(ex, limits.idle_timeout),
        error_linger(ex, std::chrono::seconds(2)),
        write(ex, limits.write_timeout),
        client_watch(ex, limits.client_watch_after) {}
  DeadlineQueue request_read;  // a request that has begun, headers and body
  DeadlineQueue idle;          // keep-alive wait for the next request
  DeadlineQueue error_linger;  // reading what a refused request still sends, before closing
  DeadlineQueue write;         // the client taking a write of the response
  DeadlineQueue client_watch;  // a request's time before its client is watched
};

tcp::acceptor make_acceptor(const net::any_io_executor& ex, const std::string& address,
                            bool reuse_port) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("listen address must be host:port: " + address);
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const tcp::endpoint ep(net::ip::make_address(host.empty() ? "0.0.0.0" : host),
                         static_cast<unsigned short>(std::stoi(address.substr(colon + 1))));
  tcp::acceptor acceptor(ex);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  if (reuse_port) {
    using reuse_port_option = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    acceptor.set_option(reuse_port_option(true));
  }
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
  return acceptor;
}

HttpFrontend::HttpFrontend(tcp::acceptor acceptor, Handler handler, FrontendLimits limits,
                           ConnectionLimit* connections, const tls::ServerCredentials* tls)
    : acceptor_(std::move(acceptor)),
      handler_(std::move(handler)),
      limits_(limits),
      deadlines_(std::make_unique<Deadlines>(acceptor_.get_executor(), limits_)),
      connections_(connections),
      tls_(tls),
      slot_wake_(std::make_unique<net::steady_timer>(acceptor_.get_executor())) {}

HttpFrontend::~HttpFrontend() = default;

std::uint16_t HttpFrontend::port() const { return acceptor_.local_endpoint().port(); }

void HttpFrontend::drain() {
  draining_ = true;
  if (balancer_) balancer_->stop_placing(*this);
  boost::system::error_code ec;
  acceptor_.close(ec);
  slot_wake_->cancel();
  for (Session* s : sessions_)
    if (!s->busy) s->socket.close(ec);
}

void HttpFrontend::close_all() {
  drain();
  boost::system::error_code ec;
  for (Session* s : sessions_) {
    s->socket.close(ec);
    if (!s->handler_done && !s->client_gone) {  // the request running is cancelled
      s->client_gone = true;
      s->cancel_request.emit(net::cancellation_type::all);
    }
  }
  deadlines_->request_read.stop();
  deadlines_->idle.stop();
  deadlines_->error_linger.stop();
  deadlines_->write.stop();
  deadlines_->client_watch.stop();
}

void HttpFrontend::set_busy(Session& s, bool busy) {
  if (s.busy == busy) return;
  s.busy = busy;
  if (busy)
    busy_count_.fetch_add(1, std::memory_order_relaxed);
  else
    busy_count_.fetch_sub(1, std::memory_order_relaxed);
}

net::awaitable<bool> HttpFrontend::wait_for_connection_slot() {
  if (!connections_) co_return !draining_;
  while (!draining_) {
    // Woken from the thread where a connection closed: the wake is posted to this one.
    const auto got =
        connections_->acquire_or_wait([ex = acceptor_.get_executor(), timer = slot_wake_.get()] {
          net::post(ex, [timer] { timer->cancel(); });
        });
    if (got.ok) co_return true;
    slot_wake_->expires_at(net::steady_timer::time_point::max());
    co_await slot_wake_->async_wait(kUseTuple);
    connections_->forget(got.wait_id);
  }
  co_return false;
}

net::awaitable<void> HttpFrontend::accept_loop() {
  net::steady_timer backoff(co_await net::this_coro::executor);
  while (co_await wait_for_connection_slot()) {
    auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
    if (ec) {
      if (connections_) connections_->release();
      if (draining_ || ec == net::error::operation_aborted) co_return;
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space) {
        // Out of file descriptors: back off instead of spinning, keep serving what is open.
        backoff.expires_after(std::chrono::milliseconds(50));
        co_await backoff.async_wait(kUseTuple);
      }
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    set_keepalive(socket);
    socket.non_blocking(true, ignored);
    if (balancer_) {
      if (HttpFrontend& target = balancer_->place(*this); &target != this) {
        target.adopt(std::move(socket));
        continue;
      }
    }
    net::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), net::detached);
  }
}

void HttpFrontend::balance_with(ConnectionBalancer& balancer) {
  balancer_ = &balancer;
  balancer.add(*this);
}

void HttpFrontend::adopt(tcp::socket socket) {
  // The descriptor leaves the accepting worker's reactor here, and joins this one's on its
  // thread. Closed if it never gets there (the workers stopping).
  struct Descriptor {
    int fd;
    explicit Descriptor(int f) : fd(f) {}
    Descriptor(Descriptor&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Descriptor& operator=(Descriptor&&) = delete;
    ~Descriptor() {
      if (fd >= 0) ::close(fd);
    }
  };
  boost::system::error_code ec;
  const tcp::endpoint local = socket.local_endpoint(ec);
  Descriptor descriptor(ec ? -1 : socket.release(ec));
  if (ec) descriptor.fd = -1;
  net::post(acceptor_.get_executor(),
            [this, protocol = local.protocol(), descriptor = std::move(descriptor)]() mutable {
              tcp::socket adopted(acceptor_.get_executor());
              if (descriptor.fd >= 0 && !draining_) {
                boost::system::error_code assign_ec;
                adopted.assign(protocol, descriptor.fd, assign_ec);
                if (!assign_ec) descriptor.fd = -1;  // the socket owns it now
                // As accept_loop() set it: Asio forgets that with the descriptor.
                adopted.non_blocking(true, assign_ec);
              }
              if (!adopted.is_open()) {
                // Turned away: what serve() would have given back at its end.
                if (balancer_) balancer_->closed(*this);
                if (connections_) connections_->release();
                return;
              }
              net::co_spawn(acceptor_.get_executor(), serve(std::move(adopted)), net::detached);
            });
}

net::awaitable<bool> HttpFrontend::Session::send_head(const ResponseHead& head) {
  pending_head.clear();
  pending_head += "HTTP/1.1 ";
  pending_head += std::to_string(head.status);
  pending_head += ' ';
  pending_head += reason_phrase(head.status);
  pending_head += "\r\n";
  for (const auto& [k, v] : head.headers) {
    pending_head += k;
    pending_head += ": ";
    pending_head += v;
    pending_head += "\r\n";
  }
  // A body of unknown length is chunked for HTTP/1.1; an HTTP/1.0 client knows no chunks, so
  // its body ends where the connection does.
  chunked = !head.content_length && client_http11;
  if (chunked) {
    pending_head += "Transfer-Encoding: chunked\r\n";
  } else if (head.content_length) {
    pending_head += "Content-Length: ";
    pending_head += std::to_string(*head.content_length);
    pending_head += "\r\n";
  } else {
    keep_alive = false;
  }
  if (!keep_alive) pending_head += "Connection: close\r\n";
  pending_head += "\r\n";
  head_sent = true;
  co_return true;
}

net::awaitable<bool> HttpFrontend::Session::send_body(std::string_view data) {
  if (failed) co_return false;
  if (data.empty()) co_return true;
  char size_line[24];
  std::size_t size_len = 0;
  if (chunked)
    size_len = static_cast<std::size_t>(
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size()));
  // (A local: no braced temporary beside a co_await, scripts/coroutine_temporaries.py.)
  const std::array<net::const_buffer, 4> pieces{
      net::buffer(pending_head), net::buffer(size_line, size_len),
      net::const_buffer(data.data(), data.size()), net::const_buffer("\r\n", chunked ? 2 : 0)};
  const bool ok = co_await write_all(pieces);
  pending_head.clear();
  failed = !ok;
  co_return ok;
}

// The last body bytes and the end of the body (a chunked body's last chunk) in one write.
net::awaitable<bool> HttpFrontend::Session::send_last(std::string_view data) {
  if (failed) co_return false;
  char size_line[24];
  std::size_t size_len = 0;
  if (chunked && !data.empty())
    size_len = static_cast<std::size_t>(
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size()));
  const std::array<net::const_buffer, 4> pieces{
      net::buffer(pending_head), net::buffer(size_line, size_len),
      net::const_buffer(data.data(), data.size()),
      net::const_buffer(data.empty() ? "0\r\n\r\n" : "\r\n0\r\n\r\n",
                        chunked ? (data.empty() ? 5 : 7) : 0)};
  const bool ok = co_await write_all(pieces);
  pending_head.clear();
  failed = !ok;
  finished = ok;
  co_return ok;
}

net::awaitable<bool> HttpFrontend::Session::finish() {
  if (failed) co_return false;
  if (!pending_head.empty() || chunked) {
    const std::array<net::const_buffer, 2> pieces{net::buffer(pending_head),
                                                  net::const_buffer("0\r\n\r\n", chunked ? 5 : 0)};
    const bool ok = co_await write_all(pieces);
    pending_head.clear();
    failed = !ok;
  }
  finished = !failed;
  co_return finished;
}

namespace {

// What the client's socket showed while a request was served: more bytes (pipelined), an end
// of file (the client shut down its sending side, or closed), or a reset or error.
enum class ClientSignal { kBytes, kEndOfFile, kGone };

ResponseHead error_head(const RequestError& e, std::string& body) {
  body = error_response_body(e);
  ResponseHead head;
  head.status = e.status;
  head.headers.emplace_back("content-type", "application/json");
  head.content_length = body.size();
  return head;
}

}  // namespace

// Reads one request into the session: its head, then its body (kept in the input buffer when
// its length is known, decoded into `chunked_body` when chunked). Returns the error to answer
// with, or nothing; sets `close` when the connection just ends (the client left, or idled out).
net::awaitable<std::optional<RequestError>> HttpFrontend::read_request(Session& s, bool first,
                                                                       ClientRequest& request,
                                                                       http1::MessageHead& head,
                                                                       bool& close) {
  boost::system::error_code ec;
  const auto timed_out = [&] { return RequestError::client(408, "timed out reading the request"); };
  for (;;) {
    // From its first byte a request is answered even when draining begins, and has the read
    // timeout to arrive whole, however its bytes trickle in.
    if (!s.in.unread().empty() && !s.busy) {
      set_busy(s, true);
      s.request_deadline = std::chrono::steady_clock::now() + limits_.request_read_timeout;
    }
    head = http1::MessageHead{};
    const http1::Parse p = http1::parse_request_head(s.in.unread(), limits_.max_header_bytes, head);
    if (p == http1::Parse::kDone) break;
    if (p == http1::Parse::kBad) co_return RequestError::bad_request("malformed HTTP request");
    if (p == http1::Parse::kTooLarge)
      co_return RequestError::client(
          431, "request headers exceed " + std::to_string(limits_.max_header_bytes) + " bytes");
    bool read = false;
    if (s.busy)
      read = co_await s.read_more(limits_.max_header_bytes, deadlines_->request_read, ec,
                                  s.request_deadline);
    else
      read = co_await s.read_more(limits_.max_header_bytes,
                                  first ? deadlines_->request_read : deadlines_->idle, ec);
    if (!read) {
      // A request begun and not finished in time is answered; a connection that sent nothing
      // (or left) just closes.
      if (s.timed_out && s.busy) co_return timed_out();
      close = true;
      co_return std::nullopt;
    }
  }
  set_busy(s, true);
  // Copied now: reading the body may move the buffer the head was parsed in.
  request.method = std::string(head.method);
  request.target = std::string(head.target);
  request.headers = std::move(head.headers);
  const auto too_large = [&] {
    return RequestError::client(
        413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
  };
  if (head.expect_continue && head.framing != http1::BodyFraming::kNone &&
      s.in.unread().size() == head.size) {
    const std::array continue_line{net::const_buffer("HTTP/1.1 100 Continue\r\n\r\n", 25)};
    if (!co_await s.write_all(continue_line)) {
      close = true;
      co_return std::nullopt;
    }
  }
  if (head.framing == http1::BodyFraming::kChunked) {
    s.chunked_body.clear();
    http1::ChunkedDecoder decoder;
    s.in.consume(head.size);
    for (;;) {
      const std::string_view piece = s.in.unread();
      const std::size_t from = s.chunked_body.size();
      s.chunked_body.append(piece);
      const auto r = decoder.decode(s.chunked_body, from);
      if (r == http1::ChunkedDecoder::Result::kBad)
        co_return RequestError::bad_request("malformed chunked body");
      s.in.consume(piece.size() - decoder.trailing());
      if (s.chunked_body.size() > limits_.max_body_bytes) co_return too_large();
      if (r == http1::ChunkedDecoder::Result::kDone) break;
      if (!co_await s.read_more(limits_.max_body_bytes, deadlines_->request_read, ec,
                                s.request_deadline)) {
        if (s.timed_out) co_return timed_out();
        close = true;
        co_return std::nullopt;
      }
    }
    request.body = s.chunked_body;
    s.request_bytes = 0;
    co_return std::nullopt;
  }
  const std::uint64_t length =
      head.framing == http1::BodyFraming::kLength ? head.content_length : 0;
  if (length > limits_.max_body_bytes) co_return too_large();
  const std::size_t whole = head.size + static_cast<std::size_t>(length);
  while (s.in.unread().size() < whole) {
    if (!co_await s.read_more(whole, deadlines_->request_read, ec, s.request_deadline)) {
      if (s.timed_out) co_return timed_out();
      close = true;
      co_return std::nullopt;
    }
  }
  request.body = s.in.unread().substr(head.size, static_cast<std::size_t>(length));
  // The buffer goes on past the body: the JSON parser may read there as its padding (what the
  // disconnect watch writes there meanwhile changes no parsed value).
  const std::span<char> room = s.in.room();
  request.body_readable = static_cast<std::size_t>(room.data() + room.size() - request.body.data());
  s.request_bytes = whole;
  co_return std::nullopt;
}

net::awaitable<void> HttpFrontend::serve(tcp::socket socket) {
  Session session(std::move(socket), deadlines_->write);
  sessions_.push_back(&session);
  boost::system::error_code peer_ec;
  const tcp::endpoint peer = session.socket.remote_endpoint(peer_ec);
  if (!peer_ec) session.peer = peer.address().to_string();
  const auto unregister = [this, &session] {
    set_busy(session, false);
    sessions_.remove(&session);
    if (connections_) connections_->release();
    if (balancer_) balancer_->closed(*this);
  };
  struct Guard {
    decltype(unregister)& f;
    ~Guard() { f(); }
  } guard{unregister};

  if (tls_ && !co_await handshake(session)) co_return;
  // The requests run in a coroutine of their own, once per connection, so that a client found
  // gone can cancel the one running (and with it the upstream request) through its slot.
  const net::any_io_executor executor = session.socket.get_executor();
  net::steady_timer wake(executor);  // wakes this coroutine, or serve_requests, when the watch ends
  session.wake = &wake;
  co_await net::co_spawn(executor, serve_requests(session),
                         net::bind_cancellation_slot(session.cancel_request.slot(), kUseTuple));
  // serve_requests waits for the watch it started, unless it ended by an exception: the
  // session must outlive the watch either way.
  while (session.watching) {
    boost::system::error_code ignored;
    session.socket.cancel(ignored);
    session.waiting_for_watch = true;
    wake.expires_at(net::steady_timer::time_point::max());
    co_await wake.async_wait(kUseTuple);
  }
  session.waiting_for_watch = false;
  session.wake = nullptr;
  boost::system::error_code ignored;
  if (session.tls && session.socket.is_open()) {
    // close_notify, so that a client reading to the end of the connection (an HTTP/1.0 body)
    // knows the end is real; the wait for the client's own is bounded.
    deadlines_->error_linger.arm(session.deadline, session.socket);
    co_await session.tls->async_shutdown(kUseTuple);
    deadlines_->error_linger.disarm(session.deadline);
  }
  session.socket.shutdown(tcp::socket::shutdown_send, ignored);
  session.socket.close(ignored);
}

net::awaitable<void> HttpFrontend::serve_requests(Session& session) {
  net::steady_timer& wake = *session.wake;
  session.watch_start.frontend = this;
  session.watch_start.session = &session;
  session.watch_start.on_expiry = [](DeadlineQueue::Entry& e) {
    start_watch(*static_cast<Session::WatchStart&>(e).session);
  };
  bool first = true;
  while (!draining_) {
    http1::MessageHead head;
    ClientRequest request;
    bool close = false;
    const std::optional<RequestError> error =
        co_await read_request(session, first, request, head, close);
    first = false;
    if (close) break;
    if (error) {
      session.keep_alive = false;
      session.reset_for_next();
      std::string error_body;
      const ResponseHead response = error_head(*error, error_body);
      if (co_await session.send_head(response) && co_await session.send_body(error_body)) {
        // Read (and drop) what the client is still sending for a while, so that closing with
        // unread bytes does not reset the connection before it has read the answer. (Over TLS
        // the close below reads until the client's close_notify, as long.)
        boost::system::error_code ignored;
        if (!session.tls) session.socket.shutdown(tcp::socket::shutdown_send, ignored);
        for (std::size_t dropped = 0; dropped < (1u << 20);) {
          session.in.clear();
          boost::system::error_code ec;
          if (session.tls || !co_await session.read_more(1, deadlines_->error_linger, ec)) break;
          dropped += session.in.unread().size();
        }
      }
      break;
    }

    session.keep_alive = head.keep_alive && !draining_;
    session.client_http11 = head.http11;
    session.reset_for_next();
    request.peer = session.peer;

    // The handler runs here, in this coroutine: no coroutine of its own to spawn per request.
    // A request still running after the watch delay gets its client watched meanwhile (see
    // watch_client); one that ends sooner, most of them, never waits in the reactor for it.
    session.handler_done = false;
    deadlines_->client_watch.arm(session.watch_start, session.socket);
    try {
      co_await handler_(request, session);
    } catch (...) {
      // Cancelled (the client is gone, or every connection closes), or a failure of its own:
      // the request ends either way, and so does the connection (it did not finish).
    }
    session.handler_done = true;
    deadlines_->client_watch.disarm(session.watch_start);
    if (session.client_gone) {
      // The cancellation was for the request: this loop still waits below.
      co_await net::this_coro::reset_cancellation_state();
    }
    if (session.watching) {
      boost::system::error_code ignored;
      session.socket.cancel(ignored);  // ends the watch's wait
      session.waiting_for_watch = true;
      while (session.watching) {
        wake.expires_at(net::steady_timer::time_point::max());
        co_await wake.async_wait(kUseTuple);
      }
      session.waiting_for_watch = false;
    }
    set_busy(session, false);
    session.in.consume(session.request_bytes);
    if (session.client_gone) break;  // the handler was cancelled
    // A body cut short cannot be reused; a client that half-closed sends nothing more.
    if (!session.finished || !session.keep_alive || session.client_eof) break;
  }
}

void HttpFrontend::start_watch(Session& s) {
  if (s.handler_done || s.watching) return;
  s.watching = true;
  HttpFrontend& frontend = *s.watch_start.frontend;
  net::co_spawn(s.socket.get_executor(), frontend.watch_client(s),
                [&s](const std::exception_ptr&, bool gone) {
                  s.watching = false;
                  if (gone && !s.client_gone) {
                    s.client_gone = true;
                    if (!s.handler_done) s.cancel_request.emit(net::cancellation_type::all);
                  }
                  if (s.waiting_for_watch) s.wake->cancel();
                });
}

// The watch waits for the client socket to turn readable without reading from it: pipelined
// bytes stay for the next request, and a body of any size leaves nothing to make room for. A
// reset or a socket error means the client is gone. An end of file may be a half-close, legal
// after a request (the request goes on and the connection closes after its answer), or a
// close: the interim-response probe, or else the next write, tells them apart by the reset a
// closed socket answers with. The handler's end cancels the wait.
net::awaitable<bool> HttpFrontend::watch_client(Session& session) {
  if (session.tls) {
    const bool gone = co_await watch_tls_client(session);  // (GCC 12: no `co_return co_await`)
    co_return gone;
  }
  while (!session.handler_done) {
    ClientSignal signal = ClientSignal::kGone;
    if (session.client_eof) {
      // After an end of file only a reset is left to see: wait for an error, not for input.
      co_await session.socket.async_wait(tcp::socket::wait_error, kUseTuple);
    } else {
      // A peek (a read that takes no byte) rather than a wait for readability, which Asio
      // re-arms with an epoll_ctl each time; it needs no raw recv to tell bytes from an end of
      // file.
      char probe = 0;
      auto [ec, n] = co_await session.socket.async_receive(net::buffer(&probe, 1),
                                                           tcp::socket::message_peek, kUseTuple);
      signal = !ec && n > 0            ? ClientSignal::kBytes
               : ec == net::error::eof ? ClientSignal::kEndOfFile
                                       : ClientSignal::kGone;
    }
    if (session.handler_done) break;
    if (signal == ClientSignal::kBytes) break;  // pipelined: left for the next request
    if (signal == ClientSignal::kEndOfFile) {
      session.client_eof = true;
      // Half-closed, or closed? Ask with an interim response while the answer has not begun
      // (HTTP/1.1 only); else a closed client shows when the answer is written.
      const bool may_probe = session.client_http11 && !session.wrote_any;
      if (!may_probe || session.probe_with_interim_response()) continue;
    }
    co_return true;
  }
  co_return false;
}

net::awaitable<bool> HttpFrontend::handshake(Session& s) {
  ssl_st* ssl = tls::new_server_connection(tls_->current());
  if (!ssl) co_return false;
  s.tls = std::make_unique<Session::TlsStream>(s.socket, ssl);  // owns `ssl` now
  deadlines_->request_read.arm(s.deadline, s.socket);
  auto [ec] = co_await s.tls->async_handshake(net::ssl::stream_base::server, kUseTuple);
  deadlines_->request_read.disarm(s.deadline);
  if (ec) handshake_failures_.fetch_add(1, std::memory_order_relaxed);
  co_return !ec;
}

// Over TLS the socket's bytes are records: whether they carry the next request or the client's
// close_notify shows only once decrypted, so the watch reads them, into the input buffer after
// the current request (the next request's bytes wait there). An end of stream is the client
// leaving: HTTP clients do not half-close TLS connections.
net::awaitable<bool> HttpFrontend::watch_tls_client(Session& s) {
  while (!s.handler_done) {
    const std::span<char> room = s.in.room();
    if (room.empty()) {  // a full buffer of pipelined bytes: only a reset is left to see
      co_await s.socket.async_wait(tcp::socket::wait_error, kUseTuple);
      co_return !s.handler_done;
    }
    auto [ec, n] = co_await s.read_some(room);
    s.in.commit(n);
    if (n > 0 || s.handler_done) break;
    co_return true;
  }
  co_return false;
}

}  // namespace infergate::gateway
