#include "gateway/scraper/scrape_result.hpp"

#include <variant>

namespace infergate::gateway {

std::string_view scrape_failure_name(ScrapeFailure f) {
  switch (f) {
    case ScrapeFailure::kNone:
      return "ok";
    case ScrapeFailure::kRefused:
      return "connection refused";
    case ScrapeFailure::kConnect:
      return "connect failed";
    case ScrapeFailure::kTimeout:
      return "timed out";
    case ScrapeFailure::kStatus:
      return "status not 200";
    case ScrapeFailure::kMalformed:
      return "malformed page";
    case ScrapeFailure::kTooLarge:
      return "page too large";
    case ScrapeFailure::kTls:
      return "TLS handshake failed";
  }
  return "?";
}

bool apply_scrape(Endpoint& ep, ScrapeTrack& track, ScrapeFailure failure, std::string_view page,
                  TimePoint now, const ScrapeOptions& options) {
  const bool was_healthy = ep.scrape_healthy.load(std::memory_order_relaxed);
  if (failure == ScrapeFailure::kNone) {
    const auto engine =
        metrics::engine_kind_from_name(ep.spec.engine).value_or(metrics::EngineKind::kVllm);
    auto parsed = metrics::extract_metrics(engine, page);
    if (auto* m = std::get_if<metrics::EndpointMetrics>(&parsed)) {
      ep.latest.store(std::make_shared<const EndpointSample>(EndpointSample{std::move(*m), now}),
                      std::memory_order_release);
      track.consecutive_failures = 0;
      track.last_error.clear();
      ep.scrape_healthy.store(true, std::memory_order_relaxed);
      return !was_healthy;
    }
    failure = ScrapeFailure::kMalformed;
    track.last_error = std::get<metrics::MetricsError>(parsed).message;
  } else {
    track.last_error = std::string(scrape_failure_name(failure));
  }
  ep.scrape_failures_total.fetch_add(1, std::memory_order_relaxed);
  scrape_failures_of_all_endpoints().fetch_add(1, std::memory_order_relaxed);
  ++track.consecutive_failures;
  const bool unhealthy = failure == ScrapeFailure::kRefused ||
                         track.consecutive_failures >= options.failures_to_unhealthy;
  if (unhealthy) ep.scrape_healthy.store(false, std::memory_order_relaxed);
  return unhealthy && was_healthy;
}

}  // namespace infergate::gateway
