#include "sim/server/sim_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <list>
#include <stdexcept>

#include "common/small_file.hpp"
#include "sim/server/http_session.hpp"
#include "tls/tls_context.hpp"

namespace infergate::sim {
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct ReplicaSlot {
  std::unique_ptr<Replica> replica;
  std::unique_ptr<EngineDriver> driver;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<ReplicaContext> context;
  std::vector<tcp::socket*> open_sockets;
};

struct SimServer::Impl {
  Impl(net::io_context& io_context, ServerOptions opts)
      : io(io_context), options(std::move(opts)) {}
  net::io_context& io;
  ServerOptions options;
  SteadyClock clock;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> generation_log{nullptr, &std::fclose};
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> header_log{nullptr, &std::fclose};
  tls::ContextPtr tls;
  std::list<ReplicaSlot> slots;  // stable addresses
  bool stopped = false;
};

namespace {

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, ReplicaContext& ctx) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    socket.set_option(tcp::no_delay(true));
    net::co_spawn(acceptor.get_executor(), serve_connection(std::move(socket), ctx), net::detached);
  }
}

}  // namespace

SimServer::SimServer(net::io_context& io, ServerOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {
  const auto& o = impl_->options;
  if (!o.generation_log.empty()) {
    impl_->generation_log.reset(std::fopen(o.generation_log.c_str(), "a"));
    if (!impl_->generation_log)
      throw std::runtime_error("cannot open the generation log " + o.generation_log);
  }
  if (!o.header_log.empty()) {
    impl_->header_log.reset(std::fopen(o.header_log.c_str(), "a"));
    if (!impl_->header_log) throw std::runtime_error("cannot open the header log " + o.header_log);
  }
  if (!o.tls_cert_file.empty()) {
    const SmallFile cert = read_small_file(o.tls_cert_file);
    const SmallFile key = read_small_file(o.tls_key_file);
    if (!cert.text || !key.text) throw std::runtime_error(cert.text ? key.error : cert.error);
    tls::Built built = tls::make_server_context(*cert.text, *key.text, tls::Version::kTls12,
                                                std::chrono::system_clock::now());
    if (!built.context) throw std::runtime_error("TLS certificate refused: " + built.error);
    if (!o.tls_client_ca_file.empty()) {
      const SmallFile ca = read_small_file(o.tls_client_ca_file);
      if (!ca.text) throw std::runtime_error(ca.error);
      if (auto error = tls::require_client_certificates(built.context, *ca.text); !error.empty())
        throw std::runtime_error(error);
    }
    impl_->tls = std::move(built.context);
  }
  for (int i = 0; i < o.replicas; ++i) {
    ReplicaSlot& slot = impl_->slots.emplace_back();
    ReplicaOptions ro = o.replica;
    ro.name = o.pod_name_prefix + "-" + std::to_string(i);
    ro.seed = o.replica.seed * 1000003 + static_cast<std::uint64_t>(i);
    slot.replica = std::make_unique<Replica>(std::move(ro), impl_->clock.now());
    slot.driver =
        std::make_unique<EngineDriver>(io.get_executor(), slot.replica->engine(), impl_->clock);
    slot.context = std::make_unique<ReplicaContext>(ReplicaContext{
        *slot.replica, *slot.driver, impl_->clock,
        SessionLimits{o.max_body_bytes, o.max_header_bytes, o.idle_timeout}, &slot.open_sockets,
        impl_->generation_log.get(), impl_->header_log.get(), o.api_key, impl_->tls});
  }
}

SimServer::~SimServer() = default;

void SimServer::start() {
  const auto& o = impl_->options;
  const auto address = net::ip::make_address(o.host);
  int i = 0;
  for (auto& slot : impl_->slots) {
    const std::uint16_t port = o.port == 0 ? 0 : static_cast<std::uint16_t>(o.port + i);
    slot.acceptor = std::make_unique<tcp::acceptor>(impl_->io);
    const tcp::endpoint ep(address, port);
    slot.acceptor->open(ep.protocol());
    slot.acceptor->set_option(tcp::acceptor::reuse_address(true));
    slot.acceptor->bind(ep);
    slot.acceptor->listen(net::socket_base::max_listen_connections);
    net::co_spawn(impl_->io, accept_loop(*slot.acceptor, *slot.context), net::detached);
    ++i;
  }
}

void SimServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto& slot : impl_->slots) {
    boost::system::error_code ec;
    if (slot.acceptor) slot.acceptor->close(ec);
    slot.driver->stop();
    for (tcp::socket* s : slot.open_sockets) {
      s->shutdown(tcp::socket::shutdown_both, ec);
      s->close(ec);
    }
  }
}

std::vector<ListeningReplica> SimServer::listening() const {
  std::vector<ListeningReplica> out;
  for (const auto& slot : impl_->slots) {
    if (!slot.acceptor) continue;
    const auto ep = slot.acceptor->local_endpoint();
    out.push_back({slot.replica->name(), ep.address().to_string(), ep.port()});
  }
  return out;
}

Replica& SimServer::replica(std::size_t index) {
  auto it = impl_->slots.begin();
  std::advance(it, static_cast<long>(index));
  return *it->replica;
}

}  // namespace infergate::sim
