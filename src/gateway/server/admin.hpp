// The admin listener: GET /healthz, /readyz, /config (what is loaded), /metrics (Prometheus),
// the live page (GET /dashboard, its files, /dashboard/decisions: dashboard.hpp), POST /reload.
// Served by the control thread.
//
// Access: with a token, every path needs `Authorization: Bearer <token>` (401 otherwise),
// except the probes (/healthz, /readyz, /metrics) when `open_probes` says so, and the live
// page's own files (no data in them; the page sends the token with its requests). The gateway
// refuses to start with the admin listener on a non-loopback address and no token.
#pragma once

#include <string>

#include "gateway/frontend/http_frontend.hpp"

namespace infergate::gateway {

struct AdminAccess {
  std::string token;         // empty: no token asked for (loopback only)
  bool open_probes = false;  // /healthz, /readyz and /metrics answer without the token
};

// Whether "host:port" binds only the loopback interface.
bool is_loopback_listen(const std::string& address);

class Gateway;
Handler make_admin_handler(Gateway& gateway, const AdminAccess& access);

}  // namespace infergate::gateway
