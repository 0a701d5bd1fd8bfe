// PageReader: a /metrics response read from a connection's bytes in any pieces.
#include "gateway/scraper/page_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace infergate::gateway {
namespace {

using Progress = PageReader::Progress;

constexpr std::size_t kMaxPage = 1 << 20;
const std::string kPage =
    "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 3\n";

std::string with_length(const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string chunked(const std::string& body, std::size_t chunk) {
  std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < body.size(); at += chunk) {
    const std::string part = body.substr(at, chunk);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

// Feeds `bytes` in pieces of at most `piece` bytes, as reads would deliver them.
Progress feed(PageReader& reader, const std::string& bytes, std::size_t piece) {
  Progress p = Progress::kMore;
  for (std::size_t at = 0; at < bytes.size() && p == Progress::kMore;) {
    const auto space = reader.space();
    if (space.empty()) return Progress::kFailed;
    const std::size_t n = std::min({piece, space.size(), bytes.size() - at});
    std::memcpy(space.data(), bytes.data() + at, n);
    at += n;
    p = reader.received(n);
  }
  return p;
}

// Reads `response` in pieces of every size from one byte to all of it.
void expect_page_in_every_split(const std::string& response) {
  for (std::size_t piece = 1; piece <= response.size(); ++piece) {
    PageReader reader(kMaxPage);
    reader.begin({});
    ASSERT_EQ(feed(reader, response, piece), Progress::kDone) << "pieces of " << piece;
    EXPECT_EQ(reader.page(), kPage);
    EXPECT_TRUE(reader.reusable());
  }
}

TEST(PageReader, PageWithContentLengthInAnySplit) {
  expect_page_in_every_split(with_length(kPage));
}

TEST(PageReader, ChunkedPageInAnySplit) { expect_page_in_every_split(chunked(kPage, 7)); }

TEST(PageReader, PageUntilCloseEndsAtEndOfStream) {
  PageReader reader(kMaxPage);
  reader.begin({});
  ASSERT_EQ(feed(reader, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + kPage, 5),
            Progress::kMore);
  ASSERT_EQ(reader.end_of_stream(), Progress::kDone);
  EXPECT_EQ(reader.page(), kPage);
  EXPECT_FALSE(reader.reusable());
}

TEST(PageReader, ConnectionCloseOrStrayBytesMakeTheConnectionSingleUse) {
  PageReader reader(kMaxPage);
  reader.begin({});
  ASSERT_EQ(feed(reader, with_length(kPage, "Connection: close\r\n"), 1000), Progress::kDone);
  EXPECT_FALSE(reader.reusable());
  reader.begin(reader.release());
  ASSERT_EQ(feed(reader, with_length(kPage) + "HTTP/1.1 200 OK\r\n", 1000), Progress::kDone);
  EXPECT_EQ(reader.page(), kPage);
  EXPECT_FALSE(reader.reusable());
}

TEST(PageReader, StatusOtherThan200Fails) {
  PageReader reader(kMaxPage);
  reader.begin({});
  ASSERT_EQ(feed(reader, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 1000),
            Progress::kFailed);
  EXPECT_EQ(reader.failure(), ScrapeFailure::kStatus);
  EXPECT_FALSE(reader.reusable());
}

TEST(PageReader, MalformedResponsesFail) {
  for (const std::string bad : {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 2OO OK\r\n\r\n",
                                "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
                                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    PageReader reader(kMaxPage);
    reader.begin({});
    EXPECT_EQ(feed(reader, bad, 1000), Progress::kFailed) << bad;
    EXPECT_EQ(reader.failure(), ScrapeFailure::kMalformed) << bad;
  }
  PageReader reader(kMaxPage);
  reader.begin({});
  EXPECT_EQ(feed(reader, "HTTP/1.1 200 OK\r\nX: " + std::string(PageReader::kMaxHead, 'a'), 1000),
            Progress::kFailed);
  EXPECT_EQ(reader.failure(), ScrapeFailure::kMalformed);
}

TEST(PageReader, ClosedBeforeTheWholePageFails) {
  PageReader reader(kMaxPage);
  reader.begin({});
  EXPECT_EQ(reader.end_of_stream(), Progress::kFailed);
  EXPECT_EQ(reader.bytes_received(), 0u);
  reader.begin(reader.release());
  ASSERT_EQ(feed(reader, with_length(kPage).substr(0, 80), 1000), Progress::kMore);
  EXPECT_EQ(reader.end_of_stream(), Progress::kFailed);
  EXPECT_EQ(reader.failure(), ScrapeFailure::kConnect);
  EXPECT_GT(reader.bytes_received(), 0u);
}

TEST(PageReader, PagesOverTheLimitFailWithoutBeingRead) {
  const std::string big(5000, 'x');
  {
    PageReader reader(4096);
    reader.begin({});
    EXPECT_EQ(feed(reader, with_length(big).substr(0, 100), 1000),
              Progress::kFailed);  // the head says so
    EXPECT_EQ(reader.failure(), ScrapeFailure::kTooLarge);
  }
  {
    PageReader reader(4096);
    reader.begin({});
    EXPECT_EQ(feed(reader, chunked(big, 1000), 700), Progress::kFailed);
    EXPECT_EQ(reader.failure(), ScrapeFailure::kTooLarge);
  }
  {
    PageReader reader(4096);
    reader.begin({});
    EXPECT_EQ(feed(reader, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big, 700),
              Progress::kFailed);
    EXPECT_EQ(reader.failure(), ScrapeFailure::kTooLarge);
  }
}

TEST(PageReader, LargePageGrowsTheBufferOnceAndArrivesInOneRead) {
  std::string big;
  while (big.size() < 300000) big += kPage;
  const std::string response = with_length(big);
  PageReader reader(kMaxPage);
  reader.begin({});
  // The head alone is enough for the buffer to take the whole page in the next read.
  const std::size_t head = response.find("\r\n\r\n") + 4;
  ASSERT_EQ(feed(reader, response.substr(0, head), 1000), Progress::kMore);
  EXPECT_GE(reader.space().size(), big.size());
  const auto space = reader.space();
  std::memcpy(space.data(), response.data() + head, big.size());
  ASSERT_EQ(reader.received(big.size()), Progress::kDone);
  EXPECT_EQ(reader.page(), big);
}

TEST(PageReader, ReleasedBufferIsReusedByTheNextScrape) {
  PageReader reader(kMaxPage);
  reader.begin({});
  ASSERT_EQ(feed(reader, with_length(kPage), 1000), Progress::kDone);
  ScrapeBuffer buffer = reader.release();
  const char* storage = buffer.data.get();
  ASSERT_EQ(buffer.capacity, PageReader::kInitialBuffer);
  reader.begin(std::move(buffer));
  EXPECT_EQ(reader.space().data(), storage);
  ASSERT_EQ(feed(reader, with_length("a 1\n"), 1000), Progress::kDone);
  EXPECT_EQ(reader.page(), "a 1\n");
}

}  // namespace
}  // namespace infergate::gateway
