// The response body through the picker (PickerStream::relay_body): a pump reads the model
// server's body and streams it to the picker as it comes, while the request path reads what the
// picker streams back. Both run on the request's executor; the pump owns the model server's
// exchange and ends with it, and is cancelled when the request abandons the response (the
// model server's connection is then closed, so the generation stops).
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <exception>

#include "gateway/pickerclient/picker_client.hpp"

namespace infergate::gateway::pickerclient {
namespace net = boost::asio;

class RelayedExchange final : public UpstreamExchange {
 public:
  RelayedExchange(std::unique_ptr<PickerStream> stream, std::unique_ptr<UpstreamExchange> upstream)
      : shared_(std::make_shared<Shared>(std::move(stream), std::move(upstream))) {}

  ~RelayedExchange() override {
    if (shared_->pump_running) {
      shared_->stop.emit(net::cancellation_type::terminal);
      shared_->stream->cancel();
    }
  }

  net::awaitable<std::variant<ResponseHead, UpstreamFailure>> send(
      const UpstreamRequest& /*request*/) override {
    co_return UpstreamFailure::kProtocol;  // sent already: this exchange only relays the body
  }

  net::awaitable<BodyRead> read_body(std::string& out) override {
    if (!pump_started_) {
      pump_started_ = true;
      shared_->pump_running = true;
      // The pump's cancellation state lives in `stop`'s memory until the pump's completion
      // handler has run, which can be after this exchange is gone (a pump that never waited
      // still posts once before it completes): the handler keeps `stop` alive until then.
      // (The executor is awaited apart: GCC 12 loses the lambda's capture when a temporary
      // lambda shares its full-expression with a co_await.)
      const net::any_io_executor executor = co_await net::this_coro::executor;
      net::co_spawn(executor, pump(shared_),
                    net::bind_cancellation_slot(shared_->stop.slot(),
                                                [keep = shared_](const std::exception_ptr& e) {
                                                  if (e) pump_failed(*keep);
                                                }));
    }
    const BodyRead r = co_await shared_->stream->read_response_body(out);
    if (r == BodyRead::kError && shared_->upstream_result != BodyRead::kEnd)
      co_return shared_->upstream_result;  // the model server's failure, not the picker's
    co_return r;
  }

  bool body_complete() const override { return shared_->stream->response_complete(); }

 private:
  struct Shared {
    Shared(std::unique_ptr<PickerStream> s, std::unique_ptr<UpstreamExchange> u)
        : stream(std::move(s)), upstream(std::move(u)) {}
    std::unique_ptr<PickerStream> stream;
    std::unique_ptr<UpstreamExchange> upstream;
    net::cancellation_signal stop;
    bool pump_running = false;
    BodyRead upstream_result = BodyRead::kEnd;  // kError or kTimeout: the model server failed
  };

  // A pump that threw (a bug, or memory ran out) ends the relay as a failed model server:
  // the request path's read, waiting on the picker, is not left waiting.
  static void pump_failed(Shared& s) {
    s.upstream_result = BodyRead::kError;
    s.upstream.reset();
    s.pump_running = false;
    s.stream->cancel();
  }

  static net::awaitable<void> pump(std::shared_ptr<Shared> s) {
    for (;;) {
      std::string piece;
      const BodyRead r = co_await s->upstream->read_body(piece);
      if (r == BodyRead::kData) {
        const bool last = s->upstream->body_complete();
        s->stream->send_response_body(piece, last);
        if (last) break;
        continue;
      }
      if (r == BodyRead::kEnd) {
        s->stream->send_response_body({}, true);
        break;
      }
      s->upstream_result = r;
      s->stream->cancel();
      break;
    }
    s->upstream.reset();  // read to its end: the connection goes back to the pool now
    s->pump_running = false;
  }

  std::shared_ptr<Shared> shared_;
  bool pump_started_ = false;
};

std::unique_ptr<UpstreamExchange> PickerStream::relay_body(
    std::unique_ptr<PickerStream> stream, std::unique_ptr<UpstreamExchange> upstream) {
  return std::make_unique<RelayedExchange>(std::move(stream), std::move(upstream));
}

}  // namespace infergate::gateway::pickerclient
