// The simulator's HTTP front: one listener per replica, each speaking vLLM's OpenAI-compatible
// API, /health and /metrics. All replicas of a process share one I/O thread: the engines are
// cheap to step, and a single thread keeps every replica's state free of locks.
//
// Endpoints per replica:
//   POST /v1/completions, /v1/chat/completions (streaming or not), /v1/embeddings
//   GET  /v1/models, /health, /metrics
//   POST /v1/load_lora_adapter, /v1/unload_lora_adapter
//   POST /sim/faults   (test control: metrics faults, failure rate, slowdown, stream aborts)
// Request headers honoured: x-sim-force-status: NNN (answer that status at once),
// x-sim-abort-after-tokens: N (cut this stream after N tokens).
// Every response carries x-inference-pod: <replica name>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/server/replica.hpp"

namespace boost::asio {
class io_context;
}

namespace infergate::sim {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;  // replica i listens on port + i; 0: each picks a free port
  int replicas = 1;
  std::string pod_name_prefix = "sim";  // replica i is "<prefix>-<i>"
  std::size_t max_body_bytes = std::size_t{16} << 20;
  std::size_t max_header_bytes = std::size_t{64} << 10;
  Duration idle_timeout = std::chrono::seconds(60);
  // When set, one line per generation started ("<x-request-id> <replica>") is appended to this
  // file, so a test can find a request that ran twice, across replicas and restarts.
  std::string generation_log;
  // When set, one JSON line per request but /metrics scrapes ({"replica", "target",
  // "tls_client", "headers": [[name, value], ...]}) is appended to this file, so a test can see
  // exactly which headers reached the model server.
  std::string header_log;
  // As vLLM's --api-key: /v1 routes answer 401 without "Authorization: Bearer <key>".
  std::string api_key;
  // TLS on every replica's port (PEM files); with tls_client_ca_file, clients must present a
  // certificate that CA issued.
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
  ReplicaOptions replica;  // the template each replica copies (name and seed are set per replica)
};

struct ListeningReplica {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
};

class SimServer {
 public:
  SimServer(boost::asio::io_context& io, ServerOptions options);
  ~SimServer();
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // Binds every replica's listener and starts accepting. Throws std::system_error when a port
  // cannot be bound.
  void start();
  // Stops accepting, closes every connection and stops the engines' timers; io.run() then
  // returns once the last session has unwound.
  void stop();
  std::vector<ListeningReplica> listening() const;
  Replica& replica(std::size_t index);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::sim
