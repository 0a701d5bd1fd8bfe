#include "gateway/extproc/extproc_server.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "gateway/extproc/extproc_stream.hpp"
#include "gateway/lifecycle/accounting.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tls/self_signed.hpp"

namespace infergate::gateway::extproc {
namespace net = boost::asio;
namespace health = grpc::health::v1;

namespace {

constexpr const char* kExtProcService = "envoy.service.ext_proc.v3.ExternalProcessor";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

using ProcessReactorBase = grpc::ServerBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse>;

// A stream's replies, written one at a time (gRPC allows one write in flight), in order.
class Outbox final : public ReplySink {
 public:
  explicit Outbox(ProcessReactorBase* reactor) : reactor_(reactor) {}

  void send(pb::ProcessingResponse reply) override {
    const pb::ProcessingResponse* start = nullptr;
    {
      std::lock_guard lock(mu_);
      if (finish_requested_) return;
      queue_.push_back(std::move(reply));
      if (writing_) return;
      writing_ = true;
      start = &queue_.front();
    }
    reactor_->StartWrite(start);
  }

  void finish() override {
    {
      std::lock_guard lock(mu_);
      if (finish_requested_) return;
      finish_requested_ = true;
      if (writing_) return;  // written() finishes after the last write
      finished_ = true;
    }
    reactor_->Finish(grpc::Status::OK);
  }

  // The write in flight is done (`ok` false: the stream broke, nothing more can be written).
  void written(bool ok) {
    const pb::ProcessingResponse* next = nullptr;
    bool finish_now = false;
    {
      std::lock_guard lock(mu_);
      queue_.pop_front();
      if (!ok) queue_.clear();
      if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        finish_now = finish_requested_ && !finished_;
        finished_ = finished_ || finish_now;
      }
    }
    if (next) reactor_->StartWrite(next);
    if (finish_now) reactor_->Finish(grpc::Status::OK);
  }

 private:
  ProcessReactorBase* const reactor_;  // lives until Finish's OnDone
  std::mutex mu_;
  std::deque<pb::ProcessingResponse> queue_;  // the front one is being written
  bool writing_ = false;
  bool finish_requested_ = false;
  bool finished_ = false;
};

class ProcessReactor final : public ProcessReactorBase {
 public:
  ProcessReactor(const StreamWorker& worker, const StreamOptions& options,
                 RequestAccounting& accounting, std::atomic<std::size_t>& open)
      : executor_(worker.executor),
        outbox_(std::make_shared<Outbox>(this)),
        stream_(std::make_shared<ExtProcStream>(*worker.phases, worker.executor, outbox_, options)),
        in_flight_(accounting),
        open_(open) {
    open_.fetch_add(1, std::memory_order_relaxed);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // Envoy half-closed, or the stream broke (OnCancel says which)
      net::post(executor_, [s = stream_] { s->on_client_closed(); });
      return;
    }
    net::post(executor_,
              [s = stream_, m = std::move(in_)]() mutable { s->on_message(std::move(m)); });
    in_ = pb::ProcessingRequest();
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override { outbox_->written(ok); }
  void OnCancel() override {
    net::post(executor_, [s = stream_] { s->on_cancelled(); });
  }
  void OnDone() override {
    open_.fetch_sub(1, std::memory_order_relaxed);
    delete this;
  }

 private:
  net::any_io_executor executor_;
  std::shared_ptr<Outbox> outbox_;
  std::shared_ptr<ExtProcStream> stream_;
  const RequestAccounting::InFlight in_flight_;
  std::atomic<std::size_t>& open_;
  pb::ProcessingRequest in_;
};

class ProcessService final : public pb::ExternalProcessor::CallbackService {
 public:
  ProcessService(std::vector<StreamWorker> workers, StreamOptions options,
                 RequestAccounting& accounting)
      : workers_(std::move(workers)), options_(options), accounting_(accounting) {}

  grpc::ServerBidiReactor<pb::ProcessingRequest, pb::ProcessingResponse>* Process(
      grpc::CallbackServerContext* /*context*/) override {
    const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed) % workers_.size();
    return new ProcessReactor(workers_[i], options_, accounting_, open_);
  }

  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  const std::vector<StreamWorker> workers_;
  const StreamOptions options_;
  RequestAccounting& accounting_;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> open_{0};
};

