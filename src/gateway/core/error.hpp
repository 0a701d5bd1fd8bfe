// Errors on the gateway's data path are values: what failed, who caused it, whether trying
// another endpoint may help. They become OpenAI-style JSON error responses in one place
// (to_response_body), so every error a client sees has the same shape.
#pragma once

#include <string>
#include <string_view>

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
  static GatewayError timeout(std::string message) {
    return {504, std::move(message), {}, ErrorSource::kUpstream, false};
  }
};

// OpenAI error type for an HTTP status ("BadRequestError", "NotFoundError", ...).
std::string_view openai_error_type(int status);
// {"error": {"message", "type", "param", "code"}}
std::string to_response_body(const GatewayError& error);

}  // namespace infergate::gateway
