#include "gateway/http/http1.hpp"

#include <cstring>

namespace infergate::gateway::http1 {
namespace {

constexpr std::size_t kMaxChunkLine = 4096;      // a chunk-size line with its extensions
constexpr std::size_t kMaxTrailerBytes = 16384;  // all trailer fields of one body

bool is_token_char(unsigned char c) {
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Where the head ends (one past its blank line), or 0 when it has not ended in `bytes`.
std::size_t head_end(std::string_view bytes) {
  std::size_t at = 0;
  for (;;) {
    const void* nl = std::memchr(bytes.data() + at, '\n', bytes.size() - at);
    if (!nl) return 0;
    const std::size_t i = static_cast<std::size_t>(static_cast<const char*>(nl) - bytes.data());
    if (i + 1 < bytes.size() && bytes[i + 1] == '\n') return i + 2;
    if (i + 2 < bytes.size() && bytes[i + 1] == '\r' && bytes[i + 2] == '\n') return i + 3;
    at = i + 1;
  }
}

// Splits the next line off `rest` (its CRLF or LF removed); false on a bare CR inside it.
bool next_line(std::string_view& rest, std::string_view& line) {
  const std::size_t nl = rest.find('\n');
  line = rest.substr(0, nl);
  rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line.find('\r') == std::string_view::npos;
}

bool parse_length(std::string_view v, std::uint64_t& out) {
  if (v.empty() || v.size() > 18) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}

// Calls f(token) for each comma-separated token of a header value.
template <class F>
void for_each_token(std::string_view v, F&& f) {
  while (!v.empty()) {
    const std::size_t comma = v.find(',');
    f(trim(v.substr(0, comma)));
    v.remove_prefix(comma == std::string_view::npos ? v.size() : comma + 1);
  }
}

// The header fields after the start line; fills headers and framing facts.
struct Fields {
  bool has_length = false, has_encoding = false, chunked = false, close = false, keep_alive = false;
  std::uint64_t length = 0;
};

enum class Keep { kAll, kEndToEnd, kNone };  // which header fields parse_fields stores

bool parse_fields(std::string_view rest, Keep keep, MessageHead& out, Fields& f) {
  std::string_view line;
  while (!rest.empty()) {
    if (!next_line(rest, line)) return false;
    if (line.empty()) break;  // the blank line
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    const std::string_view name = line.substr(0, colon);
    for (char c : name)
      if (!is_token_char(static_cast<unsigned char>(c))) return false;
    const std::string_view value = trim(line.substr(colon + 1));
    for (char c : value)
      if (!is_value_char(static_cast<unsigned char>(c))) return false;
    if (iequals(name, "content-length")) {
      std::uint64_t n = 0;
      if (!parse_length(value, n) || (f.has_length && n != f.length)) return false;
      f.has_length = true;
      f.length = n;
    } else if (iequals(name, "transfer-encoding")) {
      f.has_encoding = true;
      f.chunked = false;
      for_each_token(value, [&](std::string_view t) { f.chunked = iequals(t, "chunked"); });
    } else if (iequals(name, "connection")) {
      for_each_token(value, [&](std::string_view t) {
        if (iequals(t, "close")) f.close = true;
        if (iequals(t, "keep-alive")) f.keep_alive = true;
      });
    } else if (iequals(name, "expect")) {
      out.expect_continue = iequals(value, "100-continue");
    }
    if (keep == Keep::kNone) continue;
    std::string lower_name(name);
    for (char& c : lower_name) c = lower(c);
    if (keep == Keep::kAll || !is_hop_by_hop(lower_name)) {
      if (out.headers.empty()) out.headers.reserve(12);  // one allocation for a usual head
      out.headers.emplace_back(std::move(lower_name), std::string(value));
    }
  }
  return true;
}

// "HTTP/1.1" -> 1, "HTTP/1.0" -> 0, anything else -> -1.
int minor_version(std::string_view v) {
  if (v == "HTTP/1.1") return 1;
  if (v == "HTTP/1.0") return 0;
  return -1;
}

Parse locate(std::string_view bytes, std::size_t max_head, std::size_t& end) {
  end = head_end(bytes.substr(0, std::min(bytes.size(), max_head)));
  if (end != 0) return Parse::kDone;
  return bytes.size() >= max_head ? Parse::kTooLarge : Parse::kIncomplete;
}

}  // namespace

bool is_hop_by_hop(std::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "transfer-encoding" || n == "te" ||
         n == "trailer" || n == "upgrade" || n == "proxy-authenticate" ||
         n == "proxy-authorization" || n == "proxy-connection" || n == "content-length";
}

Parse parse_request_head(std::string_view bytes, std::size_t max_head, MessageHead& out) {
  std::size_t end = 0;
  if (const Parse p = locate(bytes, max_head, end); p != Parse::kDone) return p;
  std::string_view rest = bytes.substr(0, end), line;
  if (!next_line(rest, line)) return Parse::kBad;
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1) return Parse::kBad;
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : out.method)
    if (!is_token_char(static_cast<unsigned char>(c))) return Parse::kBad;
  for (char c : out.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Parse::kBad;
  const int minor = minor_version(line.substr(sp2 + 1));
  if (minor < 0) return Parse::kBad;
  Fields f;
  if (!parse_fields(rest, Keep::kAll, out, f)) return Parse::kBad;
  if (f.has_encoding && (!f.chunked || f.has_length)) return Parse::kBad;  // no smuggling
  out.size = end;
  out.keep_alive = minor == 1 ? !f.close : (f.keep_alive && !f.close);
  out.http11 = minor == 1;
  out.framing = f.chunked      ? BodyFraming::kChunked
                : f.has_length ? BodyFraming::kLength
                               : BodyFraming::kNone;
  out.content_length = f.length;
  return Parse::kDone;
}

Parse parse_response_head(std::string_view bytes, std::size_t max_head, MessageHead& out,
                          bool keep_headers) {
  std::size_t end = 0;
  if (const Parse p = locate(bytes, max_head, end); p != Parse::kDone) return p;
  std::string_view rest = bytes.substr(0, end), line;
  if (!next_line(rest, line)) return Parse::kBad;
  const int minor = minor_version(line.substr(0, 8));
  if (minor < 0 || line.size() < 12 || line[8] != ' ') return Parse::kBad;
  if (line.size() > 12 && line[12] != ' ') return Parse::kBad;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return Parse::kBad;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) return Parse::kBad;
  Fields f;
  if (!parse_fields(rest, keep_headers ? Keep::kEndToEnd : Keep::kNone, out, f)) return Parse::kBad;
  out.size = end;
  out.status = status;
  out.keep_alive = minor == 1 ? !f.close : (f.keep_alive && !f.close);
  out.http11 = minor == 1;
  out.content_length = f.length;
  if (status < 200 || status == 204 || status == 304) {
    out.framing = BodyFraming::kNone;
  } else if (f.has_encoding) {
    out.framing = f.chunked ? BodyFraming::kChunked : BodyFraming::kUntilClose;
  } else if (f.has_length) {
    out.framing = BodyFraming::kLength;
  } else {
    out.framing = BodyFraming::kUntilClose;
  }
  if (out.framing == BodyFraming::kUntilClose) out.keep_alive = false;
  return Parse::kDone;
}

