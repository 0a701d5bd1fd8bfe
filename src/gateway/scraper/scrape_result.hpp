// What one scrape of an endpoint's /metrics means for the endpoint (pure, no I/O, so the
// health rules are tested without sockets): a parsed page becomes the endpoint's latest
// sample and makes it healthy; a refused connection takes it out of picking at once; any other
// failure (timeout, bad status, unparsable page) does after `failures_to_unhealthy` in a row.
// The last good sample stays, and ages into staleness (the scheduler treats it as saturated).
//
// Thread-safety: called by the scraper thread only (the endpoint's fields are atomics that the
// data path reads).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"

namespace infergate::gateway {

struct ScrapeOptions {
  std::chrono::milliseconds interval{50};  // 0: no scraping (every endpoint counts as healthy)
  std::chrono::milliseconds timeout{1000};
  int failures_to_unhealthy = 3;
  std::size_t max_page_bytes = 4 << 20;
  // A host name is looked up again this often; a failed lookup keeps the last good address.
  std::chrono::milliseconds dns_refresh{30000};
};

enum class ScrapeFailure {
  kNone,
  kRefused,
  kConnect,
  kTimeout,
  kStatus,
  kMalformed,
  kTooLarge,
  kTls,  // the TLS handshake failed (its reason is logged with it)
};
std::string_view scrape_failure_name(ScrapeFailure failure);

// State the scraper keeps per endpoint between scrapes.
struct ScrapeTrack {
  int consecutive_failures = 0;
  std::string last_error;  // for the log line when health changes
};

// Applies a page (failure == kNone) or a failure. Returns true when the endpoint's health
// changed (the caller logs it and republishes).
bool apply_scrape(Endpoint& endpoint, ScrapeTrack& track, ScrapeFailure failure,
                  std::string_view page, TimePoint now, const ScrapeOptions& options);

}  // namespace infergate::gateway
