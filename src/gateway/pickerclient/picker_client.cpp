// The channels to the pickers and the gRPC side of each call (picker_call.hpp).
#include "gateway/pickerclient/picker_client.hpp"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>

#include "common/small_file.hpp"
#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "gateway/pickerclient/picker_call.hpp"

namespace infergate::gateway::pickerclient {
namespace net = boost::asio;

std::unique_ptr<PickerStream> make_picker_stream(
    std::unique_ptr<PickerCall> call,
    const ClientOptions& options);  // picker_stream.cpp

// Lifetime: the PickerCall that owns it holds a hold on the call until the stream has ended (or
// it is destroyed); gRPC's OnDone then drops the reactor's reference to itself.
struct PickerCall::Reactor final
    : grpc::ClientBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse> {
  // The read waiting for a reply: the coroutine's completion handler, type-erased here rather
  // than in Boost 1.81's any_completion_handler, which recurses without end when move-assigned
  // and leaves a dangling proxy in the caller's cancellation slot. The slot is kept to be
  // cleared before the handler runs.
  struct PendingRead {
    virtual ~PendingRead() = default;
    virtual void complete(bool ok) = 0;
    net::cancellation_slot slot;
  };
  template <typename Handler>
  struct PendingReadOf final : PendingRead {
    explicit PendingReadOf(Handler h) : handler(std::move(h)) {}
    void complete(bool ok) override { std::move(handler)(ok); }
    Handler handler;
  };

  explicit Reactor(net::any_io_executor ex) : executor(std::move(ex)) {}

  void begin(pb::ExternalProcessor::Stub& stub, std::shared_ptr<Reactor> keep) {
    self = std::move(keep);
    stub.async()->Process(&context, this);
    AddHold();
    StartCall();
  }

  void write(pb::ProcessingRequest message) {
    std::unique_lock lock(mu);
    if (ended) return;
    queue.push_back(std::move(message));
    if (writing) return;
    writing = true;
    const pb::ProcessingRequest* next = &queue.front();
    lock.unlock();
    StartWrite(next);
  }

  void writes_done() {
    std::unique_lock lock(mu);
    if (ended || half_closed) return;
    half_close_wanted = true;
    if (writing) return;
    half_closed = true;
    lock.unlock();
    StartWritesDone();
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu);
    if (!queue.empty()) queue.pop_front();
    if (!ok || ended) queue.clear();
    if (!queue.empty()) {
      const pb::ProcessingRequest* next = &queue.front();
      lock.unlock();
      StartWrite(next);
      return;
    }
    writing = false;
    if (ok && !ended && half_close_wanted && !half_closed) {
      half_closed = true;
      lock.unlock();
      StartWritesDone();
    }
  }

  template <typename Handler>
  void read(Handler handler, pb::ProcessingResponse* out) {
    auto read = std::make_unique<PendingReadOf<Handler>>(std::move(handler));
    std::unique_lock lock(mu);
    if (ended) {
      if (!done) {  // the end is known, its status not yet: OnDone answers
        pending = std::move(read);
        return;
      }
      lock.unlock();
      complete(std::move(read), false);
      return;
    }
    // A cancelled read (a timeout, an abandoned request) cancels the call: the read then
    // completes, not ok, as the stream ends.
    read->slot = net::get_associated_cancellation_slot(read->handler);
    if (read->slot.is_connected())
      read->slot.assign([this](net::cancellation_type) { context.TryCancel(); });
    pending = std::move(read);
    target = out;
    lock.unlock();
    StartRead(&incoming);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu);
    if (ok) {
      target->Swap(&incoming);
      std::unique_ptr<PendingRead> read = std::move(pending);
      lock.unlock();
      complete(std::move(read), true);
      return;
    }
    // The stream has ended (or failed, or was cancelled): the status comes with OnDone, which
    // comes once the hold is released; the pending read is answered there.
    ended = true;
    // Nothing more is written; the message being written stays until its OnWriteDone.
    queue.erase(writing && !queue.empty() ? queue.begin() + 1 : queue.begin(), queue.end());
    lock.unlock();
    release_hold();
  }

  void OnDone(const grpc::Status& s) override {
    std::shared_ptr<Reactor> keep;  // the last reference may go at the end of this reaction
    std::unique_ptr<PendingRead> read;
    {
      std::lock_guard lock(mu);
      done = true;
      ended = true;
      status = s;
      read = std::move(pending);
      keep = std::move(self);
    }
    if (read) complete(std::move(read), false);
  }

  void release_hold() {
    if (hold_released.exchange(true)) return;
    RemoveHold();
  }

  // Resumes the read's coroutine on its executor (where it runs: the handler's own executor).
  void complete(std::unique_ptr<PendingRead> read, bool ok) {
    net::post(executor, [read = std::shared_ptr<PendingRead>(std::move(read)), ok] {
      if (read->slot.is_connected()) read->slot.clear();
      read->complete(ok);
    });
  }

  grpc::ClientContext context;
  const net::any_io_executor executor;
  std::shared_ptr<Reactor> self;
  std::atomic<bool> hold_released{false};

  mutable std::mutex mu;
  std::deque<pb::ProcessingRequest> queue;  // the front is being written
  bool writing = false;
  bool half_close_wanted = false;
  bool half_closed = false;
  bool ended = false;  // no more replies will come
  bool done = false;   // OnDone ran: `status` is set
  grpc::Status status;
  pb::ProcessingResponse incoming;
  pb::ProcessingResponse* target = nullptr;
  std::unique_ptr<PendingRead> pending;
};

