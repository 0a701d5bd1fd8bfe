#include "tls/server_credentials.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_pki.hpp"

namespace infergate::tls {
namespace {

using infergate::testing::CertificateRequest;
using infergate::testing::TestCa;
using infergate::testing::write_file_atomically;
using std::chrono::seconds;

const auto kNow = std::chrono::system_clock::now();

TEST(ServerContext, AcceptsAGoodPairAndSummarisesIt) {
  TestCa ca("test-ca");
  CertificateRequest request;
  request.common_name = "gateway-one";
  const auto pair = ca.issue(request);
  const Built built = make_server_context(pair.cert_pem, pair.key_pem, Version::kTls12, kNow);
  ASSERT_TRUE(built.context) << built.error;
  EXPECT_NE(built.summary.find("CN=gateway-one"), std::string::npos) << built.summary;
  EXPECT_NE(built.summary.find("expires "), std::string::npos);
}

TEST(ServerContext, RefusesAnExpiredCertificate) {
  TestCa ca("test-ca");
  CertificateRequest request;
  request.not_before = seconds(-7200);
  request.not_after = seconds(-60);
  const auto pair = ca.issue(request);
  const Built built = make_server_context(pair.cert_pem, pair.key_pem, Version::kTls12, kNow);
  EXPECT_FALSE(built.context);
  EXPECT_NE(built.error.find("expired at"), std::string::npos) << built.error;
}

TEST(ServerContext, RefusesACertificateNotYetValid) {
  TestCa ca("test-ca");
  CertificateRequest request;
  request.not_before = seconds(3600);
  const auto pair = ca.issue(request);
  const Built built = make_server_context(pair.cert_pem, pair.key_pem, Version::kTls12, kNow);
  EXPECT_FALSE(built.context);
  EXPECT_NE(built.error.find("not valid before"), std::string::npos) << built.error;
}

TEST(ServerContext, RefusesAKeyOfAnotherCertificate) {
  TestCa ca("test-ca");
  const auto one = ca.issue({});
  const auto other = ca.issue({});
  const Built built = make_server_context(one.cert_pem, other.key_pem, Version::kTls12, kNow);
  EXPECT_FALSE(built.context);
  EXPECT_NE(built.error.find("does not match"), std::string::npos) << built.error;
}

TEST(ServerContext, RefusesTextThatIsNotPem) {
  const Built no_cert = make_server_context("hello", "world", Version::kTls12, kNow);
  EXPECT_FALSE(no_cert.context);
  EXPECT_NE(no_cert.error.find("no PEM certificate"), std::string::npos) << no_cert.error;
  TestCa ca("test-ca");
  const auto pair = ca.issue({});
  const Built no_key = make_server_context(pair.cert_pem, "-----BEGIN", Version::kTls12, kNow);
  EXPECT_FALSE(no_key.context);
  EXPECT_NE(no_key.error.find("no PEM private key"), std::string::npos) << no_key.error;
}

TEST(ClientContext, NeedsACertificateInTheCaFile) {
  ClientSettings settings;
  settings.ca_pem = "not a certificate";
  const Built built = make_client_context(settings, kNow);
  EXPECT_FALSE(built.context);
  EXPECT_NE(built.error.find("CA file"), std::string::npos) << built.error;
  TestCa ca("test-ca");
  settings.ca_pem = ca.cert_pem();
  EXPECT_TRUE(make_client_context(settings, kNow).context);
}

TEST(ClientContext, RefusesAnExpiredClientCertificate) {
  TestCa ca("test-ca");
  CertificateRequest request;
  request.not_after = seconds(-1);
  const auto pair = ca.issue(request);
  ClientSettings settings;
  settings.ca_pem = ca.cert_pem();
  settings.client_chain_pem = pair.cert_pem;
  settings.client_key_pem = pair.key_pem;
  const Built built = make_client_context(settings, kNow);
  EXPECT_FALSE(built.context);
  EXPECT_NE(built.error.find("client certificate: the certificate expired"), std::string::npos)
      << built.error;
}

TEST(Version, ParsesTheTwoSupported) {
  EXPECT_EQ(parse_version("1.2"), Version::kTls12);
  EXPECT_EQ(parse_version("1.3"), Version::kTls13);
  EXPECT_FALSE(parse_version("1.1"));
  EXPECT_FALSE(parse_version("TLSv1.2"));
}

class ServerCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("infergate-tls-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    files_.cert_file = (dir_ / "tls.crt").string();
    files_.key_file = (dir_ / "tls.key").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void install(const infergate::testing::KeyPair& pair) {
    write_file_atomically(files_.cert_file, pair.cert_pem);
    write_file_atomically(files_.key_file, pair.key_pem);
  }

  std::filesystem::path dir_;
  ServerFiles files_;
  TestCa ca_{"test-ca"};
};

TEST_F(ServerCredentialsTest, StartupFailsWithTheReasonAndTheFiles) {
  CertificateRequest expired;
  expired.not_after = seconds(-5);
  install(ca_.issue(expired));
  try {
    ServerCredentials credentials(files_, kNow);
    FAIL() << "an expired certificate was accepted";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(files_.cert_file), std::string::npos) << what;
    EXPECT_NE(what.find("expired at"), std::string::npos) << what;
  }
  std::filesystem::remove(files_.key_file);
  EXPECT_THROW(ServerCredentials(files_, kNow), std::runtime_error);
  // A device named by mistake is refused at once, not read forever.
  ServerFiles device = files_;
  device.cert_file = "/dev/zero";
  try {
    ServerCredentials credentials(device, kNow);
    FAIL() << "/dev/zero was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/zero: not a regular file"), std::string::npos)
        << e.what();
  }
}

TEST_F(ServerCredentialsTest, ReloadsChangedFilesAndKeepsTheOldPairWhenTheNewOneIsBad) {
  CertificateRequest first;
  first.common_name = "first";
  install(ca_.issue(first));
  ServerCredentials credentials(files_, kNow);
  const ContextPtr before = credentials.current();
  EXPECT_FALSE(credentials.refresh(kNow).changed);  // nothing changed

  CertificateRequest second;
  second.common_name = "second";
  install(ca_.issue(second));
  const auto applied = credentials.refresh(kNow);
  EXPECT_TRUE(applied.changed);
  EXPECT_TRUE(applied.applied);
  EXPECT_NE(applied.message.find("CN=second"), std::string::npos) << applied.message;
  EXPECT_NE(credentials.current(), before);

  // Half a rotation: a new certificate with the old key is refused, the served pair stays.
  const ContextPtr serving = credentials.current();
  write_file_atomically(files_.cert_file, ca_.issue(first).cert_pem);
  const auto refused = credentials.refresh(kNow);
  EXPECT_TRUE(refused.changed);
  EXPECT_FALSE(refused.applied);
  EXPECT_NE(refused.message.find("still serving the previous one"), std::string::npos);
  EXPECT_NE(refused.message.find("does not match"), std::string::npos) << refused.message;
  EXPECT_EQ(credentials.current(), serving);
  EXPECT_FALSE(credentials.refresh(kNow).changed);  // refused once, not again every poll

  // An expired replacement is refused too.
  CertificateRequest expired;
  expired.not_after = seconds(-5);
  install(ca_.issue(expired));
  const auto too_old = credentials.refresh(kNow);
  EXPECT_FALSE(too_old.applied);
  EXPECT_NE(too_old.message.find("expired at"), std::string::npos) << too_old.message;
  EXPECT_EQ(credentials.current(), serving);
}

}  // namespace
}  // namespace infergate::tls
