// Pick: the pool's scheduler (filters, scorers, picker) chooses an endpoint the request has not
// tried yet. The first pick begins the request's scheduling session, which hashes the prompt
// once for every attempt. A subset hint (ext_proc) leaves the endpoints outside it out.
#include <algorithm>
#include <cassert>

#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

std::string_view host_of(std::string_view address) {
  const auto colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host;
}

std::optional<RequestError> RequestPhases::pick(RequestContext& ctx) {
  if (!ctx.session) {
    // The Datastore gives every pool a scheduler through its SchedulerFactory; a pool without
    // one is a wiring mistake.
    assert(ctx.services->scheduler && "the pool has no scheduler: its Datastore needs a factory");
    ctx.session = ctx.services->scheduler->begin(*ctx.pool, ctx.scheduling, {random_, clock_});
  }
  std::span<const Endpoint* const> exclude(ctx.tried.data(), ctx.tried.size());
  std::vector<const Endpoint*> outside_subset;
  if (ctx.allowed_hosts) {
    if (ctx.allowed_hosts->empty())
      return RequestError::unavailable("the subset hint allows no endpoint");
    outside_subset.assign(ctx.tried.begin(), ctx.tried.end());
    for (const auto& ep : ctx.pool->endpoints)
      if (std::find(ctx.allowed_hosts->begin(), ctx.allowed_hosts->end(), host_of(ep->address)) ==
          ctx.allowed_hosts->end())
        outside_subset.push_back(ep.get());
    exclude = outside_subset;
  }
  PickResult picked = ctx.session->pick(exclude);
  if (!picked.endpoint) {
    ctx.endpoint.reset();
    RequestError e = std::move(picked.failure);
    e.message += " (pool " + ctx.record.pool + ")";
    return e;
  }
  ctx.endpoint = std::move(picked.endpoint);
  ctx.tried.push_back(ctx.endpoint.get());
  return std::nullopt;
}

}  // namespace infergate::gateway