PickerCall::PickerCall(std::shared_ptr<Reactor> reactor) : reactor_(std::move(reactor)) {}

PickerCall::~PickerCall() {
  bool ended = false;
  {
    std::lock_guard lock(reactor_->mu);
    ended = reactor_->ended;
  }
  if (!ended) reactor_->context.TryCancel();
  reactor_->release_hold();
}

void PickerCall::write(pb::ProcessingRequest message) { reactor_->write(std::move(message)); }
void PickerCall::writes_done() { reactor_->writes_done(); }
void PickerCall::cancel() { reactor_->context.TryCancel(); }

net::awaitable<bool> PickerCall::read(pb::ProcessingResponse& out) {
  Reactor* reactor = reactor_.get();
  // A local, not a temporary of the co_await's statement (scripts/coroutine_temporaries.py).
  auto initiate = [reactor, &out](auto handler) { reactor->read(std::move(handler), &out); };
  co_return co_await net::async_initiate<const net::use_awaitable_t<>, void(bool)>(
      initiate, net::use_awaitable);
}

std::string PickerCall::status() const {
  std::lock_guard lock(reactor_->mu);
  if (!reactor_->done) return "the stream ended";
  const grpc::Status& s = reactor_->status;
  if (s.ok()) return "the picker closed the stream";
  return "gRPC status " + std::to_string(static_cast<int>(s.error_code())) + ": " +
         s.error_message();
}

struct PickerClient::Channels {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string summary;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<pb::ExternalProcessor::Stub>> stubs;  // by address

  pb::ExternalProcessor::Stub& stub(const std::string& address) {
    std::lock_guard lock(mu);
    auto& stub = stubs[address];
    if (!stub) {
      grpc::ChannelArguments args;
      // A picker that was down is tried again soon, not after gRPC's default backoff (1 s
      // growing to 2 min): FailOpen requests fall back meanwhile, FailClose ones fail.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      args.SetMaxReceiveMessageSize(-1);
      stub = pb::ExternalProcessor::NewStub(grpc::CreateCustomChannel(address, credentials, args));
    }
    return *stub;
  }
};

PickerClient::PickerClient(ClientOptions options)
    : options_(std::move(options)), channels_(std::make_unique<Channels>()) {
  if (options_.plaintext) {
    channels_->credentials = grpc::InsecureChannelCredentials();
    channels_->summary = "plaintext";
  } else if (options_.allow_self_signed) {
    grpc::experimental::TlsChannelCredentialsOptions tls;
    tls.set_verify_server_certs(false);
    tls.set_check_call_host(false);
    tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
    channels_->credentials = grpc::experimental::TlsCredentials(tls);
    channels_->summary = "TLS, any certificate accepted (--picker-allow-self-signed)";
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!options_.ca_file.empty()) {
      SmallFile pem = read_small_file(options_.ca_file);
      if (!pem.text) throw std::runtime_error("the picker's CA file: " + pem.error);
      ssl.pem_root_certs = std::move(*pem.text);
    }
    channels_->credentials = grpc::SslCredentials(ssl);
    channels_->summary = options_.ca_file.empty() ? "TLS, verified against the system's roots"
                                                  : "TLS, verified against " + options_.ca_file;
  }
}

PickerClient::~PickerClient() = default;

std::string PickerClient::tls_summary() const { return channels_->summary; }

std::unique_ptr<PickerStream> PickerClient::open(const std::string& address,
                                                 const net::any_io_executor& executor) {
  auto reactor = std::make_shared<PickerCall::Reactor>(executor);
  reactor->begin(channels_->stub(address), reactor);
  return make_picker_stream(std::make_unique<PickerCall>(std::move(reactor)), options_);
}

}  // namespace infergate::gateway::pickerclient
