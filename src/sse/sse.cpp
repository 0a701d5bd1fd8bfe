#include "sse/sse.hpp"

#include <algorithm>

namespace infergate::sse {

void append_event(std::string& out, std::string_view payload) {
  out.reserve(out.size() + payload.size() + 8);
  for (;;) {
    const auto end =
        std::find_if(payload.begin(), payload.end(), [](char c) { return c == '\n' || c == '\r'; });
    const std::size_t line = static_cast<std::size_t>(end - payload.begin());
    out += "data: ";
    out.append(payload.data(), line);
    out += '\n';
    if (line == payload.size()) break;
    const bool crlf =
        payload[line] == '\r' && line + 1 < payload.size() && payload[line + 1] == '\n';
    payload.remove_prefix(line + (crlf ? 2 : 1));
  }
  out += '\n';
}

}  // namespace infergate::sse
