// skim_response_json: the same answers as inspect_response_json (model position, usage, generated
// pieces) from one forward pass over the bytes, without copying them into a padded buffer and
// without building anything. A streamed answer has one small JSON document per event, so this
// runs a hundred times per response: it must cost about as much as reading the bytes once.
//
// Only the members the gateway reads are looked into (top level: model, usage, choices; usage's
// counts; each choice's text and delta/message content); everything else is skipped by counting
// brackets outside strings. Nesting depth is bounded; every read is bounds-checked. A key with
// an escape sequence (which only unescaping can compare) sends the document to the full parser.
//
// StreamSkimmer keeps the bytes of an event's leading members (those before choices and usage)
// and the skimmer's state after them; a next event that starts with the same bytes is skimmed
// from there on. Measured (bench_response_skim): about half the time per event of a stream.
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "gateway/request/response_json.hpp"

namespace infergate::gateway {
namespace {

constexpr int kMaxDepth = 1024;

// Flags (0x80) the zero bytes of `x`: exactly for the lowest one; bytes above a zero byte may be
// flagged falsely (borrows), which finding the first one does not mind.
constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t zero_bytes(std::uint64_t x) { return (x - kOnes) & ~x & (kOnes * 0x80); }

// Bytes that end a number or literal.
constexpr auto kDelimiter = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view(",}] \n\r\t\"{[:")) t[c] = true;
  return t;
}();

class Skimmer {
 public:
  explicit Skimmer(std::string_view json)
      : p_(json.data()), begin_(json.data()), end_(json.data() + json.size()) {}

  bool failed = false;
  bool escaped_key = false;  // a key needs unescaping: the caller falls back to the full parser

  std::string_view fail() {
    failed = true;
    return {};
  }

