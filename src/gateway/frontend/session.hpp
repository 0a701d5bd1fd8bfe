// One client connection of the front end (internal to http_frontend.cpp): its socket, the
// buffer its requests are read and parsed in, and the ClientResponse that writes to it.
//
// Writes try the socket at once (it is non-blocking) and only wait in the reactor for what the
// kernel did not take. Over TLS every read and write goes through the session's ssl::stream, and
// a write is gathered into one buffer first (one TLS record rather than one per piece). The
// response head is held until the first body bytes (or the end), so a whole response leaves in one
// write, and a stream's head leaves with its first events.
//
// Thread-safety: belongs to its worker's io_context thread.
#pragma once

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <tuple>

#include "gateway/frontend/http_frontend.hpp"
#include "gateway/http/client_response.hpp"
#include "gateway/http/deadline_queue.hpp"

namespace infergate::gateway {

// Bytes read from a client and not yet used, contiguous, so a request body can be handed on as
// a view of them.
class InputBuffer {
 public:
  explicit InputBuffer(std::size_t capacity)
      : data_(std::make_unique_for_overwrite<char[]>(capacity)), capacity_(capacity) {}
  std::string_view unread() const { return {data_.get() + begin_, end_ - begin_}; }
  std::span<char> room() { return {data_.get() + end_, capacity_ - end_}; }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }
  // Room for `n` unread bytes in all (moves the unread bytes: no view of them may be held).
  void reserve(std::size_t n) {
    if (capacity_ - begin_ >= n) return;
    const std::size_t size = end_ - begin_;
    if (n <= capacity_) {
      std::memmove(data_.get(), data_.get() + begin_, size);
    } else {
      const std::size_t capacity = std::max(n, capacity_ * 2);
      auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
      std::memcpy(bigger.get(), data_.get() + begin_, size);
      data_ = std::move(bigger);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = size;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0, end_ = 0;
};

struct HttpFrontend::Session final : ClientResponse {
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>;

  Session(boost::asio::ip::tcp::socket s, DeadlineQueue& writes)
      : socket(std::move(s)), in(std::size_t{32} << 10), write_deadlines(writes) {}
  ~Session() override {
    DeadlineQueue::remove(deadline);
    DeadlineQueue::remove(write_deadline);
    DeadlineQueue::remove(watch_start);
  }

  // Reads more of the request, with room for `total` unread bytes in all; false when the
  // client left or the wait ran out (then `timed_out`). The wait ends at the queue's timeout
  // from now, or at `until` when given (the end of the request's time to arrive).
  boost::asio::awaitable<bool> read_more(
      std::size_t total, DeadlineQueue& deadlines, boost::system::error_code& ec,
      std::optional<std::chrono::steady_clock::time_point> until = std::nullopt) {
    // Slack past `total`: a parser may read a little past the body (simdjson's padding) in
    // place instead of copying it.
    constexpr std::size_t kSlack = 64;
    in.reserve(std::max(total + kSlack, in.unread().size() + (std::size_t{16} << 10)));
    const std::span<char> room = in.room();
    if (until)
      deadlines.arm_at(deadline, socket, *until);
    else
      deadlines.arm(deadline, socket);
    auto [rec, n] = co_await read_some(room);
    timed_out = deadlines.disarm(deadline) && rec == boost::asio::error::operation_aborted;
    ec = rec;
    in.commit(n);
    co_return !rec;
  }

  // One read from the connection (through TLS when it has it) into `room`.
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      std::span<char> room) {
    const auto into = boost::asio::buffer(room.data(), room.size());
    // Named results: GCC 12 mishandles `co_return co_await`.
    if (tls) {
      auto result = co_await tls->async_read_some(into, kUseTuple);
      co_return result;
    }
    auto result = co_await socket.async_read_some(into, kUseTuple);
    co_return result;
  }

  // Writes all of `buffers`: at once when the socket takes them, else waiting for room, at
  // most the write timeout (a client that stopped reading).
  template <std::size_t N>
  boost::asio::awaitable<bool> write_all(std::array<boost::asio::const_buffer, N> buffers) {
    boost::system::error_code ec;
    wrote_any = true;
    if (tls) {
      tls_out.clear();
      for (const auto& b : buffers) tls_out.append(static_cast<const char*>(b.data()), b.size());
      write_deadlines.arm(write_deadline, socket);
      auto [wec, n] =
          co_await boost::asio::async_write(*tls, boost::asio::buffer(tls_out), kUseTuple);
      write_deadlines.disarm(write_deadline);
      co_return !wec;
    }
    std::size_t total = 0;
    for (const auto& b : buffers) total += b.size();
    std::size_t sent = socket.write_some(buffers, ec);
    if (ec && ec != boost::asio::error::would_block) co_return false;
    if (sent == total) co_return true;
    for (auto& b : buffers) {
      const std::size_t skip = std::min(sent, b.size());
      b += skip;
      sent -= skip;
    }
    write_deadlines.arm(write_deadline, socket);
    auto [wec, n] = co_await boost::asio::async_write(socket, buffers, kUseTuple);
    write_deadlines.disarm(write_deadline);
    co_return !wec;
  }

  boost::asio::awaitable<bool> send_head(const ResponseHead& head) override;
  boost::asio::awaitable<bool> send_body(std::string_view data) override;
  boost::asio::awaitable<bool> finish() override;
  boost::asio::awaitable<bool> send_last(std::string_view data) override;
  bool started() const override { return head_sent; }
  void watch_client() override { HttpFrontend::start_watch(*this); }

  // After the client's end of file, before any byte of the answer: an interim "100 Continue",
  // which an HTTP/1.1 client must accept before the final response. A client that only
  // half-closed ignores it; one that closed answers it with a reset. False when the write
  // already failed (the client is gone).
  bool probe_with_interim_response() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    boost::system::error_code ec;
    socket.write_some(boost::asio::buffer(kContinue.data(), kContinue.size()), ec);
    return !ec || ec == boost::asio::error::would_block;
  }

