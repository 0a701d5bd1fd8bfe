#include "gateway/scheduling/framework/profile_scheduler.hpp"

#include <algorithm>
#include <cassert>
#include <optional>

#include "gateway/datastore/availability.hpp"
#include "gateway/scheduling/framework/scheduler_attempts.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::scheduling {
namespace {

constexpr std::size_t kPrefetchAhead = 8;

// What building a decision's candidates counted besides them.
struct Built {
  std::size_t used = 0;
  int unhealthy = 0;
  int ejected = 0;
};

// Fills `c` with the usable endpoints of `endpoints` (availability(), those not in `exclude`),
// with their loads and health from `view` (null: none). Every column pointer, bound and option is
// a local: the byte columns' stores may alias anything, and through members each store would
// make the compiler load them again.
Built build_candidates(Candidates& c, std::span<const std::shared_ptr<Endpoint>> endpoints,
                       const PoolMetricsView* view, std::span<const Endpoint* const> exclude,
                       TimePoint now, const SchedulerOptions& options) {
  std::uint32_t* const slot = c.slot.data();
  Endpoint** const endpoint = c.endpoint.data();
  std::uint32_t* const id = c.id.data();
  double* const waiting = c.waiting.data();
  double* const running = c.running.data();
  double* const kv_usage = c.kv_usage.data();
  double* const in_flight = c.in_flight.data();
  double* const in_flight_tokens = c.in_flight_tokens.data();
  const metrics::LoraInfo** const lora = c.lora.data();
  std::uint8_t* const lora_room = c.lora_room.data();
  std::uint8_t* const saturated = c.saturated.data();
  std::uint32_t* const prefix_matched = c.prefix_matched.data();
  const bool scraping = options.scraping;
  const TimePoint stale_before = now - options.metrics_staleness;
  const std::size_t n = endpoints.size();
  const std::size_t covered = view ? std::min(n, view->loads.size()) : 0;
  const EndpointLoad* const health = view ? view->loads.data() : nullptr;
  const EndpointLoad* const loads = covered == n ? health : nullptr;  // a view for every one
  Built b;
  std::size_t used = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // The endpoints are separate objects: fetch a few ahead.
    if (i + kPrefetchAhead < n) __builtin_prefetch(endpoints[i + kPrefetchAhead].get());
    Endpoint& ep = *endpoints[i];
    if (!exclude.empty() && std::find(exclude.begin(), exclude.end(), &ep) != exclude.end())
      continue;
    if (i < covered && !health[i].healthy) {
      ++b.unhealthy;
      continue;
    }
    if (ejected(ep, now)) {
      ++b.ejected;
      continue;
    }
    const std::size_t k = used++;
    slot[k] = static_cast<std::uint32_t>(i);
    endpoint[k] = &ep;
    id[k] = ep.id;
    in_flight[k] = ep.in_flight.load(std::memory_order_relaxed);
    in_flight_tokens[k] = static_cast<double>(ep.in_flight_tokens.load(std::memory_order_relaxed));
    prefix_matched[k] = 0;
    const EndpointLoad* load = loads ? &loads[i] : nullptr;
    const bool sampled = load && load->sampled;
    const bool stale = scraping && (!sampled || load->scraped_at < stale_before);
    if (sampled && !stale) {
      waiting[k] = load->waiting;
      running[k] = load->running;
      kv_usage[k] = load->kv_usage;
      lora[k] = load->lora;
      lora_room[k] = load->lora_room;
      saturated[k] = 0;
      continue;
    }
    // Saturated: stale or never scraped while scraping is on. Otherwise nothing is known and
    // nothing expected: an idle endpoint.
    waiting[k] = stale ? kSaturatedQueue : 0.0;
    running[k] = 0.0;
    kv_usage[k] = stale ? 1.0 : 0.0;
    lora[k] = nullptr;
    lora_room[k] = 0;
    saturated[k] = stale ? 1 : 0;
  }
  b.used = used;
  return b;
}

