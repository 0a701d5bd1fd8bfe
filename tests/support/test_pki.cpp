#include "support/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace infergate::testing {
namespace {

std::string to_pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string to_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("test PKI: bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* new_certificate(EVP_PKEY* key, const std::string& common_name, long serial,
                      std::chrono::seconds not_before, std::chrono::seconds not_after) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(not_after.count()));
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  return cert;
}

}  // namespace

struct TestCa::Impl {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  mutable long next_serial = 2;
  ~Impl() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

TestCa::TestCa(const std::string& name) : impl_(std::make_unique<Impl>()) {
  impl_->key = EVP_EC_gen("P-256");
  if (!impl_->key) throw std::runtime_error("test PKI: cannot make a key");
  impl_->cert = new_certificate(impl_->key, name, 1, std::chrono::seconds(-7200),
                                std::chrono::seconds(30 * 24 * 3600));
  X509_set_issuer_name(impl_->cert, X509_get_subject_name(impl_->cert));
  add_extension(impl_->cert, impl_->cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(impl_->cert, impl_->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(impl_->cert, impl_->cert, NID_subject_key_identifier, "hash");
  X509_sign(impl_->cert, impl_->key, EVP_sha256());
  cert_pem_ = to_pem(impl_->cert);
}

TestCa::~TestCa() = default;

KeyPair TestCa::issue(const CertificateRequest& request) const {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = new_certificate(key, request.common_name, impl_->next_serial++, request.not_before,
                               request.not_after);
  X509_set_issuer_name(cert, X509_get_subject_name(impl_->cert));
  add_extension(cert, impl_->cert, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, impl_->cert, NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(cert, impl_->cert, NID_authority_key_identifier, "keyid");
  std::string names;
  for (const auto& dns : request.dns_names) names += (names.empty() ? "" : ",") + ("DNS:" + dns);
  for (const auto& ip : request.ip_addresses) names += (names.empty() ? "" : ",") + ("IP:" + ip);
  if (!names.empty()) add_extension(cert, impl_->cert, NID_subject_alt_name, names);
  X509_sign(cert, impl_->key, EVP_sha256());
  KeyPair out{to_pem(cert) + cert_pem_, to_pem(key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string aside = path + ".tmp";
  {
    std::ofstream out(aside, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + aside);
  }
  if (std::rename(aside.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + aside + " to " + path);
}

}  // namespace infergate::testing