ChunkedDecoder::Result ChunkedDecoder::decode(std::string& buffer, std::size_t from) {
  char* b = buffer.data();
  const std::size_t n = buffer.size();
  std::size_t r = from, w = from;
  const auto bad = [&] {
    buffer.resize(w);
    return Result::kBad;
  };
  while (r < n && state_ != State::kDone) {
    const char c = b[r];
    switch (state_) {
      case State::kSize: {
        int v = -1;
        if (c >= '0' && c <= '9')
          v = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
          v = (c | 0x20) - 'a' + 10;
        if (v < 0 && size_digits_ == 0) return bad();  // a size line starts with a hex digit
        if (v >= 0) {
          if (++size_digits_ > 15) return bad();
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::kExtension;
          line_bytes_ = 0;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n') {
          state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        } else {
          return bad();
        }
        ++r;
        break;
      }
      case State::kExtension:
        if (c == '\r')
          state_ = State::kSizeLf;
        else if (c == '\n')
          state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        else if (++line_bytes_ > kMaxChunkLine || (!is_value_char(static_cast<unsigned char>(c))))
          return bad();
        ++r;
        break;
      case State::kSizeLf:
        if (c != '\n') return bad();
        state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        ++r;
        break;
      case State::kData: {
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - r));
        if (w != r) std::memmove(b + w, b + r, k);
        w += k;
        r += k;
        remaining_ -= k;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c == '\r')
          state_ = State::kDataLf;
        else if (c == '\n')
          state_ = State::kSize, size_digits_ = 0;
        else
          return bad();
        ++r;
        break;
      case State::kDataLf:
        if (c != '\n') return bad();
        state_ = State::kSize;
        size_digits_ = 0;
        ++r;
        break;
      case State::kTrailer:
      case State::kTrailerLf:
        if (c == '\n') {
          if (trailer_line_empty_)
            state_ = State::kDone;
          else
            state_ = State::kTrailer, trailer_line_empty_ = true;
        } else if (state_ == State::kTrailerLf) {
          return bad();
        } else if (c == '\r') {
          state_ = State::kTrailerLf;
        } else {
          trailer_line_empty_ = false;
          if (++line_bytes_ > kMaxTrailerBytes) return bad();
        }
        ++r;
        break;
      case State::kDone:
        break;
    }
  }
  trailing_ = n - r;
  buffer.resize(w);
  return state_ == State::kDone ? Result::kDone : Result::kMore;
}

}  // namespace infergate::gateway::http1
