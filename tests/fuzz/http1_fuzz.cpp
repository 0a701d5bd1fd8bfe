// libFuzzer target: HTTP/1.1 heads from clients and model servers, and chunked bodies, are
// untrusted. Checks bounds, and that a chunked body decodes the same however it is split.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/http/http1.hpp"

namespace {
using namespace infergate::gateway::http1;

void check_head(std::string_view bytes, bool request) {
  MessageHead head;
  const Parse p =
      request ? parse_request_head(bytes, 4096, head) : parse_response_head(bytes, 4096, head);
  if (p == Parse::kDone && (head.size == 0 || head.size > bytes.size() || head.size > 4096))
    __builtin_trap();
  if (p == Parse::kDone && request && (head.method.empty() || head.target.empty()))
    __builtin_trap();
  if (p == Parse::kDone && !request && (head.status < 100 || head.status > 999)) __builtin_trap();
}

ChunkedDecoder::Result decode_in_pieces(std::string_view bytes, std::size_t step,
                                        std::string& body) {
  ChunkedDecoder decoder;
  ChunkedDecoder::Result r = ChunkedDecoder::Result::kMore;
  for (std::size_t at = 0; at < bytes.size() && r == ChunkedDecoder::Result::kMore; at += step) {
    const std::size_t from = body.size();
    body.append(bytes.substr(at, step));
    r = decoder.decode(body, from);
    if (body.size() < from) __builtin_trap();
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 23;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  check_head(bytes, true);
  check_head(bytes, false);
  std::string whole, pieces;
  const auto a = decode_in_pieces(bytes, bytes.size() + 1, whole);
  const auto b = decode_in_pieces(bytes, step, pieces);
  if (a != b || whole != pieces) __builtin_trap();
  if (whole.size() > bytes.size()) __builtin_trap();
  return 0;
}
