#include "metrics/label_cap.hpp"

namespace infergate::metrics {

void LabelCap::pin(const std::vector<std::string>& values) {
  for (const std::string& v : values) {
    if (pinned_.insert(v).second && kept_.contains(v)) --unpinned_;  // it was counted: no more
    kept_.insert(v);
  }
}

std::string_view LabelCap::admit(std::string_view value) {
  if (const auto it = kept_.find(value); it != kept_.end()) return *it;
  if (unpinned_ >= cap_) return kOther;
  ++unpinned_;
  return *kept_.emplace(value).first;
}

}  // namespace infergate::metrics
