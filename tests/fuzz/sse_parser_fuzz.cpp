// libFuzzer target: the reference SSE parser (tests/support), which the gateway's own event
// scanner is checked against, takes arbitrary bytes split anywhere.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "support/sse_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte chooses where the input is split, so split points are explored too.
  const std::size_t split = data[0] % size;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  infergate::testing::SseParser parser(4096);
  std::size_t total = 0;
  const auto on_event = [&](const infergate::testing::SseEvent& e) { total += e.data.size(); };
  parser.feed(bytes.substr(0, split), on_event);
  parser.feed(bytes.substr(std::min(split, bytes.size())), on_event);
  parser.finish(on_event);
  if (parser.buffered() != 0) __builtin_trap();
  return 0;
}
