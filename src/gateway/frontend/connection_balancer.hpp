// Spreads client connections over the workers' front ends by how many each has open, as
// Envoy's exact connection balance does.
//
// Each worker accepts on a socket of its own bound with SO_REUSEPORT, and the kernel picks the
// socket for a new connection by a hash of its addresses. With a few long-lived connections
// (a benchmark's 64, the kept-alive connections of a load balancer in front) the hash often
// gives one worker a third more than another: that worker's requests wait for its core while
// the other one idles. So the front end that accepts a connection asks place() where it goes:
// to the front end with the fewest open, itself first among equals, never one that drains.
// Another front end adopts the connection on its own thread (HttpFrontend::adopt).
//
// Thread-safety: every member may be called from any thread; add() before any connection.
#pragma once

#include <cassert>
#include <cstddef>
#include <mutex>
#include <vector>

namespace infergate::gateway {

class HttpFrontend;

class ConnectionBalancer {
 public:
  // A front end to balance over (it outlives the balancer's use).
  void add(HttpFrontend& front_end) {
    std::lock_guard lock(mutex_);
    entries_.push_back({&front_end, 0, true});
  }

  // `front_end` drains: no connection is placed there any more.
  void stop_placing(const HttpFrontend& front_end) {
    std::lock_guard lock(mutex_);
    entries_[index_of(front_end)].placing = false;
  }

  // A connection `accepted_by` took: the front end that serves it, where it now counts as
  // open until closed().
  HttpFrontend& place(const HttpFrontend& accepted_by) {
    std::lock_guard lock(mutex_);
    Entry* best = &entries_[index_of(accepted_by)];
    for (Entry& e : entries_)
      if (e.placing && e.open < best->open) best = &e;
    ++best->open;
    return *best->front_end;
  }

  // A connection `front_end` served (or turned away) has closed.
  void closed(const HttpFrontend& front_end) {
    std::lock_guard lock(mutex_);
    std::size_t& open = entries_[index_of(front_end)].open;
    if (open > 0) --open;
  }

  // Connections open on `front_end`.
  std::size_t open(const HttpFrontend& front_end) const {
    std::lock_guard lock(mutex_);
    return entries_[index_of(front_end)].open;
  }

 private:
  struct Entry {
    HttpFrontend* front_end;
    std::size_t open;
    bool placing;  // false once it drains
  };
  // Under the mutex; `front_end` was added.
  std::size_t index_of(const HttpFrontend& front_end) const {
    std::size_t i = 0;
    while (i + 1 < entries_.size() && entries_[i].front_end != &front_end) ++i;
    assert(entries_[i].front_end == &front_end);
    return i;
  }

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace infergate::gateway
