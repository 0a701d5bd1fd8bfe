// Reading and writing Envoy's ext_proc messages (proto/envoy/service/ext_proc/v3), as Envoy
// and the upstream picker (v1.5.0) use them (../docs/extproc.md):
//   - header values are read from raw_value (Envoy's default), falling back to value, and
//     always written as raw_value (Envoy reads only that);
//   - the decision goes in the x-gateway-destination-endpoint header and in the "envoy.lb"
//     dynamic-metadata namespace, with clear_route_cache;
//   - bodies go back in streamed_response chunks of at most 62,000 bytes (FULL_DUPLEX_STREAMED)
//     or as one body mutation (BUFFERED);
//   - errors are an ImmediateResponse with an OpenAI-style JSON body.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "gateway/error/request_error.hpp"
#include "gateway/http/http_types.hpp"

namespace infergate::gateway::extproc {

namespace pb = envoy::service::ext_proc::v3;

inline constexpr std::string_view kDestinationHeader = "x-gateway-destination-endpoint";
inline constexpr std::string_view kServedKey = "x-gateway-destination-endpoint-served";
inline constexpr std::string_view kSubsetNamespace = "envoy.lb.subset_hint";
inline constexpr std::string_view kSubsetKey = "x-gateway-destination-endpoint-subset";
inline constexpr std::string_view kLbNamespace = "envoy.lb";
// The upstream picker's BodyByteLimit: a margin under the 64 KiB Envoy takes per chunk.
inline constexpr std::size_t kBodyChunkBytes = 62000;

// The request line and headers of an ext_proc header message: pseudo-headers (:method, :path,
// :status, ...) apart, the others with lower-case names.
struct Headers {
  std::string method;
  std::string path;
  std::string authority;
  int status = 0;  // :status of a response (0: absent or not a number)
  HeaderList headers;
};
Headers read_headers(const pb::HttpHeaders& message);

// The hosts of the subset hint in `metadata` (envoy.lb.subset_hint), or nothing when the hint is
// absent. Entries are "ip:port"; only the IP counts, as upstream matches them.
std::optional<std::vector<std::string>> subset_hint(const envoy::config::core::v3::Metadata& m);
// The endpoint Envoy reports it sent the request to (proposal 004), or empty.
std::string served_endpoint(const envoy::config::core::v3::Metadata& m);

// Sets (overwrites or adds) a header in a mutation, the value as raw_value.
void set_header(pb::HeaderMutation& mutation, std::string_view name, std::string_view value);

// The decision on a reply: the destination header (and a Content-Length when the body is not
// empty) in `common`, with clear_route_cache, and the envoy.lb metadata on `reply`.
void set_destination(pb::ProcessingResponse& reply, pb::CommonResponse& common,
                     const std::string& endpoint, std::optional<std::size_t> content_length);

// Appends `body` to `out` as streamed_response chunks of at most kBodyChunkBytes, on request
// body replies (`request`) or response body replies; the last one carries `end_of_stream`. An
// empty body is one empty chunk.
void append_streamed_body(std::vector<pb::ProcessingResponse>& out, std::string_view body,
                          bool request, bool end_of_stream);

// The ImmediateResponse that answers the client with `error`.
pb::ProcessingResponse immediate_error(const RequestError& error);

}  // namespace infergate::gateway::extproc
