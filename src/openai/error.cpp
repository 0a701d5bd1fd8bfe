#include "openai/error.hpp"

namespace infergate::openai {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 with `bad` set to how many bytes form the broken
// start (at least 1) that one U+FFFD replaces.
std::size_t utf8_sequence(std::string_view s, std::size_t& bad) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    bad = 1;
    return 0;
  }
  std::size_t i = 1;
  for (; i < length && i < s.size(); ++i) {
    const unsigned char c = byte(i);
    if (i == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xBF)) break;
  }
  if (i == length) return length;
  bad = i;
  return 0;
}

}  // namespace

std::string_view error_type(int status) {
  switch (status) {
    case 400:
    case 413:
    case 431:
      return "BadRequestError";
    case 401:
      return "AuthenticationError";
    case 403:
      return "PermissionDeniedError";
    case 404:
      return "NotFoundError";
    case 429:
      return "RateLimitError";
    case 503:
      return "ServiceUnavailableError";
    case 504:
      return "GatewayTimeoutError";
    default:
      return status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

std::string error_body(int status, std::string_view message, std::string_view param) {
  return error_body_of_type(status, error_type(status), message, param);
}

std::string error_body_of_type(int status, std::string_view type, std::string_view message,
                               std::string_view param) {
  std::string out;
  out.reserve(message.size() + param.size() + 96);
  out += R"({"error":{"message":)";
  append_json_string(out, message);
  out += R"(,"type":")";
  out += type;
  out += R"(","param":)";
  if (param.empty())
    out += "null";
  else
    append_json_string(out, param);
  out += R"(,"code":)";
  out += std::to_string(status);
  out += "}}";
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain = 0;  // bytes of text[0, plain) are copied as they are, in one append
  const auto flush = [&](std::size_t upto) {
    out.append(text.data(), upto);
    text.remove_prefix(upto);
    plain = 0;
  };
  while (plain < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[plain]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++plain;
      continue;
    }
    if (c >= 0x80) {
      std::size_t bad = 0;
      if (const std::size_t n = utf8_sequence(text.substr(plain), bad); n > 0) {
        plain += n;
        continue;
      }
      flush(plain);
      out += kReplacement;
      text.remove_prefix(bad);
      continue;
    }
    flush(plain);
    out += '\\';
    switch (c) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '\b':
        out += 'b';
        break;
      case '\f':
        out += 'f';
        break;
      case '\n':
        out += 'n';
        break;
      case '\r':
        out += 'r';
        break;
      case '\t':
        out += 't';
        break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
    text.remove_prefix(1);
  }
  out += text;
  out += '"';
}

}  // namespace infergate::openai
