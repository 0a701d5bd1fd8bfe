// Authenticate: with an API-key table, every request names a listed key (Authorization:
// Bearer); its grant decides the tenant and caps the priority (docs/security.md). Without a
// table, every request passes.
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

std::optional<RequestError> RequestPhases::authenticate(RequestContext& ctx) const {
  const auto& keys = ctx.config().api_keys;
  if (keys.empty()) return std::nullopt;
  std::string_view key = find_header(ctx.request.headers, "authorization").value_or("");
  if (key.size() > 7 && (key.starts_with("Bearer ") || key.starts_with("bearer ")))
    key.remove_prefix(7);
  else
    key = {};
  const auto it = keys.find(std::string(key));
  if (it == keys.end())
    return RequestError::client(401, key.empty()
                                         ? "Missing API key: send `Authorization: Bearer <key>`."
                                         : "Incorrect API key provided.");
  ctx.grant = &it->second;
  return std::nullopt;
}

}  // namespace infergate::gateway
