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
  flowcontrol::FlowController* flow = ctx.services->flow.get();
  // A pool's own endpoint picker queues and sheds its requests itself, as behind Envoy.
  if (!flow || picked_externally(ctx)) co_return std::nullopt;
  // Flow control's metrics are labelled as the request's series is (client-chosen values
  // capped), or as it came when no series is kept.
  flowcontrol::AdmitRequest request{ctx.priority, ctx.flow, ctx.request.body.size(),
                                    ctx.parsed->model, ctx.resolution.target_model};
  if (ctx.record.series) {
    const RequestMetrics::Labels labels = RequestMetrics::labels(*ctx.record.series);
    request.model = labels.model;
    request.target_model = labels.target;
    request.fairness_label = labels.fairness;
  }
  if (ctx.client) {
    request.on_queued = [](void* client) { static_cast<ClientResponse*>(client)->watch_client(); };
    request.on_queued_context = ctx.client;
  }
  flowcontrol::Admission admission = co_await flow->admit(request);
  ctx.record.queued = admission.waited;
  if (!admission.admitted()) co_return std::move(admission.refusal);
  ctx.admission = AdmissionTicket(flow);
  co_return std::nullopt;
}

}  // namespace infergate::gateway
