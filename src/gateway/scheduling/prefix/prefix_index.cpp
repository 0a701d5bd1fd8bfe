#include "gateway/scheduling/prefix/prefix_index.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>

#include "gateway/scheduling/prefix/endpoint_lru.hpp"

namespace infergate::gateway::scheduling::prefix {
namespace {

constexpr std::uint32_t kNoSlot = 0xffffffffu;

// Both tables keep 0 for empty buckets: a block hash of 0 shares 1's entry.
std::uint64_t key_of(std::uint64_t block) noexcept { return BlockTable::key_of(block); }

// How far record() prefetches ahead in the endpoint's LRU table.
constexpr std::size_t kRecordPrefetchAhead = 8;

// Blocks an endpoint gains and loses in one call, handed to the block table at once. Per
// thread, so that the request path does not allocate once they have grown.
struct Changes {
  std::vector<std::uint64_t> added;
  std::vector<std::uint64_t> removed;
};
Changes& scratch() {
  thread_local Changes changes;
  constexpr std::size_t kKept = 4096;  // a prompt's worth many times over; a purge gives back
  if (changes.removed.capacity() > kKept) std::vector<std::uint64_t>().swap(changes.removed);
  changes.added.clear();
  changes.removed.clear();
  return changes;
}

// Records waiting for an endpoint's lock holder: their blocks one after another, and which
// endpoint and how many blocks each has.
struct Handed {
  std::vector<std::uint64_t> blocks;
  std::vector<std::pair<EndpointId, std::size_t>> records;
  void clear() {
    blocks.clear();
    records.clear();
  }
};
// Past this many handed blocks (a holder stalled for long), a thread waits for the lock.
constexpr std::size_t kMaxHandedBlocks = std::size_t{1} << 16;

}  // namespace

struct PrefixIndex::EndpointState {
  std::mutex mu;
  // Under mu.
  EndpointId id = 0;
  bool active = false;
  std::uint32_t slot = kNoSlot;
  std::size_t capacity = 0;
  EndpointLru lru;

  // Records handed over by threads that found `mu` taken (record()), applied by its holder.
  std::mutex handed_mu;
  Handed handed;                        // under handed_mu
  std::atomic<bool> has_handed{false};  // handed is not empty
};

// Holds an endpoint's lock. Before it lets go, it applies the records handed over meanwhile
// (record()), and looks once more after letting go, for a record handed over just then by a
// thread that found the lock still taken.
class PrefixIndex::EndpointLock {
 public:
  EndpointLock(PrefixIndex& index, EndpointState& state)
      : index_(index), state_(state), lock_(state.mu) {}
  EndpointLock(PrefixIndex& index, EndpointState& state, std::try_to_lock_t)
      : index_(index), state_(state), lock_(state.mu, std::try_to_lock) {}
  EndpointLock(const EndpointLock&) = delete;
  EndpointLock& operator=(const EndpointLock&) = delete;
  ~EndpointLock() {
    while (lock_.owns_lock()) {
      index_.apply_handed(state_);
      lock_.unlock();
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (state_.has_handed.load(std::memory_order_relaxed)) (void)lock_.try_lock();
    }
  }
  bool owns_lock() const { return lock_.owns_lock(); }
  bool try_lock() { return lock_.try_lock(); }
  void lock() { lock_.lock(); }

 private:
  PrefixIndex& index_;
  EndpointState& state_;
  std::unique_lock<std::mutex> lock_;
};

// Endpoint id -> slot and state. Immutable once published; replaced whole when an endpoint
// joins or leaves (rare), the old one retired through the Reclaimer.
struct PrefixIndex::SlotMap {
  struct Entry {
    EndpointId id = 0;
    std::uint32_t slot = kNoSlot;  // kNoSlot: empty bucket
    EndpointState* state = nullptr;
  };
  std::vector<Entry> buckets;  // power of two, at most half full
  std::size_t shift = 64;
  std::size_t endpoints = 0;
  // The datastore numbers endpoints from 1 up: small ids also map directly (slot + 1; 0 for
  // none), one load per candidate in match().
  static constexpr EndpointId kDirectIds = 1 << 16;
  std::vector<std::uint16_t> direct;
  // Unique to this map among every index's maps: keys the slots match() keeps for a list.
  const std::uint64_t version = [] {
    static std::atomic<std::uint64_t> made{0};
    return made.fetch_add(1, std::memory_order_relaxed) + 1;
  }();

  SlotMap(const SlotMap&) = delete;  // a copy would share the version
  SlotMap& operator=(const SlotMap&) = delete;

