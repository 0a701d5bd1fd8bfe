// Identify: the request id and trace context the request goes on with. The context kept the
// client's well-formed ones when it began (request_ids.hpp); what is missing is drawn here, so
// that every request has both before its first answer, an error included.
#include "gateway/lifecycle/phases.hpp"

namespace infergate::gateway {

void RequestPhases::identify(RequestContext& ctx) {
  fill_request_ids(ctx.ids, id_random_ ? *id_random_ : own_id_random_);
}

}  // namespace infergate::gateway
