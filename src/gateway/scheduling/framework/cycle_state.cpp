#include "gateway/scheduling/framework/cycle_state.hpp"

#include <algorithm>
#include <numeric>

#include "gateway/scheduling/prefix/prefix_index.hpp"

namespace infergate::gateway::scheduling {

namespace {

// Block-hash buffers of ended decisions, kept for the next requests of the thread (a bounded
// number: about the requests a worker has in flight).
thread_local std::vector<std::vector<std::uint64_t>> spare_blocks;
constexpr std::size_t kMaxSpareBlocks = 64;

}  // namespace

CycleState::~CycleState() {
  if (blocks_.capacity() > 0 && spare_blocks.size() < kMaxSpareBlocks)
    spare_blocks.push_back(std::move(blocks_));
}

std::span<const std::uint64_t> CycleState::prefix_blocks(const PromptBlockOptions& options) {
  if (!hashed_) {
    if (blocks_.capacity() == 0 && !spare_blocks.empty()) {
      blocks_ = std::move(spare_blocks.back());
      spare_blocks.pop_back();
    }
    prefix::hash_prompt_blocks(request.target_model, request.prompt.pieces(), options, blocks_);
    hashed_ = true;
  }
  return blocks_;
}

std::size_t CycleState::match_prefix(Candidates& candidates, const PromptBlockOptions& options) {
  const std::span<const std::uint64_t> blocks = prefix_blocks(options);
  if (matched_) return blocks.size();
  matched_ = true;
  if (!prefix_index || blocks.empty())
    std::fill_n(candidates.prefix_matched.begin(), candidates.size(), 0u);
  else
    prefix_index->match(blocks, candidates.ids(), candidates.prefix_matched,
                        candidates.whole_view != nullptr ? candidates.whole_view->serial : 0);
  return blocks.size();
}

void Candidates::copy_metrics() {
  const PoolMetricsView::Columns& from = metrics_pending->columns;
  const std::size_t n = size();
  std::iota(slot.begin(), slot.begin() + static_cast<std::ptrdiff_t>(n), std::uint32_t{0});
  std::copy_n(from.endpoint.data(), n, endpoint.data());
  std::copy_n(from.id.data(), n, id.data());
  std::copy_n(from.waiting.data(), n, waiting.data());
  std::copy_n(from.running.data(), n, running.data());
  std::copy_n(from.kv_usage.data(), n, kv_usage.data());
  std::copy_n(from.lora.data(), n, lora.data());
  std::copy_n(from.lora_room.data(), n, lora_room.data());
  std::fill_n(saturated.data(), n, std::uint8_t{0});
  for (std::size_t i = 0; i < n; ++i) {
    in_flight_tokens[i] =
        static_cast<double>(endpoint[i]->in_flight_tokens.load(std::memory_order_relaxed));
  }
  metrics_pending = nullptr;
}

void Candidates::reset(std::size_t n) {
  whole_view = nullptr;
  metrics_pending = nullptr;
  slot.assign(n, 0);
  endpoint.assign(n, nullptr);
  id.assign(n, 0);
  waiting.assign(n, 0.0);
  running.assign(n, 0.0);
  kv_usage.assign(n, 0.0);
  in_flight.assign(n, 0.0);
  in_flight_tokens.assign(n, 0.0);
  lora.assign(n, nullptr);
  lora_room.assign(n, 0);
  saturated.assign(n, 0);
  prefix_matched.assign(n, 0);
}

void Candidates::truncate(std::size_t n) {
  if (n < size()) {
    fill_metrics();
    whole_view = nullptr;
    resize(n);
  }
}

void Candidates::resize(std::size_t n) {
  whole_view = nullptr;
  metrics_pending = nullptr;
  slot.resize(n);
  endpoint.resize(n);
  id.resize(n);
  waiting.resize(n);
  running.resize(n);
  kv_usage.resize(n);
  in_flight.resize(n);
  in_flight_tokens.resize(n);
  lora.resize(n);
  lora_room.resize(n);
  saturated.resize(n);
  prefix_matched.resize(n);
}

namespace {

template <typename T>
void keep_marked(std::vector<T>& column, std::span<const std::uint8_t> keep) {
  std::size_t out = 0;
  for (std::size_t i = 0; i < column.size(); ++i)
    if (keep[i]) column[out++] = column[i];
  column.resize(out);
}

}  // namespace

void Candidates::retain(std::span<const std::uint8_t> keep) {
  fill_metrics();
  whole_view = nullptr;
  keep_marked(slot, keep);
  keep_marked(endpoint, keep);
  keep_marked(id, keep);
  keep_marked(waiting, keep);
  keep_marked(running, keep);
  keep_marked(kv_usage, keep);
  keep_marked(in_flight, keep);
  keep_marked(in_flight_tokens, keep);
  keep_marked(lora, keep);
  keep_marked(lora_room, keep);
  keep_marked(saturated, keep);
  keep_marked(prefix_matched, keep);
}

}  // namespace infergate::gateway::scheduling
