#include "gateway/core/error.hpp"

#include "openai/error.hpp"

namespace infergate::gateway {

std::string to_response_body(const GatewayError& e) {
  return openai::error_body(e.status, e.message, e.param);
}

}  // namespace infergate::gateway
