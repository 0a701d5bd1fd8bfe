// Account: the request's total time, its record to whoever watches (the gateway's
// RequestAccounting: counters and the access log), and its prompt buffer back for the next
// request. Called once per request, whatever its outcome.
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

void RequestPhases::account(RequestContext& ctx) {
  ctx.record.total = clock_.now() - ctx.started;
  ctx.running.release();
  if (on_complete) on_complete(ctx.record);
  // The scheduling session views the prompt: it goes first.
  ctx.session.reset();
  ctx.scheduling.prompt = {};
  if (ctx.parsed) keep_prompt_buffer(std::move(ctx.parsed->prompt));
}

}  // namespace infergate::gateway
