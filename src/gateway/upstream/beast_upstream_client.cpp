// UpstreamClient over Boost.Beast: HTTP/1.1 keep-alive connections pooled per endpoint.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <unordered_map>

#include "gateway/upstream/upstream_client.hpp"

namespace infergate::gateway {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

bool is_hop_by_hop(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "transfer-encoding" ||
         name == "te" || name == "trailer" || name == "upgrade" || name == "proxy-authenticate" ||
         name == "proxy-authorization" || name == "content-length";
}

bool closed_early(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == http::error::partial_message;
}

class BeastUpstreamClient;

class BeastExchange final : public UpstreamExchange {
 public:
  BeastExchange(BeastUpstreamClient& client, std::string address)
      : client_(client), address_(std::move(address)) {
    // Beast reads at most the buffer's free capacity per call: keep it large enough for a
    // whole response piece.
    buffer_.reserve(sizeof piece_);
  }
  ~BeastExchange() override;

  net::awaitable<std::variant<ResponseHead, UpstreamFailure>> send(const UpstreamRequest& request) override;
  net::awaitable<BodyRead> read_body(std::string& out) override;

 private:
  net::awaitable<bool> connect();

  BeastUpstreamClient& client_;
  std::string address_;
  std::unique_ptr<beast::tcp_stream> conn_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, 16384> piece_{};
  bool done_ = false;
  bool keep_alive_ = false;
};

class BeastUpstreamClient final : public UpstreamClient {
 public:
  BeastUpstreamClient(const net::any_io_executor& ex, UpstreamTimeouts timeouts, std::size_t max_idle)
      : executor_(ex), timeouts_(timeouts), max_idle_(max_idle), resolver_(ex) {}

  std::unique_ptr<UpstreamExchange> exchange(const std::string& address) override {
    return std::make_unique<BeastExchange>(*this, address);
  }

  std::unique_ptr<beast::tcp_stream> take_idle(const std::string& address) {
    auto it = idle_.find(address);
    while (it != idle_.end() && !it->second.empty()) {
      auto conn = std::move(it->second.back());
      it->second.pop_back();
      if (conn->socket().is_open()) return conn;
    }
    return nullptr;
  }

  void give_back(const std::string& address, std::unique_ptr<beast::tcp_stream> conn) {
    auto& list = idle_[address];
    if (list.size() < max_idle_) list.push_back(std::move(conn));
  }

  net::awaitable<std::optional<tcp::resolver::results_type>> resolve(const std::string& address) {
    if (auto it = resolved_.find(address); it != resolved_.end()) co_return it->second;
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) co_return std::nullopt;
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    auto [ec, results] = co_await resolver_.async_resolve(host, address.substr(colon + 1), kUseTuple);
    if (ec || results.empty()) co_return std::nullopt;
    resolved_.emplace(address, results);
    co_return results;
  }

  const net::any_io_executor& executor() const { return executor_; }
  const UpstreamTimeouts& timeouts() const { return timeouts_; }

 private:
  net::any_io_executor executor_;
  UpstreamTimeouts timeouts_;
  std::size_t max_idle_;
  tcp::resolver resolver_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<beast::tcp_stream>>> idle_;
  std::unordered_map<std::string, tcp::resolver::results_type> resolved_;
};

BeastExchange::~BeastExchange() {
  if (conn_ && done_ && keep_alive_) client_.give_back(address_, std::move(conn_));
}

net::awaitable<bool> BeastExchange::connect() {
  auto endpoints = co_await client_.resolve(address_);
  if (!endpoints) co_return false;
  conn_ = std::make_unique<beast::tcp_stream>(client_.executor());
  conn_->expires_after(client_.timeouts().connect);
  auto [ec, ep] = co_await conn_->async_connect(*endpoints, kUseTuple);
  if (ec) {
    conn_.reset();
    co_return false;
  }
  conn_->socket().set_option(tcp::no_delay(true));
  co_return true;
}

net::awaitable<std::variant<ResponseHead, UpstreamFailure>> BeastExchange::send(
    const UpstreamRequest& request) {
  // The request head is serialised by hand and written with the body in one gather write: no
  // copy of the body, no per-field lookups. Header values come from Beast's parser of the
  // client request, which rejects CR and LF, so they cannot split the head.
  std::string request_head;
  request_head.reserve(128 + request.target.size() + 48 * request.headers.size());
  request_head += request.method;
  request_head += ' ';
  request_head += request.target;
  request_head += " HTTP/1.1\r\nHost: ";
  request_head += address_;
  request_head += "\r\n";
  for (const auto& [k, v] : request.headers) {
    request_head += k;
    request_head += ": ";
    request_head += v;
    request_head += "\r\n";
  }
  if (!request.body.empty() || request.method == "POST") {
    request_head += "Content-Length: ";
    request_head += std::to_string(request.body.size());
    request_head += "\r\n";
  }
  request_head += "\r\n";
  const std::array<net::const_buffer, 2> message{net::buffer(request_head), net::buffer(request.body)};

  // A pooled connection may have been closed by the server while idle: a failure before any
  // response byte on a reused connection is retried once on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    conn_ = client_.take_idle(address_);
    const bool reused = conn_ != nullptr;
    if (!reused && !co_await connect()) co_return UpstreamFailure::kConnect;
    buffer_.clear();
    buffer_.reserve(piece_.size());
    parser_.emplace();
    parser_->body_limit(boost::none);
    conn_->expires_after(client_.timeouts().response_head);
    auto [wec, wn] = co_await net::async_write(*conn_, message, kUseTuple);
    beast::error_code ec = wec;
    if (!ec) {
      auto [rec, rn] = co_await http::async_read_header(*conn_, buffer_, *parser_, kUseTuple);
      ec = rec;
    }
    if (!ec) break;
    conn_.reset();
    if (reused && closed_early(ec) && attempt == 0) continue;
    if (ec == beast::error::timeout) co_return UpstreamFailure::kTimeout;
    if (closed_early(ec)) co_return UpstreamFailure::kClosedBeforeStatus;
    co_return UpstreamFailure::kProtocol;
  }

  const auto& res = parser_->get();
  ResponseHead head;
  head.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!is_hop_by_hop(name)) head.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  keep_alive_ = res.keep_alive();
  const bool streamed = parser_->chunked() || !parser_->content_length();
  if (!streamed) head.content_length = static_cast<std::size_t>(*parser_->content_length());
  if (parser_->is_done()) done_ = true;
  co_return head;
}

net::awaitable<BodyRead> BeastExchange::read_body(std::string& out) {
  while (!done_) {
    auto& body = parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    conn_->expires_after(client_.timeouts().body_idle);
    auto [ec, n] = co_await http::async_read_some(*conn_, buffer_, *parser_, kUseTuple);
    const std::size_t got = piece_.size() - parser_->get().body().size;
    if (ec && ec != http::error::need_buffer) {
      conn_.reset();
      co_return ec == beast::error::timeout ? BodyRead::kTimeout : BodyRead::kError;
    }
    if (parser_->is_done()) done_ = true;
    if (got > 0) {
      out.append(piece_.data(), got);
      co_return BodyRead::kData;
    }
  }
  co_return BodyRead::kEnd;
}

}  // namespace

std::unique_ptr<UpstreamClient> make_beast_upstream_client(const net::any_io_executor& ex,
                                                           UpstreamTimeouts timeouts,
                                                           std::size_t max_idle_per_endpoint) {
  return std::make_unique<BeastUpstreamClient>(ex, timeouts, max_idle_per_endpoint);
}

}  // namespace infergate::gateway
