// Process set-up shared by the binaries.
#pragma once

#include <sys/resource.h>

namespace infergate {

// Raises the soft open-file limit to the hard limit: a gateway holds two sockets per request
// in flight, and the default soft limit (often 1024) is far below what it needs.
inline void raise_open_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace infergate