// grpc.health.v1 without leader election: every service is SERVING while the gateway is
// ready (its /readyz), NOT_SERVING before and while draining.
class HealthService final : public health::Health::CallbackService {
 public:
  explicit HealthService(const std::atomic<bool>& serving) : serving_(serving) {}
  void set_readiness(std::function<bool()> ready) { ready_ = std::move(ready); }

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const health::HealthCheckRequest* /*request*/,
                                  health::HealthCheckResponse* response) override {
    response->set_status(status());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const health::HealthListRequest* /*request*/,
                                 health::HealthListResponse* response) override {
    for (const char* name : {"", kExtProcService})
      (*response->mutable_statuses())[name].set_status(status());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Watch: the generated default answers UNIMPLEMENTED, as upstream's picker does.

 private:
  health::HealthCheckResponse::ServingStatus status() const {
    return serving_.load() && (!ready_ || ready_()) ? health::HealthCheckResponse::SERVING
                                                    : health::HealthCheckResponse::NOT_SERVING;
  }
  const std::atomic<bool>& serving_;
  std::function<bool()> ready_;  // set before the server starts
};

}  // namespace

struct ExtProcServer::Impl {
  Impl(ServerOptions o, std::vector<StreamWorker> workers, RequestAccounting& accounting)
      : options(std::move(o)),
        process(std::move(workers), options.stream, accounting),
        health(serving) {}

  ServerOptions options;
  std::atomic<bool> serving{false};
  ProcessService process;
  HealthService health;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::Server> health_server;
  int port = 0;
  int health_port = 0;
  std::string tls;
};

ExtProcServer::ExtProcServer(ServerOptions options, std::vector<StreamWorker> workers,
                             RequestAccounting& accounting)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(workers), accounting)) {}

ExtProcServer::~ExtProcServer() { shutdown(std::chrono::milliseconds(0)); }

void ExtProcServer::start() {
  Impl& s = *impl_;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (s.options.plaintext) {
    credentials = grpc::InsecureServerCredentials();
    s.tls = "plaintext (--plaintext)";
  } else {
    grpc::SslServerCredentialsOptions ssl;
    if (s.options.cert_file.empty()) {
      const tls::PemPair pair =
          tls::make_self_signed({"infergate-epp", "localhost"}, std::chrono::system_clock::now());
      ssl.pem_key_cert_pairs.push_back({pair.private_key, pair.certificate});
      s.tls = "TLS with a generated self-signed certificate";
    } else {
      ssl.pem_key_cert_pairs.push_back(
          {read_file(s.options.key_file), read_file(s.options.cert_file)});
      s.tls = "TLS with " + s.options.cert_file;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(s.options.listen, credentials, &s.port);
  builder.RegisterService(&s.process);
  if (s.options.health_on_extproc_port) builder.RegisterService(&s.health);
  // A BUFFERED body comes in one message: room for the largest body accepted, and the rest.
  const std::size_t max_message = s.options.stream.max_body_bytes + (1 << 20);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<std::size_t>(max_message, INT32_MAX)));
  s.server = builder.BuildAndStart();
  if (!s.server || s.port == 0)
    throw std::runtime_error("cannot serve ext_proc on " + s.options.listen);
  if (!s.options.health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(s.options.health_listen, grpc::InsecureServerCredentials(),
                                    &s.health_port);
    health_builder.RegisterService(&s.health);
    s.health_server = health_builder.BuildAndStart();
    if (!s.health_server || s.health_port == 0)
      throw std::runtime_error("cannot serve gRPC health on " + s.options.health_listen);
  }
}

std::uint16_t ExtProcServer::port() const { return static_cast<std::uint16_t>(impl_->port); }
std::uint16_t ExtProcServer::health_port() const {
  return static_cast<std::uint16_t>(impl_->health_port);
}
void ExtProcServer::set_serving(bool serving) { impl_->serving.store(serving); }
void ExtProcServer::set_readiness(std::function<bool()> ready) {
  impl_->health.set_readiness(std::move(ready));
}
std::size_t ExtProcServer::open_streams() const { return impl_->process.open(); }
std::string ExtProcServer::tls_summary() const { return impl_->tls; }

void ExtProcServer::shutdown(std::chrono::milliseconds deadline) {
  Impl& s = *impl_;
  s.serving.store(false);
  const auto until = std::chrono::system_clock::now() + deadline;
  if (s.health_server) s.health_server->Shutdown(until);
  if (s.server) s.server->Shutdown(until);
  s.health_server.reset();
  s.server.reset();
}

}  // namespace infergate::gateway::extproc
