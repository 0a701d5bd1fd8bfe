// The request id and trace context rules: what is kept of a client's, and what is drawn.
#include "gateway/lifecycle/request_ids.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace infergate::gateway {
namespace {

// Returns the values it was given, in order (zero once they run out).
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::deque<std::uint64_t> values) : values_(std::move(values)) {}
  std::uint64_t next() override {
    if (values_.empty()) return 0;
    const std::uint64_t v = values_.front();
    values_.pop_front();
    return v;
  }
  std::size_t left() const { return values_.size(); }

 private:
  std::deque<std::uint64_t> values_;
};

constexpr const char* kW3cExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(RequestId, KeepsOneToOneHundredTwentyEightPrintableCharacters) {
  EXPECT_TRUE(valid_request_id("a"));
  EXPECT_TRUE(valid_request_id("req-42_x.y:z/~!\"#"));
  EXPECT_TRUE(valid_request_id(std::string(128, 'x')));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(129, 'x')));
  EXPECT_FALSE(valid_request_id("has space"));
  EXPECT_FALSE(valid_request_id("tab\there"));
  EXPECT_FALSE(valid_request_id("new\nline"));
  EXPECT_FALSE(valid_request_id("del\x7f"));
  EXPECT_FALSE(valid_request_id("caf\xc3\xa9"));  // not ASCII
  EXPECT_FALSE(valid_request_id(std::string("nul\0", 4)));
}

TEST(RequestId, DrawsOneHundredTwentyEightBitsAsLowercaseHex) {
  ScriptedRandom random({0x0123456789abcdefULL, 0xfedcba9876543210ULL});
  EXPECT_EQ(new_request_id(random), "0123456789abcdeffedcba9876543210");
  EXPECT_EQ(random.left(), 0u);
}

TEST(Traceparent, AcceptsVersionZeroWithNonZeroIds) {
  EXPECT_TRUE(valid_traceparent(kW3cExample));
  EXPECT_TRUE(valid_traceparent("00-00000000000000000000000000000001-0000000000000001-00"));
  EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"));
}

TEST(Traceparent, RefusesWhatW3cCallsInvalid) {
  const std::string good = kW3cExample;
  EXPECT_FALSE(valid_traceparent(""));
  EXPECT_FALSE(valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"))
      << "all-zero trace id";
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"))
      << "all-zero parent id";
  EXPECT_FALSE(valid_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"))
      << "uppercase";
  EXPECT_FALSE(valid_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
      << "a version not understood";
  EXPECT_FALSE(valid_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent(good + "-extra"));
  EXPECT_FALSE(valid_traceparent(good.substr(0, 54)));
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"));
}

TEST(Traceparent, DrawsNonZeroIdsWithFlagsZero) {
  // Zeros where an id would be all zeros are drawn again: the trace id's first half may be zero.
  ScriptedRandom random({0, 0, 5, 0, 7});
  const std::string t = new_traceparent(random);
  EXPECT_EQ(t, "00-00000000000000000000000000000005-0000000000000007-00");
  EXPECT_TRUE(valid_traceparent(t));
  EXPECT_EQ(trace_id_of(t), "00000000000000000000000000000005");

  ScriptedRandom other({0x4bf92f3577b34da6ULL, 0xa3ce929d0e0e4736ULL, 0x00f067aa0ba902b7ULL});
  EXPECT_EQ(new_traceparent(other), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST(ClientIds, KeepsWellFormedOnesOnly) {
  const RequestIds kept = client_request_ids(
      {{"x-request-id", "abc-123"}, {"traceparent", kW3cExample}, {"tracestate", "k=v"}});
  EXPECT_EQ(kept.request_id, "abc-123");
  EXPECT_EQ(kept.traceparent, kW3cExample);
  EXPECT_TRUE(kept.client_trace);

  const RequestIds bad = client_request_ids(
      {{"x-request-id", "has space"}, {"traceparent", "00-zz"}, {"tracestate", "k=v"}});
  EXPECT_EQ(bad.request_id, "");
  EXPECT_EQ(bad.traceparent, "");
  EXPECT_FALSE(bad.client_trace);

  const RequestIds none = client_request_ids({{"content-type", "application/json"}});
  EXPECT_EQ(none.request_id, "");
  EXPECT_FALSE(none.client_trace);
}

TEST(ClientIds, OnlyTheFirstRequestIdAndASingleTraceparentCount) {
  const RequestIds twice = client_request_ids({{"x-request-id", "bad id"},
                                               {"x-request-id", "second"},
                                               {"traceparent", kW3cExample},
                                               {"traceparent", kW3cExample}});
  EXPECT_EQ(twice.request_id, "") << "the first one was malformed";
  EXPECT_EQ(twice.traceparent, "") << "W3C: more than one traceparent is invalid";
  EXPECT_FALSE(twice.client_trace);
}

TEST(ClientIds, FillDrawsOnlyWhatIsMissing) {
  RequestIds ids = client_request_ids({{"x-request-id", "mine"}});
  ScriptedRandom random({1, 2, 3});
  fill_request_ids(ids, random);
  EXPECT_EQ(ids.request_id, "mine");
  EXPECT_EQ(ids.traceparent, "00-00000000000000010000000000000002-0000000000000003-00");
  EXPECT_FALSE(ids.client_trace);

  RequestIds full = client_request_ids({{"x-request-id", "r"}, {"traceparent", kW3cExample}});
  ScriptedRandom untouched({9});
  fill_request_ids(full, untouched);
  EXPECT_EQ(untouched.left(), 1u) << "nothing drawn";
  EXPECT_EQ(full.traceparent, kW3cExample);
}

}  // namespace
}  // namespace infergate::gateway
