#include "kube/https_transport.hpp"

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <mutex>

#include "common/small_file.hpp"
#include "tls/tls_context.hpp"

namespace infergate::kube {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = net::ssl::stream<tcp::socket>;

constexpr std::size_t kMaxListBytes = std::size_t{256} << 20;  // one page of a list
constexpr std::size_t kMaxEventBytes = std::size_t{16} << 20;  // one watch event

class HttpsTransport final : public ApiTransport {
 public:
  HttpsTransport(ClusterAccess access, tls::ContextPtr context, std::string host, std::string port)
      : access_(std::move(access)),
        context_(std::move(context)),
        host_(std::move(host)),
        port_(std::move(port)) {}

  ApiResponse get(const std::string& target, std::chrono::milliseconds timeout) override {
    return send("GET", target, {}, {}, timeout);
  }

  ApiResponse send(const std::string& method, const std::string& target, const std::string& body,
                   const std::string& content_type, std::chrono::milliseconds timeout) override {
    const auto deadline = Clock::now() + timeout;
    ApiResponse out;
    auto stream = connect(deadline, out);
    if (!stream) return out;
    if (!write_request(*stream, http::string_to_verb(method), target, body, content_type, deadline,
                       out))
      return out;
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxListBytes);
    boost::system::error_code ec;
    bool done = false;
    http::async_read(*stream, buffer, parser, [&](const boost::system::error_code& e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(done, deadline, *stream)) return failed(out, "no answer in time");
    if (ec) return failed(out, ec.message());
    out.status = static_cast<int>(parser.get().result_int());
    out.body = std::move(parser.get().body());
    return out;
  }

  ApiResponse watch(const std::string& target, std::chrono::milliseconds idle_timeout,
                    const std::function<bool(std::string_view)>& on_line) override {
    ApiResponse out;
    auto stream = connect(Clock::now() + idle_timeout, out);
    if (!stream) return out;
    if (!write_request(*stream, http::verb::get, target, {}, {}, Clock::now() + idle_timeout, out))
      return out;
    boost::beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // a watch goes on; each event is bounded below
    boost::system::error_code ec;
    bool done = false;
    http::async_read_header(*stream, buffer, parser,
                            [&](const boost::system::error_code& e, std::size_t) {
                              ec = e;
                              done = true;
                            });
    if (!run_until(done, Clock::now() + idle_timeout, *stream))
      return failed(out, "no answer in time");
    if (ec) return failed(out, ec.message());
    out.status = static_cast<int>(parser.get().result_int());
    std::string pending;  // bytes after the last complete line
    std::array<char, 16384> chunk{};
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      done = false;
      // Some bytes at a time: an event must go on as soon as it arrives.
      http::async_read_some(*stream, buffer, parser,
                            [&](const boost::system::error_code& e, std::size_t) {
                              ec = e;
                              done = true;
                            });
      if (!run_until(done, Clock::now() + idle_timeout, *stream)) {
        out.error = "the watch was silent for " + std::to_string(idle_timeout.count()) + " ms";
        break;
      }
      if (ec && ec != http::error::need_buffer) {
        out.error = ec.message();
        break;
      }
      pending.append(chunk.data(), chunk.size() - parser.get().body().size);
      if (out.status != 200) {
        if (pending.size() > kMaxEventBytes) break;
        continue;  // an error's body, read whole
      }
      std::size_t start = 0;
      for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
        if (!on_line(std::string_view(pending).substr(start, nl - start))) return out;
      pending.erase(0, start);
      if (pending.size() > kMaxEventBytes) {
        out.error = "a watch event over " + std::to_string(kMaxEventBytes) + " bytes";
        break;
      }
    }
    if (out.status != 200) out.body = std::move(pending);
    return out;
  }

  void cancel() override {
    cancelled_ = true;
    std::lock_guard lock(mu_);
    net::post(io_, [this] {
      if (current_) {
        boost::system::error_code ignored;
        current_->lowest_layer().close(ignored);
      }
    });
  }

 private:
  static ApiResponse& failed(ApiResponse& out, const std::string& why) {
    out.status = 0;
    out.error = why;
    return out;
  }

