// One ext_proc call, gRPC's callback API bridged to a request's Asio executor: messages are
// written in order from a queue (a write is never waited for), and replies are read one at a
// time as awaitables that resume on the executor. A read can be cancelled (Asio's per-operation
// cancellation: a timeout, an abandoned request), which cancels the call.
//
// Internal to pickerclient/ (its users see PickerStream); made by PickerClient::open.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "envoy/service/ext_proc/v3/external_processor.pb.h"

namespace infergate::gateway::pickerclient {

namespace pb = envoy::service::ext_proc::v3;

class PickerCall {
 public:
  struct Reactor;  // picker_client.cpp
  explicit PickerCall(std::shared_ptr<Reactor> reactor);
  ~PickerCall();  // cancels the call unless it ended, and lets gRPC finish it
  PickerCall(const PickerCall&) = delete;
  PickerCall& operator=(const PickerCall&) = delete;

  void write(pb::ProcessingRequest message);
  void writes_done();  // after the messages written so far: half-closes the stream
  // The next reply into `out`; false when the stream has ended (status() says how) or the
  // read was cancelled.
  boost::asio::awaitable<bool> read(pb::ProcessingResponse& out);
  void cancel();
  // How the call ended, once read() returned false: the gRPC status, or that it was cancelled.
  std::string status() const;

 private:
  std::shared_ptr<Reactor> reactor_;
};

}  // namespace infergate::gateway::pickerclient