  void ws() {
    // Most calls find no whitespace: one comparison rules out every byte above ' '.
    while (p_ < end_ && static_cast<unsigned char>(*p_) <= ' ' &&
           (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }
  bool at(char c) {
    ws();
    return p_ < end_ && *p_ == c;
  }
  bool eat(char c) {
    if (!at(c)) return false;
    ++p_;
    return true;
  }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }
  // Goes on from byte `at` of the document (at most its size).
  void seek(std::size_t at) { p_ = begin_ + at; }

  // A string token starting at p_ ('"'); returns it with its quotes.
  std::string_view string_token() {
    const char* start = p_;
    if (p_ >= end_ || *p_ != '"') return fail();
    ++p_;
    last_string_escaped_ = false;
    // Keys and short values: faster than a library call. Eight bytes at a time while none is a
    // quote or a backslash, then byte by byte from the first that is.
    const char* const stop = p_ + 32 < end_ ? p_ + 32 : end_;
    if constexpr (std::endian::native == std::endian::little) {
      while (stop - p_ >= 8) {
        std::uint64_t word;
        std::memcpy(&word, p_, sizeof word);
        const std::uint64_t hits =
            zero_bytes(word ^ (kOnes * '"')) | zero_bytes(word ^ (kOnes * '\\'));
        if (hits != 0) {
          p_ += std::countr_zero(hits) / 8;  // the lowest flagged byte is exact (first in memory)
          break;
        }
        p_ += 8;
      }
    }
    for (; p_ < stop; ++p_) {
      if (*p_ == '"') {
        ++p_;
        return {start, static_cast<std::size_t>(p_ - start)};
      }
      if (*p_ == '\\') {
        last_string_escaped_ = true;
        if (++p_ == stop) break;
      }
    }
    last_string_escaped_ = true;  // a long string: not looked into (keys are short)
    for (;;) {
      const void* q =
          p_ < end_ ? std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_)) : nullptr;
      if (!q) return fail();
      const char* quote = static_cast<const char*>(q);
      // The quote ends the string unless an odd number of backslashes precedes it.
      const char* b = quote;
      while (b > start + 1 && b[-1] == '\\') --b;
      p_ = quote + 1;
      if ((quote - b) % 2 == 0) return {start, static_cast<std::size_t>(p_ - start)};
    }
  }

  // The key of the next member (without quotes), after which the ':' has been read.
  std::string_view key() {
    ws();
    const std::string_view token = string_token();
    if (failed) return {};
    if (!eat(':')) return fail();
    if (last_string_escaped_) escaped_key = true;
    return token.substr(1, token.size() - 2);
  }

  // Skips one value of any kind (objects and arrays by counting brackets outside strings).
  void skip_value() {
    ws();
    if (p_ >= end_) return (void)fail();
    const char c = *p_;
    if (c == '"') return (void)string_token();
    if (c != '{' && c != '[') return scalar();
    int depth = 0;
    while (p_ < end_) {
      const char d = *p_;
      if (d == '"') {
        string_token();
        if (failed) return;
        continue;
      }
      ++p_;
      if (d == '{' || d == '[') {
        if (++depth > kMaxDepth) return (void)fail();
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return;
      }
    }
    fail();
  }

  // A number or literal: up to the next delimiter.
  void scalar() {
    const char* start = p_;
    while (p_ < end_ && !kDelimiter[static_cast<unsigned char>(*p_)]) ++p_;
    if (p_ == start) fail();
  }

  // An integer value (as simdjson's get_int64 accepts it); otherwise the value is skipped.
  std::optional<long> int_value() {
    ws();
    const char* start = p_;
    if (p_ < end_ && (*p_ == '"' || *p_ == '{' || *p_ == '[')) {
      skip_value();
      return std::nullopt;
    }
    scalar();
    if (failed) return std::nullopt;
    const std::string_view token(start, static_cast<std::size_t>(p_ - start));
    long value = 0;
    const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc() || ptr != token.data() + token.size()) return std::nullopt;
    return value;
  }

  // Calls f(key) for each member of the object at p_; f must consume the member's value.
  // Returns false (without consuming) when the value at p_ is not an object.
  template <class F>
  bool members(F&& f) {
    if (!at('{')) return false;
    ++p_;
    if (eat('}')) return true;
    do {
      const std::string_view k = key();
      if (failed) return true;
      f(k);
      if (failed) return true;
    } while (eat(','));
    if (!eat('}')) fail();
    return true;
  }

  // The first member named `name` of the object at p_, as a string token; the object is consumed.
  std::optional<std::string_view> first_string_member(std::string_view name) {
    std::optional<std::string_view> found;
    bool seen = false;
    const bool object = members([&](std::string_view k) {
      if (k == name && !seen) {
        seen = true;
        if (at('"')) {
          found = string_token();
          return;
        }
      }
      skip_value();
    });
    if (!object) skip_value();
    return found;
  }

 private:
  const char* p_;
  const char* begin_;
  const char* end_;
  bool last_string_escaped_ = false;  // the last string token may hold an escape
};

void skim_usage(Skimmer& s, ResponseJson& out) {
  Usage u;
  const bool object = s.members([&](std::string_view k) {
    if (k == "prompt_tokens") {
      if (auto n = s.int_value()) u.prompt_tokens = *n;
    } else if (k == "completion_tokens") {
      if (auto n = s.int_value()) u.completion_tokens = *n;
    } else if (k == "prompt_tokens_details") {
      if (!s.at('{')) return s.skip_value();
      std::optional<long> cached;
      bool seen = false;
      s.members([&](std::string_view dk) {
        if (dk == "cached_tokens" && !seen) {
          seen = true;
          cached = s.int_value();
          return;
        }
        s.skip_value();
      });
      if (cached) u.cached_tokens = *cached;
    } else {
      s.skip_value();
    }
  });
  if (!object) return s.skip_value();
  if (!s.failed) out.usage = u;
}

