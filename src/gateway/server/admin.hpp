// The admin listener: GET /healthz, /readyz, /config (what is loaded), /metrics (Prometheus),
// POST /reload. Served by the control thread.
#pragma once

#include "gateway/frontend/http_frontend.hpp"

namespace infergate::gateway {

class Gateway;
Handler make_admin_handler(Gateway& gateway);

}  // namespace infergate::gateway
