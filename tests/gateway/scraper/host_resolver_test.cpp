// HostResolver: literal addresses at once, names on its thread.
#include "gateway/scraper/host_resolver.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <atomic>

#include "support/integration.hpp"

namespace infergate::gateway {
namespace {

TEST(HostResolver, LiteralAddressesNeedNoLookup) {
  sockaddr_storage a{};
  socklen_t len = 0;
  ASSERT_TRUE(HostResolver::numeric("127.0.0.1", 8000, a, len));
  EXPECT_EQ(a.ss_family, AF_INET);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port), 8000);
  ASSERT_TRUE(HostResolver::numeric("::1", 9000, a, len));
  EXPECT_EQ(a.ss_family, AF_INET6);
  ASSERT_TRUE(HostResolver::numeric("[::1]", 9000, a, len));
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port), 9000);
  EXPECT_FALSE(HostResolver::numeric("localhost", 80, a, len));
  EXPECT_FALSE(HostResolver::numeric("127.0.0", 80, a, len));
}

TEST(HostResolver, NamesResolveOnItsThreadAndSayWhenDone) {
  std::atomic<int> results{0};
  HostResolver resolver([&] { ++results; });
  resolver.resolve(7, "localhost", 8080);
  ASSERT_TRUE(testing::until([&] { return results.load() == 1; }));
  const auto done = resolver.take();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, 7u);
  ASSERT_TRUE(done[0].ok) << done[0].error;
  EXPECT_GT(done[0].address_len, 0u);
  EXPECT_TRUE(resolver.take().empty());
  resolver.stop();
  resolver.resolve(8, "localhost", 8080);  // after stop: ignored, no thread
  EXPECT_TRUE(resolver.take().empty());
}

}  // namespace
}  // namespace infergate::gateway
