// The client listener's certificate and key, from files that operators (and cert-manager)
// replace while the gateway runs. refresh() reads the files again: when they changed and the new
// pair is good, new connections get it at once while open ones keep the one they began with;
// when the new pair is bad (a key that does not match, an expired certificate, a half-written
// file), the gateway keeps serving the old pair and says why.
//
// Thread-safety: current() from any thread (the workers, per connection); refresh() from one
// thread (the control thread's timer).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "tls/tls_context.hpp"

namespace infergate::tls {

struct ServerFiles {
  std::string cert_file;  // PEM: the certificate, then any intermediates
  std::string key_file;   // PEM: its private key
  Version min_version = Version::kTls12;
};

class ServerCredentials {
 public:
  // Loads the files; throws std::runtime_error, naming the files and the reason, when they
  // cannot serve.
  ServerCredentials(ServerFiles files, std::chrono::system_clock::time_point now);

  ContextPtr current() const;
  // What the certificate in use is (subject and expiry).
  std::string summary() const;

  struct Refresh {
    bool changed = false;  // the files differ from the last ones read
    bool applied = false;  // ... and now serve new connections
    std::string message;   // for the log: what was loaded, or why it was refused
  };
  Refresh refresh(std::chrono::system_clock::time_point now);

 private:
  ServerFiles files_;
  mutable std::mutex mu_;
  ContextPtr context_;
  std::string summary_;
  std::string cert_text_, key_text_;  // as last read, served or refused
};

}  // namespace infergate::tls
