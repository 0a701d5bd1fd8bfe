// Reads the response to one `GET /metrics` from the bytes a kept-alive connection delivers, in
// whatever pieces they arrive: the caller reads from its socket straight into space() and
// reports how much came with received(); the page is parsed where it lies (no copy) when the
// response has a Content-Length, and decoded into a side string when it is chunked. Pure (no
// I/O), so every split and malformed response is tested without sockets.
//
// The read buffer comes from the caller (ScrapeBuffer, pooled by the scraper: only scrapes in
// flight hold one) and grows, within `max_page` plus a head, to fit the page the head
// announces, so a page normally arrives in one read.
//
// Thread-safety: one reader per scrape in flight, used by one thread.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gateway/http/http1.hpp"
#include "gateway/scraper/scrape_result.hpp"

namespace infergate::gateway {

struct ScrapeBuffer {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0;
};

class PageReader {
 public:
  enum class Progress { kMore, kDone, kFailed };

  static constexpr std::size_t kMaxHead = 16 << 10;
  static constexpr std::size_t kInitialBuffer = 64 << 10;

  explicit PageReader(std::size_t max_page) : max_page_(max_page) {}

  // Starts reading a response into `buffer` (grown to kInitialBuffer when smaller).
  void begin(ScrapeBuffer buffer);
  // Hands the buffer back (for the next scrape); the reader holds none until begin().
  ScrapeBuffer release();

  // Where the next read may write; empty only when the reader is done or failed.
  std::span<char> space();
  // `n` bytes were written at the start of space().
  Progress received(std::size_t n);
  // The peer closed the connection (or reset it) after what was received.
  Progress end_of_stream();

  std::size_t bytes_received() const { return used_; }
  // After kDone: the page; after kFailed: why.
  std::string_view page() const { return page_; }
  ScrapeFailure failure() const { return failure_; }
  // After kDone: whether the connection can carry the next scrape (keep-alive, nothing stray).
  bool reusable() const { return reusable_; }

 private:
  Progress fail(ScrapeFailure why);
  Progress done(std::string_view page, bool reusable);
  Progress advance();
  bool grow(std::size_t needed);

  std::size_t max_page_;
  ScrapeBuffer buffer_;
  std::size_t used_ = 0;
  bool have_head_ = false;
  http1::MessageHead head_;
  http1::ChunkedDecoder chunked_;
  std::string decoded_;       // a chunked page, decoded
  std::size_t consumed_ = 0;  // buffer bytes already moved into decoded_
  Progress state_ = Progress::kMore;
  std::string_view page_;
  ScrapeFailure failure_ = ScrapeFailure::kNone;
  bool reusable_ = false;
};

}  // namespace infergate::gateway
