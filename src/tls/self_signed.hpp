// A self-signed certificate made at start-up, for a listener that serves TLS by default when
// no certificate is given (the endpoint picker's gRPC port, as upstream's picker does it).
// Proxies in front accept it without verification; give a real pair in production.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace infergate::tls {

struct PemPair {
  std::string certificate;  // PEM
  std::string private_key;  // PEM (PKCS#8)
};

// An ECDSA P-256 key and a certificate for `names` (subject alternative names; the first is the
// common name), valid from an hour before `now` for `validity`. Throws std::runtime_error when
// OpenSSL fails.
PemPair make_self_signed(const std::vector<std::string>& names,
                         std::chrono::system_clock::time_point now,
                         std::chrono::hours validity = std::chrono::hours(24 * 365));

}  // namespace infergate::tls
