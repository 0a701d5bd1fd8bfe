// One status writer among active-active replicas: leader election over a coordination.k8s.io/v1
// Lease, as client-go's leaderelection does it. Every replica watches and serves on its own;
// only the Lease's holder writes status. The holder renews the Lease every step; a replica that
// has seen the same holder and renewTime for longer than the Lease's duration (measured on its
// own clock, so clocks need not agree) takes it over. Writes carry the resourceVersion read, so
// two replicas racing for it cannot both win (409 Conflict for the loser).
//
// Thread-safety: one thread calls step() and release().
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "kube/api_transport.hpp"

namespace infergate::kube {

struct LeaseOptions {
  std::string ns = "default";
  std::string name = "infergate-status";
  std::string identity;                       // this replica's (its Pod name, or host and pid)
  std::chrono::milliseconds duration{15000};  // leaseDurationSeconds (whole seconds, at least 1)
};

class LeaderLease {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  LeaderLease(ApiTransport& api, LeaseOptions options, Now now);

  // Reads the Lease and creates, renews or takes it over as its state allows. Whether this
  // replica holds it now; `error` says why a request failed (the Lease is then held only while
  // the last renewal is younger than two thirds of the duration).
  bool step(std::string& error);
  // Gives the Lease up (holder emptied) when held, so another replica takes it at once.
  void release();
  bool held() const { return held_; }
  const LeaseOptions& options() const { return options_; }

 private:
  bool write(const std::string& method, const std::string& target, const std::string& body,
             std::string& error);

  ApiTransport& api_;
  const LeaseOptions options_;
  const Now now_;
  bool held_ = false;
  std::chrono::steady_clock::time_point renewed_{};  // our last successful write
  std::string observed_;                             // holder and renewTime last read
  std::chrono::steady_clock::time_point observed_at_{};
};

// "2026-12-06T16:20:00.123456Z": a Lease's MicroTime, from the system clock.
std::string micro_time_now();

}  // namespace infergate::kube