void skim_choices(Skimmer& s, ResponseJson& out) {
  if (!s.at('[')) return s.skip_value();
  s.eat('[');
  if (s.eat(']')) return;
  bool counting = true;  // like the full parser, counting stops at the first non-object choice
  do {
    if (!counting || !s.at('{')) {
      counting = false;
      s.skip_value();
      continue;
    }
    s.members([&](std::string_view k) {
      if (k == "text") {
        if (s.at('"')) {
          if (s.string_token().size() > 2) ++out.content_pieces;
        } else {
          s.skip_value();
        }
      } else if (k == "delta" || k == "message") {
        if (!s.at('{')) return s.skip_value();
        const auto content = s.first_string_member("content");
        if (content && content->size() > 2) ++out.content_pieces;
      } else {
        s.skip_value();
      }
    });
  } while (!s.failed && s.eat(','));
  if (!s.failed && !s.eat(']')) s.skip_value();
}

// The skimmer's state after a document's leading members (see StreamSkimmer).
struct Leading {
  std::size_t end = 0;  // one past the ',' that follows them; 0: none
  std::size_t model_offset = 0, model_length = 0;
};

// The members of the top-level object, from the key at the skimmer's place on (after the '{'
// or a ','). While no member the gateway reads past the model (usage, choices) has been met and
// no key needed unescaping, `*leading` (when given) follows the state after each member's ','
// up to kMaxLeadingBytes: a document that repeats those bytes reaches the same state.
void top_level_members(Skimmer& s, ResponseJson& out, Leading* leading) {
  do {
    const std::string_view k = s.key();
    if (s.failed) return;
    if (k == "model") {
      if (s.at('"')) {
        const std::size_t at = s.offset();
        const std::string_view token = s.string_token();
        out.model_offset = at;
        out.model_length = token.size();
      } else {
        s.skip_value();
      }
    } else if (k == "usage") {
      leading = nullptr;
      skim_usage(s, out);
    } else if (k == "choices") {
      leading = nullptr;
      skim_choices(s, out);
    } else {
      s.skip_value();
    }
    if (s.failed) return;
    if (!s.eat(',')) break;
    // Past the ',': a number that ended the leading bytes cannot go on in a document that
    // repeats them.
    if (leading && !s.escaped_key && s.offset() <= StreamSkimmer::kMaxLeadingBytes)
      *leading = {s.offset(), out.model_offset, out.model_length};
  } while (true);
  if (!s.eat('}')) s.fail();
}

// The skimmer's answer once it stopped: the full parser's when a key needs unescaping.
ResponseJson conclude(const Skimmer& s, std::string_view json, ResponseJson out) {
  if (s.escaped_key) return inspect_response_json(json);
  if (s.failed) return ResponseJson{};
  out.valid = true;
  return out;
}

ResponseJson skim(std::string_view json, Leading* leading) {
  ResponseJson out;
  Skimmer s(json);
  if (!s.eat('{')) return ResponseJson{};
  if (!s.eat('}')) top_level_members(s, out, leading);
  return conclude(s, json, out);
}

}  // namespace

ResponseJson skim_response_json(std::string_view json) { return skim(json, nullptr); }

ResponseJson StreamSkimmer::skim(std::string_view json) {
  if (!leading_.empty() && json.size() > leading_.size() &&
      std::memcmp(json.data(), leading_.data(), leading_.size()) == 0) {
    Skimmer s(json);
    s.seek(leading_.size());
    ResponseJson out;
    out.model_offset = leading_model_offset_;
    out.model_length = leading_model_length_;
    top_level_members(s, out, nullptr);
    return conclude(s, json, out);
  }
  Leading leading;
  const ResponseJson out = gateway::skim(json, &leading);
  if (leading.end > 0) {
    leading_.assign(json.data(), leading.end);
    leading_model_offset_ = leading.model_offset;
    leading_model_length_ = leading.model_length;
  }
  return out;
}

}  // namespace infergate::gateway
