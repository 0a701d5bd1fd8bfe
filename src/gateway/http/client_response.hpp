// Where the request path writes its answer. Implemented by each front end. Every call may
// suspend (a slow client pushes back on the upstream read: at most one piece is buffered), and
// returns false once the client is gone.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "gateway/http/http_types.hpp"

namespace infergate::gateway {

class ClientResponse {
 public:
  virtual ~ClientResponse() = default;
  virtual boost::asio::awaitable<bool> send_head(const ResponseHead& head) = 0;
  virtual boost::asio::awaitable<bool> send_body(std::string_view data) = 0;
  // Ends the body (the last chunk of a streamed one).
  virtual boost::asio::awaitable<bool> finish() = 0;
  // send_body(data) then finish(); a front end may write both at once.
  virtual boost::asio::awaitable<bool> send_last(std::string_view data) {
    const bool sent = co_await send_body(data);
    if (!sent) co_return false;
    const bool finished = co_await finish();
    co_return finished;
  }
  // Whether any byte of the response has gone to the client (after which nothing is retried).
  virtual bool started() const = 0;
  // The request is about to wait (queued by flow control): a front end that watches its
  // clients only once a request has run a while starts now, so that a client leaving cancels
  // the wait at once.
  virtual void watch_client() {}
};

}  // namespace infergate::gateway
