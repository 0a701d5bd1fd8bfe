#include "gateway/core/error.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace infergate::gateway {

std::string_view openai_error_type(int status) {
  switch (status) {
    case 400:
    case 413:
    case 431:
      return "BadRequestError";
    case 401:
      return "AuthenticationError";
    case 403:
      return "PermissionDeniedError";
    case 404:
      return "NotFoundError";
    case 429:
      return "RateLimitError";
    case 503:
      return "ServiceUnavailableError";
    case 504:
      return "GatewayTimeoutError";
    default:
      return status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

std::string to_response_body(const GatewayError& e) {
  std::string out = R"({"error":{"message":)";
  out += boost::json::serialize(boost::json::string(e.message));
  out += R"(,"type":")";
  out += openai_error_type(e.status);
  out += R"(","param":)";
  out +=
      e.param.empty() ? std::string("null") : boost::json::serialize(boost::json::string(e.param));
  out += R"(,"code":)";
  out += std::to_string(e.status);
  out += "}}";
  return out;
}

}  // namespace infergate::gateway
