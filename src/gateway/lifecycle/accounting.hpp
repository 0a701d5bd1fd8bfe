// The gateway's account of its requests: totals for /metrics and, when asked for, one access
// log line per request (access_log.hpp). Fed by the account phase (RequestPhases::on_complete)
// of every worker.
//
// Thread-safety: every method from any thread (relaxed atomics; the log buffers whole lines).
#pragma once

#include <atomic>
#include <cstdint>

#include "gateway/lifecycle/request_context.hpp"

namespace infergate::gateway {

class AccessLog;

class RequestAccounting {
 public:
  struct Counters {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> retried{0};
    std::atomic<std::uint64_t> prompt_tokens{0};
    std::atomic<std::uint64_t> output_tokens{0};  // from usage, or counted from the stream
    std::atomic<long> in_flight{0};
  };

  // Every finished request goes to `access_log` (null: no access log), which must outlive this.
  explicit RequestAccounting(AccessLog* access_log);

  // A request is being served from construction to destruction (held by the front end's
  // handler, so a request cut off at shutdown is released too).
  class InFlight {
   public:
    explicit InFlight(RequestAccounting& a) : n_(a.counters_.in_flight) {
      n_.fetch_add(1, std::memory_order_relaxed);
    }
    ~InFlight() { n_.fetch_sub(1, std::memory_order_relaxed); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    std::atomic<long>& n_;
  };

  // The record of a request that ended.
  void finished(const RequestRecord& record);

  const Counters& counters() const { return counters_; }
  RequestMetrics& metrics() { return metrics_; }
  const RequestMetrics& metrics() const { return metrics_; }

 private:
  AccessLog* const access_log_;
  Counters counters_;
  RequestMetrics metrics_;
};

}  // namespace infergate::gateway