  void reset_for_next() {
    head_sent = chunked = finished = failed = wrote_any = false;
    pending_head.clear();
  }

  static constexpr auto kUseTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

  boost::asio::ip::tcp::socket socket;
  std::unique_ptr<TlsStream> tls;  // over `socket`, for a TLS listener
  std::string tls_out;             // a TLS write, gathered
  InputBuffer in;
  std::string chunked_body;       // a chunked request's body, decoded
  std::size_t request_bytes = 0;  // the current request's bytes in `in` (used up after it)
  DeadlineQueue::Entry deadline;
  DeadlineQueue& write_deadlines;
  DeadlineQueue::Entry write_deadline;
  // The client watch (http_frontend.cpp): started by `watch_start` once a request has run
  // for the watch delay; a client found gone cancels the request through `cancel_request`.
  struct WatchStart : DeadlineQueue::Entry {
    HttpFrontend* frontend = nullptr;
    Session* session = nullptr;
  } watch_start;
  boost::asio::cancellation_signal cancel_request;
  boost::asio::steady_timer* wake = nullptr;  // wakes the requests' loop when the watch ends
  bool handler_done = true;                   // no request's handler runs
  bool watching = false;                      // the watch runs
  bool waiting_for_watch = false;             // the requests' loop waits for it to end
  bool client_gone = false;  // the client reset or closed: the request is cancelled
  bool timed_out = false;
  // When the current request must have arrived whole (set at its first byte).
  std::chrono::steady_clock::time_point request_deadline{};
  bool client_eof = false;    // the client shut down its sending side
  bool client_http11 = true;  // the current request's version (1.0 gets no chunked answer)
  std::string peer;           // the client's address
  bool wrote_any = false;     // a byte of the current answer was written
  std::string pending_head;
  bool keep_alive = true;
  bool busy = false;
  bool head_sent = false;
  bool chunked = false;
  bool finished = false;
  bool failed = false;
};

}  // namespace infergate::gateway
