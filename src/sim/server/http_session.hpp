// One client connection to a replica (internal to the server).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdio>

#include "common/clock.hpp"
#include "sim/server/engine_driver.hpp"
#include "sim/server/replica.hpp"
#include "tls/tls_context.hpp"

namespace infergate::sim {

struct SessionLimits {
  std::size_t max_body_bytes = 0;
  std::size_t max_header_bytes = 0;
  Duration idle_timeout{};
};

struct ReplicaContext {
  Replica& replica;
  EngineDriver& driver;
  const Clock& clock;
  SessionLimits limits;
  // Open connections, so stop() can close them all.
  std::vector<boost::asio::ip::tcp::socket*>* open_sockets = nullptr;
  std::FILE* generation_log = nullptr;  // see ServerOptions::generation_log
  std::FILE* header_log = nullptr;      // see ServerOptions::header_log
  std::string api_key;                  // see ServerOptions::api_key
  tls::ContextPtr tls;                  // null: plain HTTP
};

// Serves HTTP/1.1 requests (over TLS when the context has it) on `socket` until the client closes,
// an error, or stop().
boost::asio::awaitable<void> serve_connection(boost::asio::ip::tcp::socket socket,
                                              ReplicaContext& ctx);

}  // namespace infergate::sim