  explicit SlotMap(std::size_t endpoint_count) {
    std::size_t size = 8;
    while (size < endpoint_count * 2) size *= 2;
    buckets.resize(size);
    shift = 64 - static_cast<std::size_t>(std::countr_zero(size));
  }
  std::size_t home(EndpointId id) const noexcept {
    return static_cast<std::size_t>((id * 0x9e3779b97f4a7c15ULL) >> shift);
  }
  const Entry* find(EndpointId id) const noexcept {
    for (std::size_t i = home(id);; i = (i + 1) & (buckets.size() - 1)) {
      const Entry& e = buckets[i];
      if (e.slot == kNoSlot) return nullptr;
      if (e.id == id) return &e;
    }
  }
  std::uint32_t slot_of(EndpointId id) const noexcept {
    if (id < direct.size()) return direct[id] != 0 ? direct[id] - 1u : kNoSlot;
    if (id < kDirectIds) return kNoSlot;
    const Entry* entry = find(id);
    return entry != nullptr ? entry->slot : kNoSlot;
  }
  void insert(const Entry& entry) {
    std::size_t i = home(entry.id);
    while (buckets[i].slot != kNoSlot) i = (i + 1) & (buckets.size() - 1);
    buckets[i] = entry;
    ++endpoints;
    if (entry.id < kDirectIds) {
      if (direct.size() <= entry.id) direct.resize(entry.id + 1);
      direct[entry.id] = static_cast<std::uint16_t>(entry.slot + 1);
    }
  }
  // A copy with room for one more, without `skip`.
  std::unique_ptr<SlotMap> copy_without(EndpointId skip, bool has_skip) const {
    auto map = std::make_unique<SlotMap>(endpoints + 1);
    for (const Entry& e : buckets) {
      if (e.slot != kNoSlot && !(has_skip && e.id == skip)) map->insert(e);
    }
    return map;
  }
};

PrefixIndex::PrefixIndex(PrefixIndexOptions options)
    : options_(options), table_(reclaimer_), slots_(new SlotMap(0)) {
  options_.default_capacity_blocks = std::min(options_.default_capacity_blocks, kMaxCapacityBlocks);
}

PrefixIndex::~PrefixIndex() { delete slots_.load(std::memory_order_relaxed); }

void PrefixIndex::publish(std::unique_ptr<SlotMap> map) {
  const SlotMap* old = slots_.exchange(map.release(), std::memory_order_seq_cst);
  reclaimer_.retire(const_cast<SlotMap*>(old),
                    [](void* block) { delete static_cast<SlotMap*>(block); });
}

PrefixIndex::EndpointState* PrefixIndex::find_state(EndpointId endpoint) const {
  Reclaimer::ReadGuard guard(reclaimer_);
  const SlotMap::Entry* entry = slots_.load(std::memory_order_seq_cst)->find(endpoint);
  // States live as long as the index, so the pointer outlives the guard; the caller checks
  // under the state's mutex that it still belongs to `endpoint`.
  return entry != nullptr ? entry->state : nullptr;
}

PrefixIndex::EndpointState* PrefixIndex::obtain(EndpointId endpoint) {
  if (EndpointState* state = find_state(endpoint)) return state;
  std::lock_guard registry(registry_mu_);
  const SlotMap* current = slots_.load(std::memory_order_relaxed);
  if (const SlotMap::Entry* entry = current->find(endpoint)) return entry->state;
  // The lowest free slot keeps the bitsets short.
  std::uint32_t slot = 0;
  while (slot < states_.size() && states_[slot]->active) ++slot;
  if (slot >= kMaxEndpoints) return nullptr;
  if (slot / 64 + 1 > table_.words()) table_.widen(slot / 64 + 1);
  if (slot == states_.size()) states_.push_back(std::make_unique<EndpointState>());
  EndpointState* state = states_[slot].get();
  {
    std::lock_guard lock(state->mu);
    state->id = endpoint;
    state->active = true;
    state->slot = slot;
    state->capacity = options_.default_capacity_blocks;
    state->lru.set_capacity_hint(state->capacity);
  }
  auto map = current->copy_without(0, false);
  map->insert({endpoint, slot, state});
  publish(std::move(map));
  return state;
}

void PrefixIndex::set_capacity(EndpointId endpoint, std::size_t blocks) {
  blocks = std::min(blocks, kMaxCapacityBlocks);
  EndpointState* state = obtain(endpoint);
  if (state == nullptr) return;
  EndpointLock lock(*this, *state);
  if (!state->active || state->id != endpoint) return;  // removed meanwhile
  state->capacity = blocks;
  Changes& changes = scratch();
  while (state->lru.size() > blocks) changes.removed.push_back(state->lru.pop_oldest());
  table_.update(state->slot, changes.removed, {});
  state->lru.set_capacity_hint(blocks);
}

// With several workers dispatching to one endpoint, a thread that found the endpoint's lock
// taken used to sleep on it, and one whose holder was preempted (busy cores) slept a whole
// time slice: the gateway's tail latency. Instead it hands its record to the holder, which
// applies it before it lets go (EndpointLock). So record() never waits for another thread's
// record, unless a stalled holder has kMaxHandedBlocks waiting already.
void PrefixIndex::record(EndpointId endpoint, std::span<const std::uint64_t> blocks) {
  if (blocks.empty()) return;
  EndpointState* state = obtain(endpoint);
  if (state == nullptr) return;
  {
    EndpointLock lock(*this, *state, std::try_to_lock);
    if (lock.owns_lock()) {
      record_locked(*state, endpoint, blocks);
    } else if (hand_over(*state, endpoint, blocks)) {
      // Unless the holder let go meanwhile (then this thread applies it), the holder does.
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (!lock.try_lock()) return;
    } else {
      lock.lock();
      record_locked(*state, endpoint, blocks);
    }
  }
  reclaimer_.collect();
}

bool PrefixIndex::hand_over(EndpointState& state, EndpointId endpoint,
                            std::span<const std::uint64_t> blocks) {
  std::lock_guard lock(state.handed_mu);
  if (state.handed.blocks.size() + blocks.size() > kMaxHandedBlocks) return false;
  state.handed.blocks.insert(state.handed.blocks.end(), blocks.begin(), blocks.end());
  state.handed.records.emplace_back(endpoint, blocks.size());
  state.has_handed.store(true, std::memory_order_relaxed);
  return true;
}

void PrefixIndex::apply_handed(EndpointState& state) {
  thread_local Handed taken;
  while (state.has_handed.load(std::memory_order_relaxed)) {
    {
      std::lock_guard lock(state.handed_mu);
      std::swap(taken, state.handed);  // both keep their capacity
      state.has_handed.store(false, std::memory_order_relaxed);
    }
    std::size_t at = 0;
    for (const auto& [endpoint, count] : taken.records) {
      record_locked(state, endpoint, std::span(taken.blocks).subspan(at, count));
      at += count;
    }
    taken.clear();
  }
}

void PrefixIndex::record_locked(EndpointState& state, EndpointId endpoint,
                                std::span<const std::uint64_t> blocks) {
  if (!state.active || state.id != endpoint) return;  // removed meanwhile
  EndpointLru& lru = state.lru;
  Changes& changes = scratch();
  const std::size_t count = std::min(blocks.size(), state.capacity);
  // Last to first: the leading blocks end up the most recent.
  for (std::size_t k = count; k-- > 0;) {
    if (k >= kRecordPrefetchAhead) lru.prefetch(key_of(blocks[k - kRecordPrefetchAhead]));
    const std::uint64_t key = key_of(blocks[k]);
    if (lru.touch(key)) continue;
    if (lru.size() >= state.capacity) changes.removed.push_back(lru.pop_oldest());
    lru.insert(key);
    changes.added.push_back(key);
  }
  // Under the endpoint's lock still, so the table and the LRU agree whatever the order of
  // concurrent calls for this endpoint.
  table_.update(state.slot, changes.removed, changes.added);
}

void PrefixIndex::move(EndpointId from, EndpointId to, std::span<const std::uint64_t> blocks) {
  if (from != to) {
    if (EndpointState* state = find_state(from)) {
      EndpointLock lock(*this, *state);
      if (state->active && state->id == from) {
        Changes& changes = scratch();
        for (const std::uint64_t block : blocks) {
          const std::uint64_t key = key_of(block);
          if (state->lru.erase(key)) changes.removed.push_back(key);
        }
        table_.update(state->slot, changes.removed, {});
      }
    }
  }
  record(to, blocks);
}

void PrefixIndex::remove_endpoint(EndpointId endpoint) {
  std::lock_guard registry(registry_mu_);
  const SlotMap* current = slots_.load(std::memory_order_relaxed);
  const SlotMap::Entry* entry = current->find(endpoint);
  if (entry == nullptr) return;
  EndpointState* state = entry->state;
  publish(current->copy_without(endpoint, true));  // `entry` dies with `current`
  EndpointLock lock(*this, *state);                // the records handed over for it are dropped
  Changes& changes = scratch();
  state->lru.for_each_oldest_first([&](std::uint64_t key) { changes.removed.push_back(key); });
  table_.update(state->slot, changes.removed, {});
  state->lru.clear();
  state->active = false;  // the slot is free for the next endpoint
}

namespace {

// The candidates' slots in the index (words x 64 for one the table's `words` words do not
// cover) and, as a bitset of `words` words, those in the table. Returns whether any is.
template <typename Map>
bool resolve(const Map& map, std::span<const EndpointId> candidates, std::size_t words,
             std::uint32_t* slots, std::uint64_t* alive) {
  std::fill_n(alive, words, std::uint64_t{0});
  // The bits of one word gather in a register while the candidates' slots stay in it (slots
  // follow the pool's order as endpoints joined): an or into memory per candidate would wait on
  // the previous one's store.
  std::size_t word = words;  // none yet
  std::uint64_t bits = 0;
  bool any = false;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    const std::uint32_t slot = map.slot_of(candidates[c]);
    if (slot / 64 >= words) {  // kNoSlot too: the place past the walked slots, whose depth is 0
      slots[c] = static_cast<std::uint32_t>(words * 64);
      continue;
    }
    slots[c] = slot;
    if (slot / 64 != word) {
      if (word < words) alive[word] |= bits;
      word = slot / 64;
      bits = 0;
    }
    bits |= std::uint64_t{1} << (slot % 64);
    any = true;
  }
  if (any) alive[word] |= bits;
  return any;
}

// A named list's slots, kept by a thread for its next matches of that list.
struct KeptSlots {
  std::uint64_t map = 0;  // SlotMap::version; 0: unused
  std::uint64_t list = 0;
  std::size_t words = 0;
  bool any = false;
  std::vector<std::uint32_t> slots;
  std::uint64_t alive[BlockTable::kMaxWords] = {};
};
constexpr std::size_t kKeptLists = 4;

}  // namespace

