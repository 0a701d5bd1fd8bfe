// Requests to model servers. One UpstreamExchange is one request and its response on one
// connection; the client keeps idle keep-alive connections per endpoint (bounded) and hands
// them out again. Every wait is bounded: connect, time to the response head, idle time between
// body pieces.
//
// Thread-safety: a client and its exchanges belong to the worker thread (io_context) that made
// them; each worker has its own client, so pools need no locks.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <variant>

#include "config/config.hpp"
#include "gateway/error/request_error.hpp"
#include "gateway/http/http_types.hpp"

namespace infergate::gateway {

struct UpstreamRequest {
  std::string method = "POST";
  std::string target;
  HeaderList headers;  // forwarded as given (the client sets Host and Content-Length)
  // The body is `body` with the bytes [replace_at, replace_at + replace_length) replaced by
  // `replacement` (a rewritten model value; nothing replaced by default). The three pieces go
  // out in one gather write, so the client's 4-16 KB body is never copied. `body` is not owned:
  // its bytes must outlive the exchange.
  std::string_view body;
  std::size_t replace_at = 0;
  std::size_t replace_length = 0;
  std::string replacement;

  std::array<std::string_view, 3> body_pieces() const {
    return {body.substr(0, replace_at), std::string_view(replacement),
            body.substr(replace_at + replace_length)};
  }
  std::size_t body_size() const { return body.size() - replace_length + replacement.size(); }
  std::string flat_body() const {
    std::string out;
    out.reserve(body_size());
    for (const std::string_view piece : body_pieces()) out.append(piece);
    return out;
  }
};

// Why an exchange got no response head. Whether another endpoint may be tried follows from
// whether the request can have reached the model server (see request_may_have_run): a
// generation must never run twice.
enum class UpstreamFailure {
  kConnect,             // could not connect (refused, unreachable, timed out): nothing was sent
  kNotDelivered,        // reset before the server took the request (a write failed, or a reset came
                        // back with nothing read: a socket closed before reading answers so)
  kClosedBeforeStatus,  // an orderly close after the whole request was written, before the
                        // status line: the server may have read it and begun
  kTimeout,             // no response head in time
  kProtocol,            // not HTTP
  kTlsHandshake,        // the TLS handshake failed (an untrusted certificate, a wrong name,
                        // a server without TLS): nothing was sent
};
// Whether the model server may have received the request: then it is never sent elsewhere.
inline bool request_may_have_run(UpstreamFailure f) {
  return f != UpstreamFailure::kConnect && f != UpstreamFailure::kNotDelivered &&
         f != UpstreamFailure::kTlsHandshake;
}
inline std::string_view upstream_failure_name(UpstreamFailure f) {
  switch (f) {
    case UpstreamFailure::kConnect:
      return "connect failure";
    case UpstreamFailure::kNotDelivered:
      return "connection reset before the request was taken";
    case UpstreamFailure::kClosedBeforeStatus:
      return "connection closed before the response";
    case UpstreamFailure::kTimeout:
      return "timed out waiting for the response";
    case UpstreamFailure::kProtocol:
      return "malformed response";
    case UpstreamFailure::kTlsHandshake:
      return "TLS handshake failed";
  }
  return "failure";
}

// The error a failed exchange with `address` gives its request: retryable (another endpoint may
// be tried) only when the request provably did not reach the model server; otherwise 504 for a
// timeout and 502 for the rest.
inline RequestError upstream_error(UpstreamFailure f, std::string_view address,
                                   std::string_view detail = {}) {
  std::string what =
      "upstream " + std::string(address) + ": " + std::string(upstream_failure_name(f));
  if (!detail.empty()) what += " (" + std::string(detail) + ")";
  if (!request_may_have_run(f)) return RequestError::upstream(502, std::move(what), true);
  if (f == UpstreamFailure::kTimeout) return RequestError::timeout(std::move(what));
  return RequestError::bad_gateway(what + " (not retried: the request may have reached it)");
}

struct UpstreamTimeouts {
  std::chrono::milliseconds connect{5000};
  // An idle pooled connection is not reused after this, so it is dropped before the model
  // server's own keep-alive timeout closes it (uvicorn, under vLLM and SGLang: 5 s).
  std::chrono::milliseconds pool_idle{4000};
  // A model server's host name is looked up again this often (its last good answer is used
  // meanwhile, and kept when a lookup fails); each lookup is abandoned after dns_timeout.
  std::chrono::milliseconds dns_refresh{30000};
  std::chrono::milliseconds dns_timeout{2000};
  std::chrono::milliseconds response_head{600000};
  std::chrono::milliseconds body_idle{300000};
};

enum class BodyRead { kData, kEnd, kError, kTimeout };

class UpstreamExchange {
 public:
  virtual ~UpstreamExchange() = default;
  virtual boost::asio::awaitable<std::variant<ResponseHead, UpstreamFailure>> send(
      const UpstreamRequest& request) = 0;
  // Appends the next piece of the response body to `out`.
  virtual boost::asio::awaitable<BodyRead> read_body(std::string& out) = 0;
  // Whether the body has been read to its end (the next read_body is kEnd without waiting).
  virtual bool body_complete() const { return false; }
  // After a failure: what went wrong in more detail (why a TLS handshake failed), or nothing.
  virtual std::string failure_detail() const { return {}; }
};

// How a pool's model servers are reached: plain HTTP (null) or TLS (its UpstreamPolicy).
using UpstreamTls = config::PoolConfig::UpstreamTls;
inline const UpstreamTls* upstream_tls_of(const config::PoolConfig& pool) {
  return pool.upstream_tls ? &*pool.upstream_tls : nullptr;
}

// Sets the pool's credential header (its UpstreamPolicy's), replacing any header of that name.
inline void add_pool_credential(HeaderList& headers, const config::PoolConfig& pool) {
  if (!pool.credential) return;
  std::erase_if(headers, [&](const auto& h) { return h.first == pool.credential->header; });
  headers.emplace_back(pool.credential->header, pool.credential->value);
}

class UpstreamClient {
 public:
  virtual ~UpstreamClient() = default;
  // An exchange with `address` ("host:port"), over TLS when `tls` is given (it must outlive
  // the exchange). Destroying the exchange returns the connection to the pool when the
  // response was read to the end, and closes it otherwise. Connections are pooled per address
  // and TLS context.
  virtual std::unique_ptr<UpstreamExchange> exchange(const std::string& address,
                                                     const UpstreamTls* tls = nullptr) = 0;
  // For the gateway's shutdown: closes the idle connections and stops the timers, so nothing
  // of the client waits in its io_context (exchanges still running end when cancelled).
  virtual void shutdown() {}
};

// Looks a host name up: its IP addresses as text, none when the lookup failed or timed out.
// Tests give their own; by default getaddrinfo runs on Asio's resolver thread.
using HostLookup = std::function<boost::asio::awaitable<std::vector<std::string>>(
    const std::string& host, std::chrono::milliseconds timeout)>;

// Plain Asio sockets, responses parsed by hand (pooled_upstream_client.cpp).
std::unique_ptr<UpstreamClient> make_pooled_upstream_client(const boost::asio::any_io_executor& ex,
                                                            UpstreamTimeouts timeouts,
                                                            std::size_t max_idle_per_endpoint,
                                                            HostLookup lookup = {});

}  // namespace infergate::gateway
