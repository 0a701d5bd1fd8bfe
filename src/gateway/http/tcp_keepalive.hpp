// TCP keepalive for client and model-server connections: a peer that vanished without a FIN or
// a reset (a host powered off, a NAT entry dropped) is found by the kernel's probes, and the
// socket's pending operations fail, which cancels the request riding on it. Probes start after
// 30 s of silence, then every 10 s; three unanswered ones end the connection (at most 60 s).
//
// For the data path's .cpp files only (it includes Asio).
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>

namespace infergate::gateway {

inline void set_keepalive(boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.set_option(boost::asio::socket_base::keep_alive(true), ignored);
  const int fd = socket.native_handle();
  const int idle_s = 30, interval_s = 10, probes = 3;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

}  // namespace infergate::gateway
