// A plain TCP connection for tests that misbehave on purpose: send any bytes (a part of a
// request, one byte at a time), half-close, reset, or read until the server closes. Every read
// has a deadline.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace infergate::testing {

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; throws on failure.
  explicit RawConnection(unsigned short port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends all of `bytes`; false when the server has closed or reset the connection.
  bool send(const std::string& bytes);
  // Shuts down the sending side (the server reads end of file; it can still answer).
  void shutdown_send();
  // Closes with a reset (SO_LINGER 0) instead of an orderly close.
  void reset();
  // Whatever arrives until the server closes the connection or `timeout` passes; `closed`
  // tells which.
  std::string read_until_close(std::chrono::milliseconds timeout, bool& closed);
  // Reads until `text` appears in what was read (returned whole), or nullopt at `timeout` or
  // when the server closed first.
  std::optional<std::string> read_until(const std::string& text, std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string pending_;  // read past the text read_until looked for
};

}  // namespace infergate::testing
