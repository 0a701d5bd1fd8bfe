// The endpoints the data path picks from, with the gateway's own live counters.
//
// An Endpoint keeps its identity (name and address) across configuration reloads: reconcile()
// hands the same Endpoint object to the new snapshot when the key is unchanged, so in-flight
// counters and (later) metrics history survive a reload. A Snapshot bundles one Config with
// its router and pool states; the gateway publishes it through an atomic shared_ptr, and a
// request holds the snapshot it started with until it ends, so a reload never changes a
// request mid-way.
//
// Thread-safety: Snapshot and Endpoint::spec are immutable; the counters are atomics.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "gateway/routing/router.hpp"

namespace infergate::gateway {

struct Endpoint {
  explicit Endpoint(config::EndpointSpec s)
      : spec(std::move(s)), address(spec.host + ":" + std::to_string(spec.port)) {}
  const config::EndpointSpec spec;
  const std::string address;  // host:port
  std::atomic<int> in_flight{0};          // requests sent and not finished
  std::atomic<long> in_flight_tokens{0};  // their prompt estimate plus expected output
  std::atomic<std::uint64_t> requests{0};
};

struct PoolState {
  std::vector<std::shared_ptr<Endpoint>> endpoints;
  std::atomic<std::uint64_t> next{0};  // round-robin position
};

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  Router router;
  std::vector<std::unique_ptr<PoolState>> pools;  // parallel to config->pools
  std::uint64_t generation = 0;
};

class Datastore {
 public:
  // Builds a snapshot for `config`, reusing the Endpoint of every unchanged key.
  std::shared_ptr<const Snapshot> reconcile(std::shared_ptr<const config::Config> config);

 private:
  std::mutex mu_;
  std::map<std::string, std::weak_ptr<Endpoint>> known_;
  std::uint64_t generation_ = 0;
};

}  // namespace infergate::gateway
