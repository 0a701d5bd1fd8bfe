// Errors on the gateway's data path are values: what failed, who caused it, whether trying
// another endpoint may help. They become OpenAI-style JSON error responses in one place
// (to_response_body, through openai::error_body, which the simulator answers with too), so
// every error a client sees has the same shape.
#pragma once

#include <string>

namespace infergate::gateway {

enum class ErrorSource { kClient, kGateway, kUpstream };

struct GatewayError {
  int status = 500;
  std::string message;
  std::string param;  // the request field at fault, if any
  ErrorSource source = ErrorSource::kGateway;
  bool retryable = false;       // another endpoint may succeed
  int retry_after_seconds = 0;  // > 0: sent as Retry-After (shed requests)

  static GatewayError bad_request(std::string message, std::string param = {}) {
    return {400, std::move(message), std::move(param), ErrorSource::kClient, false};
  }
  static GatewayError not_found(std::string message, std::string param = {}) {
    return {404, std::move(message), std::move(param), ErrorSource::kClient, false};
  }
  static GatewayError unavailable(std::string message) {
    return {503, std::move(message), {}, ErrorSource::kGateway, false};
  }
  static GatewayError bad_gateway(std::string message) {
    return {502, std::move(message), {}, ErrorSource::kUpstream, false};
  }
  static GatewayError timeout(std::string message) {
    return {504, std::move(message), {}, ErrorSource::kUpstream, false};
  }
};

// {"error": {"message", "type", "param", "code"}}: see openai/error.hpp.
std::string to_response_body(const GatewayError& error);

}  // namespace infergate::gateway