// The common case, built faster: nothing excluded, and the view lists every endpoint, healthy
// and freshly sampled (or no metrics expected). The candidates are then the view's columns as
// they are, copied only when a plugin reads them (Candidates::metrics_pending: the metrics,
// the in-flight tokens and the slot, endpoint and id columns). Only each endpoint's in-flight
// count is read, and its ejection while some endpoint of the process may be ejected;
// prefix_matched is left for the match to write. False, with `c` to be built again, when that
// does not hold or an endpoint turns out ejected.
bool copy_fresh_candidates(Candidates& c, std::span<const std::shared_ptr<Endpoint>> endpoints,
                           const PoolMetricsView* view, TimePoint now,
                           const SchedulerOptions& options) {
  const std::size_t n = endpoints.size();
  if (!view || view->loads.size() != n || !view->all_healthy) return false;
  if (options.scraping &&
      (!view->all_sampled || view->oldest_scrape < now - options.metrics_staleness))
    return false;
  const PoolMetricsView::Columns& from = view->columns;
  if (from.endpoint.size() != n) return false;               // a view made from samples alone
  assert(n == 0 || from.endpoint[0] == endpoints[0].get());  // the pool's own view
  // Then only what moves between views: each endpoint's in-flight count (packed with the
  // others', in_flight_counters.hpp), and its ejection.
  Endpoint* const* const endpoint = from.endpoint.data();
  assert(from.in_flight.size() == n);
  const std::atomic<int>* const* const counter = from.in_flight.data();
  double* const in_flight = c.in_flight.data();
  for (std::size_t i = 0; i < n; ++i) in_flight[i] = counter[i]->load(std::memory_order_relaxed);
  if (some_endpoint_may_be_ejected(now) &&
      std::any_of(endpoint, endpoint + n, [&](const Endpoint* ep) { return ejected(*ep, now); }))
    return false;
  c.whole_view = view;
  c.metrics_pending = view;
  return true;
}

class ProfileSession final : public SchedulingSession {
 public:
  ProfileSession(std::shared_ptr<const SchedulingProfile> profile, const SchedulerOptions& options,
                 PoolState& pool, prefix::PrefixIndex* index,
                 std::atomic<PrefixMatchMetrics::PoolTotals*>& pool_totals,
                 const SchedulingRequest& request, SchedulingEnv env)
      : profile_(std::move(profile)),
        options_(options),
        pool_(pool),
        index_(index),
        pool_totals_(pool_totals),
        env_(env),
        state_(request, pool, index, env.random, env.clock.now()) {}

  PickResult pick(std::span<const Endpoint* const> exclude) override {
    PickResult result = decide(exclude);
    SchedulerAttempts::instance().count(state_.request.target_model, pool_namespace(),
                                        result.endpoint.get());
    return result;
  }

  void dispatched(const Endpoint& ep) override {
    const PromptBlockOptions* o = profile_->prefix_options();
    if (!o || !index_) return;
    const std::span<const std::uint64_t> blocks = state_.prefix_blocks(*o);
    if (!blocks.empty()) {
      if (last_id_)
        index_->move(*last_id_, ep.id, blocks);
      else
        index_->record(ep.id, blocks);
    }
    last_id_ = ep.id;
  }

 private:
  // The pool's namespace: its key is "<namespace>/<name>".
  std::string_view pool_namespace() const {
    const std::string_view key = pool_.key;
    const auto slash = key.find('/');
    return slash == std::string_view::npos ? std::string_view() : key.substr(0, slash);
  }

  // The pool's prefix totals, under its name as the other families have it (found once).
  PrefixMatchMetrics::PoolTotals& pool_totals() {
    PrefixMatchMetrics::PoolTotals* totals = pool_totals_.load(std::memory_order_acquire);
    if (!totals) {
      const std::string_view key = pool_.key;
      totals = &PrefixMatchMetrics::instance().for_pool(key.substr(key.find('/') + 1));
      pool_totals_.store(totals, std::memory_order_release);
    }
    return *totals;
  }

