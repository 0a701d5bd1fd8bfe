#include "gateway/scheduling/framework/profile_scheduler.hpp"

#include <algorithm>
#include <optional>

#include "gateway/datastore/availability.hpp"
#include "gateway/scheduling/framework/scheduler_attempts.hpp"
#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::scheduling {
namespace {

constexpr std::size_t kPrefetchAhead = 8;

// The candidates' columns as raw pointers, so the loop that fills them keeps them in registers
// (through the thread-local vectors, each store would reload them).
struct Columns {
  explicit Columns(Candidates& c)
      : slot(c.slot.data()),
        endpoint(c.endpoint.data()),
        waiting(c.waiting.data()),
        running(c.running.data()),
        kv_usage(c.kv_usage.data()),
        in_flight(c.in_flight.data()),
        in_flight_tokens(c.in_flight_tokens.data()),
        lora(c.lora.data()),
        lora_room(c.lora_room.data()),
        saturated(c.saturated.data()),
        prefix_matched(c.prefix_matched.data()) {}
  std::uint32_t* slot;
  Endpoint** endpoint;
  double* waiting;
  double* running;
  double* kv_usage;
  double* in_flight;
  double* in_flight_tokens;
  const metrics::LoraInfo** lora;
  std::uint8_t* lora_room;
  std::uint8_t* saturated;
  std::uint32_t* prefix_matched;
};

// Candidate `i` (every column written) from endpoint `ep`, at `slot` of the pool, and its load
// in the view (null: none).
inline void fill_candidate(const Columns& c, std::size_t i, std::size_t slot, Endpoint& ep,
                           const EndpointLoad* load, TimePoint now, const SchedulerOptions& o) {
  c.slot[i] = static_cast<std::uint32_t>(slot);
  c.endpoint[i] = &ep;
  c.in_flight[i] = ep.in_flight.load(std::memory_order_relaxed);
  c.in_flight_tokens[i] = static_cast<double>(ep.in_flight_tokens.load(std::memory_order_relaxed));
  c.prefix_matched[i] = 0;
  const bool sampled = load && load->sampled;
  const bool saturated = o.scraping && (!sampled || now - load->scraped_at > o.metrics_staleness);
  if (sampled && !saturated) {
    c.saturated[i] = 0;
    c.waiting[i] = load->waiting;
    c.running[i] = load->running;
    c.kv_usage[i] = load->kv_usage;
    c.lora[i] = load->lora;
    c.lora_room[i] = load->lora_room;
    return;
  }
  // Saturated: stale or never scraped while scraping is on. Otherwise nothing is known and
  // nothing expected: an idle endpoint.
  c.saturated[i] = saturated ? 1 : 0;
  c.waiting[i] = saturated ? kSaturatedQueue : 0.0;
  c.running[i] = 0.0;
  c.kv_usage[i] = saturated ? 1.0 : 0.0;
  c.lora[i] = nullptr;
  c.lora_room[i] = 0;
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
    const auto t0 = std::chrono::steady_clock::now();
    const TimePoint now = env_.clock.now();
    const std::shared_ptr<const PoolMetricsView> view = pool_.view.load(std::memory_order_acquire);
    state_.begin_decision(now, view.get());
    const std::size_t n = pool_.endpoints.size();
    // A decision runs to its end on its thread: its scratch is the thread's, kept warm.
    thread_local Candidates candidates;
    candidates.resize(n);  // every column of a candidate is written below
    const Columns columns(candidates);
    const bool have_loads = view && view->loads.size() >= n;
    std::size_t used = 0;
    int unhealthy = 0, ejected = 0;
    for (std::size_t i = 0; i < n; ++i) {
      // The endpoints are separate objects: fetch a few ahead.
      if (i + kPrefetchAhead < n) __builtin_prefetch(pool_.endpoints[i + kPrefetchAhead].get());
      Endpoint& ep = *pool_.endpoints[i];
      if (!exclude.empty() && std::find(exclude.begin(), exclude.end(), &ep) != exclude.end())
        continue;
      switch (availability(view.get(), i, ep, now)) {
        case Availability::kScrapeFailing:
          ++unhealthy;
          continue;
        case Availability::kEjected:
          ++ejected;
          continue;
        case Availability::kUsable:
          break;
      }
      fill_candidate(columns, used++, i, ep, have_loads ? &view->loads[i] : nullptr, now, options_);
    }
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
    std::chrono::steady_clock::time_point picked_at;
    const std::optional<std::size_t> chosen =
        profile_->run(state_, candidates, failure, explained ? &*explained : nullptr, &picked_at);
    if (!chosen) return {nullptr, failure};
    // The decision's latency ends with the picker's call (the explanation, recorded only while
    // the dashboard watches, is not part of it).
    SchedulerLatency::instance().e2e().observe(
        std::chrono::duration_cast<std::chrono::nanoseconds>(picked_at - t0).count());
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
    return {pool_.endpoints[candidates.slot[*chosen]], {}};
  }

  std::shared_ptr<const SchedulingProfile> profile_;
  const SchedulerOptions& options_;
  PoolState& pool_;
  prefix::PrefixIndex* index_;
  std::atomic<PrefixMatchMetrics::PoolTotals*>& pool_totals_;
  SchedulingEnv env_;
  CycleState state_;
  std::optional<std::uint32_t> last_id_;
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