  // Runs the io_context until `done` or the deadline; then the connection is closed (which
  // ends the operation) and false returned.
  bool run_until(const bool& done, Clock::time_point deadline, Stream& stream) {
    while (!done && !cancelled_) {
      const auto now = Clock::now();
      if (now >= deadline) break;
      io_.restart();
      io_.run_one_for(std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(200)));
    }
    if (done) return true;
    boost::system::error_code ignored;
    stream.lowest_layer().close(ignored);
    io_.restart();
    io_.run_for(std::chrono::seconds(1));  // the operation's end, with its error
    return false;
  }

  std::unique_ptr<Stream> connect(Clock::time_point deadline, ApiResponse& out) {
    if (cancelled_) {
      failed(out, "stopped");
      return nullptr;
    }
    tcp::resolver resolver(io_);
    boost::system::error_code ec;
    const auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) {
      failed(out, "cannot resolve " + host_ + ": " + ec.message());
      return nullptr;
    }
    SSL* ssl = tls::new_client_connection(
        context_, access_.tls_server_name.empty() ? host_ : access_.tls_server_name,
        !access_.insecure_skip_verify);
    if (!ssl) {
      failed(out, "cannot make a TLS connection: " + tls::take_errors());
      return nullptr;
    }
    auto stream = std::make_unique<Stream>(tcp::socket(io_), ssl);  // owns `ssl`
    {
      std::lock_guard lock(mu_);
      current_ = stream.get();
    }
    bool done = false;
    net::async_connect(stream->lowest_layer(), endpoints,
                       [&](const boost::system::error_code& e, const tcp::endpoint&) {
                         ec = e;
                         done = true;
                       });
    if (!run_until(done, deadline, *stream) || ec) {
      failed(out, "cannot connect to " + access_.server + ": " +
                      (ec ? ec.message() : std::string("timeout")));
      return nullptr;
    }
    done = false;
    stream->async_handshake(net::ssl::stream_base::client, [&](const boost::system::error_code& e) {
      ec = e;
      done = true;
    });
    if (!run_until(done, deadline, *stream) || ec) {
      failed(out, "TLS handshake with " + access_.server +
                      " failed: " + (ec ? ec.message() : std::string("timeout")));
      return nullptr;
    }
    return stream;
  }

  bool write_request(Stream& stream, http::verb verb, const std::string& target,
                     const std::string& body, const std::string& content_type,
                     Clock::time_point deadline, ApiResponse& out) {
    if (verb == http::verb::unknown) {
      failed(out, "unknown method");
      return false;
    }
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, host_);
    if (verb != http::verb::get) {
      request.set(http::field::content_type, content_type);
      request.body() = body;
      request.prepare_payload();
    }
    request.set(http::field::accept, "application/json");
    request.set(http::field::user_agent, "infergate");
    std::string token = access_.token;
    if (!access_.token_file.empty()) {
      SmallFile file = read_small_file(access_.token_file);
      if (!file.text) {
        failed(out, file.error);
        return false;
      }
      token = std::move(*file.text);
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    }
    if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
    boost::system::error_code ec;
    bool done = false;
    http::async_write(stream, request, [&](const boost::system::error_code& e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(done, deadline, stream) || ec) {
      failed(out, "cannot send the request: " + (ec ? ec.message() : std::string("timeout")));
      return false;
    }
    return true;
  }

  const ClusterAccess access_;
  const tls::ContextPtr context_;
  const std::string host_, port_;
  net::io_context io_{1};
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  Stream* current_ = nullptr;
};

}  // namespace

std::unique_ptr<ApiTransport> make_https_transport(const ClusterAccess& access,
                                                   std::string& error) {
  // "https://host:port", "https://[v6]:port", "https://host" (443).
  std::string rest = access.server.substr(std::string_view("https://").size());
  if (const auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  std::string host = rest, port = "443";
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) {
    error = "no host in " + access.server;
    return nullptr;
  }
  tls::ClientSettings settings;
  settings.ca_pem = access.ca_pem;
  settings.client_chain_pem = access.client_cert_pem;
  settings.client_key_pem = access.client_key_pem;
  settings.verify = !access.insecure_skip_verify;
  tls::Built built = tls::make_client_context(settings, std::chrono::system_clock::now());
  if (!built.context) {
    error = "TLS to the API server: " + built.error;
    return nullptr;
  }
  return std::make_unique<HttpsTransport>(access, built.context, host, port);
}

}  // namespace infergate::kube
