#include "tls/tls_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace infergate::tls {
namespace {

// TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all of that already).
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

BioPtr memory(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

ContextPtr new_context(const SSL_METHOD* method, Version min_version) {
  SSL_CTX* raw = SSL_CTX_new(method);
  if (!raw) return nullptr;
  ContextPtr ctx(raw, [](SSL_CTX* c) { SSL_CTX_free(c); });
  SSL_CTX_set_min_proto_version(raw,
                                min_version == Version::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(raw, kTls12Ciphers);
  return ctx;
}

std::string iso_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (!ASN1_TIME_to_tm(t, &tm)) return "?";
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string subject_of(X509* cert) {
  const BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// Empty when `cert` is valid at `now`; else why not.
std::string validity_problem(X509* cert, std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0)
    return "the certificate is not valid before " + iso_time(X509_get0_notBefore(cert));
  if (X509_cmp_time(X509_get0_notAfter(cert), &t) <= 0)
    return "the certificate expired at " + iso_time(X509_get0_notAfter(cert));
  return {};
}

// Installs a certificate chain and its key in `ctx`; empty when all is well, else why not.
std::string use_chain_and_key(SSL_CTX* ctx, std::string_view chain_pem, std::string_view key_pem,
                              std::chrono::system_clock::time_point now, std::string& summary) {
  const BioPtr chain = memory(chain_pem);
  X509Ptr leaf(PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr));
  if (!leaf) return "no PEM certificate in the certificate file (" + take_errors() + ")";
  if (std::string problem = validity_problem(leaf.get(), now); !problem.empty()) return problem;
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1)
    return "the certificate cannot be used (" + take_errors() + ")";
  while (X509* next = PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_ctrl(ctx, SSL_CTRL_CHAIN_CERT, 0, next) != 1) {  // SSL_CTX_add0_chain_cert
      X509_free(next);
      return "an intermediate certificate cannot be used (" + take_errors() + ")";
    }
  }
  ERR_clear_error();  // the end of the chain reads as an error
  const BioPtr key_bio = memory(key_pem);
  const KeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) return "no PEM private key in the key file (" + take_errors() + ")";
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return "the private key does not match the certificate";
  }
  summary =
      "subject " + subject_of(leaf.get()) + ", expires " + iso_time(X509_get0_notAfter(leaf.get()));
  return {};
}

// Picks "http/1.1" when the client offers it; with no match the handshake goes on without ALPN.
int select_http11(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                  unsigned int in_len, void*) {
  static constexpr unsigned char kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
  for (unsigned int i = 0; i < in_len;) {
    const unsigned int len = in[i];
    if (i + 1 + len > in_len) break;
    if (len == sizeof kHttp11 && std::equal(in + i + 1, in + i + 1 + len, kHttp11)) {
      *out = in + i + 1;
      *out_len = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::optional<Version> parse_version(std::string_view text) {
  if (text == "1.2") return Version::kTls12;
  if (text == "1.3") return Version::kTls13;
  return std::nullopt;
}

Built make_server_context(std::string_view chain_pem, std::string_view key_pem, Version min_version,
                          std::chrono::system_clock::time_point now) {
  Built out;
  ContextPtr ctx = new_context(TLS_server_method(), min_version);
  if (!ctx) {
    out.error = "cannot create a TLS context (" + take_errors() + ")";
    return out;
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_http11, nullptr);
  out.error = use_chain_and_key(ctx.get(), chain_pem, key_pem, now, out.summary);
  if (out.error.empty()) out.context = std::move(ctx);
  return out;
}

std::string require_client_certificates(const ContextPtr& context, std::string_view ca_pem) {
  const BioPtr bio = memory(ca_pem);
  X509_STORE* store = SSL_CTX_get_cert_store(context.get());
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca)));
    X509_free(ca);
  }
  ERR_clear_error();
  if (sk_X509_NAME_num(names) == 0) {
    sk_X509_NAME_free(names);
    return "no PEM certificate in the client CA file";
  }
  SSL_CTX_set_client_CA_list(context.get(), names);  // takes `names`
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  static constexpr unsigned char kSessionContext[] = "infergate";
  SSL_CTX_set_session_id_context(context.get(), kSessionContext, sizeof kSessionContext - 1);
  return {};
}

Built make_client_context(const ClientSettings& settings,
                          std::chrono::system_clock::time_point now) {
  Built out;
  ContextPtr ctx = new_context(TLS_client_method(), settings.min_version);
  if (!ctx) {
    out.error = "cannot create a TLS context (" + take_errors() + ")";
    return out;
  }
  if (settings.ca_pem.empty()) {
    SSL_CTX_set_default_verify_paths(ctx.get());
  } else {
    const BioPtr bio = memory(settings.ca_pem);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    int added = 0;
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      if (X509_STORE_add_cert(store, ca) == 1) ++added;
      X509_free(ca);
    }
    ERR_clear_error();
    if (added == 0) {
      out.error = "no PEM certificate in the CA file";
      return out;
    }
  }
  SSL_CTX_set_verify(ctx.get(), settings.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!settings.client_chain_pem.empty() || !settings.client_key_pem.empty()) {
    out.error = use_chain_and_key(ctx.get(), settings.client_chain_pem, settings.client_key_pem,
                                  now, out.summary);
    if (!out.error.empty()) {
      out.error = "client certificate: " + out.error;
      return out;
    }
  }
  out.context = std::move(ctx);
  return out;
}

ssl_st* new_client_connection(const ContextPtr& context, const std::string& server_name,
                              bool verify) {
  SSL* ssl = SSL_new(context.get());
  if (!ssl) return nullptr;
  SSL_set_connect_state(ssl);
  const bool ip = is_ip_address(server_name);
  if (!ip && !server_name.empty())  // SSL_set_tlsext_host_name, without its C cast
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(server_name.c_str()));
  if (verify) {
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str())
                      : SSL_set1_host(ssl, server_name.c_str());
    if (ok != 1) {
      SSL_free(ssl);
      return nullptr;
    }
  }
  return ssl;
}

ssl_st* new_server_connection(const ContextPtr& context) {
  SSL* ssl = SSL_new(context.get());
  if (ssl) SSL_set_accept_state(ssl);
  return ssl;
}

std::string take_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "no detail" : out;
}

std::string verify_failure(const ssl_st* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

std::string peer_common_name(const ssl_st* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
  X509_free(cert);
  return name;
}

}  // namespace infergate::tls
