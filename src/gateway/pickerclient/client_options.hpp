// How the gateway reaches the endpoint pickers its pools name (picker_client.hpp): options only,
// so the gateway's options can hold them without gRPC or Asio.
#pragma once

#include <chrono>
#include <string>

namespace infergate::gateway::pickerclient {

struct ClientOptions {
  // Plain HTTP/2 to the picker; off (TLS), as upstream's picker serves by default.
  bool plaintext = false;
  // Accept any server certificate (upstream's picker generates a self-signed one); off: the
  // certificate must chain to `ca_file` (or the system's roots) and name the picker's host.
  bool allow_self_signed = false;
  std::string ca_file;
  // How long the picker may take to answer the request's headers and body; a picker slower
  // than this counts as failed (FailOpen: InferGate's own picker decides).
  std::chrono::milliseconds decision_timeout{10000};
};

}  // namespace infergate::gateway::pickerclient
