// HTTP/1.1 message framing for the gateway's data path, parsed straight from the bytes a
// socket read left in a buffer: request heads (clients), response heads (model servers), and
// chunked bodies decoded in place. Nothing is copied except the header values the request path
// keeps; every input is untrusted, so every length is bounded and every malformed byte rejected
// (fuzzed: tests/fuzz/http1_fuzz.cpp).
//
// Accepted: lines ending in CRLF (a bare LF is tolerated); header names of token characters;
// values without control characters other than tab; no obs-fold. Content-Length must be
// digits, repeated only with the same value; Transfer-Encoding is honoured only when its last
// coding is chunked (a request with anything else, or with both headers, is rejected).
//
// Thread-safety: plain functions and a per-message decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/http/http_types.hpp"

namespace infergate::gateway::http1 {

enum class Parse { kIncomplete, kDone, kBad, kTooLarge };

enum class BodyFraming { kNone, kLength, kChunked, kUntilClose };

struct MessageHead {
  std::size_t size = 0;             // bytes of the head, its closing blank line included
  int status = 0;                   // responses
  std::string_view method, target;  // requests (views into the parsed bytes)
  HeaderList headers;  // names lower-case; a response's without hop-by-hop and framing headers
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t content_length = 0;
  bool keep_alive = true;
  bool http11 = true;            // HTTP/1.1 (else 1.0)
  bool expect_continue = false;  // requests: "Expect: 100-continue"
};

// `bytes` starts with a request head. kIncomplete: not all of it is here yet (and it is still
// within `max_head`); kTooLarge: longer than `max_head`.
Parse parse_request_head(std::string_view bytes, std::size_t max_head, MessageHead& out);
// `bytes` starts with a response head. Without `keep_headers` only the status and the framing
// are read (out.headers stays empty): what the metrics scraper needs, without an allocation per
// header.
Parse parse_response_head(std::string_view bytes, std::size_t max_head, MessageHead& out,
                          bool keep_headers = true);

// Whether a header must not be forwarded from one connection to the next.
bool is_hop_by_hop(std::string_view lower_name);

// Decodes a chunked body in place, as its bytes arrive in any pieces: decode(buffer, from)
// removes the framing from buffer[from, end) and leaves only body bytes there.
class ChunkedDecoder {
 public:
  enum class Result { kMore, kDone, kBad };
  Result decode(std::string& buffer, std::size_t from);
  // Bytes after the end of the message that the last decode() left at the end of the buffer
  // (already removed from it); normally none.
  std::size_t trailing() const { return trailing_; }

 private:
  enum class State {
    kSize,
    kExtension,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailer,
    kTrailerLf,
    kDone
  };
  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;
  int size_digits_ = 0;
  std::size_t line_bytes_ = 0;  // extension or trailer bytes (bounded)
  bool trailer_line_empty_ = true;
  std::size_t trailing_ = 0;
};

}  // namespace infergate::gateway::http1