void PrefixIndex::match(std::span<const std::uint64_t> blocks,
                        std::span<const EndpointId> candidates, std::span<std::uint32_t> matched,
                        std::uint64_t list) const {
  assert(matched.size() >= candidates.size());
  const auto none = [&] { std::fill_n(matched.begin(), candidates.size(), 0u); };
  if (blocks.empty() || candidates.empty()) return none();

  Reclaimer::ReadGuard guard(reclaimer_);
  const SlotMap& map = *slots_.load(std::memory_order_seq_cst);
  const std::size_t words = table_.words();

  const std::uint32_t* slots = nullptr;
  const std::uint64_t* alive = nullptr;
  // Candidates' slots: on the stack for any usual pool, on the heap past that.
  constexpr std::size_t kStackCandidates = 512;
  std::uint32_t stack_slots[kStackCandidates];
  std::vector<std::uint32_t> heap_slots;
  std::uint64_t stack_alive[BlockTable::kMaxWords];
  if (list != 0) {
    thread_local std::array<KeptSlots, kKeptLists> kept;
    thread_local std::size_t next_replaced = 0;
    KeptSlots* found = nullptr;
    for (KeptSlots& k : kept) {
      if (k.map == map.version && k.list == list && k.words == words &&
          k.slots.size() == candidates.size()) {
        found = &k;
        break;
      }
    }
    if (found == nullptr) {
      found = &kept[next_replaced++ % kKeptLists];
      found->map = 0;  // keyed once filled
      found->slots.resize(candidates.size());
      found->any = resolve(map, candidates, words, found->slots.data(), found->alive);
      found->map = map.version;
      found->list = list;
      found->words = words;
    }
    if (!found->any) return none();
    slots = found->slots.data();
    alive = found->alive;
  } else {
    std::uint32_t* into = stack_slots;
    if (candidates.size() > kStackCandidates) {
      heap_slots.resize(candidates.size());
      into = heap_slots.data();
    }
    if (!resolve(map, candidates, words, into, stack_alive)) return none();
    slots = into;
    alive = stack_alive;
  }

  // Written for every slot set in `alive`, and 0 past them, where resolve() points the
  // candidates the walk does not cover.
  std::uint32_t depth[BlockTable::kMaxWords * 64 + 1];
  table_.leading_runs(blocks, words, alive, depth);
  depth[words * 64] = 0;
  for (std::size_t c = 0; c < candidates.size(); ++c) matched[c] = depth[slots[c]];
}

PrefixIndex::Stats PrefixIndex::stats() {
  const BlockTable::Stats table = table_.stats();
  Stats stats{table.blocks, 0, table.memory_bytes + sizeof(*this)};
  std::lock_guard registry(registry_mu_);
  for (const auto& state : states_) {
    EndpointLock lock(*this, *state);
    stats.entries += state->lru.size();
    stats.memory_bytes += sizeof(EndpointState) + state->lru.memory_bytes();
  }
  const SlotMap* map = slots_.load(std::memory_order_relaxed);
  stats.memory_bytes += sizeof(SlotMap) + map->buckets.size() * sizeof(SlotMap::Entry) +
                        map->direct.size() * sizeof(std::uint16_t);
  return stats;
}

}  // namespace infergate::gateway::scheduling::prefix
