// Random sources, injected wherever a decision is drawn (weighted splits, tie-breaks), so
// tests can fix the sequence.
//
// Thread-safety: a Random belongs to one thread.
#pragma once

#include <cstdint>
#include <random>

namespace infergate {

class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next() = 0;
  // Uniform in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

class Mt19937Random final : public Random {
 public:
  explicit Mt19937Random(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t next() override { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace infergate
