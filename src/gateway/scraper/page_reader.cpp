#include "gateway/scraper/page_reader.hpp"

#include <algorithm>
#include <cstring>

namespace infergate::gateway {

void PageReader::begin(ScrapeBuffer buffer) {
  buffer_ = std::move(buffer);
  if (buffer_.capacity < kInitialBuffer) {
    buffer_.data = std::make_unique_for_overwrite<char[]>(kInitialBuffer);
    buffer_.capacity = kInitialBuffer;
  }
  used_ = 0;
  have_head_ = false;
  head_ = {};
  chunked_ = {};
  decoded_.clear();
  consumed_ = 0;
  state_ = Progress::kMore;
  page_ = {};
  failure_ = ScrapeFailure::kNone;
  reusable_ = false;
}

ScrapeBuffer PageReader::release() {
  page_ = {};
  return std::move(buffer_);
}

bool PageReader::grow(std::size_t needed) {
  if (needed <= buffer_.capacity) return true;
  const std::size_t limit = max_page_ + kMaxHead;
  if (needed > limit) return false;
  const std::size_t capacity = std::max(needed, std::min(buffer_.capacity * 2, limit));
  auto data = std::make_unique_for_overwrite<char[]>(capacity);
  std::memcpy(data.get(), buffer_.data.get(), used_);
  buffer_.data = std::move(data);
  buffer_.capacity = capacity;
  return true;
}

std::span<char> PageReader::space() {
  if (state_ != Progress::kMore) return {};
  if (used_ == buffer_.capacity && !grow(buffer_.capacity + 1)) {
    fail(ScrapeFailure::kTooLarge);
    return {};
  }
  return {buffer_.data.get() + used_, buffer_.capacity - used_};
}

PageReader::Progress PageReader::received(std::size_t n) {
  if (state_ != Progress::kMore) return state_;
  used_ += n;
  return advance();
}

PageReader::Progress PageReader::advance() {
  const char* data = buffer_.data.get();
  if (!have_head_) {
    switch (http1::parse_response_head({data, used_}, kMaxHead, head_, /*keep_headers=*/false)) {
      case http1::Parse::kIncomplete:
        return Progress::kMore;
      case http1::Parse::kBad:
      case http1::Parse::kTooLarge:
        return fail(ScrapeFailure::kMalformed);
      case http1::Parse::kDone:
        break;
    }
    have_head_ = true;
    // Anything but a page: the rest of the response is not read (the connection is closed).
    if (head_.status != 200) return fail(ScrapeFailure::kStatus);
    switch (head_.framing) {
      case http1::BodyFraming::kNone:
        return done({}, head_.keep_alive && used_ == head_.size);
      case http1::BodyFraming::kLength:
        if (head_.content_length > max_page_) return fail(ScrapeFailure::kTooLarge);
        if (!grow(head_.size + static_cast<std::size_t>(head_.content_length)))
          return fail(ScrapeFailure::kTooLarge);
        data = buffer_.data.get();
        break;
      case http1::BodyFraming::kChunked:
        consumed_ = head_.size;
        break;
      case http1::BodyFraming::kUntilClose:
        break;
    }
  }
  switch (head_.framing) {
    case http1::BodyFraming::kLength: {
      const std::size_t end = head_.size + static_cast<std::size_t>(head_.content_length);
      if (used_ < end) return Progress::kMore;
      return done({data + head_.size, static_cast<std::size_t>(head_.content_length)},
                  head_.keep_alive && used_ == end);
    }
    case http1::BodyFraming::kChunked: {
      // Decoded into a side string; the buffer is then free again from its start.
      const std::size_t from = decoded_.size();
      decoded_.append(data + consumed_, used_ - consumed_);
      used_ = consumed_ = 0;
      const auto r = chunked_.decode(decoded_, from);
      if (r == http1::ChunkedDecoder::Result::kBad) return fail(ScrapeFailure::kMalformed);
      if (decoded_.size() > max_page_) return fail(ScrapeFailure::kTooLarge);
      if (r == http1::ChunkedDecoder::Result::kMore) return Progress::kMore;
      return done(decoded_, head_.keep_alive && chunked_.trailing() == 0);
    }
    case http1::BodyFraming::kUntilClose:
      if (used_ - head_.size > max_page_) return fail(ScrapeFailure::kTooLarge);
      return Progress::kMore;
    case http1::BodyFraming::kNone:
      break;
  }
  return state_;
}

PageReader::Progress PageReader::end_of_stream() {
  if (state_ != Progress::kMore) return state_;
  if (have_head_ && head_.framing == http1::BodyFraming::kUntilClose)
    return done({buffer_.data.get() + head_.size, used_ - head_.size}, false);
  return fail(ScrapeFailure::kConnect);
}

PageReader::Progress PageReader::done(std::string_view page, bool reusable) {
  state_ = Progress::kDone;
  page_ = page;
  reusable_ = reusable;
  return state_;
}

PageReader::Progress PageReader::fail(ScrapeFailure why) {
  state_ = Progress::kFailed;
  failure_ = why;
  reusable_ = false;
  return state_;
}

}  // namespace infergate::gateway
