#include "gateway/lifecycle/request_ids.hpp"

#include <cstdint>

namespace infergate::gateway {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex(std::string& out, std::uint64_t bits, int digits) {
  for (int i = digits - 1; i >= 0; --i) out += kHex[(bits >> (i * 4)) & 15];
}

bool lower_hex(std::string_view s) {
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zeros(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// A random value that is not zero (W3C forbids all-zero ids; a zero draw is one in 2^64).
std::uint64_t nonzero(Random& random) {
  std::uint64_t v = random.next();
  while (v == 0) v = random.next();
  return v;
}

}  // namespace

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (const char c : id)
    if (c <= ' ' || c > '~') return false;  // controls, space, DEL and non-ASCII bytes
  return true;
}

std::string new_request_id(Random& random) {
  std::string id;
  id.reserve(32);
  append_hex(id, random.next(), 16);
  append_hex(id, random.next(), 16);
  return id;
}

bool valid_traceparent(std::string_view t) {
  if (t.size() != 55 || !t.starts_with("00-") || t[35] != '-' || t[52] != '-') return false;
  const std::string_view trace_id = t.substr(3, 32), parent_id = t.substr(36, 16),
                         flags = t.substr(53, 2);
  return lower_hex(trace_id) && lower_hex(parent_id) && lower_hex(flags) && !all_zeros(trace_id) &&
         !all_zeros(parent_id);
}

std::string new_traceparent(Random& random) {
  std::string t;
  t.reserve(55);
  t += "00-";
  // The trace id's two halves: the first may be zero, as long as the whole is not.
  append_hex(t, random.next(), 16);
  append_hex(t, nonzero(random), 16);
  t += '-';
  append_hex(t, nonzero(random), 16);
  t += "-00";
  return t;
}

RequestIds client_request_ids(const HeaderList& headers) {
  RequestIds ids;
  int request_ids = 0, traceparents = 0;  // only the first x-request-id counts
  for (const auto& [name, value] : headers) {
    if (name == "x-request-id" && ++request_ids == 1 && valid_request_id(value)) {
      ids.request_id = value;
    } else if (name == "traceparent" && ++traceparents == 1 && valid_traceparent(value)) {
      ids.traceparent = value;
    }
  }
  if (traceparents > 1) ids.traceparent.clear();
  ids.client_trace = !ids.traceparent.empty();
  return ids;
}

void fill_request_ids(RequestIds& ids, Random& random) {
  if (ids.request_id.empty()) ids.request_id = new_request_id(random);
  if (ids.traceparent.empty()) ids.traceparent = new_traceparent(random);
}

}  // namespace infergate::gateway
