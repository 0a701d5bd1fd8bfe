// The endpoint picker's gRPC servers (infergate --mode=epp, docs/extproc.md): Envoy's
// ExternalProcessor on the ext_proc port, TLS by default (a generated self-signed certificate
// unless one is given), and grpc.health.v1.Health on a plaintext port of its own (and on the
// ext_proc port when asked, which is what an Envoy cluster health check probes).
//
// Each stream is given to one worker, in turn: its messages run there, in order, over that
// worker's phases (ExtProcStream); its replies are written by gRPC's threads. gRPC headers stay
// in extproc_server.cpp.
//
// Thread-safety: start() and shutdown() from the control thread; the rest from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "gateway/extproc/extproc_options.hpp"

namespace infergate::gateway {
class RequestPhases;
class RequestAccounting;
}  // namespace infergate::gateway

namespace infergate::gateway::extproc {

// A worker the streams are spread over: its event loop and its phases.
struct StreamWorker {
  boost::asio::any_io_executor executor;
  RequestPhases* phases = nullptr;
};

class ExtProcServer {
 public:
  ExtProcServer(ServerOptions options, std::vector<StreamWorker> workers,
                RequestAccounting& accounting);
  ~ExtProcServer();

  // Binds and starts serving; throws std::runtime_error when a port cannot be bound or the
  // certificate cannot be read.
  void start();
  std::uint16_t port() const;
  std::uint16_t health_port() const;  // 0: none
  // What the health service answers: SERVING once the pools are known (set at start-up).
  void set_serving(bool serving);
  // While serving, SERVING only when `ready` says so too (the gateway's /readyz: the first
  // scrape round, the first lists from Kubernetes). Set before start().
  void set_readiness(std::function<bool()> ready);
  // Stops taking streams; the open ones may end until `deadline`, then they are cancelled.
  // The workers must still run until it returns.
  void shutdown(std::chrono::milliseconds deadline);
  std::size_t open_streams() const;
  // How the ext_proc port's TLS is set up, for the log.
  std::string tls_summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::gateway::extproc
