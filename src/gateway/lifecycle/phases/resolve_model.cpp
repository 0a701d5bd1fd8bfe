// Resolve model: the pool's InferenceModel for the client's model (a target drawn by weight,
// which may be a LoRA adapter), and the request's priority and fairness flow. Whose claims
// count (docs/security.md): an API key's grant caps them at its maxPriority and names the
// flow; without one, only trusted clients (--trust-client-claims) may raise a priority, choose a
// flow or name the model sent upstream, and the others may only lower their priority.
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

void RequestPhases::resolve_model(RequestContext& ctx) {
  const ParsedRequest& parsed = *ctx.parsed;
  // The objective a client claims, under the current upstream's header name or the older one.
  auto objective = find_header(ctx.request.headers, "x-llm-d-inference-objective");
  if (!objective) objective = find_header(ctx.request.headers, "x-gateway-inference-objective");
  ctx.objective = objective.value_or("");
  ctx.resolution = gateway::resolve_model(*ctx.pool_config, parsed.model, ctx.objective, random_);
  ctx.priority = ctx.resolution.priority;
  if (ctx.grant) {
    ctx.priority = std::min(ctx.priority, ctx.grant->max_priority);
    ctx.flow = ctx.grant->tenant;
  } else if (options_.trust_client_claims) {
    auto fairness = find_header(ctx.request.headers, "x-llm-d-inference-fairness-id");
    if (!fairness) fairness = find_header(ctx.request.headers, "x-gateway-inference-fairness-id");
    ctx.flow = fairness.value_or("default-flow");
  } else {
    ctx.priority = std::min(ctx.priority, ctx.resolution.declared_priority);
    ctx.flow = "default-flow";
  }
  // A trusted gateway in front may name the model sent upstream (upstream's rewrite header).
  if (ctx.grant || options_.trust_client_claims) {
    auto rewrite = find_header(ctx.request.headers, "x-llm-d-model-name-rewrite");
    if (!rewrite) rewrite = find_header(ctx.request.headers, "x-gateway-model-name-rewrite");
    if (rewrite && !rewrite->empty()) ctx.resolution.target_model = std::string(*rewrite);
  }
  ctx.scheduling =
      SchedulingRequest{ctx.resolution.target_model, TextPieces(parsed.prompt),
                        static_cast<long>(parsed.prompt_chars / 4) + parsed.max_tokens.value_or(0)};
  ctx.record.target_model = ctx.resolution.target_model;
  ctx.record.priority = ctx.priority;
  ctx.record.flow = ctx.flow;
  if (metrics) {
    ctx.record.series =
        metrics->series(parsed.model, ctx.resolution.target_model, ctx.flow, ctx.priority);
    ctx.running = RequestMetrics::Running(ctx.record.series);
    if (ctx.resolution.rewrite_name)
      metrics->rewrote(*ctx.resolution.rewrite_name, parsed.model, ctx.resolution.target_model);
  }
}

}  // namespace infergate::gateway
