#include "support/http_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "support/sse_parser.hpp"

namespace infergate::testing {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct HttpClient::Impl {
  std::string host;
  unsigned short port = 0;
  net::io_context io;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  int opened = 0;

  void ensure_connected() {
    if (stream && stream->socket().is_open()) return;
    stream = std::make_unique<beast::tcp_stream>(io);
    buffer.clear();
    const tcp::endpoint server(net::ip::make_address(host), port);
    // Beast's expires_after bounds only its asynchronous calls: these blocking ones are bounded
    // by the socket's own timeouts (connect, each send and each receive fail after 30 s).
    stream->socket().open(server.protocol());
    const timeval limit{30, 0};
    ::setsockopt(stream->socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(stream->socket().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    stream->socket().connect(server);
    stream->socket().set_option(tcp::no_delay(true));
    ++opened;
  }

  void send(http::verb verb, const std::string& target, const std::string& body,
            const std::map<std::string, std::string>& headers) {
    ensure_connected();
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host);
    if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(*stream, req);
  }

  HttpResponse exchange(http::verb verb, const std::string& target, const std::string& body,
                        const std::map<std::string, std::string>& headers,
                        const std::function<bool(const std::string&)>* on_piece) {
    const auto start = std::chrono::steady_clock::now();
    send(verb, target, body, headers);
    return read(start, on_piece);
  }

  HttpResponse read(std::chrono::steady_clock::time_point start,
                    const std::function<bool(const std::string&)>* on_piece) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ULL << 30);
    HttpResponse out;
    beast::error_code ec;
    std::size_t seen = 0;
    http::read_header(*stream, buffer, parser, ec);
    if (ec) throw beast::system_error(ec);
    while (!parser.is_done()) {
      http::read_some(*stream, buffer, parser, ec);
      const std::string& b = parser.get().body();
      if (b.size() > seen) {
        std::string piece = b.substr(seen);
        seen = b.size();
        out.pieces.emplace_back(std::chrono::steady_clock::now() - start, piece);
        if (on_piece && *on_piece && !(*on_piece)(piece)) {
          close();
          out.complete = false;
          break;
        }
      }
      if (ec) {
        out.complete = false;
        close();
        break;
      }
    }
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      out.headers[name] = std::string(f.value());
    }
    out.body = res.body();
    if (out.complete && !res.keep_alive()) close();
    return out;
  }

  void close() {
    if (!stream) return;
    beast::error_code ec;
    stream->socket().shutdown(tcp::socket::shutdown_both, ec);
    stream->socket().close(ec);
    stream.reset();
  }
};

HttpClient::HttpClient(std::string host, unsigned short port) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}
HttpClient::~HttpClient() = default;

HttpResponse HttpClient::get(const std::string& target) {
  return impl_->exchange(http::verb::get, target, "", {}, nullptr);
}
HttpResponse HttpClient::get(const std::string& target,
                             const std::map<std::string, std::string>& headers) {
  return impl_->exchange(http::verb::get, target, "", headers, nullptr);
}
HttpResponse HttpClient::post(const std::string& target, const std::string& body,
                              const std::map<std::string, std::string>& headers) {
  return impl_->exchange(http::verb::post, target, body, headers, nullptr);
}
HttpResponse HttpClient::post_streaming(const std::string& target, const std::string& body,
                                        const std::function<bool(const std::string&)>& on_piece,
                                        const std::map<std::string, std::string>& headers) {
  return impl_->exchange(http::verb::post, target, body, headers, &on_piece);
}
void HttpClient::send_only(const std::string& target, const std::string& body) {
  impl_->send(http::verb::post, target, body, {});
}
HttpResponse HttpClient::read_response() {
  return impl_->read(std::chrono::steady_clock::now(), nullptr);
}
void HttpClient::close() { impl_->close(); }
int HttpClient::connections_opened() const { return impl_->opened; }

std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  SseParser parser;
  const auto collect = [&](const SseEvent& e) { out.emplace_back(e.data); };
  parser.feed(body, collect);
  parser.finish(collect);
  return out;
}

}  // namespace infergate::testing
