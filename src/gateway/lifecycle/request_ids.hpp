// A request's identity across the gateway, the model server and the logs: its request id
// (`x-request-id`) and its W3C trace context (`traceparent`, `tracestate`).
//
// The client's values are kept when they are well-formed; otherwise the gateway draws new ones.
// Both go upstream on every attempt and mirror, the request id comes back on the response, and
// the access log names both. The gateway records no spans of its own (docs/observability.md,
// "Tracing"): it passes the context on, so the model server's spans join the client's trace.
//
// Thread-safety: pure functions; a Random belongs to one thread.
#pragma once

#include <string>
#include <string_view>

#include "common/random.hpp"
#include "gateway/http/http_types.hpp"

namespace infergate::gateway {

// 1 to 128 printable ASCII characters, no spaces: what is kept of a client's x-request-id.
bool valid_request_id(std::string_view id);

// 128 random bits as 32 lowercase hex digits.
std::string new_request_id(Random& random);

// `00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>`, lowercase, neither id all zeros
// (W3C Trace Context, version 00; other versions are not understood and count as invalid).
bool valid_traceparent(std::string_view traceparent);

// A fresh traceparent: random trace and parent ids (never all zeros), flags 00 (not sampled:
// the gateway records nothing).
std::string new_traceparent(Random& random);

// The trace id of a valid traceparent.
inline std::string_view trace_id_of(std::string_view traceparent) {
  return traceparent.substr(3, 32);
}

// What a request carries of its identity.
struct RequestIds {
  std::string request_id;   // empty until kept or drawn
  std::string traceparent;  // empty until kept or drawn
  // The client's traceparent was kept: its tracestate headers go upstream with it. (A drawn
  // traceparent starts a new trace, and a tracestate without its traceparent means nothing.)
  bool client_trace = false;
};

// The client's well-formed ids from `headers` (a traceparent sent twice is not well-formed).
RequestIds client_request_ids(const HeaderList& headers);

// Draws what `ids` lacks.
void fill_request_ids(RequestIds& ids, Random& random);

}  // namespace infergate::gateway
