#include "response_usage.hpp"

#include <boost/json.hpp>

namespace infergate::bench {
namespace {

std::optional<PromptUsage> from_document(std::string_view text) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  const auto* usage = doc.as_object().if_contains("usage");
  if (!usage || !usage->is_object()) return std::nullopt;
  const auto& u = usage->as_object();
  PromptUsage out;
  if (const auto* p = u.if_contains("prompt_tokens"); p && p->is_int64())
    out.prompt_tokens = static_cast<long>(p->as_int64());
  if (const auto* d = u.if_contains("prompt_tokens_details"); d && d->is_object())
    if (const auto* c = d->as_object().if_contains("cached_tokens"); c && c->is_int64())
      out.cached_tokens = static_cast<long>(c->as_int64());
  return out;
}

}  // namespace

std::optional<PromptUsage> response_usage(std::string_view body, bool stream) {
  if (!stream) return from_document(body);
  // Events from the end: the usage chunk is the last one before [DONE].
  std::size_t end = body.size();
  while (end > 0) {
    const std::size_t start = body.rfind("data:", end - 1);
    if (start == std::string_view::npos) break;
    std::string_view event = body.substr(start + 5, end - start - 5);
    end = start;
    if (event.find("\"usage\"") == std::string_view::npos) continue;
    if (auto usage = from_document(event)) return usage;
  }
  return std::nullopt;
}

}  // namespace infergate::bench
