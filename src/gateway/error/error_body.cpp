#include "gateway/error/request_error.hpp"
#include "openai/error.hpp"

namespace infergate::gateway {

std::string error_response_body(const RequestError& e) {
  if (e.type.empty()) return openai::error_body(e.status, e.message, e.param);
  return openai::error_body_of_type(e.status, e.type, e.message, e.param);
}

}  // namespace infergate::gateway
