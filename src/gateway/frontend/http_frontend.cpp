#include "gateway/frontend/http_frontend.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <cstdio>

#include "gateway/core/error.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace net::experimental::awaitable_operators;

namespace {
constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
}

// The client side of one connection. The response head is serialised by hand and held until
// the first body bytes (or the end), so a whole response leaves in one write, and a stream's
// head leaves with its first event.
struct HttpFrontend::Session final : ClientResponse {
  explicit Session(tcp::socket socket) : stream(std::move(socket)) {
    // Beast reads at most the buffer's free capacity per system call (512 bytes at the least):
    // a roomy buffer reads a 16 KB request body in one or two calls instead of thirty.
    buffer.reserve(32 * 1024);
  }

  net::awaitable<bool> send_head(const ResponseHead& head) override {
    pending_head.clear();
    pending_head += "HTTP/1.1 ";
    pending_head += std::to_string(head.status);
    pending_head += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(head.status));
    pending_head.append(reason.data(), reason.size());
    pending_head += "\r\n";
    for (const auto& [k, v] : head.headers) {
      pending_head += k;
      pending_head += ": ";
      pending_head += v;
      pending_head += "\r\n";
    }
    chunked = !head.content_length;
    if (chunked) {
      pending_head += "Transfer-Encoding: chunked\r\n";
    } else {
      pending_head += "Content-Length: ";
      pending_head += std::to_string(*head.content_length);
      pending_head += "\r\n";
    }
    if (!keep_alive) pending_head += "Connection: close\r\n";
    pending_head += "\r\n";
    head_sent = true;
    co_return true;
  }

  net::awaitable<bool> send_body(std::string_view data) override {
    if (failed) co_return false;
    if (data.empty()) co_return true;
    char size_line[24];
    std::size_t size_len = 0;
    if (chunked) size_len = static_cast<std::size_t>(std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size()));
    const std::array<net::const_buffer, 4> buffers{
        net::buffer(pending_head), net::buffer(size_line, size_len), net::buffer(data),
        net::buffer("\r\n", chunked ? 2 : 0)};
    auto [ec, n] = co_await net::async_write(stream, buffers, kUseTuple);
    pending_head.clear();
    if (ec) failed = true;
    co_return !ec;
  }

  net::awaitable<bool> finish() override {
    if (failed) co_return false;
    const std::array<net::const_buffer, 2> buffers{net::buffer(pending_head),
                                                   net::buffer("0\r\n\r\n", chunked ? 5 : 0)};
    if (buffer_size(buffers) > 0) {
      auto [ec, n] = co_await net::async_write(stream, buffers, kUseTuple);
      pending_head.clear();
      if (ec) failed = true;
    }
    finished = !failed;
    co_return finished;
  }

  bool started() const override { return head_sent; }

  void reset_for_next() {
    head_sent = chunked = finished = failed = false;
    pending_head.clear();
  }

  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::string pending_head;
  bool keep_alive = true;
  bool busy = false;
  bool head_sent = false;
  bool chunked = false;
  bool finished = false;
  bool failed = false;
};

tcp::acceptor make_acceptor(const net::any_io_executor& ex, const std::string& address, bool reuse_port) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen address must be host:port: " + address);
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

HttpFrontend::HttpFrontend(tcp::acceptor acceptor, Handler handler, FrontendLimits limits)
    : acceptor_(std::move(acceptor)), handler_(std::move(handler)), limits_(limits) {}

std::uint16_t HttpFrontend::port() const { return acceptor_.local_endpoint().port(); }

std::size_t HttpFrontend::busy_connections() const {
  std::size_t n = 0;
  for (const Session* s : sessions_) n += s->busy ? 1 : 0;
  return n;
}

void HttpFrontend::drain() {
  draining_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (Session* s : sessions_)
    if (!s->busy) s->stream.socket().close(ec);
}

