#include "sim/engine/engine.hpp"

#include <algorithm>
#include <cassert>
#include <set>

namespace infergate::sim {

struct Engine::Sequence {
  RequestId id = 0;
  EngineRequest request;
  std::vector<TokenId> tokens;    // prompt, then generated tokens
  std::vector<BlockHash> hashes;  // one per full block of `tokens`
  std::vector<BlockId> blocks;    // KV blocks held while running
  std::uint64_t lora_key = 0;
  int computed = 0;    // tokens whose KV is in `blocks`
  int registered = 0;  // leading blocks published to the prefix cache
  int generated = 0;
  bool started = false;  // admitted from the queue at least once
  bool running = false;
  bool done = false;  // finished or aborted; freed at the end of the step
  RequestResult result;
  TimePoint ready_at{};
  TimePoint last_token_at{};

  int num_tokens() const { return static_cast<int>(tokens.size()); }
};

namespace {

std::uint64_t adapter_key(const std::string& lora) {
  return lora.empty() ? 0 : std::hash<std::string>{}(lora) | 1;
}

}  // namespace

Engine::Engine(EngineConfig config)
    : config_(std::move(config)),
      cache_(config_.profile.num_gpu_blocks, config_.profile.block_size,
             config_.enable_prefix_caching) {}

Engine::~Engine() = default;

RequestId Engine::submit(EngineRequest request, TimePoint now) {
  assert(!request.prompt.empty());
  auto seq = std::make_unique<Sequence>();
  seq->id = next_id_++;
  seq->tokens = std::move(request.prompt);  // the prompt, then the generated tokens
  seq->lora_key = adapter_key(request.lora);
  seq->request = std::move(request);
  const int bs = cache_.block_size();
  const std::size_t full = seq->tokens.size() / static_cast<std::size_t>(bs);
  seq->hashes.reserve(full + 1);
  BlockHash parent = 0;
  for (std::size_t b = 0; b < full; ++b) {
    parent = hash_block(parent, {seq->tokens.data() + b * bs, static_cast<std::size_t>(bs)},
                        seq->lora_key);
    seq->hashes.push_back(parent);
  }
  seq->result.id = seq->id;
  seq->result.prompt_tokens = seq->num_tokens();
  seq->result.arrival = now;
  seq->ready_at = now + config_.profile.timing.request_overhead;
  stats_.prompt_tokens += static_cast<std::uint64_t>(seq->num_tokens());

  Sequence* raw = seq.get();
  sequences_.emplace(raw->id, std::move(seq));
  // Requests arrive in time order, so pending_ stays sorted by ready time.
  pending_.push_back(raw);
  return raw->id;
}

void Engine::abort(RequestId id) {
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return;
  Sequence* seq = it->second.get();
  if (seq->done) return;
  seq->done = true;
  std::erase(pending_, seq);
  std::erase(waiting_, seq);
  if (seq->running) {
    std::erase(running_, seq);
    leave_running(*seq);
  }
  ++stats_.finished_by_reason["abort"];
  if (in_step_) {
    // The plan may still point at it; end_step() skips and frees it.
    seq->request.observer = nullptr;
    aborted_in_step_.push_back(id);
  } else {
    sequences_.erase(it);
  }
}

std::optional<TimePoint> Engine::next_arrival() const {
  if (pending_.empty()) return std::nullopt;
  return pending_.front()->ready_at;
}

void Engine::admit_ready(TimePoint now) {
  while (!pending_.empty() && pending_.front()->ready_at <= now) {
    waiting_.push_back(pending_.front());
    pending_.pop_front();
  }
}

std::optional<Duration> Engine::begin_step(TimePoint now) {
  assert(!in_step_);
  admit_ready(now);
  plan_.clear();
  int budget = config_.profile.max_num_batched_tokens;
  bool preempted = false;
  schedule_running(budget, preempted);
  // As in vLLM, a step that had to preempt admits nobody new.
  if (!preempted) schedule_waiting(budget);
  if (plan_.empty()) return std::nullopt;

  StepTimeModel::Step step;
  for (const auto& s : plan_) {
    step.tokens += s.tokens;
    step.context_tokens += s.seq->computed + s.tokens;
  }
  step.sequences = static_cast<int>(plan_.size());
  step.lora_loads = load_adapters_for_step();
  stats_.iteration_tokens.observe(static_cast<double>(step.tokens));
  ++stats_.steps;
  last_step_ = step;
  in_step_ = true;
  const Duration t = config_.profile.timing.step_time(step);
  return Duration{static_cast<Duration::rep>(static_cast<double>(t.count()) * slowdown_)};
}

void Engine::schedule_running(int& budget, bool& preempted) {
  for (std::size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Sequence& seq = *running_[i];
    const int n = std::min(seq.num_tokens() - seq.computed, budget);
    if (n <= 0) continue;
    bool victim_was_self = false;
    while (!ensure_blocks(seq, seq.computed + n)) {
      Sequence& victim = *running_.back();
      preempt(victim);
      preempted = true;
      if (&victim == &seq) {
        victim_was_self = true;
        break;
      }
    }
    if (victim_was_self) break;  // it was the last running request
    plan_.push_back({&seq, n});
    budget -= n;
  }
}

void Engine::schedule_waiting(int& budget) {
  std::deque<Sequence*> skipped;  // blocked by the adapter limit; keep their places
  while (!waiting_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < config_.profile.max_num_seqs) {
    Sequence* seq = waiting_.front();
    if (!lora_fits(*seq)) {
      skipped.push_back(seq);
      waiting_.pop_front();
      continue;
    }
    if (!try_start(*seq, budget)) break;
    waiting_.pop_front();
  }
  waiting_.insert(waiting_.begin(), skipped.begin(), skipped.end());
}

bool Engine::try_start(Sequence& seq, int& budget) {
  const int bs = cache_.block_size();
  // At least one token must be computed to produce the next one, so a prompt that is cached
  // whole still recomputes its last block.
  const int max_hit_blocks = (seq.num_tokens() - 1) / bs;
  const std::span<const BlockHash> candidates(
      seq.hashes.data(), std::min<std::size_t>(seq.hashes.size(), max_hit_blocks));
  const KvCache::PrefixHit hit = cache_.lookup(candidates);
  const int cached_tokens = hit.blocks * bs;
  const int n = std::min(seq.num_tokens() - cached_tokens, budget);
  const int blocks_needed = (cached_tokens + n + bs - 1) / bs - hit.blocks;
  if (blocks_needed + hit.free_blocks > cache_.num_free_blocks()) return false;

  cache_.acquire_cached(candidates, hit.blocks, seq.blocks);
  [[maybe_unused]] const bool ok = cache_.allocate(blocks_needed, seq.blocks);
  assert(ok);
  seq.computed = cached_tokens;
  seq.registered = hit.blocks;
  stats_.prefix_cache_queries += static_cast<std::uint64_t>(seq.num_tokens());
  stats_.prefix_cache_hits += static_cast<std::uint64_t>(cached_tokens);
  if (!seq.started) {
    seq.started = true;
    seq.result.cached_tokens = cached_tokens;
  }
  seq.running = true;
  running_.push_back(&seq);
  if (!seq.request.lora.empty()) ++running_lora_counts_[seq.request.lora];
  plan_.push_back({&seq, n});
  budget -= n;
  return true;
}

bool Engine::ensure_blocks(Sequence& seq, int total_tokens) {
  const int bs = cache_.block_size();
  const int needed = (total_tokens + bs - 1) / bs - static_cast<int>(seq.blocks.size());
  return needed <= 0 || cache_.allocate(needed, seq.blocks);
}

void Engine::preempt(Sequence& seq) {
  assert(seq.running && running_.back() == &seq);
  running_.pop_back();
  leave_running(seq);
  seq.computed = 0;
  seq.registered = 0;
  ++seq.result.preemptions;
  ++stats_.preemptions;
  waiting_.push_front(&seq);
}

void Engine::leave_running(Sequence& seq) {
  seq.running = false;
  if (!seq.request.lora.empty() && --running_lora_counts_[seq.request.lora] == 0)
    running_lora_counts_.erase(seq.request.lora);
  cache_.release(seq.blocks);
  seq.blocks.clear();
}

bool Engine::lora_fits(const Sequence& seq) const {
  if (seq.request.lora.empty() || running_lora_counts_.contains(seq.request.lora)) return true;
  return static_cast<int>(running_lora_counts_.size()) < config_.max_loras;
}

int Engine::load_adapters_for_step() {
  int loads = 0;
  for (const auto& [name, count] : running_lora_counts_) {
    auto it = std::find(gpu_lora_slots_.begin(), gpu_lora_slots_.end(), name);
    if (it != gpu_lora_slots_.end()) {
      gpu_lora_slots_.erase(it);  // re-inserted as most recently used
    } else {
      ++loads;
      if (static_cast<int>(gpu_lora_slots_.size()) >= config_.max_loras) {
        // Evict the least recently used adapter that this step does not use.
        auto victim =
            std::find_if(gpu_lora_slots_.begin(), gpu_lora_slots_.end(),
                         [&](const std::string& s) { return !running_lora_counts_.contains(s); });
        if (victim != gpu_lora_slots_.end()) gpu_lora_slots_.erase(victim);
      }
    }
    gpu_lora_slots_.push_back(name);
  }
  return loads;
}

void Engine::end_step(TimePoint now) {
  assert(in_step_);
  const int bs = cache_.block_size();
  for (const auto& [seq_ptr, n] : plan_) {
    Sequence& seq = *seq_ptr;
    if (!seq.running) continue;  // aborted during the step
    seq.computed += n;
    const int full = seq.computed / bs;
    for (; seq.registered < full; ++seq.registered) {
      cache_.register_full_block(seq.blocks[static_cast<std::size_t>(seq.registered)],
                                 seq.hashes[static_cast<std::size_t>(seq.registered)]);
    }
    if (seq.computed < seq.num_tokens()) continue;  // prefill continues next step
    if (seq.generated >= seq.request.output_tokens) {
      complete(seq, now);  // prefill-only request
      continue;
    }
    append_output_token(seq, now);
    if (seq.running && seq.generated >= seq.request.output_tokens) complete(seq, now);
  }
  plan_.clear();
  in_step_ = false;
  for (RequestId id : aborted_in_step_) sequences_.erase(id);
  aborted_in_step_.clear();
}

void Engine::append_output_token(Sequence& seq, TimePoint now) {
  const std::size_t index = static_cast<std::size_t>(seq.generated);
  seq.tokens.push_back(Tokenizer::output_token(seq.request.seed ^ seq.id, index));
  ++seq.generated;
  ++stats_.generation_tokens;
  const int bs = cache_.block_size();
  if (seq.num_tokens() % bs == 0) {
    const BlockHash parent = seq.hashes.empty() ? 0 : seq.hashes.back();
    seq.hashes.push_back(hash_block(
        parent, {seq.tokens.data() + seq.tokens.size() - bs, static_cast<std::size_t>(bs)},
        seq.lora_key));
  }
  if (index == 0) {
    seq.result.first_token = now;
    stats_.time_to_first_token.observe(to_seconds(now - seq.result.arrival));
  } else {
    stats_.inter_token_latency.observe(to_seconds(now - seq.last_token_at));
  }
  seq.last_token_at = now;
  if (seq.request.observer) seq.request.observer->on_token(index, now);
}

void Engine::complete(Sequence& seq, TimePoint now) {
  if (!seq.running) return;  // aborted by the observer inside on_token
  seq.done = true;
  std::erase(running_, &seq);
  leave_running(seq);
  seq.result.output_tokens = seq.generated;
  seq.result.finish_reason = seq.request.finish_reason;
  seq.result.finished = now;
  if (seq.generated == 0) seq.result.first_token = now;
  ++stats_.finished_by_reason[seq.request.finish_reason];
  stats_.e2e_request_latency.observe(to_seconds(now - seq.result.arrival));
  RequestObserver* observer = seq.request.observer;
  const RequestResult result = seq.result;
  // Freed after the step: the plan may still list it.
  seq.request.observer = nullptr;
  aborted_in_step_.push_back(seq.id);
  if (observer) observer->on_finished(result);
}

std::vector<std::string> Engine::running_adapters() const {
  std::vector<std::string> out;
  for (const auto& [name, count] : running_lora_counts_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Engine::waiting_adapters() const {
  std::set<std::string> names;
  for (const Sequence* s : waiting_)
    if (!s->request.lora.empty()) names.insert(s->request.lora);
  return {names.begin(), names.end()};
}

}  // namespace infergate::sim
