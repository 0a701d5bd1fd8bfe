// The engine of one simulated vLLM replica: continuous batching in steps over a paged KV cache.
//
// The engine never reads a clock and never sleeps: the caller passes `now` into every call and
// decides when time passes. A driver (the HTTP server's timer, or the virtual-time runner in
// tests) repeats:
//   duration = begin_step(now)   -- plan the next batch; nullopt when nothing can run now
//   ... let `duration` pass ...
//   end_step(now)                -- apply it: tokens appear, requests finish
// Each step follows vLLM's V1 scheduler: running requests first, in the order they started
// (one decode token each, or the next chunk of their prefill), then waiting requests first come
// first served while the token budget (max_num_batched_tokens) and the sequence cap
// (max_num_seqs) allow. A waiting request starts with the longest cached prefix of its prompt.
// When a running request needs a KV block and none is free, the newest running request is
// preempted: its blocks are freed and it goes back to the front of the queue, to be recomputed.
// A step holds requests of at most `max_loras` distinct adapters; a waiting request whose
// adapter would exceed that is skipped until a slot frees. Loading an adapter that is not in a
// GPU slot costs `lora_load` of step time.
//
// Thread-safety: none. One replica's engine lives on one thread. Observer callbacks run inside
// end_step(); they may call submit() and abort().
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "sim/engine/engine_stats.hpp"
#include "sim/engine/kv_cache.hpp"
#include "sim/engine/step_time_model.hpp"
#include "sim/engine/tokenizer.hpp"

namespace infergate::sim {

using RequestId = std::uint64_t;

struct EngineConfig {
  GpuProfile profile;  // timing, cache size and batch limits
  bool enable_prefix_caching = true;
  int max_loras = 1;
};

struct RequestResult {
  RequestId id = 0;
  int prompt_tokens = 0;
  int cached_tokens = 0;  // prompt tokens found in the prefix cache when the request started
  int output_tokens = 0;
  std::string finish_reason;
  int preemptions = 0;
  TimePoint arrival{};
  TimePoint first_token{};
  TimePoint finished{};
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // The request produced its `index`-th output token (0-based) at `now`.
  virtual void on_token(std::size_t index, TimePoint now) = 0;
  // The request finished. Called once; never after the caller aborted the request.
  virtual void on_finished(const RequestResult& result) = 0;
};

struct EngineRequest {
  std::vector<TokenId> prompt;           // at least one token
  int output_tokens = 0;                 // tokens it will generate; 0: prefill only (embeddings)
  std::string finish_reason = "length";  // reported when output_tokens are done
  std::string lora;                      // adapter name; empty for the base model
  std::uint64_t seed = 0;                // varies the generated token ids
  RequestObserver* observer = nullptr;   // not owned; must outlive the request
};

class Engine {
 public:
  explicit Engine(EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The request enters the engine's queue after the profile's request overhead.
  RequestId submit(EngineRequest request, TimePoint now);
  // Removes the request wherever it is and frees its blocks. No further callbacks.
  void abort(RequestId id);

  std::optional<Duration> begin_step(TimePoint now);
  void end_step(TimePoint now);
  bool in_step() const { return in_step_; }
  // The shape of the step begin_step() planned last (tokens, context, sequences, loads).
  const StepTimeModel::Step& last_step() const { return last_step_; }
  // When the earliest request still in the API server reaches the engine queue.
  std::optional<TimePoint> next_arrival() const;
  bool has_work() const { return !running_.empty() || !waiting_.empty() || !pending_.empty(); }

  // Multiplies step times (a replica made slow by a test or by a noisy neighbour).
  void set_slowdown(double factor) { slowdown_ = factor; }
  double slowdown() const { return slowdown_; }

  const EngineConfig& config() const { return config_; }
  const KvCache& kv_cache() const { return cache_; }
  const EngineStats& stats() const { return stats_; }
  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int num_pending() const { return static_cast<int>(pending_.size()); }
  // Adapters of running and of waiting requests, each listed once, sorted.
  std::vector<std::string> running_adapters() const;
  std::vector<std::string> waiting_adapters() const;

 private:
  struct Sequence;
  struct Scheduled {
    Sequence* seq;
    int tokens;
  };

  void admit_ready(TimePoint now);
  void schedule_running(int& budget, bool& preempted);
  void schedule_waiting(int& budget);
  bool try_start(Sequence& seq, int& budget);
  bool ensure_blocks(Sequence& seq, int total_tokens);
  void preempt(Sequence& seq);
  // Bookkeeping of a sequence leaving the running set: adapter counts, KV blocks.
  void leave_running(Sequence& seq);
  bool lora_fits(const Sequence& seq) const;
  int load_adapters_for_step();
  void complete(Sequence& seq, TimePoint now);
  void append_output_token(Sequence& seq, TimePoint now);

  EngineConfig config_;
  KvCache cache_;
  EngineStats stats_;
  double slowdown_ = 1.0;
  RequestId next_id_ = 1;

  std::unordered_map<RequestId, std::unique_ptr<Sequence>> sequences_;
  std::deque<Sequence*> pending_;   // in the API server, ordered by ready time
  std::deque<Sequence*> waiting_;   // engine queue, FCFS (preempted ones at the front)
  std::vector<Sequence*> running_;  // in the order they started
  std::unordered_map<std::string, int> running_lora_counts_;
  std::vector<std::string> gpu_lora_slots_;  // least recently used first

  bool in_step_ = false;
  StepTimeModel::Step last_step_;
  std::vector<Scheduled> plan_;
  std::vector<RequestId> aborted_in_step_;
};

}  // namespace infergate::sim
