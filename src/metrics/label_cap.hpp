// Bounds the label values that clients choose (model names, fairness ids), as upstream's picker
// does: the first `cap` distinct values are kept, later ones read "other". Values pinned by the
// configuration (its model names) are always kept and do not count against the cap.
//
// Thread-safety: none; its owner locks (RequestMetrics holds one under its series lock).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace infergate::metrics {

class LabelCap {
 public:
  static constexpr std::string_view kOther = "other";

  explicit LabelCap(std::size_t cap = 1000) : cap_(cap) {}

  // Values always kept (added to those pinned before: a reload never takes a series away).
  void pin(const std::vector<std::string>& values);

  // `value`, or "other" once `cap` distinct unpinned values were seen. The view stays valid for
  // the cap's lifetime.
  std::string_view admit(std::string_view value);

  std::size_t distinct() const { return unpinned_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  const std::size_t cap_;
  std::size_t unpinned_ = 0;
  std::unordered_set<std::string, Hash, std::equal_to<>> kept_;
  std::unordered_set<std::string, Hash, std::equal_to<>> pinned_;
};

}  // namespace infergate::metrics
