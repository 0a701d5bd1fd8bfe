#include "support/tls_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

#include "tls/tls_context.hpp"

namespace infergate::testing {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct TlsClient::Impl {
  net::io_context io;
  std::unique_ptr<net::ssl::stream<tcp::socket>> stream;
  beast::flat_buffer buffer;

  void send(http::verb verb, const std::string& target, const std::string& body,
            const std::map<std::string, std::string>& headers) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(*stream, req);
  }

  HttpResponse exchange(http::verb verb, const std::string& target, const std::string& body,
                        const std::map<std::string, std::string>& headers) {
    send(verb, target, body, headers);
    http::response<http::string_body> res;
    http::read(*stream, buffer, res);
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(field.value());
    }
    out.body = std::move(res.body());
    return out;
  }
};

TlsClient::TlsClient(unsigned short port, const TlsClientOptions& options)
    : impl_(std::make_unique<Impl>()) {
  tls::ClientSettings settings;
  settings.ca_pem = options.ca_pem;
  settings.client_chain_pem = options.client_cert_pem;
  settings.client_key_pem = options.client_key_pem;
  const tls::Built built = tls::make_client_context(settings, std::chrono::system_clock::now());
  if (!built.context) throw std::runtime_error("test TLS client: " + built.error);
  SSL* ssl = tls::new_client_connection(built.context, options.server_name, true);
  tcp::socket socket(impl_->io);
  const tcp::endpoint server(net::ip::make_address("127.0.0.1"), port);
  socket.open(server.protocol());
  const timeval limit{30, 0};  // every blocking call below fails after 30 s
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  socket.connect(server);
  impl_->stream = std::make_unique<net::ssl::stream<tcp::socket>>(std::move(socket), ssl);
  boost::system::error_code ec;
  impl_->stream->handshake(net::ssl::stream_base::client, ec);
  if (ec) {
    const std::string why = tls::verify_failure(impl_->stream->native_handle());
    throw std::runtime_error("TLS handshake failed: " + (why.empty() ? ec.message() : why));
  }
}

TlsClient::~TlsClient() = default;

std::string TlsClient::peer_common_name() const {
  return tls::peer_common_name(impl_->stream->native_handle());
}

HttpResponse TlsClient::get(const std::string& target) {
  return impl_->exchange(http::verb::get, target, {}, {});
}

HttpResponse TlsClient::post(const std::string& target, const std::string& body,
                             const std::map<std::string, std::string>& headers) {
  return impl_->exchange(http::verb::post, target, body, headers);
}

void TlsClient::send_only(const std::string& target, const std::string& body) {
  impl_->send(http::verb::post, target, body, {});
}

}  // namespace infergate::testing
