// Text in pieces, in order, read as one text without copying the pieces together: views into
// buffers someone else owns (a request's body), or one view of a whole string. The prompt the
// picker hashes is a request body's strings in order; gathering them into one string cost 0.4
// us of a request with the proxy benchmark's 4-16 KB bodies.
//
// Thread-safety: a value type over views; the viewed bytes must outlive it.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace infergate {

class TextPieces {
 public:
  TextPieces() = default;
  // One piece: the whole text (implicit, so a plain string reads as its text).
  TextPieces(std::string_view whole) : whole_(whole) {}
  TextPieces(const std::string& whole) : whole_(whole) {}
  TextPieces(const char* whole) : whole_(whole) {}
  explicit TextPieces(std::span<const std::string_view> pieces) : pieces_(pieces) {}

  // The pieces in order (none for an empty text given whole).
  std::span<const std::string_view> pieces() const {
    if (!pieces_.empty()) return pieces_;
    return {&whole_, whole_.empty() ? 0u : 1u};
  }
  std::size_t size() const {
    std::size_t n = 0;
    for (const std::string_view p : pieces()) n += p.size();
    return n;
  }
  // The text in one string (tests, and readers that need it whole).
  std::string joined() const {
    std::string out;
    out.reserve(size());
    for (const std::string_view p : pieces()) out += p;
    return out;
  }

 private:
  std::string_view whole_;
  std::span<const std::string_view> pieces_;
};

}  // namespace infergate
