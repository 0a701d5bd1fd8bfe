// The response body relayed through a picker (PickerStream::relay_body), with a fake picker and
// a fake model server: the pump that feeds the picker against the exchange that owns it.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "gateway/pickerclient/picker_client.hpp"

namespace infergate::gateway::pickerclient {
namespace {
namespace net = boost::asio;
constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
constexpr auto kDeadline = std::chrono::seconds(20);

struct Seen {
  std::string sent;       // what the picker was sent of the response body
  bool sent_end = false;  // ... up to its end
  bool picker_cancelled = false;
  bool upstream_gone = false;
};

// A picker that streams back what it is sent, as it comes, after `prefix` of its own.
class EchoingPicker final : public PickerStream {
 public:
  EchoingPicker(const net::any_io_executor& ex, std::shared_ptr<Seen> seen, std::string prefix)
      : seen_(std::move(seen)), prefix_(std::move(prefix)), wake_(ex) {}

  net::awaitable<Outcome> decide(const PickerRequest& /*request*/) override {
    co_return Failure{"not asked here"};
  }
  net::awaitable<std::optional<std::variant<Refusal, Failure>>> response_headers(
      ResponseHead& /*head*/, std::string_view /*served*/) override {
    co_return std::nullopt;
  }

 protected:
  void send_response_body(std::string_view piece, bool end_of_stream) override {
    seen_->sent += piece;
    seen_->sent_end = end_of_stream;
    wake_.cancel();
  }
  net::awaitable<BodyRead> read_response_body(std::string& out) override {
    if (!prefix_.empty()) {
      out = std::exchange(prefix_, {});
      co_return BodyRead::kData;
    }
    while (echoed_ == seen_->sent.size() && !seen_->sent_end && !seen_->picker_cancelled) {
      wake_.expires_at(net::steady_timer::time_point::max());
      co_await wake_.async_wait(kUseTuple);
    }
    if (seen_->picker_cancelled) co_return BodyRead::kError;
    out += seen_->sent.substr(echoed_);
    echoed_ = seen_->sent.size();
    complete_ = seen_->sent_end;
    co_return out.empty() ? BodyRead::kEnd : BodyRead::kData;
  }
  bool response_complete() const override { return complete_; }
  void cancel() override {
    seen_->picker_cancelled = true;
    wake_.cancel();
  }

 private:
  std::shared_ptr<Seen> seen_;
  std::string prefix_;
  net::steady_timer wake_;
  std::size_t echoed_ = 0;
  bool complete_ = false;
};

// A model server whose body is there at once, or never comes, or whose read throws (a bug in
// the exchange, or memory running out).
enum class Serves { kAtOnce, kNothing, kThrow };
class FakeModelServer final : public UpstreamExchange {
 public:
  FakeModelServer(std::shared_ptr<Seen> seen, Serves serves, std::string body = {})
      : seen_(std::move(seen)), serves_(serves), body_(std::move(body)) {}
  ~FakeModelServer() override { seen_->upstream_gone = true; }

  net::awaitable<std::variant<ResponseHead, UpstreamFailure>> send(
      const UpstreamRequest& /*request*/) override {
    co_return UpstreamFailure::kProtocol;
  }
  net::awaitable<BodyRead> read_body(std::string& out) override {
    if (serves_ == Serves::kThrow) throw std::runtime_error("the exchange failed");
    if (serves_ == Serves::kAtOnce) {
      out += body_;
      complete_ = true;
      co_return BodyRead::kData;
    }
    net::steady_timer never(co_await net::this_coro::executor, net::steady_timer::duration::max());
    auto [ec] = co_await never.async_wait(kUseTuple);
    co_return ec ? BodyRead::kError : BodyRead::kEnd;
  }
  bool body_complete() const override { return complete_; }

 private:
  std::shared_ptr<Seen> seen_;
  Serves serves_;
  std::string body_;
  bool complete_ = false;
};

// Runs `body` on a fresh io_context until nothing is left to run, within the deadline.
void run(const std::function<net::awaitable<void>(net::any_io_executor)>& body) {
  net::io_context io;
  bool finished = false;
  net::co_spawn(io, body(io.get_executor()), [&](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
    finished = true;
  });
  io.run_for(kDeadline);
  EXPECT_TRUE(finished);
  EXPECT_TRUE(io.stopped()) << "work was left after the deadline";
}

// The model server's body is all there: the pump sends it without waiting once, and still
// completes through the executor after the request path has read the picker's echo and
// dropped the exchange. Under AddressSanitizer this fails if the pump's cancellation state
// goes with the exchange.
TEST(RelayedExchange, APumpThatNeverWaitedOutlivesItsExchange) {
  auto seen = std::make_shared<Seen>();
  std::string relayed;
  run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto exchange = PickerStream::relay_body(
        std::make_unique<EchoingPicker>(ex, seen, ""),
        std::make_unique<FakeModelServer>(seen, Serves::kAtOnce, "data: done\n\n"));
    while (!exchange->body_complete())
      if (co_await exchange->read_body(relayed) != BodyRead::kData) break;
    exchange.reset();
  });
  EXPECT_EQ(relayed, "data: done\n\n");
  EXPECT_EQ(seen->sent, "data: done\n\n");
  EXPECT_TRUE(seen->sent_end);
  EXPECT_TRUE(seen->upstream_gone);
  EXPECT_FALSE(seen->picker_cancelled);
}

// The request path takes what the picker sent of its own and abandons the response while the
// model server has sent nothing: the pump stops waiting for it, the model server's exchange is
// dropped (its connection closed) and the picker's stream cancelled.
TEST(RelayedExchange, AnAbandonedResponseStopsTheModelServerAndThePicker) {
  auto seen = std::make_shared<Seen>();
  std::string relayed;
  run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto exchange =
        PickerStream::relay_body(std::make_unique<EchoingPicker>(ex, seen, "data: first\n\n"),
                                 std::make_unique<FakeModelServer>(seen, Serves::kNothing));
    EXPECT_EQ(co_await exchange->read_body(relayed), BodyRead::kData);
    exchange.reset();
  });
  EXPECT_EQ(relayed, "data: first\n\n");
  EXPECT_TRUE(seen->upstream_gone);
  EXPECT_TRUE(seen->picker_cancelled);
  EXPECT_TRUE(seen->sent.empty());
}

// The pump throws before the model server sent anything: the relay ends as a failed model
// server (the picker's stream cancelled) instead of leaving the request waiting on the picker.
TEST(RelayedExchange, APumpThatThrowsEndsTheRelay) {
  auto seen = std::make_shared<Seen>();
  std::string relayed;
  BodyRead read = BodyRead::kData;
  run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto exchange =
        PickerStream::relay_body(std::make_unique<EchoingPicker>(ex, seen, ""),
                                 std::make_unique<FakeModelServer>(seen, Serves::kThrow));
    read = co_await exchange->read_body(relayed);
  });
  EXPECT_EQ(read, BodyRead::kError);
  EXPECT_TRUE(relayed.empty());
  EXPECT_TRUE(seen->picker_cancelled);
  EXPECT_TRUE(seen->upstream_gone);
}

}  // namespace
}  // namespace infergate::gateway::pickerclient
