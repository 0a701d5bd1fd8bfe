// Route: the HTTPRoute rule that matches the path and headers (the body's model as the
// X-Gateway-Model-Name header), and the pool it draws by weight.
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

std::optional<RequestError> RequestPhases::route(RequestContext& ctx) {
  const ParsedRequest& parsed = *ctx.parsed;
  const HeaderLookup lookup = [&](std::string_view name) -> std::optional<std::string_view> {
    if (name == "x-gateway-model-name") return std::string_view(parsed.model);
    return find_header(ctx.request.headers, name);
  };
  auto routed = ctx.snapshot->router.route(ctx.path, parsed.model, lookup, random_);
  if (auto* e = std::get_if<RequestError>(&routed)) return std::move(*e);
  ctx.route = std::move(std::get<RouteDecision>(routed));
  ctx.pool_config = &ctx.config().pools[ctx.route->pool];
  ctx.pool = ctx.snapshot->pools[ctx.route->pool].get();
  ctx.services = &ctx.snapshot->services[ctx.route->pool];
  ctx.record.pool = ctx.pool_config->ns() + "/" + ctx.pool_config->name();
  return std::nullopt;
}

}  // namespace infergate::gateway