  PickResult decide(std::span<const Endpoint* const> exclude) {
    const CycleClock::Ticks t0 = CycleClock::now();
    // The first decision follows the session's beginning at once (RequestPhases::pick): it
    // decides at the time the session began with, one clock read fewer per request.
    const TimePoint now = decided_ ? env_.clock.now() : state_.now;
    decided_ = true;
    const std::shared_ptr<const PoolMetricsView> view = pool_.view.load(std::memory_order_acquire);
    state_.begin_decision(now, view.get());
    const std::size_t n = pool_.endpoints.size();
    // A decision runs to its end on its thread: its scratch is the thread's, kept warm.
    thread_local Candidates candidates;
    candidates.resize(n);  // every column of a candidate is written below
    Built built{n, 0, 0};
    if (!exclude.empty() ||
        !copy_fresh_candidates(candidates, pool_.endpoints, view.get(), now, options_)) {
      built = build_candidates(candidates, pool_.endpoints, view.get(), exclude, now, options_);
    }
    const auto [used, unhealthy, ejected] = built;
    candidates.truncate(used);
    if (candidates.empty()) {
      if (n == 0) return {nullptr, {503, "the pool has no endpoints"}};
      return {nullptr,
              {503, "no endpoint available: " + std::to_string(unhealthy) +
                        " failing their metrics scrapes, " + std::to_string(ejected) +
                        " ejected for failing requests, " + std::to_string(exclude.size()) +
                        " already tried"}};
    }
    RequestError failure;
    std::optional<Decision> explained;
    if (options_.decisions && options_.decisions->recording(now)) explained.emplace();
    CycleClock::Ticks picked_at = t0;
    const std::optional<std::size_t> chosen =
        profile_->run(state_, candidates, failure, explained ? &*explained : nullptr, &picked_at);
    if (!chosen) return {nullptr, failure};
    // The decision's latency ends with the picker's call (the explanation, recorded only while
    // the dashboard watches, is not part of it).
    SchedulerLatency::instance().e2e().observe(CycleClock::ns_between(t0, picked_at));
    if (explained) {
      explained->at = now;
      explained->pool = pool_.key;
      explained->target_model = state_.request.target_model;
      explained->endpoints = n;
      options_.decisions->record(std::move(*explained));
    }
    // Upstream counts the chosen endpoint's match against the prompt's blocks.
    if (const auto* hits = profile_->prefix_hits(); hits && state_.prefix_looked_up()) {
      const PromptBlockOptions& o = *profile_->prefix_options();
      const std::size_t total = state_.prefix_blocks(o).size();
      const std::uint32_t matched = candidates.prefix_matched[*chosen];
      hits->observe(matched, total, o.block_chars);
      PrefixMatchMetrics::PoolTotals& pool = pool_totals();
      pool.matched_chars.fetch_add(matched * o.block_chars, std::memory_order_relaxed);
      pool.prompt_chars.fetch_add(total * o.block_chars, std::memory_order_relaxed);
    }
    return {pool_.endpoints[candidates.slot_of(*chosen)], {}};
  }

  std::shared_ptr<const SchedulingProfile> profile_;
  const SchedulerOptions& options_;
  PoolState& pool_;
  prefix::PrefixIndex* index_;
  std::atomic<PrefixMatchMetrics::PoolTotals*>& pool_totals_;
  SchedulingEnv env_;
  CycleState state_;
  std::optional<std::uint32_t> last_id_;
  bool decided_ = false;  // a decision was made (retries read the clock again)
};

}  // namespace

std::size_t ProfileScheduler::prompt_chars() const {
  const PromptBlockOptions* o = profile_->prefix_options();
  return o ? o->block_chars * o->max_blocks : 0;
}

std::unique_ptr<SchedulingSession> ProfileScheduler::begin(PoolState& pool,
                                                           const SchedulingRequest& request,
                                                           SchedulingEnv env) {
  return std::make_unique<ProfileSession>(profile_, options_, pool, prefix_index_.get(),
                                          pool_totals_, request, env);
}

}  // namespace infergate::gateway::scheduling
