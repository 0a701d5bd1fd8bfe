// The standalone front end: HTTP/1.1 with keep-alive on Asio sockets, plain or TLS (the
// listener's certificate from tls::ServerCredentials, taken afresh for each new connection, so a
// reloaded certificate serves new connections while open ones keep theirs), one coroutine per
// client connection. It parses each request in its connection's buffer (http1.hpp), hands it to
// a handler as a ClientRequest whose body is a view of that buffer, with a ClientResponse that
// writes to the socket, and cancels the handler the moment the client disconnects (so the
// upstream request is cancelled too).
//
// Thread-safety: a HttpFrontend lives on one io_context (one worker thread).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>

#include "gateway/error/request_error.hpp"
#include "gateway/http/client_response.hpp"

namespace infergate::tls {
class ServerCredentials;
}

namespace infergate::gateway {

namespace http1 {
struct MessageHead;
}

struct FrontendLimits {
  std::size_t max_body_bytes = 32 << 20;
  std::size_t max_header_bytes = 64 << 10;
  // From a request's first byte to its last (head and body), however the bytes trickle in.
  std::chrono::milliseconds request_read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive wait for the next request
  // Longest wait for the client to take one write of the response: a client that stops
  // reading is cut off, and its upstream request cancelled.
  std::chrono::milliseconds write_timeout{30000};
  // How long a request runs before the front end starts watching its client for a reset or a
  // close (which cancels the request): a request that ends sooner costs no watch at all.
  std::chrono::milliseconds client_watch_after{20};
};

class ConnectionBalancer;
class ConnectionLimit;

using Handler = std::function<boost::asio::awaitable<void>(const ClientRequest&, ClientResponse&)>;

class HttpFrontend {
 public:
  // `connections` (shared by the workers' front ends, may be null: no limit) bounds the client
  // connections open at once. With `tls` (not null; it outlives the front end) every
  // connection begins with a TLS handshake, bounded by the request read timeout.
  HttpFrontend(boost::asio::ip::tcp::acceptor acceptor, Handler handler, FrontendLimits limits,
               ConnectionLimit* connections = nullptr, const tls::ServerCredentials* tls = nullptr);
  ~HttpFrontend();
  // Before accept_loop(): the connections this front end accepts are spread over the balancer's
  // front ends (it outlives this one; connection_balancer.hpp).
  void balance_with(ConnectionBalancer& balancer);
  // Accepts until stop_accepting(); run with co_spawn on the acceptor's executor.
  boost::asio::awaitable<void> accept_loop();
  // From another front end's thread: serves a connection it accepted and placed here. The
  // connection holds its slot of the connection limit and counts as open here already.
  void adopt(boost::asio::ip::tcp::socket socket);
  // Stops accepting; connections with no request begun close now, the others after their
  // current response.
  void drain();
  // Closes every connection now (a request still running is cancelled) and stops the timers,
  // so every coroutine of this front end ends and its io_context runs out of work. On the
  // io_context's thread (post it there): the cancellation runs inline only there.
  void close_all();
  // Connections with a request begun (from its first byte to the end of its response). Any
  // thread may read it.
  std::size_t busy_connections() const { return busy_count_.load(std::memory_order_relaxed); }
  std::uint16_t port() const;
  // TLS handshakes that failed (a client that does not trust the certificate, plain HTTP on
  // the TLS port, a scanner). Any thread may read it.
  std::uint64_t tls_handshake_failures() const {
    return handshake_failures_.load(std::memory_order_relaxed);
  }

  struct Session;  // one client connection (session.hpp)

 private:
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  // The connection's requests, one after another, each handler awaited in place; a client
  // found gone cancels this coroutine (the session's cancel_request).
  boost::asio::awaitable<void> serve_requests(Session& s);
  // Starts watching the client of a request that has run for the watch delay.
  static void start_watch(Session& s);
  // While the handler runs: waits for the client to go away or to send the next request's
  // first bytes, until the handler ends. True when the client is gone.
  boost::asio::awaitable<bool> watch_client(Session& s);
  // The TLS handshake of a new connection; false when it failed (the connection just closes).
  boost::asio::awaitable<bool> handshake(Session& s);
  // watch_client() over TLS.
  boost::asio::awaitable<bool> watch_tls_client(Session& s);
  // Waits until the connection limit lets one more in; false when draining.
  boost::asio::awaitable<bool> wait_for_connection_slot();
  boost::asio::awaitable<std::optional<RequestError>> read_request(Session& s, bool first,
                                                                   ClientRequest& request,
                                                                   http1::MessageHead& head,
                                                                   bool& close);

  struct Deadlines;  // bounds on request reads and keep-alive waits
  void set_busy(Session& s, bool busy);

  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
  FrontendLimits limits_;
  std::unique_ptr<Deadlines> deadlines_;
  ConnectionLimit* connections_;
  ConnectionBalancer* balancer_ = nullptr;
  const tls::ServerCredentials* tls_;
  std::atomic<std::uint64_t> handshake_failures_{0};
  std::unique_ptr<boost::asio::steady_timer> slot_wake_;  // wakes accept_loop at the limit
  bool draining_ = false;
  std::list<Session*> sessions_;
  std::atomic<std::size_t> busy_count_{0};
};

// Opens, binds and listens ("host:port"); with reuse_port several workers share one port.
boost::asio::ip::tcp::acceptor make_acceptor(const boost::asio::any_io_executor& ex,
                                             const std::string& address, bool reuse_port);

}  // namespace infergate::gateway
