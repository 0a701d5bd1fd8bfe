// The requests the Kubernetes client makes of an API server, behind an interface so the list
// and watch logic (Reflector) runs against a scripted server in tests. The implementation
// speaks HTTPS with the ClusterAccess credentials.
//
// Thread-safety: one call at a time per transport, unless the implementation says otherwise.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace infergate::kube {

struct ApiResponse {
  int status = 0;    // HTTP status; 0: no answer (connect, TLS or timeout: see `error`)
  std::string body;  // a GET's whole body, or a failed watch's
  std::string error;
};

class ApiTransport {
 public:
  virtual ~ApiTransport() = default;
  // GET `target` (path and query) whole, within `timeout`.
  virtual ApiResponse get(const std::string& target, std::chrono::milliseconds timeout) = 0;
  // `method` (POST, PUT, PATCH) `target` with `body` of `content_type`; the whole answer, within
  // `timeout`.
  virtual ApiResponse send(const std::string& method, const std::string& target,
                           const std::string& body, const std::string& content_type,
                           std::chrono::milliseconds timeout) = 0;
  // GET `target` as a watch: each line of the body goes to `on_line` as it arrives, until the
  // server ends the body, nothing arrives for `idle_timeout`, or on_line returns false. The
  // response says how it began (200, or the error and its body).
  virtual ApiResponse watch(const std::string& target, std::chrono::milliseconds idle_timeout,
                            const std::function<bool(std::string_view)>& on_line) = 0;
  // Ends a watch in progress from another thread (shutdown).
  virtual void cancel() = 0;
};

}  // namespace infergate::kube
