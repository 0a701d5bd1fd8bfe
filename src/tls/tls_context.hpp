// TLS contexts over Debian's OpenSSL, for both sides of the gateway: the client listener's
// server certificate (checked before use: it parses, its key matches, it is valid now) and each
// pool's connections to its model servers (a CA bundle or the system trust store, an optional
// client certificate, the name the server must prove). Contexts are built from PEM text, so a
// caller reads the files once and can tell whether they changed.
//
// Secure defaults: TLS 1.2 at least; TLS 1.2 limited to ECDHE key exchange with AES-GCM or
// ChaCha20-Poly1305; no compression, no renegotiation; servers choose the cipher order.
//
// Thread-safety: a built context is immutable and shared (std::shared_ptr): any thread may
// make connections from it (OpenSSL's SSL_new on a shared SSL_CTX is thread-safe).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace infergate::tls {

using ContextPtr = std::shared_ptr<ssl_ctx_st>;

enum class Version { kTls12, kTls13 };
// "1.2" or "1.3"; nothing for anything else.
std::optional<Version> parse_version(std::string_view text);

struct Built {
  ContextPtr context;   // null when `error` says why
  std::string error;    // what is wrong, for a log line or a configuration diagnostic
  std::string summary;  // the certificate in use: "subject CN=..., expires 2027-01-01T00:00:00Z"
};

// The listener's context from a certificate chain (leaf first) and its private key. Refused:
// text that does not parse, a key that does not match the certificate, a certificate outside
// its validity period at `now`. Advertises ALPN "http/1.1".
Built make_server_context(std::string_view chain_pem, std::string_view key_pem, Version min_version,
                          std::chrono::system_clock::time_point now);

// Makes a server context ask every client for a certificate issued by one of `ca_pem`'s CAs,
// and refuse the handshake without one (mutual TLS). Empty when done, else why not.
std::string require_client_certificates(const ContextPtr& context, std::string_view ca_pem);

struct ClientSettings {
  std::string ca_pem;                            // trusted CAs; empty: the system's trust store
  std::string client_chain_pem, client_key_pem;  // both or neither: a client certificate
  Version min_version = Version::kTls12;
  bool verify = true;  // false: any server certificate is accepted (documented as unsafe)
};
Built make_client_context(const ClientSettings& settings,
                          std::chrono::system_clock::time_point now);

// A connection to a model server, ready for its handshake: SNI when `server_name` is a DNS name,
// and (with verification) the DNS name or IP address its certificate must carry. The caller owns
// the result (SSL_free, or hand it to an Asio ssl::stream). Null when OpenSSL cannot allocate.
ssl_st* new_client_connection(const ContextPtr& context, const std::string& server_name,
                              bool verify);
// A listener connection, ready for its handshake (owned as above).
ssl_st* new_server_connection(const ContextPtr& context);

// The OpenSSL errors queued on this thread, as one line (and the queue emptied).
std::string take_errors();
// Why the handshake of `ssl` failed, when certificate verification is the reason.
std::string verify_failure(const ssl_st* ssl);
// The common name of the certificate the peer of `ssl` presented; empty without one.
std::string peer_common_name(const ssl_st* ssl);

}  // namespace infergate::tls
