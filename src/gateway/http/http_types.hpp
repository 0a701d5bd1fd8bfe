// HTTP messages as the request path sees them, independent of any HTTP library, so the front
// end (client side) and the upstream client are replaceable: the standalone HTTP server today,
// an Envoy ext_proc front end later, in-memory fakes in tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::gateway {

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // names lower-case

inline std::optional<std::string_view> find_header(const HeaderList& headers,
                                                   std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

struct ClientRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  HeaderList headers;
  std::string_view body;  // the front end's bytes: valid until the handler returns
  // How many bytes from body.data() on may be read (>= body.size() when set): a front end whose
  // buffer goes on past the body says so, and the body is parsed without a padded copy.
  std::size_t body_readable = 0;
  std::string peer{};  // the client's address, for X-Forwarded-For (empty: unknown)
};

struct ResponseHead {
  int status = 200;
  HeaderList headers;  // without Content-Length / Transfer-Encoding: the front end frames the body
  std::optional<std::size_t> content_length;  // absent: streamed (chunked)
};

}  // namespace infergate::gateway
