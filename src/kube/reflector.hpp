// One kind of Kubernetes object, kept up to date in memory: listed (page by page), then
// watched from the list's resourceVersion with bookmarks; listed again when the watch expires
// (410 Gone, usually an ERROR event with code 410), and after errors with a growing back-off.
// A server that does not answer, is busy (429) or fails (5xx, as a restarting one says "apiserver
// is shutting down") is watched again from the same version after the back-off: not listed.
// Each change calls on_change with the whole current set, so the caller rebuilds from a
// consistent view instead of applying deltas.
//
// Memory stays bounded by what is watched: each object is kept without its managedFields, and
// a list is read in pages of `page_size`.
//
// Thread-safety: run() on a thread of its own; stop() from any thread.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kube/api_transport.hpp"

namespace infergate::kube {

struct ResourceKind {
  std::string group;    // empty: the core group (/api/v1)
  std::string version;  // "v1", "v1alpha2"
  std::string plural;   // "pods", "inferencepools"
  std::string label_selector;
  std::string field_selector{};  // "metadata.name=epp-config"

  // "/api/v1/namespaces/ns/pods", "/apis/g/v/pods" (ns empty: every namespace).
  std::string path(const std::string& ns) const;
  std::string name() const;  // "inferencepools.inference.networking.k8s.io/v1"
};

struct ReflectorOptions {
  std::string ns;  // empty: every namespace
  std::size_t page_size = 500;
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::seconds watch_timeout{300};      // asked of the server (timeoutSeconds)
  std::chrono::milliseconds watch_idle{90000};  // no byte (not even a bookmark) for this long
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{30000};
};

// Objects by "namespace/name".
using ObjectSet = std::map<std::string, boost::json::object>;

class Reflector {
 public:
  struct Hooks {
    // The set after a change (a whole list, or an event that changed it). Called on run()'s
    // thread.
    std::function<void(const ObjectSet&)> on_change;
    // Something went wrong (a refused list, a broken watch): a line for the log.
    std::function<void(const std::string&)> on_error;
    // Waits `d` unless stopped first (then false). Injected so tests do not sleep.
    std::function<bool(std::chrono::milliseconds d)> wait;
    // Cuts an object down to what is read, before it is kept (null: kept whole but for its
    // managedFields). Pods keep only their names, labels and readiness.
    std::function<void(boost::json::object&)> trim{};
  };

  Reflector(ApiTransport& transport, ResourceKind kind, ReflectorOptions options, Hooks hooks);

  // Lists and watches until stop().
  void run();
  void stop();
  // A first list arrived (or the kind is not served: 404, as when its CRD is not installed).
  bool synced() const { return synced_.load(); }
  // Counters for tests and metrics.
  std::uint64_t lists() const { return lists_.load(); }
  std::uint64_t relists_after_gone() const { return gone_.load(); }
  // "inferencepools.inference.networking.k8s.io/v1"
  std::string resource_name() const { return kind_.name(); }

 private:
  enum class WatchEnd { kExpired, kBroken, kGone, kFailed, kStopped };
  // One whole list into objects_; false on failure (logged).
  bool list();
  WatchEnd watch();
  // Applies one watch event line; sets `end` when the watch must stop.
  bool apply(std::string_view line, WatchEnd& end);
  std::string describe(const ApiResponse& r, const char* verb) const;

  ApiTransport& transport_;
  const ResourceKind kind_;
  const ReflectorOptions options_;
  const Hooks hooks_;
  ObjectSet objects_;
  std::string resource_version_;
  bool not_served_ = false;  // the last list got 404
  std::atomic<bool> stopped_{false};
  std::atomic<bool> synced_{false};
  std::atomic<std::uint64_t> lists_{0};
  std::atomic<std::uint64_t> gone_{0};
};

}  // namespace infergate::kube