net::awaitable<void> HttpFrontend::accept_loop() {
  net::steady_timer backoff(co_await net::this_coro::executor);
  while (!draining_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
    if (ec) {
      if (draining_ || ec == net::error::operation_aborted) co_return;
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space) {
        // Out of file descriptors: back off instead of spinning, keep serving what is open.
        backoff.expires_after(std::chrono::milliseconds(50));
        co_await backoff.async_wait(kUseTuple);
      }
      continue;
    }
    socket.set_option(tcp::no_delay(true));
    net::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), net::detached);
  }
}

namespace {

// Completes only when the client closes the connection; bytes of a pipelined request stay in
// the buffer for the next read.
net::awaitable<void> watch_for_close(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                     std::size_t limit) {
  for (;;) {
    auto [ec, n] = co_await stream.socket().async_read_some(buffer.prepare(4096), kUseTuple);
    if (ec) co_return;
    buffer.commit(n);
    if (buffer.size() > limit) {
      net::steady_timer never(co_await net::this_coro::executor, net::steady_timer::time_point::max());
      co_await never.async_wait(kUseTuple);
    }
  }
}

ResponseHead error_head(const GatewayError& e, std::string& body) {
  body = to_response_body(e);
  ResponseHead head;
  head.status = e.status;
  head.headers.emplace_back("content-type", "application/json");
  head.content_length = body.size();
  return head;
}

}  // namespace

net::awaitable<void> HttpFrontend::serve(tcp::socket socket) {
  Session session(std::move(socket));
  sessions_.push_back(&session);
  const auto unregister = [this, &session] { sessions_.remove(&session); };
  struct Guard {
    decltype(unregister)& f;
    ~Guard() { f(); }
  } guard{unregister};

  bool first = true;
  while (!draining_) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser.body_limit(limits_.max_body_bytes);
    // Wait for the next request (keep-alive idle time), then read it whole within its timeout.
    session.stream.expires_after(first ? limits_.request_read_timeout : limits_.idle_timeout);
    first = false;
    auto [hec, hn] = co_await http::async_read_header(session.stream, session.buffer, parser, kUseTuple);
    beast::error_code ec = hec;
    if (!ec) {
      session.busy = true;
      session.stream.expires_after(limits_.request_read_timeout);
      auto [bec, bn] = co_await http::async_read(session.stream, session.buffer, parser, kUseTuple);
      ec = bec;
    }
    if (ec) {
      std::optional<GatewayError> error;
      if (ec == http::error::body_limit)
        error = GatewayError{413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes",
                             {}, ErrorSource::kClient, false};
      else if (ec == http::error::header_limit)
        error = GatewayError{431, "request headers exceed " + std::to_string(limits_.max_header_bytes) + " bytes",
                             {}, ErrorSource::kClient, false};
      else if (ec == beast::error::timeout && session.busy)
        error = GatewayError{408, "timed out reading the request", {}, ErrorSource::kClient, false};
      else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message)
        error = GatewayError::bad_request("malformed HTTP request: " + ec.message());
      if (error) {
        session.keep_alive = false;
        session.stream.expires_after(std::chrono::seconds(5));
        std::string body;
        const ResponseHead head = error_head(*error, body);
        if (co_await session.send_head(head)) co_await session.send_body(body);
      }
      break;
    }
    session.stream.expires_never();

    const auto& msg = parser.get();
    ClientRequest request;
    request.method = std::string(msg.method_string());
    request.target = std::string(msg.target());
    request.headers.reserve(16);
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    session.keep_alive = msg.keep_alive() && !draining_;
    request.body = std::move(parser.release().body());
    session.reset_for_next();

    auto outcome = co_await (handler_(request, session) ||
                             watch_for_close(session.stream, session.buffer,
                                             limits_.max_body_bytes + limits_.max_header_bytes));
    session.busy = false;
    if (outcome.index() == 1) break;            // the client went away: the handler was cancelled
    if (!session.finished || !session.keep_alive) break;  // a body cut short cannot be reused
  }
  boost::system::error_code ignored;
  session.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  session.stream.socket().close(ignored);
}

}  // namespace infergate::gateway
