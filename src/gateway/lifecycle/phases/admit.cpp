// Admit: the request-control admit plugins may refuse the request; then the pool's flow
// control lets it go now, queues it by priority, or sheds it (docs/configuration.md, "Flow
// control"). An admitted request holds its ticket to the end, and its end lets queued ones go.
#include "gateway/flowcontrol/flow_controller.hpp"
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

void AdmissionTicket::release() {
  if (flow_) std::exchange(flow_, nullptr)->on_capacity_changed();
}

boost::asio::awaitable<std::optional<RequestError>> RequestPhases::admit(RequestContext& ctx) {
  if (auto refused = control_.admit(ctx)) co_return refused;
  flowcontrol::FlowController* flow = ctx.pool->flow.get();
  if (!flow) co_return std::nullopt;
  // The client's model and the target model label flow control's metrics.
  const flowcontrol::AdmitRequest request{ctx.priority, ctx.flow, ctx.request.body.size(),
                                          ctx.parsed->model, ctx.resolution.target_model};
  flowcontrol::Admission admission = co_await flow->admit(request);
  ctx.record.queued = admission.waited;
  if (!admission.admitted()) co_return std::move(admission.refusal);
  ctx.admission = AdmissionTicket(flow);
  co_return std::nullopt;
}

}  // namespace infergate::gateway
