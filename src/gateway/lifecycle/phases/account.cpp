// Account: the request's total time and identity, its record to whoever watches (the gateway's
// RequestAccounting: counters and the access log), and its prompt buffer back for the next
// request. Called once per request, whatever its outcome.
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

void RequestPhases::account(RequestContext& ctx) {
  RequestRecord& record = ctx.record;
  record.total = clock_.now() - ctx.started;
  ctx.running.release();
  record.request_id = ctx.ids.request_id;
  if (!ctx.ids.traceparent.empty()) record.trace_id = trace_id_of(ctx.ids.traceparent);
  record.method = ctx.request.method;
  record.path = ctx.path;
  if (on_complete) on_complete(record);
  // The scheduling session views the prompt: it goes first.
  ctx.session.reset();
  ctx.scheduling.prompt = {};
  if (ctx.parsed) keep_prompt_buffer(std::move(ctx.parsed->prompt));
}

}  // namespace infergate::gateway
