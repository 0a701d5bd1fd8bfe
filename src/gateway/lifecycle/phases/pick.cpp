// Pick: the pool's scheduler (filters, scorers, picker) chooses an endpoint the request has not
// tried yet. The first pick begins the request's scheduling session, which hashes the prompt
// once for every attempt.
#include <cassert>

#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

std::optional<RequestError> RequestPhases::pick(RequestContext& ctx) {
  if (!ctx.session) {
    // The Datastore gives every pool a scheduler through its SchedulerFactory; a pool without
    // one is a wiring mistake.
    assert(ctx.pool->scheduler && "the pool has no scheduler: its Datastore needs a factory");
    ctx.session = ctx.pool->scheduler->begin(*ctx.pool, ctx.scheduling, {random_, clock_});
  }
  PickResult picked = ctx.session->pick({ctx.tried.data(), ctx.tried.size()});
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
