// The one error type of the gateway's request path: every phase that refuses or fails a request
// says so with a RequestError, and the front end writes it as an OpenAI-style JSON error
// (error_response_body). It carries what a client sees (status, OpenAI error type, message, the
// request field at fault, Retry-After) and what the gateway decides with (who caused it, and
// whether sending the request to another endpoint may succeed: the retry loop reads
// `retryable` and nothing else).
//
// Depends on nothing but the standard library, so every layer may return one.
#pragma once

#include <string>
#include <string_view>

namespace infergate::gateway {

enum class ErrorSource {
  kClient,    // the request is at fault (bad body, unknown model, no credential)
  kGateway,   // the gateway refused it (saturated, no endpoint, shutting down)
  kUpstream,  // a model server failed it
};

struct RequestError {
  int status = 500;
  std::string message{};
  std::string param{};  // the request field at fault, if any
  ErrorSource source = ErrorSource::kGateway;
  bool retryable = false;       // another endpoint may succeed (nothing reached this one)
  int retry_after_seconds = 0;  // > 0: sent as Retry-After (shed requests)
  // The OpenAI error type written in the body; empty: the one the status implies
  // (openai::error_type).
  std::string_view type{};

  static RequestError client(int status, std::string message, std::string param = {}) {
    return {status, std::move(message), std::move(param), ErrorSource::kClient};
  }
  static RequestError bad_request(std::string message, std::string param = {}) {
    return client(400, std::move(message), std::move(param));
  }
  static RequestError not_found(std::string message, std::string param = {}) {
    return client(404, std::move(message), std::move(param));
  }
  static RequestError gateway(int status, std::string message) {
    return {status, std::move(message), {}, ErrorSource::kGateway};
  }
  static RequestError unavailable(std::string message) { return gateway(503, std::move(message)); }
  static RequestError upstream(int status, std::string message, bool retryable = false) {
    return {status, std::move(message), {}, ErrorSource::kUpstream, retryable};
  }
  static RequestError bad_gateway(std::string message) { return upstream(502, std::move(message)); }
  static RequestError timeout(std::string message) { return upstream(504, std::move(message)); }
};

// {"error": {"message", "type", "param", "code"}}, as openai::error_body writes it
// (error_body.cpp).
std::string error_response_body(const RequestError& error);

}  // namespace infergate::gateway
