// A blocking HTTPS/1.1 client for tests: one TLS connection (kept alive across requests) that
// trusts the CA a test gives it and checks the server's name, as a careful client does.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "support/http_client.hpp"

namespace infergate::testing {

struct TlsClientOptions {
  std::string ca_pem;                           // the CA trusted for the server's certificate
  std::string server_name = "localhost";        // SNI and the name the certificate must carry
  std::string client_cert_pem, client_key_pem;  // optional client certificate
};

class TlsClient {
 public:
  // Connects to 127.0.0.1:port and completes the handshake; throws std::runtime_error saying
  // why it failed (the verification error when that is the reason).
  TlsClient(unsigned short port, const TlsClientOptions& options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // The server certificate's subject common name.
  std::string peer_common_name() const;
  HttpResponse get(const std::string& target);
  HttpResponse post(const std::string& target, const std::string& body,
                    const std::map<std::string, std::string>& headers = {});
  // Sends a POST without reading the answer (to see what a server does when the client leaves).
  void send_only(const std::string& target, const std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::testing
