// The endpoint picker's settings (docs/extproc.md): light, for GatewayOptions.
#pragma once

#include <cstddef>
#include <string>

namespace infergate::gateway::extproc {

struct StreamOptions {
  std::size_t max_body_bytes = 32 << 20;  // a larger request body gets 413 (--max-body-bytes)
  // Endpoints named after the primary, comma-joined in the destination, for a client that tries
  // them in order when the primary cannot be reached (InferGate's gateway does; Envoy's
  // ORIGINAL_DST cluster takes one address, so none by default) (--fallback-endpoints).
  std::size_t fallback_endpoints = 0;
};

struct ServerOptions {
  std::string listen = "0.0.0.0:9002";         // the ext_proc port (port 0: any free port)
  std::string health_listen = "0.0.0.0:9003";  // plaintext grpc.health.v1 (empty: none)
  bool health_on_extproc_port = false;
  bool plaintext = false;  // the ext_proc port without TLS
  std::string cert_file;   // PEM pair for the ext_proc port; empty: a self-signed one
  std::string key_file;
  StreamOptions stream;
};

}  // namespace infergate::gateway::extproc
