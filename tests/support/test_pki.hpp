// Certificates made by each test for itself (OpenSSL, in memory): a CA, and server or client
// certificates it signs, with the names and validity a test asks for. Nothing is shared
// between tests and nothing expires under a test's feet unless the test asks for it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace infergate::testing {

struct KeyPair {
  std::string cert_pem;  // the certificate, then the issuing CA's (a chain, as servers send)
  std::string key_pem;
};

struct CertificateRequest {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names{"localhost"};
  std::vector<std::string> ip_addresses{"127.0.0.1"};
  // Validity relative to now.
  std::chrono::seconds not_before{-3600};
  std::chrono::seconds not_after{24 * 3600};
};

class TestCa {
 public:
  explicit TestCa(const std::string& name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_pem() const { return cert_pem_; }
  KeyPair issue(const CertificateRequest& request) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string cert_pem_;
};

// Writes `text` to `path` (replacing it at once: written aside, then renamed over it).
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace infergate::testing
