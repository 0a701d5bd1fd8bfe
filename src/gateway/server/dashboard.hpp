// The admin listener's live page (docs/observability.md, "The live page"): GET /dashboard and
// its script and style sheet, built into the binary from src/gateway/server/dashboard/ (nothing
// is loaded from elsewhere), and GET /dashboard/decisions, the scheduler's last decisions as
// JSON. The page reads /metrics and the decisions every second.
//
// Thread-safety: pure functions over their arguments (the decision log is thread-safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/http/http_types.hpp"
#include "gateway/scheduling/framework/decision_log.hpp"

namespace infergate::gateway {

// Whether `path` is one of the page's files (served without the admin token: they hold no data;
// the page sends the token with its own requests).
bool is_dashboard_file(std::string_view path);

// Answers a GET of one of the page's paths: a file, or the decisions (which asks the log to
// record decisions for a while). False, with nothing set, when `path` is none of them.
bool serve_dashboard(std::string_view path, scheduling::DecisionLog& decisions, ResponseHead& head,
                     std::string& body);

// The decisions as JSON, newest first, each with its age at `now`.
std::string decisions_json(const std::vector<scheduling::Decision>& decisions, TimePoint now);

}  // namespace infergate::gateway
