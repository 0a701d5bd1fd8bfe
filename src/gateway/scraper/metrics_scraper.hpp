// The endpoint scraper: a thread of its own scrapes every endpoint of the current configuration
// (GET /metrics on its metrics port every `interval`, on a kept-alive connection, the whole
// scrape bounded by `timeout`), applies each result (scrape_result.hpp) and republishes the
// pools' metrics views, at most every few milliseconds. Each endpoint keeps a random slot on a
// grid of 2 ms ticks in the interval, so scrapes spread over the interval and the scrapes of
// one slot share a wake-up; answers are collected at the next tick rather than as each arrives.
// The thread runs its own epoll loop over non-blocking sockets (no Asio: at 10,000 scrapes/s
// the coroutine and Beast machinery cost a third of the scraper's CPU); host names are
// resolved on a second thread. A reload starts scraping new endpoints and closes the
// connections of departed ones.
//
// Thread-safety: start()/stop() from the owning thread; the scraper thread writes only the
// endpoints' scrape fields (atomics) and the pools' views (atomic shared_ptr).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.hpp"
#include "gateway/datastore/datastore.hpp"
#include "gateway/scraper/scrape_result.hpp"

namespace infergate::gateway {

class MetricsScraper {
 public:
  MetricsScraper(const SnapshotSource& snapshots, const Clock& clock, ScrapeOptions options,
                 std::function<void(const std::string&)> log);
  ~MetricsScraper();
  MetricsScraper(const MetricsScraper&) = delete;
  MetricsScraper& operator=(const MetricsScraper&) = delete;

  void start();
  void stop();
  // Blocks until every endpoint of the configuration had its first scrape (good or not), or
  // `bound` passed; so a gateway reports ready with its picture of the fleet in place.
  bool wait_first_round(std::chrono::milliseconds bound);
  // Tells the scraper that the snapshot changed (reload): loops are matched to its endpoints.
  void snapshot_changed();

  std::uint64_t scrapes() const { return scrapes_.load(std::memory_order_acquire); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<std::uint64_t> scrapes_{0};
};

}  // namespace infergate::gateway
